"""A sweep folder's report (`zodarts sweep-report`, also written at the end of every sweep):
report.md with the per-dataset tables and the headline figures, results.csv (one row per
trial), summary.csv (one row per dataset × method × budget), results.json (all of it) and the
PNGs, all in the sweep folder."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Callable, Iterable

from zodarts.report.markdown import fmt_count, fmt_seconds
from zodarts.sweep import plots
from zodarts.sweep.summary import (COST_BASELINE, DARTS_FAMILY, FLAGSHIP, METRICS,
                                   RESNET18_28, RESNET18_28_PARAMS, RESNET18_SOURCE,
                                   SELECTION_LABELS, CellSummary, Headline, Stat,
                                   SingleRuns, SweepSummary, summarise)
from zodarts.utils.io import atomic_write_text

REPORT = "report.md"
RESULTS_CSV = "results.csv"
SUMMARY_CSV = "summary.csv"
RESULTS_JSON = "results.json"
SEARCH_SECONDS_PNG = "search_seconds.png"


def acc_params_png(dataset: str) -> str:
    return f"acc_params_{re.sub(r'[^A-Za-z0-9_.-]', '_', dataset)}.png"


# ---- formatting -------------------------------------------------------------------------------

def _metric(x: float) -> str:
    return f"{x:.4f}"


def _seconds(x: float) -> str:
    return f"{x:.1f} s" if x < 10 else fmt_seconds(x)


def pm(stat: Stat, fmt: Callable[[float], str]) -> str:
    """mean ± std (std only where two or more seeds finished)."""
    if stat.mean is None:
        return "–"
    return fmt(stat.mean) + (f" ± {fmt(stat.std)}" if stat.std is not None else "")


def _points(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:+.2f} pts"


def _share(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


# ---- markdown ---------------------------------------------------------------------------------

def _hardware_tags(summary: SweepSummary) -> dict[str, str]:
    return {h: f"h{i + 1}" for i, h in enumerate(summary.hardware)}


def _has_test_max(cells: list[CellSummary]) -> bool:
    return any(c.stats["test_max_acc"].n for c in cells)


def _cell_row(c: CellSummary, tags: dict[str, str], test_max: bool, placed: bool) -> str:
    s = c.stats
    method = c.method if c.derive == "argmax" else f"{c.method}, drawn"
    done = (f"{c.finished} of {c.trials}" if c.derive == "argmax" else
            f"{c.finished} ({c.seeds} seeds × draws)")
    row = [method, c.budget, done, pm(s["test_acc"], _metric), pm(s["test_auc"], _metric)]
    if test_max:
        row.append(pm(s["test_max_acc"], _metric))
    row += [pm(s["params"], fmt_count), pm(s["flops"], fmt_count),
            pm(s["search_seconds"], _seconds), pm(s["train_seconds"], _seconds)]
    if placed:
        row.append(pm(s["landscape_percentile"], lambda x: f"{x:.0f}"))
    if len(tags) > 1:
        row.append(", ".join(tags[h] for h in c.hardware) or "–")
    return "| " + " | ".join(row) + " |"


def dataset_section(summary: SweepSummary, dataset: str, figure: Path | None) -> list[str]:
    tags = _hardware_tags(summary)
    cells = [c for c in summary.cells if c.dataset == dataset]
    test_max = _has_test_max(cells)
    header = ["method", "budget", "networks done", "test ACC", "test AUC"]
    if test_max:
        header.append("test ACC, max over epochs ‡")
    header += ["params", "FLOPs", "search", "retrain"]
    placed = any(c.stats["landscape_percentile"].n for c in cells)
    if placed:
        header.append("percentile in the landscape")
    if len(tags) > 1:
        header.append("hardware")
    lines = [f"## {dataset}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + "|"]
    lines += [_cell_row(c, tags, test_max, placed) for c in cells]
    extra = 1 if test_max else 0
    if dataset in RESNET18_28:
        acc, auc = RESNET18_28[dataset]
        filler = ["–"] * (len(header) - 6 - extra)
        lines.append("| " + " | ".join(["ResNet-18 (28), MedMNIST v2 Table 3", "–", "–",
                                        f"{acc:.3f}", f"{auc:.3f}", *["–"] * extra,
                                        f"≈ {fmt_count(RESNET18_28_PARAMS)}", *filler]) + " |")
    majority = summary.majority(dataset)
    if majority is not None:
        filler = ["–"] * (len(header) - 5)
        lines.append("| " + " | ".join(["majority class (no skill)", "–", "–",
                                        _metric(majority), "0.5 (chance)", *filler]) + " |")
    mixed = {h for c in cells for h in c.hardware}
    if len(mixed) > 1:
        which = ", ".join(sorted(tags[h] for h in mixed))
        lines += ["", f"Trials of this table ran on different hardware ({which}): their "
                  "seconds are not comparable with each other."]
    if test_max:
        lines += ["", f"‡ {SELECTION_LABELS['test']}: each network's best test ACC over its "
                  "epochs, as the ZO-DARTS++ authors report; the test ACC column is at the "
                  "best validation epoch. \"drawn\": architectures drawn from the search's "
                  "distributions (`--derive sample`), each draw counted like a seed."]
    if placed:
        lines += ["", f"Percentile in the landscape: each network's test ACC among the single "
                  f"retrainings of {summary.landscapes[dataset]} (random architectures of the "
                  "space, retrained with the same settings), mean ± std."]
    if figure:
        lines += ["", f"![{dataset}: test ACC against parameters]({figure.name})"]
    return lines + [""]


def _with_interval(value: float | None, interval, fmt: Callable[[float], str]) -> str:
    if value is None:
        return "–"
    return fmt(value) + ("" if interval is None else
                         f" [{fmt(interval[0])}, {fmt(interval[1])}]")


def _headline_row(h: Headline) -> str:
    name = h.dataset if h.dataset != "average" else \
        f"average ({h.datasets} dataset{'s' * (h.datasets != 1)})"
    mark = " †" if h.mixed_hardware else ""
    networks = "argmax" if h.derive == "argmax" else "drawn"
    return (f"| {name}{mark} | {h.budget} | {networks} | {SELECTION_LABELS[h.selection]} | "
            f"{_with_interval(h.acc_gap, h.acc_gap_interval, _points)} | "
            f"{h.acc_basis or '–'} | {_with_interval(h.time_reduction, h.time_interval, _share)}"
            f" | {h.time_basis or '–'} | "
            f"{_with_interval(h.params_reduction, h.params_interval, _share)} |")


def headline_section(summary: SweepSummary) -> list[str]:
    lines = ["## Headline figures: ZO-DARTS++ against its peers", ""]
    if not summary.headline:
        return lines + [f"No finished {FLAGSHIP} trials: the headline figures need them.", ""]
    lines += [
        f"(a) ACC gap: {FLAGSHIP}'s mean test ACC minus the best mean test ACC of the DARTS "
        f"family ({', '.join(DARTS_FAMILY)}), at the same budget where they ran at it, else "
        "against their unconstrained (`none`) runs; *compared with* says which. "
        f"(b) Search time saved: 1 − t({FLAGSHIP}) / t({COST_BASELINE}), mean search seconds, "
        f"same rule. (c) Parameters saved: 1 − params({FLAGSHIP} at the budget) / "
        f"params({FLAGSHIP} unconstrained). Means over the networks that finished (seeds, and "
        "draws where the architectures were drawn); where the networks were measured both "
        f"ways, each figure is given {SELECTION_LABELS['val']} and "
        f"{SELECTION_LABELS['test']}. 95% intervals: (a) Welch's t, (b) and (c) a bootstrap "
        "of the two means.", "",
        "| dataset | budget | networks | selection | (a) ACC − best DARTS | compared with | "
        "(b) search time saved | compared with | (c) parameters saved |",
        "|---|---|---|---|---:|---|---:|---|---:|"]
    lines += [_headline_row(h) for h in summary.headline]
    lines += [_headline_row(h) for h in summary.averages]
    if any(h.mixed_hardware for h in summary.headline):
        lines += ["", "† computed from trials that ran on different hardware: the search-time "
                  "figure compares seconds across machines."]
    return lines + [""]


def markdown(summary: SweepSummary, figures: dict[str, Path | None]) -> str:
    trials = {t.cell.path: t for t in summary.trials}   # one row per trial, not per network
    done = sum(t.status == "done" for t in trials.values())
    failed = [t for t in trials.values() if t.status == "failed"]
    unfinished = [t for t in trials.values() if t.status == "unfinished"]
    networks = sum(t.status == "done" for t in summary.trials)
    lines = [f"# Sweep report: {summary.root}", "",
             f"{len(trials)} trials: {done} finished ({networks} trained networks), "
             f"{len(failed)} failed, {len(unfinished)} unfinished. Test split; mean ± std over "
             "the networks that finished (± only with two or more). Written "
             f"{time.strftime('%Y-%m-%d %H:%M')}.", ""]
    if summary.grid:
        g = summary.grid
        lines += [f"Grid (grid.yaml): datasets {', '.join(map(str, g.get('datasets', [])))}; "
                  f"methods {', '.join(g.get('methods', []))}; budgets "
                  f"{', '.join(g.get('budgets', []))}; seeds "
                  f"{', '.join(map(str, g.get('seeds', [])))}; `zodarts run` options "
                  f"`{' '.join(g.get('run', [])) or '(none)'}`.", ""]
    tags = _hardware_tags(summary)
    if len(tags) > 1:
        lines += ["**The trials ran on different hardware**; seconds compare only within one:",
                  *[f"- {tag}: {h}" for h, tag in tags.items()], ""]
    elif tags:
        lines += [f"Hardware: {summary.hardware[0]}.", ""]
    lines += headline_section(summary)
    for dataset in summary.datasets():
        lines += dataset_section(summary, dataset, figures.get(dataset))
    if figures.get(SEARCH_SECONDS_PNG):
        lines += ["## Search time per method", "",
                  f"![search seconds per method]({SEARCH_SECONDS_PNG})", ""]
    if summary.not_placed:
        lines += ["Not placed in a landscape (other retraining settings): "
                  + "; ".join(summary.not_placed), ""]
    if failed or unfinished:
        lines += ["## Trials without results", ""]
        lines += [f"- `{t.cell.path}`: failed: {t.error}" for t in failed]
        lines += [f"- `{t.cell.path}`: unfinished (run the sweep again to resume it)"
                  for t in unfinished]
        lines.append("")
    lines += ["The majority-class rows: the test ACC of always predicting the training split's "
              "most frequent class, the floor a network must beat to show any skill beyond the "
              "class balance.", ""]
    if any(d in RESNET18_28 for d in summary.datasets()):
        lines += [f"The ResNet-18 (28) rows: {RESNET18_SOURCE} (test ACC and AUC, mean of at "
                  "least three runs), for reference; this sweep did not run them.", ""]
    return "\n".join(lines)


# ---- files ------------------------------------------------------------------------------------

TRIAL_COLUMNS = ("dataset", "method", "budget", "seed", "network", "status", "test_acc",
                 "test_auc", "val_acc", "test_max_acc", "test_max_auc", "params", "flops",
                 "search_seconds", "train_seconds", "within_budget", "restarts", "hardware",
                 "path", "error")


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    import io
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    atomic_write_text(path, buffer.getvalue())


def write_csvs(summary: SweepSummary) -> None:
    _write_csv(summary.root / RESULTS_CSV, list(TRIAL_COLUMNS), [
        [t.cell.dataset, t.cell.method, t.cell.budget, t.cell.seed, t.network, t.status,
         t.test_acc, t.test_auc, t.val_acc, t.test_max_acc, t.test_max_auc, t.params, t.flops,
         t.search_seconds, t.train_seconds, t.within_budget, t.restarts, t.hardware, t.path,
         t.error] for t in summary.trials])
    header = ["dataset", "method", "budget", "derive", "trials", "finished"]
    for m in METRICS:
        header += [f"{m}_mean", f"{m}_std"]
    rows = []
    for c in summary.cells:
        row = [c.dataset, c.method, c.budget, c.derive, c.trials, c.finished]
        for m in METRICS:
            row += [c.stats[m].mean, c.stats[m].std]
        rows.append(row)
    _write_csv(summary.root / SUMMARY_CSV, header, rows)


def to_json(summary: SweepSummary) -> dict:
    trials = []
    for t in summary.trials:
        entry = dataclasses.asdict(t)
        entry["path"] = t.path
        trials.append(entry)
    return {"root": str(summary.root), "grid": summary.grid, "trials": trials,
            "cells": [{k: v for k, v in dataclasses.asdict(c).items() if k != "values"}
                      for c in summary.cells],
            "headline": [dataclasses.asdict(h) for h in summary.headline],
            "headline_average": [dataclasses.asdict(h) for h in summary.averages],
            "hardware": summary.hardware,
            "reference": {"source": RESNET18_SOURCE, "params": RESNET18_28_PARAMS,
                          "test": {d: {"acc": acc, "auc": auc}
                                   for d, (acc, auc) in RESNET18_28.items()
                                   if d in summary.datasets()}}}


def write_report(root: str | Path, landscapes: Iterable[SingleRuns] = ()) -> Path:
    """Write the sweep folder's report files; returns the path of report.md. ``landscapes``:
    landscape folders of the sweep's datasets, to place each network in."""
    summary = summarise(root, landscapes)
    figures: dict[str, Path | None] = {
        d: plots.acc_vs_params(summary, d, summary.root / acc_params_png(d))
        for d in summary.datasets()}
    figures[SEARCH_SECONDS_PNG] = plots.search_seconds(summary, summary.root / SEARCH_SECONDS_PNG)
    write_csvs(summary)
    atomic_write_text(summary.root / RESULTS_JSON, json.dumps(to_json(summary), indent=2) + "\n")
    path = summary.root / REPORT
    atomic_write_text(path, markdown(summary, figures))
    return path
