"""`zodarts report`: plots of the search and the training, and report.md."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="plots and a Markdown report of a run folder",
                       description="Draw the α distributions, temperature, losses and "
                       "accuracies, expected parameters against the budget and the final cells, "
                       "and write RUN_DIR/report/report.md with the evaluation numbers; for a "
                       "search that draws its architectures, each draw's report too, and the "
                       "run's puts them side by side.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    from zodarts.report import make_reports

    print(f"report: {make_reports(args.run_dir)}")
    return 0
