"""A landscape's report (`zodarts landscape-report`): DIR/report/landscape.md and its plots.

Everything is computed from the folder's records, so the report of a landscape still running, or
grown over several invocations, is what its records say at that moment.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zodarts.landscape import stats
from zodarts.landscape.place import METHODS, PLACEMENT, read_placed
from zodarts.landscape.table import (PLACED, SUPERNET, Table, proxy_names, read_json,
                                     read_table)
from zodarts.utils.io import atomic_write_text

REPORT_DIR = "report"
REPORT = "landscape.md"
KS = (1, 5, 10, 50)
N_BOOT = 300
METRIC_NAMES = {"test_acc": "test ACC", "test_auc": "test AUC", "val_acc": "val ACC",
                "val_auc": "val AUC"}


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _signed(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.3f}"


def _interval(low: float | None, high: float | None, fmt: Callable = _fmt) -> str:
    return "" if low is None or high is None else f" [{fmt(low)}, {fmt(high)}]"


def majority(table: Table) -> float | None:
    """Test ACC of always predicting the training split's most frequent class."""
    from zodarts.data import load_dataset
    from zodarts.errors import ZodartsError
    from zodarts.train.metrics import majority_baseline

    s = table.settings
    try:
        dataset = load_dataset(s.dataset, s.data_root)
    except ZodartsError:
        return None  # the data moved: the rest of the report does not need it
    return majority_baseline(dataset.task, dataset.splits["train"].labels.numpy(),
                             dataset.splits["test"].labels.numpy())["acc"]


# ---- the numbers ------------------------------------------------------------------------------

def split_seed_correlation(val: list[np.ndarray], test: list[np.ndarray], n_boot: int = N_BOOT,
                           seed: int = 0) -> dict[str, Any]:
    """Spearman ρ of one seed's val with the other seeds' mean test, averaged over which seed
    is held out. A run that was lucky is lucky on val and test alike, so val and test of the
    same runs correlate even where the architecture does not matter; across seeds only the
    architecture is shared. Interval: bootstrap over architectures."""
    from scipy.stats import spearmanr

    keep = [i for i, g in enumerate(test) if len(g) >= 2]
    if len(keep) < 3:
        return {"spearman": None, "low": None, "high": None, "n": len(keep)}
    seeds = min(len(test[i]) for i in keep)
    v = np.array([val[i][:seeds] for i in keep])
    t = np.array([test[i][:seeds] for i in keep])

    def statistic(rows: np.ndarray) -> float:
        values = []
        for s in range(seeds):
            others = np.delete(t[rows], s, axis=1).mean(axis=1)
            with warnings.catch_warnings():  # a constant resample: no correlation, skipped
                warnings.simplefilter("ignore")
                rho = spearmanr(v[rows, s], others).statistic
            if np.isfinite(rho):
                values.append(rho)
        return float(np.mean(values)) if values else float("nan")

    low, high = stats.bootstrap_interval(statistic, len(keep), n_boot, seed, 0.95)
    return {"spearman": statistic(np.arange(len(keep))), "low": low, "high": high,
            "n": len(keep), "seeds": seeds}


def correlations(table: Table) -> list[dict[str, Any]]:
    """Rank correlations of the architectures' mean test ACC with what could predict it."""
    test = table.means("test_acc")
    rows = [("val ACC (same runs)", table.means("val_acc")),
            ("params", table.info("params")), ("FLOPs", table.info("flops"))]
    rows += [(name, table.info(f"proxies.{name}")) for name in proxy_names(table)]
    out = []
    for name, values in rows:
        c = stats.rank_correlation(values, test, n_boot=N_BOOT)
        out.append({"against": name, **dataclasses.asdict(c)})
    held_out = split_seed_correlation(table.groups("val_acc"), table.groups("test_acc"))
    out.insert(1, {"against": "val ACC (held-out seeds)", "n": held_out["n"],
                   "spearman": held_out["spearman"], "spearman_low": held_out["low"],
                   "spearman_high": held_out["high"], "kendall": None, "kendall_low": None,
                   "kendall_high": None})
    return out


def best_of_k(table: Table, metric: str) -> dict[int, dict[str, float]]:
    """E[test metric] of random search keeping the best of K candidates on validation, with a
    bootstrap interval over architectures (and their seeds)."""
    val, test = table.groups(metric.replace("test_", "val_")), table.groups(metric)
    ks = [k for k in KS if k <= len(test)]
    point = stats.best_of_k_curve(val, test, ks)
    rng = np.random.default_rng(0)
    draws: dict[int, list[float]] = {k: [] for k in ks}
    for _ in range(N_BOOT // 3):
        archs = rng.integers(0, len(test), len(test))
        within = [rng.integers(0, len(test[i]), len(test[i])) for i in archs]
        boot_val = [val[i][j] for i, j in zip(archs, within)]
        boot_test = [test[i][j] for i, j in zip(archs, within)]
        for k, v in stats.best_of_k_curve(boot_val, boot_test, ks).items():
            draws[k].append(v)
    return {k: {"value": point[k], "low": float(np.percentile(draws[k], 2.5)),
                "high": float(np.percentile(draws[k], 97.5))} for k in ks}


def cross_dataset(table: Table, other: Table) -> dict[str, Any]:
    """Rank correlation of architecture quality between two landscapes over the genotypes both
    hold (matched by their cells and depths: stem and classifier follow each dataset)."""
    def key(genotype) -> str:
        return json.dumps([[s.depth, list(s.edges)] for s in genotype.stages])

    ours = {key(a.genotype): a for a in table.complete()}
    theirs = {key(a.genotype): a for a in other.complete()}
    common = [k for k in ours if k in theirs]
    result: dict[str, Any] = {"other": str(other.root), "dataset": other.settings.dataset,
                              "common": len(common)}
    for metric in ("test_acc", "test_auc", "val_acc"):
        x = np.array([ours[k].values(metric).mean() for k in common])
        y = np.array([theirs[k].values(metric).mean() for k in common])
        result[metric] = dataclasses.asdict(stats.rank_correlation(x, y, n_boot=N_BOOT))
    # What a correlation between landscapes can be read against: how two seeds of this one
    # rank the same architectures. Where they disagree, no other landscape can agree either.
    both = [k for k in common if len(ours[k].values("test_acc")) >= 2]
    if len(both) >= 3:
        seed0, seed1 = (np.array([ours[k].values("test_acc")[i] for k in both]) for i in (0, 1))
        result["seed_to_seed_test_acc"] = dataclasses.asdict(
            stats.rank_correlation(seed0, seed1, n_boot=N_BOOT))
    return result


def summarise(table: Table, compare: list[Table] = ()) -> dict[str, Any]:
    archs = table.complete()
    two_seeds = table.complete(min_seeds=2)
    summary: dict[str, Any] = {
        "settings": dataclasses.asdict(table.settings), "archs": len(archs),
        "pairs": table.pairs, "majority_test_acc": majority(table),
        "written": time.strftime("%Y-%m-%d %H:%M")}
    if len(two_seeds) >= 2:
        summary["variance"] = {
            metric: dataclasses.asdict(stats.variance_split(table.groups(metric, 2)))
            for metric in ("test_acc", "test_auc", "val_acc")}
    if len(archs) >= 2:
        summary["architectures"] = {
            metric: {k: dataclasses.asdict(v) for k, v in
                     stats.order_statistics(table.groups(metric), n_boot=N_BOOT).items()}
            for metric in ("test_acc", "test_auc")}
        summary["best_of_k"] = {m: best_of_k(table, m) for m in ("test_acc", "test_auc")}
    if len(two_seeds) >= 2:
        summary["held_out"] = {
            metric: {name: dataclasses.asdict(stats.held_out_best(table.groups(metric, 2), top,
                                                                   n_boot=N_BOOT))
                     for name, top in (("best", 0.0), ("top10", 0.1))}
            for metric in ("test_acc", "test_auc")}
    if len(archs) >= 3:
        summary["correlations"] = correlations(table)
    placement = read_json(table.root / PLACED / PLACEMENT)
    if placement:
        summary["placed"] = placement
        summary["by_method"] = read_json(table.root / PLACED / METHODS) or []
    supernets = [read_json(p) for p in sorted((table.root / SUPERNET).glob("*.json"))]
    summary["supernets"] = [s for s in supernets if s]
    summary["compare"] = [cross_dataset(table, other) for other in compare]
    seconds = [r.get("train_seconds", 0.0) for a in table.archs for r in a.records]
    summary["train_seconds"] = float(np.sum(seconds)) if seconds else 0.0
    invocations = [json.loads(line) for line in
                   (table.root / "invocations.jsonl").read_text().splitlines()
                   if line.strip()] if (table.root / "invocations.jsonl").is_file() else []
    summary["overhead"] = [i["overhead"] for i in invocations if i.get("overhead")]
    return summary


# ---- Markdown ---------------------------------------------------------------------------------

def _variance_lines(summary: dict[str, Any]) -> list[str]:
    variance = summary.get("variance")
    lines = ["## How much of the metric is the architecture", ""]
    if not variance:
        return lines + ["Needs at least two architectures with two or more seeds each.", ""]
    lines += ["One-way random effects over the architectures with two or more finished seeds: "
              "the variance of one retraining's metric split into a part between "
              "architectures (σ²_arch) and a part between seeds of one architecture "
              "(σ²_seed); the intraclass correlation ICC = σ²_arch / (σ²_arch + σ²_seed) is "
              "the share of what a user sees that is the architecture, with its 95% F-based "
              "interval.", "",
              "| metric | mean | σ_arch | σ_seed | ICC [95%] | F | p | architectures × seeds |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for metric, v in variance.items():
        lines.append(
            f"| {METRIC_NAMES[metric]} | {_fmt(v['grand_mean'])} | "
            f"{_fmt(np.sqrt(max(v['between'], 0.0)))} | {_fmt(np.sqrt(v['within']))} | "
            f"{_fmt(v['icc'], 3)}{_interval(v['icc_low'], v['icc_high'], lambda x: _fmt(x, 3))}"
            f" | {_fmt(v['f_statistic'], 2)} | {v['p_value']:.2g} | {v['archs']} × "
            f"{v['n0']:.1f} |")
    return lines + [""]


def _architecture_lines(summary: dict[str, Any]) -> list[str]:
    archs = summary.get("architectures")
    if not archs:
        return []
    lines = ["## The architectures' means", "",
             "Each architecture's mean over its seeds; 95% intervals from a bootstrap over "
             "architectures and their seeds. The best is biased upwards (the largest of many "
             "noisy means favours lucky seeds); its interval describes the resampling, not that "
             "bias. *On a held-out seed*: the architectures that look best on the other seeds, "
             "scored on the one left out, averaged over which one: what picking the best and "
             "training it again gives, free of that bias.", "",
             "| | test ACC | test AUC |", "|---|---:|---:|"]
    for name in ("best", "top10", "median", "worst"):
        cells = [f"{_fmt(archs[m][name]['value'])}"
                 f"{_interval(archs[m][name]['low'], archs[m][name]['high'])}"
                 for m in ("test_acc", "test_auc")]
        label = {"top10": "top 10% (mean)"}.get(name, name)
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    held = summary.get("held_out")
    if held:
        for name, label in (("best", "best, on a held-out seed"),
                            ("top10", "top 10%, on a held-out seed")):
            cells = [f"{_fmt(held[m][name]['value'])}"
                     f"{_interval(held[m][name]['low'], held[m][name]['high'])}"
                     for m in ("test_acc", "test_auc")]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    if summary.get("majority_test_acc") is not None:
        lines.append(f"| majority class (no skill) | {_fmt(summary['majority_test_acc'])} | "
                     "0.5 |")
    best = summary.get("best_of_k")
    if best:
        lines += ["", "Random search with K candidates, each trained once and picked on its "
                  "validation metric (ties at random), is expected to reach (exact expectation "
                  "over the table; bootstrap interval):", "",
                  "| K | test ACC | test AUC |", "|---:|---:|---:|"]
        for k in best["test_acc"]:
            a, u = best["test_acc"][k], best["test_auc"].get(k)
            lines.append(f"| {k} | {_fmt(a['value'])}{_interval(a['low'], a['high'])} | "
                         + ("–" if u is None else
                            f"{_fmt(u['value'])}{_interval(u['low'], u['high'])}") + " |")
    return lines + [""]


def _correlation_lines(summary: dict[str, Any]) -> list[str]:
    rows = summary.get("correlations")
    if not rows:
        return []
    lines = ["## What ranks like the test ACC", "",
             "Rank correlation of each architecture's mean test ACC with: its mean validation "
             "ACC (of the same runs, and of held-out seeds: one seed's val against the other "
             "seeds' test, which only the architecture links), its size, and each zero-cost "
             "proxy at initialisation. 95% bootstrap intervals over architectures.", "",
             "| against | Spearman ρ | Kendall τ | architectures |", "|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['against']} | {_signed(r['spearman'])}"
                     f"{_interval(r['spearman_low'], r['spearman_high'], _signed)} | "
                     f"{_signed(r['kendall'])}"
                     f"{_interval(r['kendall_low'], r['kendall_high'], _signed)} | {r['n']} |")
    return lines + [""]


def _placement_cells(entry: dict[str, Any], k: str | None) -> str:
    def within(bounds, fmt: Callable = _fmt) -> str:
        return _interval(*(bounds or (None, None)), fmt)

    cells = []
    for metric in ("test_acc", "test_auc"):
        m = entry[metric]
        cells += [f"{_fmt(m['mean'])}{within(m['mean_interval'])}",
                  f"{m['percentile']:.0f}"
                  f"{within(m['percentile_interval'], lambda x: f'{x:.0f}')}",
                  f"{_signed(m['minus_best_of_k'].get(k))}"
                  f"{within(m['minus_best_of_k_interval'].get(k), _signed)}"]
    return " | ".join(cells)


def _placed_lines(summary: dict[str, Any]) -> list[str]:
    placed = summary.get("placed")
    if not placed:
        return []
    k = "10" if "10" in placed[0]["test_acc"]["minus_best_of_k"] else \
        next(iter(placed[0]["test_acc"]["minus_best_of_k"]), None)
    header = (f"test ACC | percentile | ACC − best-of-{k} | test AUC | percentile | "
              f"AUC − best-of-{k} |")
    lines = ["## Searched architectures in the landscape", "",
             f"Each retrained with the landscape's seeds and settings (`zodarts landscape-place`)"
             f": its mean test ACC, its percentile among the landscape's architecture means, "
             f"and its difference to random search's expected best-of-{k} (picked on "
             "validation); the same for test AUC. 95% bootstrap intervals.", "",
             f"| placed | method | seeds | {header}",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for p in placed:
        note = " (deeper than the space)" if p.get("deeper_than_the_space") else ""
        lines.append(f"| {p['label']}{note} | {p.get('method') or '–'} | {p['seeds']} | "
                     f"{_placement_cells(p, k)} |")
    lines.append("")
    by_method = summary.get("by_method") or []
    if by_method:
        lines += ["**By method**: each number taken per search, then averaged over the "
                  "method's searches (a search's draws count as one search); the 95% interval "
                  "is Student's t over the searches, none for a single search.", "",
                  f"| method (budget, network) | searches | {header}",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for g in by_method:
            lines.append(f"| {g['name']} | {g['test_acc']['searches']} | "
                         f"{_placement_cells(g, k)} |")
        lines.append("")
    return lines


def _supernet_lines(summary: dict[str, Any]) -> list[str]:
    supernets = summary.get("supernets")
    if not supernets:
        return []
    lines = ["## Does a trained supernet rank the architectures?", "",
             "Each landscape architecture as a sub-network of a finished search's supernet "
             "(inherited weights, BatchNorm re-estimated per sub-network, the search's "
             "validation half), against its stand-alone mean (`zodarts landscape-supernet`; "
             "Yu et al., ICLR 2020). 95% bootstrap intervals.", "",
             "| search | method | τ with test ACC | ρ with test ACC | τ with val ACC | "
             "architectures |", "|---|---|---:|---:|---:|---:|"]
    for s in supernets:
        t, v = s["against_test_acc"], s["against_val_acc"]
        lines.append(f"| {s['label']} | {s['method']} | {_signed(t['kendall'])}"
                     f"{_interval(t['kendall_low'], t['kendall_high'], _signed)} | "
                     f"{_signed(t['spearman'])}"
                     f"{_interval(t['spearman_low'], t['spearman_high'], _signed)} | "
                     f"{_signed(v['kendall'])}"
                     f"{_interval(v['kendall_low'], v['kendall_high'], _signed)} | {t['n']} |")
    return lines + [""]


def _compare_lines(summary: dict[str, Any]) -> list[str]:
    if not summary.get("compare"):
        return []

    def rho(c: dict[str, Any] | None, key: str = "spearman") -> str:
        if not c:
            return "–"
        return f"{_signed(c[key])}{_interval(c[key + '_low'], c[key + '_high'], _signed)}"

    lines = ["## Across datasets", "",
             "Rank correlation of the architectures' mean metric here and in another "
             "landscape over the same genotypes (their cells; stem and classifier follow each "
             "dataset, or the schedule differs): does an architecture that is good here tend to "
             "be good there? The last column reads the others: the Spearman ρ between two "
             "retraining seeds of this landscape over the same architectures (one seed's test "
             "ACC against another's); where seeds of one landscape do not agree, another "
             "landscape cannot be expected to.", "",
             "| other landscape | dataset | common | ρ test ACC | τ test ACC | ρ test AUC | "
             "ρ val ACC | ρ test ACC, seed 0 vs 1 here |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for c in summary["compare"]:
        lines.append(f"| {c['other']} | {c['dataset']} | {c['common']} | "
                     f"{rho(c['test_acc'])} | {rho(c['test_acc'], 'kendall')} | "
                     f"{rho(c['test_auc'])} | {rho(c.get('val_acc'))} | "
                     f"{rho(c.get('seed_to_seed_test_acc'))} |")
    return lines + [""]


def markdown(summary: dict[str, Any], figures: dict[str, Path | None]) -> str:
    s = summary["settings"]
    train = s["train"]
    band = ("the whole space" if not s["band"] else
            f"the {s['budget']} band [{s['band'][0]:,.0f}, {s['band'][1]:,.0f}] parameters")
    lines = [f"# Landscape: {s['dataset']}", "",
             f"{summary['archs']} architectures ({summary['pairs']} retrainings) of the "
             f"`{s['preset']}` space (C = {s['C']}, up to {s['cells_per_stage']} cells per "
             f"stage), sampled uniformly from {band} with seed {s['sample_seed']}"
             + (f" (the genotypes of {s['genotypes_from']})" if s["genotypes_from"] else "")
             + f"; each retrained with seeds 0–{s['seeds'] - 1} at {train['epochs']} epochs, "
             f"batch {train['batch_size'] or 'the paper preset’s'}, lr {train['lr']}; the "
             "best-validation epoch's metrics. Written " + summary["written"] + ".", ""]
    lines += _variance_lines(summary)
    lines += _architecture_lines(summary)
    for name, title in (("caterpillar", "every architecture, sorted by its mean test ACC"),
                        ("acc_params", "mean test ACC against parameters")):
        if figures.get(name):
            lines += [f"![{title}]({figures[name].name})", ""]
    lines += _correlation_lines(summary)
    if figures.get("predictors"):
        lines += [f"![what ranks like the test ACC]({figures['predictors'].name})", ""]
    lines += _placed_lines(summary)
    lines += _supernet_lines(summary)
    lines += _compare_lines(summary)
    cost = summary.get("overhead") or []
    lines += ["## Cost", "",
              f"{summary['train_seconds'] / 3600:.2f} hours of retraining (the epochs, "
              "validation included)."]
    for o in cost:
        lines.append(f"One invocation: {o['train_seconds']:.0f} s of training; the other work "
                     f"in the jobs (data, proxies, FLOPs, evaluation, checkpoints, imports) "
                     f"{100 * o['in_jobs']:.1f}% of it; end to end, with Ray and idle slots, "
                     f"{100 * o['end_to_end']:.1f}% ({o['slots']:g} slots, "
                     f"{o['wall_seconds'] / 60:.1f} min).")
    return "\n".join(lines) + "\n"


# ---- plots ------------------------------------------------------------------------------------

def plots(table: Table, summary: dict[str, Any], out: Path) -> dict[str, Path | None]:
    from matplotlib.figure import Figure

    from zodarts.report.plots import save
    from zodarts.sweep.plots import log_count_axis, pareto_front

    archs = table.complete()
    if not archs:
        return {}
    means = np.array([a.values("test_acc").mean() for a in archs])
    placed = read_placed(table)
    majority_acc = summary.get("majority_test_acc")
    figures: dict[str, Path | None] = {}

    order = np.argsort(means)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for rank, i in enumerate(order):
        values = archs[i].values("test_acc")
        ax.scatter(np.full(len(values), rank), values, s=6, color="0.6", zorder=1)
    ax.scatter(range(len(order)), means[order], s=14, color="tab:blue", zorder=2,
               label="architecture mean")
    for source, rows in placed:
        m = rows.values("test_acc").mean()
        ax.axhline(m, lw=0.8, ls="--", color="tab:orange")
        ax.annotate(source["label"].split("/")[-3] if source["label"].count("/") >= 3
                    else source["label"], (0, m), fontsize=6, color="tab:orange",
                    va="bottom")
    if majority_acc is not None:
        ax.axhline(majority_acc, color="0.3", ls="-.", lw=1, label="majority class")
    ax.set_xlabel("architectures, sorted by mean test ACC (grey: single seeds)")
    ax.set_ylabel("test ACC")
    ax.set_title(f"{table.settings.dataset}: {len(archs)} architectures"
                 + (" (dashed: placed searches)" if placed else ""))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    figures["caterpillar"] = save(fig, out / "caterpillar.png")

    params = table.info("params")
    fig = Figure(figsize=(6.8, 4.4))
    ax = fig.add_subplot()
    spread = np.array([a.values("test_acc").std() for a in archs])
    ax.errorbar(params, means, yerr=spread, fmt="o", ms=3, lw=0.6, color="tab:blue",
                alpha=0.8, label="architecture: mean ± std over seeds")
    front = pareto_front(list(zip(params.tolist(), means.tolist())))
    xs = [p for p, _ in front] + [float(np.nanmax(params))]
    ys = [a for _, a in front] + [front[-1][1]]
    ax.step(xs, ys, where="post", color="0.35", ls="--", lw=1, label="Pareto front")
    for source, rows in placed:
        info = rows.info or {}
        if info.get("params"):
            ax.scatter(info["params"], rows.values("test_acc").mean(), marker="*", s=90,
                       color="tab:orange", zorder=3)
    if majority_acc is not None:
        ax.axhline(majority_acc, color="0.3", ls="-.", lw=1, label="majority class")
    log_count_axis(ax, params.tolist())
    ax.set_xlabel("parameters (live operations)")
    ax.set_ylabel("mean test ACC")
    ax.set_title("test ACC against parameters" + (" (stars: placed searches)" if placed else ""))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    figures["acc_params"] = save(fig, out / "acc_params.png")

    predictors = [("mean val ACC", table.means("val_acc"))]
    predictors += [(name, table.info(f"proxies.{name}")) for name in proxy_names(table)]
    fig = Figure(figsize=(3.2 * len(predictors), 3.2))
    for k, (name, values) in enumerate(predictors):
        ax = fig.add_subplot(1, len(predictors), k + 1)
        finite = np.isfinite(values)
        ax.scatter(values[finite], means[finite], s=8, alpha=0.8)
        if name == "synflow" and np.all(values[finite] > 0):
            ax.set_xscale("log")
        ax.set_xlabel(name)
        if k == 0:
            ax.set_ylabel("mean test ACC")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    figures["predictors"] = save(fig, out / "predictors.png")
    return figures


def write_report(root: str | Path, compare: list[str | Path] = ()) -> Path:
    """Write DIR/report/landscape.md and its plots; returns the Markdown's path."""
    table = read_table(root)
    others = [read_table(other) for other in compare]
    summary = summarise(table, others)
    out = table.root / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    figures = plots(table, summary, out)
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    path = out / REPORT
    atomic_write_text(path, markdown(summary, figures))
    return path
