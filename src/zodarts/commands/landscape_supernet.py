"""`zodarts landscape-supernet`: does a trained supernet rank the landscape's architectures
the way training them does?"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "landscape-supernet", help="a trained supernet's ranking of a landscape (Kendall τ)",
        description="Evaluate every landscape architecture as a sub-network of each RUN_DIR's "
        "trained supernet (its last search checkpoint; inherited weights, BatchNorm statistics "
        "re-estimated per sub-network, the search's validation half) and print the Kendall τ "
        "and Spearman ρ of those accuracies with the architectures' stand-alone mean test and "
        "val ACC, with 95% bootstrap intervals (Yu et al., ICLR 2020). Search and landscape "
        "must share the space (the same preset).")
    p.add_argument("landscape", metavar="DIR", help="a landscape folder")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="finished searches")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.landscape.table import read_table
    from zodarts.utils.lock import folder_lock

    read_table(args.landscape)  # a folder that is no landscape is told so, and not locked
    with folder_lock(args.landscape, "zodarts landscape-supernet", elsewhere=""):
        return _rank(args)


def _rank(args) -> int:
    from pathlib import Path

    from zodarts.errors import ConfigError
    from zodarts.landscape.place import run_label
    from zodarts.landscape.report import write_report
    from zodarts.landscape.supernet import rank_supernet
    from zodarts.landscape.table import read_table

    table = read_table(args.landscape)
    if len(table.complete()) < 3:
        raise ConfigError(f"{args.landscape} has {len(table.complete())} architectures with a "
                          "finished retraining; a ranking needs at least 3")

    def signed(x) -> str:
        return "–" if x is None else f"{x:+.3f}"

    labels = [run_label(Path(run_dir)) for run_dir in args.runs]
    for run_dir, label in zip(args.runs, labels):
        # Two runs of one name (seed0 of two sweeps) must not overwrite each other's scores.
        unique = label if labels.count(label) == 1 else str(Path(run_dir))
        result = rank_supernet(table, run_dir, unique, device=args.device)
        for against in ("test_acc", "val_acc"):
            c = result[f"against_{against}"]
            print(f"{result['label']} ({result['method']}) vs stand-alone {against}: Kendall τ "
                  f"{signed(c['kendall'])} [{signed(c['kendall_low'])}, "
                  f"{signed(c['kendall_high'])}], Spearman ρ {signed(c['spearman'])} "
                  f"[{signed(c['spearman_low'])}, {signed(c['spearman_high'])}] over {c['n']} "
                  "architectures")
    print(f"report: {write_report(table.root)}")
    return 0
