"""The report's figures, each a function of the run's records that writes one PNG (or returns
None when the run has nothing to show for it).

Figures are built with ``matplotlib.figure.Figure`` and saved through the Agg canvas directly:
no pyplot, so no global backend switch and no window, whatever the caller's environment.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zodarts.report.records import RunRecords
from zodarts.space import EDGES, KERNEL_SIZES, OP_NAMES

DPI = 110
TRAIN_COLOUR, VAL_COLOUR = "tab:blue", "tab:orange"


def save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    for ax in fig.axes:  # epochs are whole numbers
        if ax.get_xlabel() == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(path, dpi=DPI)
    return path


def _epochs(log: list[dict]) -> np.ndarray:
    return np.array([r["epoch"] + 1 for r in log])


def _series(log: list[dict], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else r[key] for r in log], dtype=float)


def _curves(ax, log: list[dict], keys: dict[str, str], ylabel: str) -> None:
    x = _epochs(log)
    for (key, label), colour in zip(keys.items(), (TRAIN_COLOUR, VAL_COLOUR, "tab:green")):
        y = _series(log, key)
        if not np.isnan(y).all():
            ax.plot(x, y, marker="o" if len(x) < 30 else None, ms=3, label=label, color=colour)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def search_curves(records: RunRecords, path: Path) -> Path | None:
    log = records.search_log
    if not log:
        return None
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    loss, acc = fig.subplots(1, 2)
    _curves(loss, log, {"train_loss": "train (weights half)", "val_loss": "val (arch half)"},
            "loss")
    _curves(acc, log, {"train_acc": "train (weights half)", "val_acc": "val (arch half)"},
            "accuracy")
    fig.suptitle("Search: supernet loss and accuracy")
    return save(fig, path)


def training_curves(records: RunRecords, path: Path) -> Path | None:
    log = records.train_log
    if not log:
        return None
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    loss, acc, lr = fig.subplots(1, 3)
    _curves(loss, log, {"train_loss": "train (augmented)", "val_loss": "val"}, "loss")
    _curves(acc, log, {"train_acc": "train (augmented)", "val_acc": "val ACC",
                       "val_auc": "val AUC"}, "ACC / AUC")
    best = [r for r in log if r.get("best")]
    if best:
        acc.axvline(best[-1]["epoch"] + 1, color="grey", ls=":", label="best.pt")
        acc.legend()
    lr.plot(_epochs(log), _series(log, "lr"), color="tab:purple")
    lr.set_xlabel("epoch")
    lr.set_ylabel("learning rate (end of epoch)")
    lr.grid(alpha=0.3)
    fig.suptitle("Retraining from scratch")
    return save(fig, path)


def temperature(records: RunRecords, path: Path) -> Path | None:
    log = records.search_log
    if not log:
        return None
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.subplots()
    ax.step(_epochs(log), _series(log, "temperature"), where="mid", color="tab:red")
    _shade_size_phase(ax, log)
    ax.set_xlabel("epoch")
    ax.set_ylabel("temperature T")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title("Temperature of the relaxation (sparsemax(α / T))")
    return save(fig, path)


def _shade_size_phase(ax, log: list[dict]) -> None:
    phase2 = [r["epoch"] + 1 for r in log if r.get("phase") == 2]
    if phase2:
        ax.axvspan(min(phase2) - 0.5, max(phase2) + 0.5, color="tab:green", alpha=0.08,
                   label="size search (kernels, depths)")
        ax.legend(loc="best")


def budget(records: RunRecords, path: Path) -> Path | None:
    log = records.search_log
    if not log or "expected_params" not in log[0]:
        return None
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.subplots()
    x = _epochs(log)
    ax.plot(x, _series(log, "expected_params"), marker="o" if len(x) < 30 else None, ms=3,
            color="tab:blue", label="expected parameters E[P(α)]")
    if records.budget is not None:
        lo, hi = records.budget
        top = hi if math.isfinite(hi) else ax.get_ylim()[1]
        ax.axhspan(lo, top, color="tab:green", alpha=0.15,
                   label=f"budget band [{lo:,.0f}, {hi:,.0f}]")
    if records.genotype is not None:
        ax.scatter([x[-1]], [records.genotype_params], marker="*", s=160, color="tab:red",
                   zorder=5, label=f"derived genotype: {records.genotype_params:,}")
    _shade_size_phase(ax, log)
    ax.set_xlabel("epoch")
    ax.set_ylabel("parameters")
    ax.ticklabel_format(axis="y", style="plain")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    title = "no budget" if records.budget is None else "budget"
    ax.set_title(f"Expected parameters during the search ({title})")
    return save(fig, path)


def alpha_heatmaps(records: RunRecords, stage: int, path: Path) -> Path | None:
    """One stage: per edge, the op distribution (top) and kernel distribution (bottom) over the
    epochs, and the depth distribution on the right. Grey: not searched yet (phase 1)."""
    alphas = records.alphas
    if not alphas:
        return None
    epochs = [r["epoch"] + 1 for r in alphas]
    rows = slice(stage * len(EDGES), (stage + 1) * len(EDGES))
    op = _stack(alphas, "op", rows, len(OP_NAMES))          # (E, 6, 5)
    kernel = _stack(alphas, "kernel", rows, len(KERNEL_SIZES))
    depth_width = max((len(r["depth"][stage]) for r in alphas if r.get("depth")), default=0)
    depth = _stack(alphas, "depth", slice(stage, stage + 1), depth_width) if depth_width else None

    # A fixed layout: constrained layout costs about a second per figure with 14 axes.
    # Columns: the edges, a gap for the depth labels, depth, a gap, the colour bar.
    fig = Figure(figsize=(2.0 * len(EDGES) + 3.6, 4.6))
    grid = fig.add_gridspec(2, len(EDGES) + 4, height_ratios=(len(OP_NAMES), len(KERNEL_SIZES)),
                            width_ratios=(1,) * len(EDGES) + (0.3, 1, 0.15, 0.08), left=0.07,
                            right=0.95, top=0.86, bottom=0.1, wspace=0.12, hspace=0.12)
    extent = (epochs[0] - 0.5, epochs[-1] + 0.5)
    style = dict(vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", interpolation="nearest")
    image = None
    for e, (j, i) in enumerate(EDGES):
        top = fig.add_subplot(grid[0, e])
        image = top.imshow(op[:, e].T, extent=(*extent, len(OP_NAMES) - 0.5, -0.5), **style)
        top.set_title(f"edge {j}→{i}", fontsize=9)
        _label_rows(top, OP_NAMES if e == 0 else None, len(OP_NAMES))
        top.set_xticks([])
        bottom = fig.add_subplot(grid[1, e])
        bottom.set_facecolor("0.85")
        bottom.imshow(kernel[:, e].T, extent=(*extent, len(KERNEL_SIZES) - 0.5, -0.5), **style)
        _label_rows(bottom, [f"{k}×{k}" for k in KERNEL_SIZES] if e == 0 else None,
                    len(KERNEL_SIZES))
        bottom.set_xlabel("epoch", fontsize=8)
        bottom.tick_params(labelsize=7)
    side = fig.add_subplot(grid[:, -3])
    side.set_facecolor("0.85")
    if depth is not None:
        side.imshow(depth[:, 0].T, extent=(*extent, depth_width + 0.5, 0.5), **style)
        side.set_yticks(range(1, depth_width + 1), [f"{d} cell{'s' * (d > 1)}"
                                                    for d in range(1, depth_width + 1)])
    else:
        side.set_yticks([])
    side.set_title("depth", fontsize=9)
    side.set_xlabel("epoch", fontsize=8)
    side.tick_params(labelsize=7)
    fig.colorbar(image, cax=fig.add_subplot(grid[:, -1]), label="probability")
    C = records.search_config.C * 2 ** stage if records.search_config else None
    fig.suptitle(f"Stage {stage}{f' (C={C})' if C else ''}: relaxed architecture distributions "
                 "over the search (top: operation, bottom: conv kernel; grey: not yet searched)")
    return save(fig, path)


def _stack(alphas: list[dict], key: str, rows: slice, width: int) -> np.ndarray:
    """(epochs, rows, width) of one α group, NaN where the group was not active."""
    n = rows.stop - rows.start
    out = np.full((len(alphas), n, width), np.nan)
    for t, record in enumerate(alphas):
        if record.get(key) is not None:
            out[t] = np.asarray(record[key][rows], dtype=float)[:, :width]
    return out


def _label_rows(ax, names, n: int) -> None:
    if names is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(range(n), names, fontsize=8)
