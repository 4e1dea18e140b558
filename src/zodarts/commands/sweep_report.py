"""`zodarts sweep-report`: the combined report of a sweep folder (also written by every sweep)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("sweep-report", help="tables and plots of a sweep folder",
                       description="Summarise every trial of a sweep folder: mean ± std over "
                       "seeds per dataset × method × budget (test ACC and AUC, parameters, "
                       "FLOPs, search and retraining seconds), the ZO-DARTS++ paper's headline "
                       "figures, ACC-against-parameters and search-time plots. Writes "
                       "report.md, results.csv, summary.csv, results.json and PNGs into "
                       "SWEEP_DIR; works on a sweep still running or interrupted.")
    p.add_argument("sweep_dir", metavar="SWEEP_DIR")
    p.add_argument("--landscape", action="append", default=[], metavar="DIR",
                   help="a landscape of one of the sweep's datasets (`zodarts landscape`): each "
                        "network's test ACC as a percentile of its single retrainings, where "
                        "they used the same retraining settings; repeatable")
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.landscape.table import single_runs
    from zodarts.sweep.report import write_report
    from zodarts.utils.kinds import LANDSCAPE, SWEEP, require_kind

    require_kind(args.sweep_dir, SWEEP, "give `zodarts sweep-report` a sweep folder")
    for folder in args.landscape:
        require_kind(folder, LANDSCAPE, "--landscape takes a landscape folder")

    references = [single_runs(folder) for folder in args.landscape]
    print(f"report: {write_report(args.sweep_dir, references)}")
    return 0
