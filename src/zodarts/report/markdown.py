"""report.md: the numbers, the architecture and the figures of one run, on one page."""

from __future__ import annotations

import math
import time
from pathlib import Path

from zodarts.report.derived import derived_runs, markdown_section
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


def fmt_checkpoint(e: dict) -> str:
    """Which checkpoint eval.json measured: one epoch, or an ensemble's members' own."""
    c = e["checkpoint"]
    which = "best-validation" if c["which"] == "best" else "last"
    if c.get("epoch") is not None:
        return f"the {which} checkpoint, epoch {c['epoch'] + 1}"
    epochs = ", ".join(str(m["epoch"] + 1) for m in e["ensemble"]["member_results"])
    return f"each member's {which} checkpoint (epochs {epochs})"


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def majority_shortfall(split: dict, name: str = "test") -> str | None:
    """A plain sentence when a split's ACC does not beat its majority-class baseline (one line,
    for report.md and the console alike), else None."""
    acc, base = split.get("acc"), (split.get("majority") or {}).get("acc")
    if not (_finite(acc) and _finite(base)) or acc > base:
        return None
    return (f"{name} ACC {acc:.4f} does not beat the majority-class baseline {base:.4f} "
            f"(always {_majority_choice(split)}): the model shows no skill beyond the class "
            "balance")


def _majority_acc(split: dict) -> str:
    return fmt_metric((split.get("majority") or {}).get("acc"))


def _majority_choice(split: dict) -> str:
    prediction = split["majority"]["prediction"]
    if isinstance(prediction, list):
        return "each label's more frequent value in the training split"
    names = (split.get("per_class") or {}).get("name") or []
    name = names[prediction] if prediction < len(names) else f"class {prediction}"
    return f"predicting '{name}', the training split's most frequent class"


def _figure(lines: list[str], figures: dict[str, Path], key: str, caption: str) -> None:
    if figures.get(key):
        lines += [f"![{caption}]({figures[key].name})", ""]


def _train_settings(t, dataset: str, task: str | None) -> str:
    """The retraining's optimizer, schedule, loss and augmentation, every word read from its
    config ``t`` (presets differ: the paper's has no Nesterov and no weight decay)."""
    from zodarts.train.augment import default_flip

    momentum = (f" with momentum {t.momentum}" + (", Nesterov" if t.nesterov else "")
                if t.momentum > 0 else " without momentum")
    warmup = (f"linear warm-up over {t.warmup_epochs:g} epochs from {t.warmup_start:g}× lr, "
              f"then " if t.warmup_epochs else "")
    parts = [f"SGD{momentum}, lr {t.lr:g}: {warmup}cosine to {t.lr_min:g}",
             f"weight decay {t.weight_decay:g}",
             "no gradient clipping" if t.grad_clip is None else
             f"gradient-norm clip {t.grad_clip:g}",
             f"batch {t.batch_size}" if t.batch_size else None]
    if task != "multi-label":  # BCE is not smoothed (make_criterion)
        parts.append(f"label smoothing {t.label_smoothing:g}" if t.label_smoothing else
                     "no label smoothing")
    flip = default_flip(dataset) if t.flip is None else t.flip
    augment = [("random crop and horizontal flip" if flip else "random crop")
               if t.crop_flip else None, None if t.augment == "none" else t.augment]
    augment += [f"{name} α={alpha:g}" for name, alpha in (("mixup", t.mixup_alpha),
                                                           ("cutmix", t.cutmix_alpha)) if alpha]
    mixed = (f" (on {t.mix_prob:.0%} of batches)" if (t.mixup_alpha or t.cutmix_alpha)
             and t.mix_prob < 1 else "")
    parts.append("augmentation: " + (" + ".join(a for a in augment if a) or "none") + mixed)
    if t.bn_batch_stats:
        parts.append("BatchNorm on each batch's own statistics (no running statistics)")
    if t.restart_epoch:
        parts.append(f"restarted (at most {t.max_restarts} times) where val ACC at epoch "
                     f"{t.restart_epoch} is below {t.restart_below:g} or has gained less than "
                     f"{t.restart_min_gain:g} while below {t.restart_flat_below:g}")
    metric = t.select if t.select == "loss" else t.select.upper()
    parts.append(f"best.pt is the epoch of best validation {metric}")
    return ", ".join(p for p in parts if p)


def _per_class_table(split: dict) -> list[str]:
    """The test split's per-class (multi-label: per-label) numbers as a Markdown table."""
    per_class = split.get("per_class")
    if not per_class:
        return []
    columns = [("support", "support", str), ("precision", "precision", fmt_metric),
               ("recall", "recall", fmt_metric), ("acc", "ACC", fmt_metric),
               ("auc", "AUC (one vs rest)", fmt_metric)]
    columns = [c for c in columns if c[0] in per_class]
    lines = ["### Per class (test split)", "",
             "| class | " + " | ".join(title for _, title, _ in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for k, name in enumerate(per_class["name"]):
        lines.append(f"| {name} | " + " | ".join(fmt(per_class[key][k])
                                                 for key, _, fmt in columns) + " |")
    return lines + ["", "Support: the test images of the class (multi-label: the label's "
                    "positives). Precision and recall take each class against the rest; n/a "
                    "where it was never predicted (precision) or never present (recall).", ""]


def _ensemble(e: dict) -> list[str]:
    """An ensemble's members, each on its own, below the numbers of their mean."""
    ensemble = e.get("ensemble")
    if not ensemble:
        return []
    lines = ["### Ensemble", "",
             f"{ensemble['members']} members, the run's architecture trained with seeds "
             f"{', '.join(str(m['seed']) for m in ensemble['member_results'])}; the ensemble "
             f"predicts the {ensemble['combine']}. Its size is the members' sum: "
             f"{ensemble['members']} × {ensemble['params_per_member']:,} parameters, "
             f"{ensemble['members']} × {fmt_count(ensemble['flops_per_member'])} FLOPs.", "",
             "| member | seed | epoch | test ACC | test AUC | val ACC | val AUC |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for m in ensemble["member_results"]:
        lines.append(f"| `{m['folder']}/` | {m['seed']} | {m['epoch'] + 1} | "
                     f"{fmt_metric(m['test']['acc'])} | {fmt_metric(m['test']['auc'])} | "
                     f"{fmt_metric(m['val']['acc'])} | {fmt_metric(m['val']['auc'])} |")
    return lines + [""]


def _reproducibility(records: RunRecords) -> list[str]:
    """Seeds and environment: eval.json's copy where evaluated, else the run's own files."""
    e, c, t = records.evaluation or {}, records.search_config, records.train_config
    seeds = e.get("seeds") or {"search": c.seed if c else None, "train": t.seed if t else None}
    env = e.get("environment") or records.environment
    if not (env or any(v is not None for v in seeds.values())):
        return []
    lines = ["## Environment and seeds", "",
             "Seeds: " + ", ".join(f"{stage} {seed}" for stage, seed in seeds.items()
                                   if seed is not None) + ".", ""]
    if env:
        lines += ["| | |", "|---|---|"] + [f"| {key} | {value if value is not None else '-'} |"
                                            for key, value in env.items()] + [""]
    return lines


def _decision(last: dict, threshold: float) -> list[str]:
    """How decided the architecture is: the smallest margin p(top 1) − p(top 2) of its
    choices against the threshold (zodarts.space.decision)."""
    if "decided" not in last:
        return []  # random search: no α
    where = f"smallest margin {last['margin_min']:.3f} at {last['margin_weakest']}"
    if last["decided"]:
        return [f"Decided: every choice's margin p(top 1) − p(top 2) is at least {threshold} "
                f"({where}; {last.get('decided_epochs', 1)} epoch(s) in a row).", ""]
    return [f"> **Undecided**: {where} < {threshold}, so part of the genotype is close to a "
            "coin toss. More architecture steps (`--arch-steps`, or `--until-decided` with more "
            "`--epochs`) would help.", ""]


# The files a report may point to, each listed only where the folder holds it.
_FILES = (
    (("config.yaml",), "resolved search settings"),
    (("train/config.yaml",), "resolved retraining settings"),
    (("environment.json",), "versions, device, git revision"),
    (("search/log.jsonl", "search/alphas.jsonl"), "per-epoch search metrics and α (`epoch` "
     "counts from 0 there: epoch 1 here is `\"epoch\": 0`)"),
    (("genotype.json",), "the architecture trained here"),
    (("draw.json",), "how it was drawn: distributions, seed, band"),
    (("train/best.pt", "train/last.pt"), "best-validation and latest checkpoints"),
    (("eval.json",), "the numbers above"),
    (("predictions.npz",), "test and val labels and class scores (the ROC curves)"),
    (("train_plan.yaml",), "the retraining settings the run was started with"),
    (("ensemble.json",), "the ensemble's members (training folders `mS/`, seed S) and seeds"),
)


def _files(paths) -> list[str]:
    rows = []
    for names, content in _FILES:
        present = [name for name in names if (paths.root / name).is_file()]
        if present:
            rows.append(f"| {', '.join(f'`{name}`' for name in present)} | {content} |")
    return ["## Files", "", "| file | content |", "|---|---|", *rows, ""] if rows else []


def write_markdown(records: RunRecords, figures: dict[str, Path], path: Path) -> Path:
    c, t, e = records.search_config, records.train_config, records.evaluation
    dataset = (e or {}).get("dataset") or (t.dataset if t else None) or (c.dataset if c else "?")
    method = (e or {}).get("method") or (c.method if c else "genotype file")
    kind = "ensemble" if e and e.get("ensemble") else "run"
    lines = [f"# zodarts {kind} report: {dataset}, {method}", "",
             f"Run folder `{records.paths.root}` · report written "
             f"{time.strftime('%Y-%m-%d %H:%M')}", ""]

    derived = derived_runs(records.paths.root)
    lines += ["## Result", ""]
    if e:
        lines += ["| dataset | method | params | FLOPs | test ACC | majority | test AUC | val ACC "
                  "| val AUC |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {dataset} | {method} | {e['params']:,} | {fmt_count(e['flops'])} | "
                  f"{fmt_metric(e['test']['acc'])} | {_majority_acc(e['test'])} | "
                  f"{fmt_metric(e['test']['auc'])} | "
                  f"{fmt_metric(e['val']['acc'])} | {fmt_metric(e['val']['auc'])} |", ""]
        lines += [f"Test loss {fmt_metric(e['test']['loss'])}; {fmt_checkpoint(e)}. "
                  "ACC and AUC follow MedMNIST's evaluator "
                  f"(task: {e.get('task', '?')}); FLOPs of one forward pass at "
                  f"{e['genotype']['image_size']}×{e['genotype']['image_size']} (torch's counter: "
                  "a multiply-add counts 2). Parameters and FLOPs are of the live operations, "
                  "the ones the network builds"
                  f"{fmt_all_ops(e['params'], e.get('params_all_ops'))}.", ""]
        best = e.get("test_max_over_epochs")
        if best and best.get("acc") is not None:
            lines += [f"Test ACC, max over the training's {best['epochs']} epochs: "
                      f"{fmt_metric(best['acc'])} (epoch {best.get('acc_epoch', 0) + 1}); "
                      f"{best['selection']}, unlike the table's, which is the checkpoint "
                      "chosen on validation.", ""]
        if e["test"].get("majority"):
            lines += [f"*majority*: the majority-class baseline, the ACC of always "
                      f"{_majority_choice(e['test'])} (val: {_majority_acc(e['val'])}).", ""]
        for split in ("test", "val"):
            shortfall = majority_shortfall(e[split], split.capitalize())
            if shortfall:
                lines += [f"> **{shortfall}.**", ""]
            if e[split].get("note"):
                lines += [f"> {split}: {e[split]['note']}", ""]
        lines += _ensemble(e)
        lines += _per_class_table(e["test"])
        _figure(lines, figures, "confusion", "test confusion matrix")
        _figure(lines, figures, "roc", "test ROC curves")
    elif derived:
        lines += ["This search's architectures are retrained and evaluated in folders of their "
                  "own: see [the derived architectures](#the-derived-architectures).", ""]
    else:
        root = records.paths.root
        lines += [f"Not evaluated yet: run `zodarts train {root}`, then `zodarts evaluate "
                  f"{root}`.", ""]
    if derived:
        lines += markdown_section(records.paths, derived, path.parent)

    genotype = records.trained_genotype
    if genotype is not None:
        dead = records.genotype.describe_dead_ops() if records.genotype else None
        untrained = derived is not None and all(d.is_draw for d in derived)
        lines += ["## Architecture" + (" (the argmax, not trained here: the draws are)"
                                       if untrained else ""), "", "```", genotype.describe(),
                  "```", ""]
        lines += [dead, ""] if dead else []
        _figure(lines, figures, "cells", "derived cells")

    if records.search_log:
        last = records.search_log[-1]
        band = ("no budget" if records.budget is None else
                f"budget {c.budget if c.budget != 'none' else 'explicit'} "
                f"[{records.budget[0]:,.0f}, {records.budget[1]:,.0f}] parameters")
        phase2 = [r["epoch"] for r in records.search_log if r.get("phase") == 2]
        size = (f" Size search (kernels, depths) from epoch {phase2[0] + 1}." if phase2 else "")
        lines += ["## Search", "",
                  f"{len(records.search_log)} epochs in {fmt_seconds(records.search_seconds)}; "
                  f"C={c.C}, up to {c.cells_per_stage} cells per stage, {band}.{size} Final "
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
        lines += _decision(last, c.decided_margin)
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
                  f"{fmt_seconds(records.train_seconds)}"
                  + (f": {_train_settings(t, dataset, (e or {}).get('task'))}" if t else "")
                  + (f". Best validation epoch {best[-1]['epoch'] + 1}." if best else "."), ""]
        _figure(lines, figures, "training", "training curves")

    lines += _reproducibility(records)
    lines += _files(records.paths)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
