"""`zodarts evaluate`: test-split ACC/AUC (MedMNIST's conventions), parameters and FLOPs."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="test ACC/AUC, parameters and FLOPs (writes eval.json)",
                       description="Evaluate the trained model of a run folder (best validation "
                       "checkpoint) on the test split and write RUN_DIR/eval.json. An ensemble "
                       "folder (RUN_DIR/ensemble) is evaluated as one model, the mean of its "
                       "members' probabilities, and each member on its own.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder; for a search that draws "
                   "its architectures (--derive sample or both), every one that is trained")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="which checkpoint (default best: the best validation epoch)")
    p.add_argument("--data-root", metavar="DIR", help="folder holding MedMNIST .npz files "
                   "(default: the run's)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda "
                   "(default auto)")
    p.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    from zodarts.commands.common import add_threads_argument
    add_threads_argument(p)
    p.set_defaults(func=run)


def summary_lines(e: dict) -> list[str]:
    from zodarts.report.markdown import (fmt_all_ops, fmt_checkpoint, fmt_count, fmt_metric,
                                         majority_shortfall)

    def acc(split: str) -> str:
        return (f"ACC {fmt_metric(e[split]['acc'])} (majority "
                f"{fmt_metric(e[split]['majority']['acc'])})")

    ensemble = e.get("ensemble")
    lines = [f"dataset {e['dataset']} ({e['task']}), method {e['method'] or '-'}, "
             f"{fmt_checkpoint(e)}",
             f"params {e['params']:,}{fmt_all_ops(e['params'], e.get('params_all_ops'))}   "
             f"FLOPs {fmt_count(e['flops'])}" + (f"   (the sum of {ensemble['members']} "
                                                 "members)" if ensemble else ""),
             f"test  {acc('test')}  AUC {fmt_metric(e['test']['auc'])}  "
             f"loss {fmt_metric(e['test']['loss'])}",
             f"val   {acc('val')}  AUC {fmt_metric(e['val']['auc'])}"]
    for m in (ensemble or {}).get("member_results", []):
        lines.append(f"  member {m['folder']} (seed {m['seed']}): test ACC "
                     f"{fmt_metric(m['test']['acc'])} AUC {fmt_metric(m['test']['auc'])}, val "
                     f"ACC {fmt_metric(m['val']['acc'])}")
    best = e.get("test_max_over_epochs")
    if best and best.get("acc") is not None:
        lines.append(f"test ACC max over epochs {fmt_metric(best['acc'])} (epoch "
                     f"{best.get('acc_epoch', 0) + 1}): {best['selection']}")
    for split in ("test", "val"):
        lines += [f"note ({split}): {text}" for text in (majority_shortfall(e[split], split),
                                                         e[split].get("note")) if text]
    return lines


def run(args) -> int:
    from zodarts.report.derived import derived_runs
    from zodarts.train.evaluate import evaluate_run, json_safe

    derived = derived_runs(args.run_dir)
    if derived is not None:
        return evaluate_derived(args, derived)
    result = evaluate_run(args.run_dir, args.checkpoint, args.device, args.data_root)
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
    else:
        print("\n".join(summary_lines(result)))
    return 0


def evaluate_derived(args, derived) -> int:
    """Every trained architecture of a search that draws them, each into its own eval.json,
    then the side-by-side lines and the draws' means; what is not trained yet is named with
    the command that trains it."""
    from pathlib import Path

    from zodarts.errors import ConfigError
    from zodarts.report.derived import Derived, text_lines
    from zodarts.train.evaluate import evaluate_run, json_safe
    from zodarts.train.retrain import training_finished

    run = Path(args.run_dir)
    ready = [d for d in derived if training_finished(d.paths)]
    if not ready:
        raise ConfigError(f"none of the {len(derived)} architectures {run} derives is trained "
                          f"yet ({', '.join(str(d.paths.root) for d in derived)}): run `zodarts "
                          f"train {run}` first (with --resume where a training was interrupted)")
    evaluated = []
    for d in derived:
        if d in ready:
            d = Derived(d.name, d.paths, evaluate_run(d.paths.root, args.checkpoint, args.device,
                                                      args.data_root))
            if not args.json:
                print(f"== {d.name}: {d.paths.root}")
                print("\n".join(summary_lines(d.evaluation)))
        evaluated.append(d)
    if args.json:
        print(json.dumps(json_safe([{"name": d.name, "folder": str(d.paths.root),
                                     "evaluation": d.evaluation} for d in evaluated]), indent=2))
    else:
        print("== side by side")
        print("\n".join(text_lines(run, evaluated)))
        print(f"`zodarts report {run}` puts these numbers in the reports")
    return 0
