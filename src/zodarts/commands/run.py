"""`zodarts run`: search → train → evaluate → report in one run folder, then a summary table.

With no arguments: the bundled digits data and the quick presets, a couple of minutes on a CPU.
"""

from __future__ import annotations

import sys

from zodarts.commands.common import (add_search_arguments, add_threads_argument,
                                     add_track_argument,
                                     check_search_resume, default_out, resume_derivation,
                                     search_config_from_args, show_progress, tracking_uri)
from zodarts.commands.train import (add_train_arguments, check_train_resume,
                                    train_config_from_args)
from zodarts.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("run", help="search, retrain, evaluate and report in one go",
                       description="Search an architecture, retrain it from scratch, evaluate "
                       "it on the test split and write the report, all in one run folder. "
                       "--preset sets both the search and the training settings; --train-* "
                       "flags override the training ones.")
    add_search_arguments(p)
    add_train_arguments(p, prefix="train-")
    p.add_argument("--out", metavar="DIR",
                   help="run folder (default runs/<time>-<dataset>-<method>)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out: finished stages are skipped, an interrupted "
                        "one continues from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars, log lines only")
    add_track_argument(p)
    add_threads_argument(p)
    p.set_defaults(func=run)


def settings_line(out, decision: dict | None) -> str:
    """The resolved batch sizes and lengths (the paper preset picks them per dataset) and how
    decided the search ended."""
    from zodarts.config import SearchConfig, TrainConfig, load_config
    from zodarts.rundir import RunPaths

    paths = RunPaths(out)
    parts = []
    if paths.config.is_file():
        c = load_config(SearchConfig, paths.config)
        searched = f"search: {c.method}, batch {c.batch_size}, {c.epochs} epochs"
        if decision:
            searched += (f", decided (smallest margin {decision['margin_min']:.2f})"
                         if decision["decided"] else
                         f", undecided (smallest margin {decision['margin_min']:.2f} at "
                         f"{decision['margin_weakest']})")
        parts.append(searched)
    if paths.train_config.is_file():
        t = load_config(TrainConfig, paths.train_config)
        parts.append(f"training: batch {t.batch_size}, {t.epochs} epochs")
    return "; ".join(parts)


def summary_table(result) -> str:
    from zodarts.report import read_run
    from zodarts.report.derived import derived_runs, text_lines
    from zodarts.report.markdown import (fmt_count, fmt_metric, fmt_seconds,
                                         majority_shortfall)

    folders = result.folders or [result.out]
    evaluations = result.evaluations or [result.evaluation]
    several = len(evaluations) > 1   # drawn architectures: a row each
    header = (("network",) if several else ()) + (
        "dataset", "method", "params", "FLOPs", "test ACC", "majority", "test AUC", "search",
        "train")
    rows, names = [], []
    for folder, e in zip(folders, evaluations):
        name = "argmax" if folder == result.out else f"draw {folder.name[1:]}"
        names.append(name)
        train = read_run(folder).train_seconds if several else result.train_seconds
        rows.append(((name,) if several else ()) + (
            e["dataset"], e["method"] or "-", f"{e['params']:,}", fmt_count(e["flops"]),
            fmt_metric(e["test"]["acc"]), fmt_metric(e["test"]["majority"]["acc"]),
            fmt_metric(e["test"]["auc"]), fmt_seconds(result.search_seconds),
            fmt_seconds(train)))
    widths = [max(len(cells[i]) for cells in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(cells, widths))
             for cells in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    e = result.evaluation
    lines.append("majority: test ACC of always predicting the training split's most frequent "
                 "class")
    lines.append(settings_line(result.out, e.get("search")))
    for name, evaluation in zip(names, evaluations):
        label = f"{name}: " if several else ""
        best = evaluation.get("test_max_over_epochs")
        if best:
            lines.append(f"{label}test ACC max over epochs {fmt_metric(best.get('acc'))} (epoch "
                         f"{best.get('acc_epoch', 0) + 1}): {best['selection']}")
        if evaluation.get("restarts"):
            lines.append(f"{label}restarted {len(evaluation['restarts'])} time(s): "
                         f"{evaluation['restarts'][-1]['reason']}")
    derived = derived_runs(result.out)
    if derived and any(d.is_draw for d in derived):
        lines.append(text_lines(result.out, derived)[-1])   # the draws' means
    shortfall = majority_shortfall(e["test"])
    if shortfall:
        lines.append(f"note: {shortfall}")
    if e["test"].get("note"):
        lines.append(f"note: {e['test']['note']}")
    budget = e.get("budget")
    if budget and not budget["within"]:
        lo, hi = budget["band"]
        lines.append(f"note: {e['params']:,} parameters is outside the budget band "
                     f"[{lo:,.0f}, {hi:,.0f}]; see report.md")
    lines += [f"run folder: {result.out}", f"report:     {result.report}"]
    return "\n".join(lines)


def saved_search_config(out):
    """The search settings a run folder holds (None: no search was started there)."""
    from zodarts.config import SearchConfig, load_config
    from zodarts.rundir import RunPaths

    path = RunPaths(out).config
    return load_config(SearchConfig, path) if path.is_file() else None


def run(args) -> int:
    from zodarts.pipeline import run_pipeline

    if args.resume and not args.out:
        raise ConfigError("--resume needs --out DIR (the run folder to continue)")
    if args.resume:
        check_search_resume(args, args.out)
        check_train_resume(args, args.out, prefix="train-")
        resume_derivation(args, args.out)
        # A stage not yet started trains with the folder's preset and seed, not the defaults.
        search_config = saved_search_config(args.out) or search_config_from_args(args)
    else:
        search_config = search_config_from_args(args)
    train_config = train_config_from_args(args, search_config.preset, seed=search_config.seed,
                                          precision=search_config.precision,
                                          device=search_config.device,
                                          deterministic=search_config.deterministic)
    args.out = str(args.out or default_out(search_config))  # the interrupt message names it
    track = tracking_uri(args, args.out)
    print(f"run folder: {args.out}", file=sys.stderr, flush=True)
    result = run_pipeline(search_config, train_config, args.out, resume=args.resume,
                          progress=show_progress(args), track=track)
    print(summary_table(result))
    return 0
