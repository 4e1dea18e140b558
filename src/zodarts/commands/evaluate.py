"""`zodarts evaluate`: test-split ACC/AUC (MedMNIST's conventions), parameters and FLOPs."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="test ACC/AUC, parameters and FLOPs (writes eval.json)",
                       description="Evaluate the trained model of a run folder (best validation "
                       "checkpoint) on the test split and write RUN_DIR/eval.json.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="which checkpoint (default best: the best validation epoch)")
    p.add_argument("--data-root", metavar="DIR", help="folder holding MedMNIST .npz files "
                   "(default: the run's)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda "
                   "(default auto)")
    p.add_argument("--json", action="store_true", help="print eval.json instead of a table")
    p.set_defaults(func=run)


def summary_lines(e: dict) -> list[str]:
    from zodarts.report.markdown import fmt_all_ops, fmt_count, fmt_metric, majority_shortfall

    def acc(split: str) -> str:
        return (f"ACC {fmt_metric(e[split]['acc'])} (majority "
                f"{fmt_metric(e[split]['majority']['acc'])})")

    lines = [f"dataset {e['dataset']} ({e['task']}), method {e['method'] or '-'}, "
             f"{e['checkpoint']['which']} checkpoint (epoch {e['checkpoint']['epoch'] + 1})",
             f"params {e['params']:,}{fmt_all_ops(e['params'], e.get('params_all_ops'))}   "
             f"FLOPs {fmt_count(e['flops'])}",
             f"test  {acc('test')}  AUC {fmt_metric(e['test']['auc'])}  "
             f"loss {fmt_metric(e['test']['loss'])}",
             f"val   {acc('val')}  AUC {fmt_metric(e['val']['auc'])}"]
    for split in ("test", "val"):
        lines += [f"note ({split}): {text}" for text in (majority_shortfall(e[split], split),
                                                         e[split].get("note")) if text]
    return lines


def run(args) -> int:
    from zodarts.train.evaluate import evaluate_run, json_safe

    result = evaluate_run(args.run_dir, args.checkpoint, args.device, args.data_root)
    if args.json:
        print(json.dumps(json_safe(result), indent=2))
    else:
        print("\n".join(summary_lines(result)))
    return 0
