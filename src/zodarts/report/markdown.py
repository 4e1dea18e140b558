"""report.md: the numbers, the architecture and the figures of one run, on one page."""

from __future__ import annotations

import math
import time
from pathlib import Path

from zodarts.report.records import RunRecords
from zodarts.space import BUDGET_MISS_HINT, budget_check


def fmt_metric(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.4f}"


def fmt_count(value) -> str:
    if value is None:
        return "n/a"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.2f}{unit}"
    return str(int(value))


def fmt_all_ops(params: int, all_ops: int | None) -> str:
    """The every-op count as an aside to the live one, where dead ops make them differ
    (``all_ops`` is None for files written before it existed)."""
    if all_ops is None or all_ops == params:
        return ""
    return f" (params_all_ops, dead ops too: {all_ops:,})"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _figure(lines: list[str], figures: dict[str, Path], key: str, caption: str) -> None:
    if figures.get(key):
        lines += [f"![{caption}]({figures[key].name})", ""]


def _train_settings(t) -> str:
    return (f"SGD (Nesterov) lr {t.lr}, warm-up {t.warmup_epochs} epochs then cosine, label "
            f"smoothing {t.label_smoothing}, weight decay {t.weight_decay}, augmentation: "
            f"{'crop/flip + ' if t.crop_flip else ''}{t.augment}"
            + (f", mixup α={t.mixup_alpha}" if t.mixup_alpha else "")
            + (f", cutmix α={t.cutmix_alpha}" if t.cutmix_alpha else ""))


def write_markdown(records: RunRecords, figures: dict[str, Path], path: Path) -> Path:
    c, t, e = records.search_config, records.train_config, records.evaluation
    dataset = (e or {}).get("dataset") or (t.dataset if t else None) or (c.dataset if c else "?")
    method = (e or {}).get("method") or (c.method if c else "genotype file")
    lines = [f"# zodarts run report: {dataset}, {method}", "",
             f"Run folder `{records.paths.root}` · report written "
             f"{time.strftime('%Y-%m-%d %H:%M')}", ""]

    lines += ["## Result", ""]
    if e:
        lines += ["| dataset | method | params | FLOPs | test ACC | test AUC | val ACC | val AUC |",
                  "|---|---|---:|---:|---:|---:|---:|---:|",
                  f"| {dataset} | {method} | {e['params']:,} | {fmt_count(e['flops'])} | "
                  f"{fmt_metric(e['test']['acc'])} | {fmt_metric(e['test']['auc'])} | "
                  f"{fmt_metric(e['val']['acc'])} | {fmt_metric(e['val']['auc'])} |", ""]
        lines += [f"Test loss {fmt_metric(e['test']['loss'])}; checkpoint: "
                  f"{e['checkpoint']['which']} validation epoch "
                  f"{e['checkpoint']['epoch'] + 1}. ACC and AUC follow MedMNIST's evaluator "
                  f"(task: {e.get('task', '?')}); FLOPs of one forward pass at "
                  f"{e['genotype']['image_size']}×{e['genotype']['image_size']} (torch's counter: "
                  "a multiply-add counts 2). Parameters and FLOPs are of the live operations, "
                  "the ones the network builds"
                  f"{fmt_all_ops(e['params'], e.get('params_all_ops'))}.", ""]
        for split in ("test", "val"):
            if e[split].get("note"):
                lines += [f"> {split}: {e[split]['note']}", ""]
    else:
        lines += ["Not evaluated yet: run `zodarts train` and `zodarts evaluate` on this folder.",
                  ""]

    genotype = records.trained_genotype
    if genotype is not None:
        dead = records.genotype.describe_dead_ops() if records.genotype else None
        lines += ["## Architecture", "", "```", genotype.describe(), "```", ""]
        lines += [dead, ""] if dead else []
        _figure(lines, figures, "cells", "derived cells")

    if records.search_log:
        last = records.search_log[-1]
        band = ("no budget" if records.budget is None else
                f"budget {c.budget if c.budget != 'none' else 'explicit'} "
                f"[{records.budget[0]:,.0f}, {records.budget[1]:,.0f}] parameters")
        lines += ["## Search", "",
                  f"{len(records.search_log)} epochs in {fmt_seconds(records.search_seconds)}; "
                  f"C={c.C}, up to {c.cells_per_stage} cells per stage, {band}. Final "
                  f"supernet: val acc "
                  f"{fmt_metric(last.get('val_acc'))}, expected parameters "
                  f"{last.get('expected_params', float('nan')):,.0f}; derived genotype "
                  f"{records.genotype_params:,} parameters"
                  f"{fmt_all_ops(records.genotype_params, records.genotype_params_all_ops)}.",
                  ""]
        check = (None if records.genotype_params is None
                 else budget_check(records.genotype_params, records.budget))
        if check and not check["within"]:
            lines += [f"> The derived genotype is **outside the budget band**: {BUDGET_MISS_HINT}.",
                      ""]
        _figure(lines, figures, "search", "search curves")
        _figure(lines, figures, "budget", "expected parameters against the budget band")
        _figure(lines, figures, "temperature", "temperature")
        alpha_keys = sorted(k for k in figures if k.startswith("alpha_stage"))
        if alpha_keys:
            lines += ["### Architecture distributions over the search", ""]
            for key in alpha_keys:
                _figure(lines, figures, key, key.replace("_", " "))

    if records.train_log:
        best = [r for r in records.train_log if r.get("best")]
        lines += ["## Retraining", "",
                  f"{len(records.train_log)} of {t.epochs if t else '?'} epochs in "
                  f"{fmt_seconds(records.train_seconds)}" + (f": {_train_settings(t)}" if t else "")
                  + (f". Best validation epoch {best[-1]['epoch'] + 1}." if best else "."), ""]
        _figure(lines, figures, "training", "training curves")

    lines += ["## Files", "", "| file | content |", "|---|---|",
              "| `config.yaml`, `train/config.yaml` | resolved search and training settings |",
              "| `search/log.jsonl`, `search/alphas.jsonl` | per-epoch search metrics and α |",
              "| `genotype.json` | the searched architecture |",
              "| `train/best.pt`, `train/last.pt` | best-validation and latest checkpoints |",
              "| `eval.json` | the numbers above |", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
