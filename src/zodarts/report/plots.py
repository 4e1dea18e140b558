"""The report's figures, each a function of the run's records that writes one PNG (or returns
None when the run has nothing to show for it).

Figures are built with ``matplotlib.figure.Figure`` and saved through the Agg canvas directly:
no pyplot, so no global backend switch and no window, whatever the caller's environment.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from zodarts.report.records import RunRecords
from zodarts.space import EDGES, KERNEL_SIZES, OP_NAMES
from zodarts.train.metrics import roc_curves, task_metrics

DPI = 110
TRAIN_COLOUR, VAL_COLOUR = "tab:blue", "tab:orange"
BAND_COLOUR, SIZE_PHASE_COLOUR = "tab:green", "tab:purple"
# Diverging around the uniform distribution: red favoured, blue disfavoured, white undecided.
ALPHA_CMAP = "RdBu_r"
NOT_SEARCHED = "0.6"  # a mid grey, apart from the map's near-white centre
# The smallest colour range: a distribution that has not moved yet must not turn float noise
# into full colour.
MIN_DEVIATION = 1e-3


# Epoch ticks at least this far apart: matplotlib's automatic count assumes a full-width axis,
# and gave the α heatmaps' narrow panels ten labels that ran together after 20 epochs.
EPOCH_TICK_SPACING_INCHES = 0.4


def save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    for ax in fig.axes:  # epochs are whole numbers, as many as the axis has room for
        if ax.get_xlabel() == "epoch":
            inches = ax.get_position().width * fig.get_figwidth()
            bins = max(1, int(inches / EPOCH_TICK_SPACING_INCHES))
            ax.xaxis.set_major_locator(MaxNLocator(nbins=bins, integer=True, min_n_ticks=1))
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
    ax.step(_epochs(log), _series(log, "temperature"), where="mid", color="tab:red",
            label="temperature T")
    _shade_size_phase(ax, log)
    ax.set_xlabel("epoch")
    ax.set_ylabel("temperature T")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Temperature of the relaxation (sparsemax(α / T))")
    return save(fig, path)


def _shade_size_phase(ax, log: list[dict]) -> None:
    phase2 = [r["epoch"] + 1 for r in log if r.get("phase") == 2]
    if phase2:
        ax.axvspan(min(phase2) - 0.5, max(phase2) + 0.5, color=SIZE_PHASE_COLOUR, alpha=0.1,
                   label="size search (kernels, depths)")


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
        ax.axhspan(lo, top, color=BAND_COLOUR, alpha=0.15,
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
    epochs, and the depth distribution on the right, each as its departure from uniform; a dot
    on the derived genotype's choice at every epoch. Grey: not searched yet (phase 1)."""
    alphas = records.alphas
    if not alphas:
        return None
    epochs = [r["epoch"] + 1 for r in alphas]
    rows = slice(stage * len(EDGES), (stage + 1) * len(EDGES))
    op = _stack(alphas, "op", rows, len(OP_NAMES))          # (E, 6, 5)
    kernel = _stack(alphas, "kernel", rows, len(KERNEL_SIZES))
    depth_width = max((len(r["depth"][stage]) for r in alphas if r.get("depth")), default=0)
    depth = _stack(alphas, "depth", slice(stage, stage + 1), depth_width) if depth_width else None
    chosen_op, chosen_kernel, chosen_depth = _chosen_rows(alphas, stage)
    # Two colour scales: op weights sit near 1/5 and move little, kernel and depth weights near
    # 1/3 and 1/2 can move much more; on one scale the op rows would look flat again.
    op_limits = uniform_deviation_range([(op, len(OP_NAMES))])
    size_groups = [(kernel, len(KERNEL_SIZES))] + ([(depth, depth_width)] if depth_width else [])
    size_limits = uniform_deviation_range(size_groups)

    # A fixed layout: constrained layout costs about a second per figure with 14 axes.
    # Columns: the edges, a gap for the depth labels, depth, a gap, the colour bars.
    fig = Figure(figsize=(2.0 * len(EDGES) + 3.8, 4.8))
    grid = fig.add_gridspec(2, len(EDGES) + 4, height_ratios=(len(OP_NAMES), len(KERNEL_SIZES)),
                            width_ratios=(1,) * len(EDGES) + (0.3, 1, 0.15, 0.08), left=0.07,
                            right=0.94, top=0.83, bottom=0.1, wspace=0.12, hspace=0.12)
    extent = (epochs[0] - 0.5, epochs[-1] + 0.5)
    dot = _choice_marker(len(epochs))
    op_image = size_image = None
    for e, (j, i) in enumerate(EDGES):
        top = fig.add_subplot(grid[0, e])
        op_image = _deviation_image(top, op[:, e], len(OP_NAMES), op_limits, extent)
        top.plot(epochs, chosen_op[:, e], **dot)
        top.set_title(f"edge {j}→{i}", fontsize=9)
        _label_rows(top, OP_NAMES if e == 0 else None, len(OP_NAMES))
        top.set_xticks([])
        bottom = fig.add_subplot(grid[1, e])
        size_image = _deviation_image(bottom, kernel[:, e], len(KERNEL_SIZES), size_limits,
                                      extent)
        bottom.plot(epochs, chosen_kernel[:, e], **dot)
        _label_rows(bottom, [f"{k}×{k}" for k in KERNEL_SIZES] if e == 0 else None,
                    len(KERNEL_SIZES))
        bottom.set_xlabel("epoch", fontsize=8)
        bottom.tick_params(labelsize=7)
    side = fig.add_subplot(grid[:, -3])
    if depth is not None:
        _deviation_image(side, depth[:, 0], depth_width, size_limits, extent, first_row=1)
        side.plot(epochs, chosen_depth, **dot)
        side.set_yticks(range(1, depth_width + 1), [f"{d} cell{'s' * (d > 1)}"
                                                    for d in range(1, depth_width + 1)])
    else:
        side.set_facecolor(NOT_SEARCHED)
        side.set_yticks([])
    side.set_title("depth", fontsize=9)
    side.set_xlabel("epoch", fontsize=8)
    side.tick_params(labelsize=7)
    _colourbar(fig, op_image, grid[0, -1], f"operation\np − 1/{len(OP_NAMES)}")
    if np.isfinite(kernel).any() or depth is not None:
        _colourbar(fig, size_image, grid[1, -1], "kernel, depth\np − 1/n")
    C = records.search_config.C * 2 ** stage if records.search_config else None
    fig.suptitle(f"Stage {stage}{f' (C={C})' if C else ''}: relaxed architecture distributions "
                 "over the search (top: operation, bottom: conv kernel)\ncolour: probability "
                 "minus uniform 1/n (red: favoured, blue: disfavoured); ●: the derived "
                 "genotype's choice; grey: not yet searched", fontsize=10)
    return save(fig, path)


def uniform_deviation_range(groups: list[tuple[np.ndarray | None, int]]) -> tuple[float, float]:
    """Colour limits (vmin, vmax) for probabilities drawn as p − 1/n, n the options of each
    group: symmetric about 0 (uniform) and as wide as the largest departure in the data, so
    weights that all sit near 1/n still show their differences. NaN (not searched) is ignored.
    """
    largest = max((float(np.nanmax(np.abs(p - 1.0 / n))) for p, n in groups
                   if p is not None and np.isfinite(p).any()), default=0.0)
    limit = max(largest, MIN_DEVIATION)
    return -limit, limit


def _deviation_image(ax, p: np.ndarray, n: int, limits: tuple[float, float],
                     extent: tuple[float, float], first_row: int = 0) -> AxesImage:
    """p (epochs, options) as p − 1/n, options down the y axis from ``first_row``."""
    ax.set_facecolor(NOT_SEARCHED)
    return ax.imshow((p - 1.0 / n).T, extent=(*extent, first_row + n - 0.5, first_row - 0.5),
                     vmin=limits[0], vmax=limits[1], cmap=ALPHA_CMAP, aspect="auto",
                     interpolation="nearest")


def _colourbar(fig: Figure, image, cell, label: str) -> None:
    bar = fig.colorbar(image, cax=fig.add_subplot(cell))
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _choice_marker(epochs: int) -> dict:
    # As large as a cell allows: a few epochs get big dots, a 50-epoch search small ones.
    return dict(ls="none", marker="o", ms=max(1.5, min(5.0, 100.0 / epochs)), mfc="black",
                mec="white", mew=0.5)


def _chosen_rows(alphas: list[dict], stage: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per epoch, the heatmap rows the derived genotype chose in ``stage``: op (E, edges),
    kernel (E, edges) and depth (E,) in cells; NaN where there is no choice to show (no
    genotype recorded, not a kxk conv, or the size search not started)."""
    op = np.full((len(alphas), len(EDGES)), np.nan)
    kernel, depth = op.copy(), np.full(len(alphas), np.nan)
    for t, record in enumerate(alphas):
        if not record.get("genotype"):
            continue
        chosen = record["genotype"]["stages"][stage]
        for e, name in enumerate(chosen["edges"]):
            op[t, e], k = _op_rows(name)
            if k is not None and record.get("kernel") is not None:
                kernel[t, e] = k
        if record.get("depth") is not None:
            depth[t] = chosen["depth"]
    return op, kernel, depth


def _op_rows(name: str) -> tuple[int, int | None]:
    """A genotype op's row among OP_NAMES and, for a kxk conv, its row among KERNEL_SIZES."""
    if name.startswith("conv_") and name != "conv_1x1":
        return OP_NAMES.index("conv_kxk"), KERNEL_SIZES.index(int(name.split("x")[-1]))
    return OP_NAMES.index(name), None


def confusion(records: RunRecords, path: Path) -> Path | None:
    """The test split's confusion matrix (counts), coloured by the share of each true class so
    that rare classes are as readable as common ones; multi-label: one 2×2 panel per label."""
    test = (records.evaluation or {}).get("test") or {}
    if test.get("confusion_matrix") is None:
        return None
    counts = np.asarray(test["confusion_matrix"])
    names = _class_names(records, len(counts))
    if counts.ndim == 3:
        cols = min(len(counts), 5)
        rows = math.ceil(len(counts) / cols)
        fig = Figure(figsize=(2.4 * cols + 0.6, 2.4 * rows + 0.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, label_counts, name in zip(axes, counts, names):
            image = _confusion_panel(ax, label_counts, ("neg", "pos"))
            ax.set_title(name, fontsize=9)
        for ax in axes[len(counts):]:
            ax.axis("off")
        what = "per label (rows: true, columns: predicted at p > 0.5)"
    else:
        side = min(max(4.0, 0.4 * len(counts) + 2.5), 14.0)
        fig = Figure(figsize=(side + 1.0, side), layout="constrained")
        axes = [fig.subplots()]
        image = _confusion_panel(axes[0], counts, names)
        axes[0].set_xlabel("predicted")
        axes[0].set_ylabel("true")
        what = "rows: true class, columns: predicted"
    fig.colorbar(image, ax=axes, label="share of the true class's row", shrink=0.8)
    fig.suptitle(f"Test confusion matrix, n = {test.get('n', int(counts[0].sum()))}\n{what}",
                 fontsize=10)
    return save(fig, path)


def _confusion_panel(ax, counts: np.ndarray, names) -> AxesImage:
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    image = ax.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues")
    if len(counts) <= 20:  # beyond that the numbers no longer fit their cells
        for (i, j), n in np.ndenumerate(counts):
            ax.text(j, i, f"{n}", ha="center", va="center", fontsize=8 if len(counts) <= 10 else 6,
                    color="white" if share[i, j] > 0.6 else "black")
    ticks = range(len(counts))
    slanted = max(map(len, names)) > 3  # long class names would overlap side by side
    ax.set_xticks(ticks, names, rotation=45 if slanted else 0, ha="right" if slanted
                  else "center", fontsize=8)
    ax.set_yticks(ticks, names, fontsize=8)
    return image


def roc(records: RunRecords, path: Path) -> Path | None:
    """The test split's ROC curves: binary, the positive class; multi-class and ordinal, one
    against the rest per class; multi-label, per label. Needs predictions.npz."""
    predictions, e = records.predictions, records.evaluation
    if not predictions or not e or "test_scores" not in predictions:
        return None
    task, labels, scores = e["task"], predictions["test_labels"], predictions["test_scores"]
    curves = roc_curves(task, labels, scores)
    if not curves:
        return None
    names = _class_names(records, scores.shape[1])
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    colours = _palette(len(curves))
    for curve, colour in zip(curves, colours):
        ax.plot(curve.fpr, curve.tpr, color=colour, lw=1.4,
                label=f"{names[curve.index]} (AUC {curve.auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7, ncol=2 if len(curves) > 8 else 1)
    overall = task_metrics(task, labels, scores).auc
    overall = "n/a (undefined for some classes)" if math.isnan(overall) else f"{overall:.4f}"
    kind = {"binary": f"positive class {names[-1]}: AUC",
            "multi-label": "per label; mean AUC"}.get(task, "one vs rest per class; macro AUC")
    ax.set_title(f"Test ROC, {kind} {overall}", fontsize=10)
    return save(fig, path)


def _class_names(records: RunRecords, n: int) -> list[str]:
    names = (((records.evaluation or {}).get("test") or {}).get("per_class") or {}).get("name")
    return list(names) if names and len(names) == n else [f"class {k}" for k in range(n)]


def _palette(n: int) -> list:
    """n distinguishable colours: the tab10 and tab20 cycles, then a sampled colour map."""
    if n <= 20:
        return list(colormaps["tab10" if n <= 10 else "tab20"].colors)[:n]
    return list(colormaps["viridis"](np.linspace(0, 1, n)))


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
