"""Plots and a Markdown summary of a run folder (``zodarts report``)."""

from __future__ import annotations

from pathlib import Path

from zodarts.report.records import RunRecords, read_run
from zodarts.rundir import RunPaths
from zodarts.space.genotype import NUM_STAGES

__all__ = ["RunRecords", "read_run", "make_report", "make_reports"]


def make_report(run_dir: str | Path) -> Path:
    """Write RUN_DIR/report/ (PNGs and report.md) and return the path of report.md."""
    from zodarts.report import cells, plots
    from zodarts.report.markdown import write_markdown

    records = read_run(run_dir)
    out = RunPaths(run_dir).report_dir
    out.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Path | None] = {
        "search": plots.search_curves(records, out / "search.png"),
        "temperature": plots.temperature(records, out / "temperature.png"),
        "budget": plots.budget(records, out / "budget.png"),
        "training": plots.training_curves(records, out / "training.png"),
        "confusion": plots.confusion(records, out / "confusion.png"),
        "roc": plots.roc(records, out / "roc.png"),
    }
    for stage in range(NUM_STAGES):
        figures[f"alpha_stage{stage}"] = plots.alpha_heatmaps(records, stage,
                                                              out / f"alpha_stage{stage}.png")
    genotype = records.trained_genotype
    if genotype is not None:
        figures["cells"] = cells.cells(genotype, out / "cells.png")
    return write_markdown(records, {k: v for k, v in figures.items() if v}, out / "report.md")


def make_reports(run_dir: str | Path) -> Path:
    """The reports of a run and of each architecture its search derived in a folder of its own
    (the draws), those first, since the run's report links to them; returns the run's."""
    from zodarts.report.derived import derived_runs

    for d in derived_runs(run_dir) or []:
        if d.is_draw and d.paths.genotype.is_file():
            make_report(d.paths.root)
    return make_report(run_dir)
