"""The final cells drawn as graphs with plain matplotlib (no graphviz to install).

Nodes 0..3 sit on a line; edge j→i is an arc whose height grows with i − j (above the line for
odd spans, below for even ones) so no two edges or labels overlap; ``none`` edges are left out.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch

from zodarts.report.plots import save
from zodarts.space import EDGES, Genotype
from zodarts.space.genotype import NUM_NODES

NODE_RADIUS = 0.22
SPACING = 2.2
OP_COLOURS = {"skip_connect": "tab:grey", "avg_pool_3x3": "tab:green", "conv_1x1": "tab:cyan",
              "conv_3x3": "tab:blue", "conv_5x5": "tab:purple", "conv_7x7": "tab:red"}


def _arc(j: int, i: int) -> float:
    """arc3 'rad' of edge j→i: 0 for neighbours, then alternately above and below."""
    span = i - j
    return 0.0 if span == 1 else (-0.45 if span % 2 == 0 else 0.38)


def draw_cell(ax, edges: tuple[str, ...], title: str) -> None:
    xs = [k * SPACING for k in range(NUM_NODES)]
    for (j, i), op in zip(EDGES, edges):
        if op == "none":
            continue
        rad = _arc(j, i)
        start, end = (xs[j] + NODE_RADIUS, 0.0), (xs[i] - NODE_RADIUS, 0.0)
        colour = OP_COLOURS.get(op, "black")
        ax.add_patch(FancyArrowPatch(start, end, connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=14, lw=1.6, color=colour))
        # The midpoint of an arc3 Bézier sits rad/2 of the chord below it (axes are 1:1).
        mid_x, mid_y = (start[0] + end[0]) / 2, -rad * (end[0] - start[0]) / 2
        ax.text(mid_x, mid_y, op, ha="center", va="center", fontsize=8, color=colour,
                bbox=dict(boxstyle="round,pad=0.2", fc="white", ec=colour, lw=0.6))
    names = ["in"] + [str(k) for k in range(1, NUM_NODES - 1)] + ["out"]
    for x, name in zip(xs, names):
        ax.add_patch(Circle((x, 0), NODE_RADIUS, fc="lightyellow", ec="black", zorder=3))
        ax.text(x, 0, name, ha="center", va="center", fontsize=9, zorder=4)
    ax.set_xlim(-0.6, xs[-1] + 0.6)
    ax.set_ylim(-1.9, 1.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)


def cells(genotype: Genotype, path: Path) -> Path:
    fig = Figure(figsize=(7.5, 3.3 * len(genotype.stages)), layout="constrained")
    axes = fig.subplots(len(genotype.stages), 1)
    for s, (ax, stage) in enumerate(zip(axes, genotype.stages)):
        depth = f"{stage.depth} cell{'s' if stage.depth > 1 else ''} in sequence"
        draw_cell(ax, stage.edges, f"stage {s}: C={genotype.C * 2 ** s}, {depth}")
    fig.suptitle("Derived cells (node i = sum of its incoming edges; output = node 3)")
    return save(fig, path)
