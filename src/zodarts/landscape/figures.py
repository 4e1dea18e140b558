"""A landscape's figures: every architecture sorted (the caterpillar), test ACC against size,
what ranks like test ACC, and what explains the spread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zodarts.landscape.place import read_placed
from zodarts.landscape.table import Table, proxy_names


def _short(label: str) -> str:
    """A placed search's label short enough to sit beside a line: the method and the seed
    (``breastmnist/zo-darts++/none/seed0/d1`` → ``zo-darts++ s0 d1``)."""
    parts = label.split("/")
    if len(parts) >= 4:
        tail = [p.replace("seed", "s") for p in parts[3:]]
        return " ".join([parts[1], *tail])
    return label


def _caterpillar(table: Table, means: np.ndarray, placed, majority: float | None, out: Path):
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from zodarts.report.plots import save

    archs = table.complete()
    order = np.argsort(means)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot()
    for rank, i in enumerate(order):
        values = archs[i].values("test_acc")
        ax.scatter(np.full(len(values), rank + 1), values, s=6, color="0.6", zorder=1)
    ax.scatter(range(1, len(order) + 1), means[order], s=14, color="tab:blue", zorder=2,
               label="architecture mean")
    # Placed searches as dashed lines, labelled at the right margin, spread so that labels of
    # close means do not print over one another.
    lines = sorted(((rows.values("test_acc").mean(), _short(source["label"]))
                    for source, rows in placed), key=lambda x: x[0])
    low, high = ax.get_ylim()
    gap = 0.045 * (high - low)
    last = -np.inf
    for mean, label in lines:
        ax.axhline(mean, lw=0.8, ls="--", color="tab:orange")
        y = max(mean, last + gap)
        ax.annotate(label, (1.01, y), xycoords=("axes fraction", "data"), fontsize=6,
                    color="tab:orange", va="center", annotation_clip=False)
        last = y
    if majority is not None:
        ax.axhline(majority, color="0.3", ls="-.", lw=1, label="majority class")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, len(order) + 1)
    ax.set_xlabel("architecture, by rank of its mean test ACC (grey: single seeds)")
    ax.set_ylabel("test ACC")
    ax.set_title(f"{table.settings.dataset}: {len(archs)} architectures"
                 + (" (dashed: placed searches)" if placed else ""))
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0, 0.88 if placed else 1, 1))
    return save(fig, out / "caterpillar.png")


def _acc_params(table: Table, means: np.ndarray, placed, majority: float | None, out: Path):
    from matplotlib.figure import Figure

    from zodarts.report.plots import save
    from zodarts.sweep.plots import log_count_axis, pareto_front

    archs = table.complete()
    params = table.info("params")
    fig = Figure(figsize=(6.8, 4.4))
    ax = fig.add_subplot()
    spread = np.array([a.values("test_acc").std() for a in archs])
    ax.errorbar(params, means, yerr=spread, fmt="o", ms=3, lw=0.6, color="tab:blue",
                alpha=0.8, label="architecture: mean ± std over seeds")
    front = pareto_front(list(zip(params.tolist(), means.tolist())))
    xs = [p for p, _ in front] + [float(np.nanmax(params))]
    ys = [a for _, a in front] + [front[-1][1]]
    ax.step(xs, ys, where="post", color="0.35", ls="--", lw=1, label="Pareto front")
    stars = [((rows.info or {}).get("params"), rows.values("test_acc").mean())
             for _, rows in placed if (rows.info or {}).get("params")]
    if stars:
        ax.scatter(*zip(*stars), marker="*", s=110, color="tab:orange", edgecolor="black",
                   linewidth=0.5, zorder=4, label="placed search")
    if majority is not None:
        ax.axhline(majority, color="0.3", ls="-.", lw=1, label="majority class")
    log_count_axis(ax, params.tolist())
    ax.set_xlabel("parameters (live operations)")
    ax.set_ylabel("mean test ACC")
    ax.set_title("test ACC against parameters")
    # The legend goes below the axes: inside, it hid the points (and the placed stars) it
    # shares a corner with.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return save(fig, out / "acc_params.png")


def _predictors(table: Table, means: np.ndarray, out: Path):
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

    from zodarts.report.plots import save

    predictors = [("mean val ACC", table.means("val_acc"))]
    predictors += [(name, table.info(f"proxies.{name}")) for name in proxy_names(table)]
    fig = Figure(figsize=(3.2 * len(predictors), 3.4))
    for k, (name, values) in enumerate(predictors):
        ax = fig.add_subplot(1, len(predictors), k + 1)
        finite = np.isfinite(values)
        ax.scatter(values[finite], means[finite], s=8, alpha=0.8)
        if name == "synflow" and finite.any() and np.all(values[finite] > 0):
            # synflow spans many decades: one labelled tick per few decades, no minor labels.
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(numticks=4))
            ax.xaxis.set_minor_locator(LogLocator(subs="auto", numticks=4))
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel(name)
        if k == 0:
            ax.set_ylabel("mean test ACC")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, out / "predictors.png")


def _features(summary: dict[str, Any], out: Path):
    from matplotlib.figure import Figure

    from zodarts.report.plots import save

    fit = (summary.get("features") or {}).get("fit")
    if not fit or not fit["coefficients"]:
        return None
    rows = fit["coefficients"]
    fig = Figure(figsize=(6.0, 0.45 * len(rows) + 1.3))
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    values = np.array([c["value"] for c in rows])
    ax.errorbar(values, y, xerr=[values - [c["low"] for c in rows],
                                 [c["high"] for c in rows] - values],
                fmt="o", color="tab:blue", capsize=3)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(y, [c["label"] for c in rows])
    metric = summary["features"]["metric"].replace("_", " ").replace("acc", "ACC").replace(
        "auc", "AUC")
    ax.set_xlabel(f"change of the mean {metric} per SD of the feature (95% interval)")
    ax.set_title(f"what explains the spread (R² {fit['r2']:.2f})")
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return save(fig, out / "features.png")


def draw(table: Table, summary: dict[str, Any], out: Path) -> dict[str, Path | None]:
    """Every figure of the report into ``out``; a name maps to None where there is nothing to
    draw."""
    archs = table.complete()
    if not archs:
        return {}
    means = np.array([a.values("test_acc").mean() for a in archs])
    placed = read_placed(table)
    majority = summary.get("majority_test_acc")
    return {"caterpillar": _caterpillar(table, means, placed, majority, out),
            "acc_params": _acc_params(table, means, placed, majority, out),
            "predictors": _predictors(table, means, out),
            "features": _features(summary, out)}
