"""How decided an architecture is: the margin of each choice over its runner-up.

A derived genotype takes the argmax of every relaxed distribution. When the top two
probabilities of a row are close, that argmax is a coin toss that the next α step may flip, and
the genotype says more about noise than about the data. The margin of a row is p(top 1) −
p(top 2) of its relaxed distribution; a search is *decided* when every margin that shapes the
network is at least a threshold:

* every edge's operation (18 rows), except on an edge that the other edges' choices leave
  dead: its source unreachable from the cell's input or its destination cut off from the output
  (``genotype.live_edges``), so whatever it chooses, the network neither builds nor counts it.
  Sparsemax makes such edges exactly dead in the supernet too: they get no gradient, α's weight
  decay pulls them back to uniform, and counting them would call an architecture undecided over
  choices it does not contain;
* in the size-variable phase, the kernel of every live edge whose chosen operation is the
  kernel-variable conv, and every stage's depth.

A search with size search on is never decided before its size phase: the kernels and depths it
has not yet searched are not decided. Methods without architecture parameters (random search)
have no margins.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zodarts.space.genotype import EDGES, live_edges
from zodarts.space.operations import OP_NAMES

CONV = OP_NAMES.index("conv_kxk")
# p(top 1) − p(top 2) of at least this much on every choice: a tenth of the probability mass
# separates the winner from its runner-up (with 5 operations near 1/5 each, an α gap of about
# 0.5·T under softmax; sparsemax at a low temperature reaches it sooner).
DEFAULT_MARGIN = 0.1


def top2_margin(p: torch.Tensor) -> torch.Tensor:
    """p(top 1) − p(top 2) along the last dimension (1 for a single choice)."""
    if p.shape[-1] < 2:
        return torch.ones(p.shape[:-1], dtype=p.dtype, device=p.device)
    top = p.topk(2, dim=-1).values
    return top[..., 0] - top[..., 1]


@dataclass
class Margins:
    op: list[float | None]           # per edge (stage-major, 18); None: a dead edge
    kernel: list[float | None] | None  # per live edge whose chosen op is the conv; None: phase 1
    depth: list[float] | None        # per stage; None: phase 1

    def values(self) -> list[float]:
        """Every margin that shapes the derived network."""
        out = [m for m in self.op if m is not None]
        out += [m for m in self.kernel or [] if m is not None]
        out += list(self.depth or [])
        return out

    def minimum(self) -> float:
        return min(self.values())

    def weakest(self) -> str:
        """Where the smallest margin is, for a person: 'stage 1, edge 3←0 (operation)'."""
        rows = len(EDGES)
        candidates = [(m, f"stage {r // rows}, edge {EDGES[r % rows][1]}←{EDGES[r % rows][0]} "
                          "(operation)") for r, m in enumerate(self.op) if m is not None]
        candidates += [(m, f"stage {r // rows}, edge {EDGES[r % rows][1]}←{EDGES[r % rows][0]} "
                           "(kernel)") for r, m in enumerate(self.kernel or []) if m is not None]
        candidates += [(m, f"stage {s} (depth)") for s, m in enumerate(self.depth or [])]
        return min(candidates)[1]

    def to_dict(self) -> dict:
        return {"op": self.op, "kernel": self.kernel, "depth": self.depth}


def edges_that_matter(chosen: list[int]) -> list[bool]:
    """Per edge (stage-major), whether its choice can change the network given the other edges'
    chosen operations (indices into OP_NAMES): whether it would be live with any operation on
    it. An edge that chose ``none`` matters when an operation there would be live."""
    rows = len(EDGES)
    matter = []
    for start in range(0, len(chosen), rows):
        names = [OP_NAMES[i] for i in chosen[start:start + rows]]
        for e in range(rows):
            with_op = names[:e] + ["skip_connect"] + names[e + 1:]
            matter.append(live_edges(with_op)[e])
    return matter


def margins(relaxed: dict[str, torch.Tensor | None]) -> Margins:
    """The margins of relaxed distributions as ``SuperNet.relaxed()`` returns them."""
    op = relaxed["op"].detach()
    chosen = op.argmax(-1).tolist()
    matter = edges_that_matter(chosen)
    op_margins = [m if on else None for m, on in zip(top2_margin(op).tolist(), matter)]
    kernel = depth = None
    if relaxed["kernel"] is not None:
        k = top2_margin(relaxed["kernel"].detach())
        kernel = [float(m) if c == CONV and on else None
                  for m, c, on in zip(k.tolist(), chosen, matter)]
        depth = top2_margin(relaxed["depth"].detach()).tolist()
    return Margins(op_margins, kernel, depth)


def is_decided(m: Margins, threshold: float, size_search: bool) -> bool:
    """Every margin at least ``threshold``; with size search, only in the size phase."""
    if size_search and m.depth is None:
        return False
    return m.minimum() >= threshold
