"""`zodarts landscape-report`: what a landscape says (also written at the end of every
landscape, placement and supernet ranking)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "landscape-report", help="the statistics and plots of a landscape",
        description="Write DIR/report/landscape.md with its plots: the variance of test ACC and "
        "AUC split into architecture and seed (intraclass correlation with a 95% interval), "
        "the best, top-10%, median and worst architectures, what random search with K "
        "candidates picked on validation is expected to reach, rank correlations of test with "
        "validation, parameters, FLOPs and each zero-cost proxy, the placed searches, the "
        "supernets' rankings, and with --compare the rank correlation of architecture quality "
        "with another landscape over the same genotypes.")
    p.add_argument("landscape", metavar="DIR", help="a landscape folder")
    p.add_argument("--compare", action="append", default=[], metavar="OTHER",
                   help="another landscape over the same genotypes (repeatable)")
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.commands.landscape import verdict_text
    from zodarts.landscape.report import write_report
    from zodarts.utils.kinds import LANDSCAPE, require_kind

    for folder in [args.landscape, *args.compare]:
        require_kind(folder, LANDSCAPE, "give `zodarts landscape-report` landscape folders")

    report = write_report(args.landscape, compare=args.compare)
    print(f"report: {report}")
    print(verdict_text(report))
    return 0
