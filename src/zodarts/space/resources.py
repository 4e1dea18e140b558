"""Resource model: exact parameter/FLOP counts of genotypes and the budget bands of the space.

Counts come from instantiating the real modules (cached per shape), never from hand formulas, so
they cannot drift from what ``build_network`` builds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from zodarts.errors import ConfigError
from zodarts.space.blocks import Head, ResidualReduction, stage_channels, stem
from zodarts.space.genotype import EDGES, NUM_STAGES, Genotype, StageGenotype
from zodarts.space.operations import KERNEL_SIZES, OP_NAMES, build_op, conv_name

BUDGET_NAMES = ("small", "medium", "large")
# Percentile bands of sampled genotypes' parameter counts (DESIGN.md §2).
BUDGET_PERCENTILES = {"small": (0, 20), "medium": (40, 60), "large": (80, 100)}


def numel(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@lru_cache(maxsize=None)
def op_params(op: str, C: int) -> int:
    """Parameters of one standalone (affine-BN) operation on C channels."""
    return numel(build_op(op, C, affine=True))


@lru_cache(maxsize=None)
def fixed_params(in_channels: int, num_classes: int, C: int) -> int:
    """Stem, reduction blocks and head: present in every network of the space."""
    ch = stage_channels(C, NUM_STAGES)
    total = numel(stem(in_channels, C)) + numel(Head(ch[-1], num_classes))
    total += sum(numel(ResidualReduction(a, b)) for a, b in zip(ch, ch[1:]))
    return total


def stage_params(genotype: Genotype, all_ops: bool = False) -> list[int]:
    """Parameters of each stage's cells: live operations only (see ``live_edges``), or with
    ``all_ops`` every operation the genotype names, dead ones included."""
    counts = []
    for C_s, stage in zip(stage_channels(genotype.C, NUM_STAGES), genotype.stages):
        kept = stage.edges if all_ops else stage.pruned().edges
        counts.append(stage.depth * sum(op_params(op, C_s) for op in kept))
    return counts


def count_params(genotype: Genotype) -> int:
    """Exact parameter count of ``build_network(genotype)``: live operations only."""
    return fixed_params(genotype.in_channels, genotype.num_classes, genotype.C) + sum(
        stage_params(genotype))


def count_params_all_ops(genotype: Genotype) -> int:
    """The parameter count with every operation of the genotype, dead ones too: how papers
    that count each chosen op report it, for comparison. ``count_params`` is what is built."""
    return fixed_params(genotype.in_channels, genotype.num_classes, genotype.C) + sum(
        stage_params(genotype, all_ops=True))


def count_flops(genotype: Genotype, image_size: int | None = None) -> int:
    """FLOPs of one forward pass on one image, by torch's own flop counter."""
    from torch.utils.flop_counter import FlopCounterMode

    from zodarts.space.network import build_network

    size = image_size or genotype.image_size
    net = build_network(genotype).eval()
    x = torch.zeros(1, genotype.in_channels, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return int(counter.get_total_flops())


def sample_genotype(seed: int | np.random.Generator, in_channels: int, num_classes: int,
                    C: int = 16, cells_per_stage: int = 3, image_size: int = 28) -> Genotype:
    """A genotype drawn uniformly over ops, kernel sizes and depths."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    stages = []
    for _ in range(NUM_STAGES):
        edges = []
        for _ in EDGES:
            op = OP_NAMES[rng.integers(len(OP_NAMES))]
            if op == "conv_kxk":
                op = conv_name(KERNEL_SIZES[rng.integers(len(KERNEL_SIZES))])
            edges.append(op)
        stages.append(StageGenotype(int(rng.integers(1, cells_per_stage + 1)), tuple(edges)))
    return Genotype(tuple(stages), in_channels, num_classes, C, image_size)


def sample_connected(rng: np.random.Generator, in_channels: int, num_classes: int, C: int,
                     cells_per_stage: int, image_size: int,
                     band: tuple[float, float] | None = None,
                     max_tries: int = 10_000) -> Genotype | None:
    """A uniform genotype whose every cell is connected (a disconnected cell gives a network
    that cannot learn) and, with ``band``, whose parameter count lies in it: rejection sampling,
    None after ``max_tries`` draws. Random search and the landscape both sample with it."""
    for _ in range(max_tries):
        genotype = sample_genotype(rng, in_channels, num_classes, C, cells_per_stage, image_size)
        if genotype.disconnected_stages():
            continue
        if band is None or band[0] <= count_params(genotype) <= band[1]:
            return genotype
    return None


@lru_cache(maxsize=64)
def _sampled_counts(in_channels: int, num_classes: int, C: int, cells_per_stage: int,
                    samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([count_params(sample_genotype(rng, in_channels, num_classes, C,
                                                  cells_per_stage)) for _ in range(samples)])


def budget_bands(in_channels: int, num_classes: int, C: int = 16, cells_per_stage: int = 3,
                 samples: int = 2000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Small/medium/large parameter bands from uniformly sampled genotypes, plus min and max.

    Returns ``{"small": (lo, hi), "medium": ..., "large": ..., "min": m, "max": M}`` where
    ``min``/``max`` are the extreme sampled counts (the large band ends at the sampled maximum).
    """
    counts = _sampled_counts(in_channels, num_classes, C, cells_per_stage, samples, seed)
    bands: dict = {}
    for name, (lo_pct, hi_pct) in BUDGET_PERCENTILES.items():
        lo = 0.0 if lo_pct == 0 else float(np.percentile(counts, lo_pct))
        bands[name] = (lo, float(np.percentile(counts, hi_pct)))
    bands["min"], bands["max"] = int(counts.min()), int(counts.max())
    return bands


def resolve_budget(budget: str | None, params_min: float | None, params_max: float | None,
                   in_channels: int, num_classes: int, C: int, cells_per_stage: int
                   ) -> tuple[float, float] | None:
    """The [L, U] parameter band a search is held to, or None for an unconstrained search."""
    if params_min is not None or params_max is not None:
        lo = 0.0 if params_min is None else float(params_min)
        hi = float("inf") if params_max is None else float(params_max)
        extreme = _space_extremes(in_channels, num_classes, C, cells_per_stage)
        if lo < 0 or hi <= lo:
            raise ConfigError(f"--params-min/--params-max give an empty band [{lo:.0f}, "
                              f"{hi:.0f}]: the minimum must be >= 0 and below the maximum "
                              f"(networks of this space have between {extreme[0]} and "
                              f"{extreme[1]} parameters)")
        if hi < extreme[0] or lo > extreme[1]:
            raise ConfigError(
                f"impossible budget [{lo:.0f}, {hi:.0f}] parameters: networks of this space "
                f"(C={C}, {cells_per_stage} cells per stage) have between {extreme[0]} and "
                f"{extreme[1]} parameters; widen the band or change --C")
        return lo, hi
    if budget in (None, "none"):
        return None
    if budget not in BUDGET_NAMES:
        raise ConfigError(f"unknown budget {budget!r}: use one of {', '.join(BUDGET_NAMES)}, "
                          "'none', or --params-min/--params-max")
    return budget_bands(in_channels, num_classes, C, cells_per_stage)[budget]


def _space_extremes(in_channels: int, num_classes: int, C: int, cells_per_stage: int
                    ) -> tuple[int, int]:
    """Exact smallest and largest parameter counts in the space."""
    lo = hi = fixed_params(in_channels, num_classes, C)
    for C_s in stage_channels(C, NUM_STAGES):
        per_edge = [op_params(op, C_s) for op in
                    ("none", "skip_connect", "conv_1x1", "avg_pool_3x3",
                     *(conv_name(k) for k in KERNEL_SIZES))]
        lo += 1 * len(EDGES) * min(per_edge)
        hi += cells_per_stage * len(EDGES) * max(per_edge)
    return lo, hi


# Why a derived network can miss its band, and what helps: said by the search log and report.md.
BUDGET_MISS_HINT = ("the penalty acts on the expected parameters of the relaxed supernet, and "
                    "this search ended before α had moved far enough; more epochs or "
                    "architecture steps (e.g. a smaller zo_steps) give it room")


def budget_check(params: int, band: tuple[float, float] | None) -> dict | None:
    """Whether a derived network meets its band (None without a band). The penalty acts on the
    *expected* count of the relaxed supernet; a search with few architecture steps can end
    before the argmax genotype is inside, and a user must see that rather than assume it."""
    if band is None:
        return None
    return {"band": [band[0], band[1]], "within": band[0] <= params <= band[1]}
