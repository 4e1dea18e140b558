"""`zodarts landscape-place`: retrain searched genotypes as the landscape's architectures were,
and say where they land in it."""

from __future__ import annotations


def register(sub) -> None:
    from zodarts.commands.sweep import add_ray_arguments

    p = sub.add_parser(
        "landscape-place", help="where searched genotypes land in a landscape",
        description="Retrain the genotype of each RUN_DIR (or of every trial of a SWEEP_DIR on "
        "the landscape's dataset) with the landscape's seeds and retraining settings, at its "
        "width C, then print each one's mean test ACC and AUC, its percentile among the "
        "landscape's architecture means and its difference to random search's expected "
        "best-of-K picked on validation, with 95% bootstrap intervals. Retrainings already "
        "recorded are not repeated; the landscape's report shows the placements.")
    p.add_argument("landscape", metavar="DIR", help="a landscape folder")
    p.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP")
    p.add_argument("--k", type=int, default=10, help="K of the best-of-K line (default 10, "
                   "random search's candidates)")
    p.add_argument("--keep-models", action="store_true",
                   help="keep the retrainings' checkpoints")
    add_ray_arguments(p, "job")
    p.add_argument("--quiet", action="store_true", help="log lines, no live progress line")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    from pathlib import Path

    from zodarts.commands.sweep import ray_options
    from zodarts.landscape.driver import run_arch_jobs
    from zodarts.landscape.place import (METHODS, find_searched, place_jobs,
                                         write_placements)
    from zodarts.landscape.report import write_report
    from zodarts.landscape.table import read_table

    from zodarts.errors import ConfigError
    from zodarts.utils.kinds import RUN, SWEEP
    from zodarts.utils.lock import folder_lock

    options = ray_options(args)
    check_kinds(args.landscape, args.runs, "landscape-place", {RUN, SWEEP}, "runs or sweeps")
    read_table(args.landscape)  # a folder that is no landscape is told so, and not locked
    # The retrainings and placement.json go into the landscape: one writer at a time, so two
    # placements never train the same seed twice, nor one place against a table being grown.
    with folder_lock(args.landscape, "zodarts landscape-place", elsewhere=""):
        table = read_table(args.landscape)
        if not table.complete():
            raise ConfigError(f"{args.landscape} has no finished retraining yet: nothing to "
                              "place in; let `zodarts landscape` run first")
        if args.k < 1:
            raise ConfigError(f"--k must be >= 1 (got {args.k})")
        searched = find_searched([Path(r) for r in args.runs], table.settings.dataset)
        jobs = place_jobs(table, searched, args.keep_models)
        outcomes, _, _ = run_arch_jobs(jobs, len(searched), options, table.root, "placing")
        for outcome in outcomes:
            if not outcome.ok:
                print(f"failed {outcome.cell}: {outcome.error}", file=sys.stderr)
        path = write_placements(table, ks=sorted({1, 5, 10, 50, args.k}))
        report = write_report(table.root)
    if path is None:
        print("nothing placed: no retraining finished", file=sys.stderr)
        return 1
    import json
    wanted = {s.label for s in searched}
    k = str(args.k)
    print(f"{'placed':<48} {'seeds':>8} {'test ACC':>8} {'percentile':>19} "
          f"{'ACC − best-of-' + k:>26}")
    for entry in json.loads(path.read_text()):
        if entry["label"] in wanted:
            print(_row(entry["label"], entry["seeds"], entry["test_acc"], k))
    print(f"\n{'every method placed here (budget, network)':<48} {'searches':>8} "
          f"{'test ACC':>8} {'percentile':>19} {'ACC − best-of-' + k:>26}")
    for group in json.loads((path.parent / METHODS).read_text()):
        print(_row(group["name"], group["test_acc"]["searches"], group["test_acc"], k))
    print(f"report: {report}")
    return 1 if any(not o.ok for o in outcomes) else 0


def _row(name: str, count: int, acc: dict, k: str) -> str:
    """One printed line: a placed search's, or a method's over its searches (an interval is
    left out where there is none: a method with one search)."""
    def bounds(pair, fmt: str) -> str:
        return "" if not pair else f" [{pair[0]:{fmt}}, {pair[1]:{fmt}}]"

    gap = acc["minus_best_of_k"].get(k)
    gap_text = "–" if gap is None else \
        f"{gap:+.4f}{bounds(acc['minus_best_of_k_interval'].get(k), '+.4f')}"
    percentile = f"{acc['percentile']:5.1f}{bounds(acc['percentile_interval'], '5.1f')}"
    return (f"{name:<48} {count:>8} {acc['mean']:>8.4f} {percentile:>19} {gap_text:>26}")


def check_kinds(landscape: str, runs: list[str], command: str, kinds: set[str],
                what: str) -> None:
    """The landscape first, then the searches: a run given first (`landscape-place RUN RUN`)
    is named as a run, not offered to be made into a landscape."""
    from zodarts.utils.kinds import LANDSCAPE, require_kind

    usage = (f"`zodarts {command}` takes a landscape folder first (made by `zodarts "
             f"landscape --out DIR`), then the {what}: `zodarts {command} LANDSCAPE "
             f"{' '.join(runs) or 'RUN'}`")
    require_kind(landscape, LANDSCAPE, usage)
    for run in runs:
        require_kind(run, kinds, usage)
