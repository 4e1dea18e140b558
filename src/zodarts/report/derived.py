"""The architectures a search hands on (its argmax and its draws, ``--derive sample|both``), side
by side: each one's state, its validation-selected test numbers and its test maximum over
epochs (the ZO-DARTS++ authors' number, optimistic), and the draws' means. The run's own
report.md, `zodarts evaluate RUN` and `zodarts run`'s summary all read them from here, so a user
sent to one of them is never sent back to another.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from zodarts.config import SearchConfig, load_config
from zodarts.rundir import RunPaths


@dataclass
class Derived:
    name: str                    # "argmax" or "draw K"
    paths: RunPaths
    evaluation: dict | None      # eval.json, where it exists

    @property
    def is_draw(self) -> bool:
        return self.name != "argmax"

    def todo(self, run: Path) -> str | None:
        """What is left to do before this architecture has numbers, as the command that does
        it (None: it has them)."""
        if self.evaluation is not None:
            return None
        if self.paths.train_best.is_file():
            return f"trained, not evaluated yet: run `zodarts evaluate {run}`"
        if self.paths.train_dir.is_dir():
            return f"training interrupted: run `zodarts train {run} --resume`"
        return f"not trained yet: run `zodarts train {run}`"

    def number(self, key: str) -> float | None:
        """``test_acc``, ``test_auc``, ``val_acc`` (validation-selected checkpoint) or
        ``test_max_acc`` (the maximum over epochs) from eval.json; None where absent."""
        e = self.evaluation or {}
        if key == "test_max_acc":
            value = (e.get("test_max_over_epochs") or {}).get("acc")
        else:
            split, metric = key.split("_")
            value = (e.get(split) or {}).get(metric)
        return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def derived_runs(run_dir: str | Path) -> list[Derived] | None:
    """The derived architectures of the search in ``run_dir``, argmax first; None where the
    search derives by argmax alone (the run folder is then the one architecture)."""
    from zodarts.search.derive import derived_folders

    paths = RunPaths(run_dir)
    if not paths.config.is_file():
        return None
    config = load_config(SearchConfig, paths.config)
    if config.derive == "argmax":
        return None
    return [Derived("argmax" if f.root == paths.root else f"draw {f.root.name[1:]}", f,
                    json.loads(f.eval.read_text()) if f.eval.is_file() else None)
            for f in derived_folders(paths.root, config)]


def draws_mean(derived: list[Derived], key: str) -> tuple[float, float, int] | None:
    """Mean, standard deviation (n − 1) and count of ``key`` over the draws that have it: the
    authors report the mean over draws (and seeds); the argmax is not a draw."""
    values = [v for d in derived if d.is_draw for v in [d.number(key)] if v is not None]
    if not values:
        return None
    return (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0,
            len(values))


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _fmt_mean(mean: tuple[float, float, int] | None) -> str:
    return "–" if mean is None else f"{mean[0]:.4f} ± {mean[1]:.4f}"


def _max_cell(d: Derived) -> str:
    best = (d.evaluation or {}).get("test_max_over_epochs") or {}
    value = d.number("test_max_acc")
    return "–" if value is None else f"{value:.4f} (epoch {best.get('acc_epoch', 0) + 1})"


OPTIMISTIC = ("*test ACC, max over epochs*: the best test ACC over the training's epochs, "
              "chosen by looking at the test split: optimistic, the ZO-DARTS++ authors' number "
              "(measured with `--test-every-epoch`, which the paper preset sets; – where the "
              "training did not). *test ACC (val-selected)*: the test ACC of the checkpoint "
              "chosen on validation, the number to report.")


def markdown_section(run: RunPaths, derived: list[Derived], report_dir: Path) -> list[str]:
    """report.md's section on the derived architectures of the run in ``run``, its links
    relative to ``report_dir``."""
    import os

    draws = [d for d in derived if d.is_draw]
    lines = ["## The derived architectures", "",
             f"This search hands on {len(draws)} architecture(s) drawn from its distributions"
             + (" and its argmax" if len(draws) < len(derived) else "")
             + ", each retrained and evaluated in a run folder of its own.", "",
             "| architecture | params | test ACC (val-selected) | test AUC | test ACC, max over "
             "epochs (optimistic) | val ACC | folder |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for d in derived:
        report, folder = d.paths.report_dir / "report.md", os.path.relpath(d.paths.root, run.root)
        link = ("this run" if not d.is_draw else
                f"[{folder}]({os.path.relpath(report, report_dir)})" if report.is_file() else
                f"`{folder}`")
        todo = d.todo(run.root)
        if todo:
            lines.append(f"| {d.name} | {todo} | | | | | {link} |")
            continue
        lines.append(f"| {d.name} | {d.evaluation['params']:,} | {_fmt(d.number('test_acc'))} "
                     f"| {_fmt(d.number('test_auc'))} | {_max_cell(d)} | "
                     f"{_fmt(d.number('val_acc'))} | {link} |")
    if draws:
        means = {k: draws_mean(derived, k) for k in ("test_acc", "test_auc", "test_max_acc",
                                                      "val_acc")}
        n = max((m[2] for m in means.values() if m), default=0)
        which = f"the {n} draws" if n == len(draws) else f"{n} of {len(draws)} draws"
        lines.append(f"| **mean ± std of {which}** | | "
                     f"{_fmt_mean(means['test_acc'])} | {_fmt_mean(means['test_auc'])} | "
                     f"{_fmt_mean(means['test_max_acc'])} | {_fmt_mean(means['val_acc'])} | |")
    return lines + ["", OPTIMISTIC, ""]


def text_lines(run: Path, derived: list[Derived]) -> list[str]:
    """The same for a terminal: one line per architecture, then the draws' means."""
    lines = []
    for d in derived:
        where = d.paths.root
        todo = d.todo(run)
        if todo:
            lines.append(f"{d.name} ({where}): {todo}")
            continue
        maximum = d.number("test_max_acc")
        lines.append(f"{d.name} ({where}): test ACC {_fmt(d.number('test_acc'))} "
                     f"(val-selected), AUC {_fmt(d.number('test_auc'))}"
                     + (f"; max over epochs {maximum:.4f} (selected on test, optimistic)"
                        if maximum is not None else ""))
    acc, best = draws_mean(derived, "test_acc"), draws_mean(derived, "test_max_acc")
    if acc:
        lines.append(f"mean ± std over {acc[2]} draw(s): test ACC {_fmt_mean(acc)} "
                     "(val-selected)" + (f"; max over epochs {_fmt_mean(best)} (selected on "
                                         "test, optimistic: the paper's way)" if best else ""))
    return lines
