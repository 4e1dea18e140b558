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
    from zodarts.commands.common import add_threads_argument
    add_threads_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.commands.landscape_place import check_kinds
    from zodarts.landscape.table import read_table
    from zodarts.utils.kinds import RUN
    from zodarts.utils.lock import folder_lock

    check_kinds(args.landscape, args.runs, "landscape-supernet", {RUN}, "finished searches")
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
            why = undefined_reason(result, against)
            if why:
                print(f"{result['label']} ({result['method']}) vs stand-alone {against}: "
                      f"no ranking: {why}")
                continue
            print(f"{result['label']} ({result['method']}) vs stand-alone {against}: Kendall τ "
                  f"{signed(c['kendall'])} [{signed(c['kendall_low'])}, "
                  f"{signed(c['kendall_high'])}], Spearman ρ {signed(c['spearman'])} "
                  f"[{signed(c['spearman_low'])}, {signed(c['spearman_high'])}] over {c['n']} "
                  "architectures")
    print(f"report: {write_report(table.root)}")
    return 0


def undefined_reason(result: dict, against: str) -> str | None:
    """Why a rank correlation is undefined (None where it is not): one side is a constant,
    and a constant ranks nothing."""
    import math

    c = result[f"against_{against}"]
    if c["kendall"] is not None and not math.isnan(c["kendall"]):
        return None
    accs = sorted({round(s["supernet_acc"], 9) for s in result["scores"]})
    if c["n"] < 3:
        return f"only {c['n']} architectures have finite scores on both sides; it needs 3"
    if len(accs) == 1:
        return (f"every sub-network of the supernet scores the same val ACC ({accs[0]:.4f}), as "
                "when each one predicts a single class: the supernet is not trained enough to "
                "tell them apart (search longer, or with more steps per epoch)")
    return (f"every architecture of the landscape has the same stand-alone mean {against} "
            "(a flat landscape): there is nothing to rank")
