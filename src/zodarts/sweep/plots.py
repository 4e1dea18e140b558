"""The sweep report's figures (matplotlib's Figure API, no pyplot, like ``report.plots``): test
ACC against parameters per dataset with the Pareto front, and search seconds per method."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from zodarts.report.markdown import fmt_count
from zodarts.report.plots import save
from zodarts.sweep.summary import RESNET18_28, SweepSummary, TrialResult

BUDGET_MARKERS = {"none": "o", "small": "v", "medium": "s", "large": "^"}


def _colours(names: list[str]) -> dict[str, tuple]:
    cmap = colormaps["tab10"]
    return {name: cmap(i % 10) for i, name in enumerate(names)}


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats with fewer (or as many) parameters and a higher ACC,
    ordered by parameters: (params, acc) pairs."""
    front: list[tuple[float, float]] = []
    for params, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((params, acc))
    return front


def log_count_axis(ax, values: list[float]) -> None:
    """A log x axis labelled in counts (12.3k): the decades, and within a range of two decades
    or less also 2× and 5× each decade; every minor tick labelled would crowd the axis."""
    ax.set_xscale("log")
    counts = FuncFormatter(lambda x, _: fmt_count(x))
    ax.xaxis.set_major_formatter(counts)
    if max(values) / max(min(values), 1.0) <= 100:
        ax.xaxis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        ax.xaxis.set_minor_formatter(counts)
    else:
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", which="both", labelsize=8)


def _done(trials: list[TrialResult]) -> list[TrialResult]:
    return [t for t in trials if t.status == "done"]


def acc_vs_params(summary: SweepSummary, dataset: str, path: Path) -> Path | None:
    trials = [t for t in _done(summary.trials) if t.cell.dataset == dataset
              and t.test_acc is not None and t.params]
    if not trials:
        return None
    methods = list(dict.fromkeys(t.cell.method for t in trials))
    budgets = list(dict.fromkeys(t.cell.budget for t in trials))
    colour = _colours(methods)
    fig = Figure(figsize=(6.8, 4.4))
    ax = fig.add_subplot()
    for t in trials:
        ax.scatter(t.params, t.test_acc, color=colour[t.cell.method], s=36, alpha=0.85,
                   marker=BUDGET_MARKERS.get(t.cell.budget, "D"), edgecolors="none")
    front = pareto_front([(float(t.params), float(t.test_acc)) for t in trials])
    # Held to the largest network: beyond its last point the front is that point's ACC. The
    # front's own points are ringed: a dominated trial can sit on the staircase's flat part
    # (as many parameters or more at the same ACC) without being on the front.
    xs = [p for p, _ in front] + [max(float(t.params) for t in trials)]
    ys = [a for _, a in front] + [front[-1][1]]
    ax.step(xs, ys, where="post", color="0.35", ls="--", lw=1)
    ax.scatter([p for p, _ in front], [a for _, a in front], s=110, facecolors="none",
               edgecolors="0.2", linewidths=1.2, zorder=3)
    handles = [Line2D([], [], color=colour[m], marker="o", ls="", label=m) for m in methods]
    if len(budgets) > 1:
        handles += [Line2D([], [], color="0.4", marker=BUDGET_MARKERS.get(b, "D"), ls="",
                           label=f"budget {b}") for b in budgets]
    handles.append(Line2D([], [], color="0.35", ls="--", marker="o", markerfacecolor="none",
                          markersize=9, label="Pareto front (ringed: its trials)"))
    majority = summary.majority(dataset)
    if majority is not None:
        ax.axhline(majority, color="0.5", ls="-.", lw=1)
        handles.append(Line2D([], [], color="0.5", ls="-.", label="majority class (no skill)"))
    if dataset in RESNET18_28:
        ax.axhline(RESNET18_28[dataset][0], color="tab:red", ls=":", lw=1)
        handles.append(Line2D([], [], color="tab:red", ls=":",
                              label="ResNet-18 (28), MedMNIST v2"))
    log_count_axis(ax, [float(t.params) for t in trials])
    ax.set_xlabel("parameters (live operations)")
    ax.set_ylabel("test ACC")
    ax.set_title(f"{dataset}: test ACC against parameters, every trial")
    ax.grid(alpha=0.3, which="both")
    ax.legend(handles=handles, fontsize=8, loc="best")
    fig.tight_layout()
    return save(fig, path)


def search_seconds(summary: SweepSummary, path: Path) -> Path | None:
    trials = [t for t in _done(summary.trials) if t.search_seconds]
    if not trials:
        return None
    methods = list(dict.fromkeys(t.cell.method for t in trials))
    datasets = list(dict.fromkeys(t.cell.dataset for t in trials))
    colour = _colours(datasets)
    rng = np.random.default_rng(0)  # the jitter only separates points; fixed, so files repeat
    fig = Figure(figsize=(max(5.0, 1.1 * len(methods) + 2), 4.2))
    ax = fig.add_subplot()
    for i, method in enumerate(methods):
        mine = [t for t in trials if t.cell.method == method]
        for t in mine:
            ax.scatter(i + rng.uniform(-0.15, 0.15), t.search_seconds,
                       color=colour[t.cell.dataset], s=28, alpha=0.85, edgecolors="none")
        mean = float(np.mean([t.search_seconds for t in mine]))
        ax.hlines(mean, i - 0.3, i + 0.3, color="0.2", lw=2)
    seconds = [t.search_seconds for t in trials]
    if max(seconds) > 10 * min(seconds):
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xticks(range(len(methods)), methods, rotation=20, ha="right")
    ax.set_ylabel("search seconds")
    ax.set_title("search time per trial (bar: mean per method)")
    ax.grid(alpha=0.3, axis="y")
    if len(datasets) > 1:
        ax.legend(handles=[Line2D([], [], color=colour[d], marker="o", ls="", label=d)
                           for d in datasets], fontsize=8, loc="best")
    fig.tight_layout()
    return save(fig, path)
