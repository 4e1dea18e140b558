"""The size-variable supernet: every edge mixes all operations, every conv mixes its kernels,
every stage mixes its depths.

The space only builds the network and derives genotypes; how α moves is a searcher's business.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Callable

import torch
from torch import nn

from zodarts.space.blocks import (MEMORY_FORMAT, Head, ResidualReduction, stage_channels, stem,
                                  to_memory_format)
from zodarts.space.genotype import (EDGES, NUM_NODES, NUM_STAGES, Genotype, StageGenotype,
                                     cell_is_connected, live_edges)
from zodarts.space.operations import (KERNEL_SIZES, OP_NAMES, PHASE1_KERNEL, KernelVariableConv,
                                      build_op, conv_name)
from zodarts.space.resources import fixed_params, op_params

CONV = OP_NAMES.index("conv_kxk")
NONE = OP_NAMES.index("none")
# α rows are scaled by this much over the rest when pinned to a genotype, so every relaxation
# (sparsemax, entmax-1.5 and even softmax in float32) gives an exactly one-hot distribution.
_PIN_GAP = 1e4


def _relaxation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if name == "softmax":
        return lambda z: torch.softmax(z, dim=-1)
    if name == "sparsemax":
        from entmax import sparsemax
        return lambda z: sparsemax(z, dim=-1)
    if name == "entmax15":
        from entmax import entmax15
        return lambda z: entmax15(z, dim=-1)
    raise ValueError(f"unknown relaxation {name!r}: use sparsemax, softmax or entmax15")


RELAXATIONS = ("sparsemax", "softmax", "entmax15")


@lru_cache(maxsize=None)
def _liveness_table() -> tuple[torch.Tensor, torch.Tensor]:
    """Over the 2^6 patterns of which edges are not ``none``: ``on[m, e]`` (edge e is not
    ``none`` in pattern m) and ``live[m, e]`` (edge e is live in pattern m), both float64."""
    patterns = list(itertools.product((False, True), repeat=len(EDGES)))
    live = [live_edges(["skip_connect" if on else "none" for on in m]) for m in patterns]
    return (torch.tensor(patterns, dtype=torch.float64),
            torch.tensor(live, dtype=torch.float64))


def live_probability(q: torch.Tensor) -> torch.Tensor:
    """P(edge e is live | it is not ``none``) for a cell whose edges are independently not
    ``none`` with probabilities ``q`` (shape ``(..., 6)``); differentiable and exact.

    Given e is not ``none``, e is live exactly when the other edges make its source reachable
    from node 0 and its destination reach node 3, so the result sums, over the 2^6 patterns,
    the liveness of e times the probability of the *other* edges' pattern. That product leaves
    edge e's own factor out instead of dividing by q_e, which sparsemax can make exactly 0.
    """
    on, live = (t.to(q.device) for t in _liveness_table())
    q = q.unsqueeze(-2)  # (..., 1, 6): broadcast over patterns
    factors = on * q + (1 - on) * (1 - q)  # (..., 64, 6): P(edge f as in pattern m)
    own = torch.eye(len(EDGES), dtype=torch.bool, device=q.device).unsqueeze(-2)  # (e, 1, f)
    others = torch.where(own, 1.0, factors.unsqueeze(-3)).prod(-1)  # (..., e, 64)
    return (others * live.T).sum(-1)


class MixedEdge(nn.Module):
    def __init__(self, C: int):
        super().__init__()
        self.ops = nn.ModuleList(
            KernelVariableConv(C) if name == "conv_kxk" else build_op(name, C, affine=False)
            for name in OP_NAMES)

    def forward(self, x, op_w, op_on, k_w, k_on):
        out = 0
        for o, (op, w, on) in enumerate(zip(self.ops, op_w, op_on)):
            # Exact zeros (sparsemax) contribute nothing and, under sparsemax's Jacobian, no
            # gradient to α either: skipping them is free and exact. `none` is always zero.
            if not on or o == NONE:
                continue
            y = op(x, k_w, k_on) if o == CONV else op(x)
            out = w * y if isinstance(out, int) else torch.addcmul(out, w, y)
        if isinstance(out, int):  # every weight zero or `none`
            return torch.zeros_like(x)
        return out


class SearchCell(nn.Module):
    def __init__(self, C: int):
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(C) for _ in EDGES)

    def forward(self, x, op_w, op_on, k_w, k_on):
        nodes = [x]
        for i in range(1, NUM_NODES):
            node = 0
            for e, (j, dst) in enumerate(EDGES):
                if dst == i:
                    node = node + self.edges[e](nodes[j], op_w[e], op_on[e],
                                                None if k_w is None else k_w[e],
                                                None if k_on is None else k_on[e])
            nodes.append(node)
        return nodes[-1]


class SuperNet(nn.Module):
    """A NAS-Bench-201-style supernet with size-variable stages.

    Architecture parameters (``alpha_op`` 18×5, ``alpha_kernel`` 18×3, ``alpha_depth``
    3×cells_per_stage) are kept apart from the weights: see ``arch_parameters()`` and
    ``weight_parameters()``. Before ``enable_size_search()`` the conv op is 7×7 only and every
    stage runs all of its cells; ``arch_parameters()`` then holds ``alpha_op`` alone.
    """

    def __init__(self, in_channels: int, num_classes: int, C: int = 16, cells_per_stage: int = 3,
                 relax: str = "sparsemax", image_size: int = 28, temperature: float = 1.0):
        super().__init__()
        if relax not in RELAXATIONS:
            raise ValueError(f"unknown relaxation {relax!r}: use one of {', '.join(RELAXATIONS)}")
        if cells_per_stage < 1:
            raise ValueError("cells_per_stage must be >= 1")
        self.in_channels, self.num_classes, self.C = in_channels, num_classes, C
        self.cells_per_stage, self.image_size, self.relax = cells_per_stage, image_size, relax
        self.temperature = float(temperature)
        self._relax = _relaxation(relax)
        self.size_search = False

        self.channels = stage_channels(C, NUM_STAGES)
        self.stem = stem(in_channels, C)
        self.reductions = nn.ModuleList(ResidualReduction(a, b)
                                        for a, b in zip(self.channels, self.channels[1:]))
        self.stages = nn.ModuleList(nn.ModuleList(SearchCell(c) for _ in range(cells_per_stage))
                                    for c in self.channels)
        self.head = Head(self.channels[-1], num_classes)

        rows = NUM_STAGES * len(EDGES)
        self.alpha_op = nn.Parameter(1e-3 * torch.randn(rows, len(OP_NAMES)))
        self.alpha_kernel = nn.Parameter(torch.zeros(rows, len(KERNEL_SIZES)))
        self.alpha_depth = nn.Parameter(torch.zeros(NUM_STAGES, cells_per_stage))
        self.to(memory_format=MEMORY_FORMAT)

    # ---- parameters -------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters that are active in the current phase."""
        if self.size_search:
            return [self.alpha_op, self.alpha_kernel, self.alpha_depth]
        return [self.alpha_op]

    def all_arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_op, self.alpha_kernel, self.alpha_depth]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.all_arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def named_weight_parameters(self) -> list[tuple[str, nn.Parameter]]:
        arch = {id(p) for p in self.all_arch_parameters()}
        return [(n, p) for n, p in self.named_parameters() if id(p) not in arch]

    # ---- phases -----------------------------------------------------------------------------
    @torch.no_grad()
    def enable_size_search(self, generator: torch.Generator | None = None) -> bool:
        """Switch to the size-variable phase; returns False (and changes nothing) if already on."""
        if self.size_search:
            return False
        for module in self.modules():
            if isinstance(module, KernelVariableConv):
                module.inherit_from_largest()
        device = self.alpha_op.device
        for alpha in (self.alpha_kernel, self.alpha_depth):
            alpha.copy_(1e-3 * torch.randn(alpha.shape, generator=generator).to(device))
        self.size_search = True
        return True

    # ---- relaxation -------------------------------------------------------------------------
    def relaxed(self) -> dict[str, torch.Tensor | None]:
        """Distributions per row: ``op`` (18×5), ``kernel`` (18×3) and ``depth`` (3×D), or None
        for groups that are not active (phase 1: 7×7 kernels, full depth)."""
        T = self.temperature
        # In float32 even under bf16 autocast: the distributions are what the search decides.
        with torch.autocast(self.alpha_op.device.type, enabled=False):
            out = {"op": self._relax(self.alpha_op / T), "kernel": None, "depth": None}
            if self.size_search:
                out["kernel"] = self._relax(self.alpha_kernel / T)
                out["depth"] = self._relax(self.alpha_depth / T)
        return out

    def active(self, w: dict[str, torch.Tensor | None]) -> tuple[list, list | None, list | None]:
        """Which ops, kernels and depths have a non-zero weight, as Python lists.

        Reading them needs the weights on the host: on a GPU that waits for the device, so it
        is done once per change of α or T (tensor versions count every in-place update), not
        once per forward: once per round for ZO-DARTS(++), whose α moves every M batches.
        """
        key = (self.alpha_op._version, self.alpha_kernel._version, self.alpha_depth._version,
               self.temperature, self.size_search, self.alpha_op.device)
        if getattr(self, "_active_key", None) != key:
            self._active = (
                (w["op"] != 0).tolist(),
                None if w["kernel"] is None else (w["kernel"] != 0).tolist(),
                None if w["depth"] is None else (w["depth"] != 0).tolist())
            self._active_key = key
        return self._active

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.relaxed()
        rows = len(EDGES)
        op_on, k_on, d_on = self.active(w)
        x = to_memory_format(self.stem(to_memory_format(x)))
        for s, cells in enumerate(self.stages):
            if s > 0:
                x = self.reductions[s - 1](x)
            sl = slice(s * rows, (s + 1) * rows)
            k_w = None if w["kernel"] is None else w["kernel"][sl]
            k_s = None if k_on is None else k_on[sl]
            if d_on is None:
                for cell in cells:
                    x = cell(x, w["op"][sl], op_on[sl], k_w, k_s)
                continue
            # Stage output = Σ_d p_d · (output after d cells); cells past the deepest depth with
            # non-zero weight cannot contribute, so they are not run.
            last = max(d for d, on in enumerate(d_on[s]) if on)
            out = 0
            for d in range(last + 1):
                x = cells[d](x, w["op"][sl], op_on[sl], k_w, k_s)
                if d_on[s][d]:
                    out = out + w["depth"][s, d] * x
            x = out
        return self.head(x)

    # ---- genotypes --------------------------------------------------------------------------
    def genotype(self, connected: bool = False) -> Genotype:
        """Per edge the argmax op (and kernel), per stage the argmax depth.

        With ``connected``, a stage whose argmax cell would be disconnected (its output not
        depending on its input: see ``cell_is_connected``) instead gets the connected cell
        closest to the argmax: some of its ``none`` edges take their best other operation,
        choosing the set that gives up the least α. An argmax cell that is connected is kept.
        """
        genotype = self._argmax_genotype()
        disconnected = genotype.disconnected_stages() if connected else []
        if not disconnected:
            return genotype
        stages = list(genotype.stages)
        for s in disconnected:
            stages[s] = StageGenotype(stages[s].depth, self._closest_connected_cell(s, stages[s]))
        return Genotype(tuple(stages), self.in_channels, self.num_classes, self.C,
                        self.image_size)

    @torch.no_grad()
    def _closest_connected_cell(self, stage: int, cell: StageGenotype) -> tuple[str, ...]:
        first = stage * len(EDGES)
        rows = self.alpha_op[first:first + len(EDGES)].clone()
        rows[:, NONE] = -torch.inf
        kernels = self._kernel_choices()
        # Each `none` edge's fallback: its best other op, and the α that switching gives up.
        fallback = {e: (self._op_name(first + e, int(rows[e].argmax()), kernels),
                        float(self.alpha_op[first + e].max() - rows[e].max()))
                    for e, op in enumerate(cell.edges) if op == "none"}
        best = None
        # At most 2^6 subsets of the six edges: brute force is exact and instant.
        for mask in range(1, 2 ** len(fallback)):
            switched = [e for k, e in enumerate(fallback) if mask >> k & 1]
            edges = list(cell.edges)
            for e in switched:
                edges[e] = fallback[e][0]
            cost = sum(fallback[e][1] for e in switched)
            if cell_is_connected(edges) and (best is None or cost < best[0]):
                best = (cost, tuple(edges))
        return best[1]

    def _kernel_choices(self) -> list[int] | None:
        return self.alpha_kernel.argmax(-1).tolist() if self.size_search else None

    @staticmethod
    def _op_name(row: int, op: int, kernels: list[int] | None) -> str:
        """The genotype name of op ``op`` on α row ``row`` (a conv carries its kernel)."""
        name = OP_NAMES[op]
        if name == "conv_kxk":
            name = conv_name(KERNEL_SIZES[kernels[row]] if kernels else PHASE1_KERNEL)
        return name

    def _argmax_genotype(self) -> Genotype:
        ops = self.alpha_op.argmax(-1).tolist()
        kernels = self._kernel_choices()
        depths = self.alpha_depth.argmax(-1).tolist() if self.size_search else None
        stages = []
        for s in range(NUM_STAGES):
            edges = tuple(self._op_name(r, ops[r], kernels)
                          for r in range(s * len(EDGES), (s + 1) * len(EDGES)))
            depth = depths[s] + 1 if depths else self.cells_per_stage
            stages.append(StageGenotype(depth, edges))
        return Genotype(tuple(stages), self.in_channels, self.num_classes, self.C,
                        self.image_size)

    @torch.no_grad()
    def set_architecture(self, genotype: Genotype) -> None:
        """Set α so that every relaxed distribution is exactly one-hot on ``genotype``."""
        self._check_compatible(genotype)
        needs_size = any(s.depth != self.cells_per_stage for s in genotype.stages) or any(
            op.startswith("conv_") and op != "conv_1x1" and op != conv_name(PHASE1_KERNEL)
            for s in genotype.stages for op in s.edges)
        if needs_size:
            self.enable_size_search()
        gap = _PIN_GAP * max(1.0, self.temperature)
        for alpha in self.all_arch_parameters():
            alpha.zero_()
        for s, stage in enumerate(genotype.stages):
            self.alpha_depth[s, stage.depth - 1] = gap
            for e, op in enumerate(stage.edges):
                r = s * len(EDGES) + e
                if op in ("conv_1x1",) or not op.startswith("conv_"):
                    self.alpha_op[r, OP_NAMES.index(op)] = gap
                    # Unused, but one-hot too (the docstring's promise; entropy stays 0).
                    self.alpha_kernel[r, KERNEL_SIZES.index(PHASE1_KERNEL)] = gap
                else:
                    self.alpha_op[r, CONV] = gap
                    self.alpha_kernel[r, KERNEL_SIZES.index(int(op.split("x")[-1]))] = gap

    def _check_compatible(self, g: Genotype) -> None:
        mine = (self.in_channels, self.num_classes, self.C)
        if (g.in_channels, g.num_classes, g.C) != mine:
            raise ValueError(f"genotype (in_channels, num_classes, C) = "
                             f"{(g.in_channels, g.num_classes, g.C)} does not match the "
                             f"supernet's {mine}")
        if any(s.depth > self.cells_per_stage for s in g.stages):
            raise ValueError(f"genotype is deeper than the supernet's {self.cells_per_stage} "
                             "cells per stage")

    # ---- resources --------------------------------------------------------------------------
    def expected_params(self) -> torch.Tensor:
        """E[parameter count of the derived network] under the relaxed weights (differentiable).

        The derived network builds live operations only (see ``live_edges``), so each op counts
        with the probability that it is live, its edges drawn independently from their relaxed
        distributions: p_e(op) · params(op) · P(e live | e not ``none``) (``live_probability``).
        Each candidate's count comes from instantiating the real standalone module; with
        one-hot weights this equals ``count_params(genotype)`` exactly.
        """
        # float64: counts reach millions, where float32 steps are already 0.25 parameters.
        w = {k: None if v is None else v.double() for k, v in self.relaxed().items()}
        device, f64 = self.alpha_op.device, torch.float64
        rows = len(EDGES)
        total = torch.tensor(float(fixed_params(self.in_channels, self.num_classes, self.C)),
                             device=device, dtype=f64)
        for s, C_s in enumerate(self.channels):
            sl = slice(s * rows, (s + 1) * rows)
            conv_counts = torch.tensor([float(op_params(conv_name(k), C_s)) for k in KERNEL_SIZES],
                                       device=device, dtype=f64)
            if w["kernel"] is None:
                conv_expect = conv_counts[0].expand(rows)
            else:
                conv_expect = w["kernel"][sl] @ conv_counts
            other = torch.tensor([0.0 if n == "conv_kxk" else float(op_params(n, C_s))
                                  for n in OP_NAMES], device=device, dtype=f64)
            p_op = w["op"][sl]
            per_edge = p_op @ other + p_op[:, CONV] * conv_expect  # `none` counts 0
            cell = (per_edge * live_probability(1 - p_op[:, NONE])).sum()
            if w["depth"] is None:
                depth = torch.tensor(float(self.cells_per_stage), device=device, dtype=f64)
            else:
                depth = w["depth"][s] @ torch.arange(1, self.cells_per_stage + 1,
                                                     dtype=f64, device=device)
            total = total + depth * cell
        return total
