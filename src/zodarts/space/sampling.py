"""Deriving an architecture by drawing it from a search's relaxed distributions, as the ZO-DARTS++
authors do (github HikariX/ZO-DARTS_PP, ``StructureSampler.structure_generator``), instead of
taking the argmax.

Per edge an operation is drawn from its distribution, for a drawn convolution a kernel size from
its kernel distribution (7×7 before the size phase), per stage a depth from its depth
distribution (the full depth before the size phase). An operation with probability exactly 0
(sparsemax makes many) is never drawn. A draw with a disconnected cell, whose output ignores its
input, is redrawn whole (their ``checkNone`` check); with a parameter band, so is a draw whose
live parameter count lies outside it (their ``structure_filter``), up to a bounded number of
tries. Every draw is a pure function of the distributions and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from zodarts.errors import ConfigError
from zodarts.space.genotype import EDGES, NUM_STAGES, Genotype, StageGenotype
from zodarts.space.operations import KERNEL_SIZES, OP_NAMES, PHASE1_KERNEL, conv_name
from zodarts.space.resources import count_params

MAX_TRIES = 10_000


@dataclass(frozen=True)
class Distributions:
    """A search's relaxed distributions, as search/alphas.jsonl records them per epoch."""

    op: np.ndarray                  # (stages × edges, ops)
    kernel: np.ndarray | None       # (stages × edges, kernels); None before the size phase
    depth: np.ndarray | None        # (stages, cells); None before the size phase

    @classmethod
    def from_record(cls, record: dict) -> "Distributions":
        def array(key: str) -> np.ndarray | None:
            return None if record.get(key) is None else np.asarray(record[key], dtype=float)
        return cls(array("op"), array("kernel"), array("depth"))

    def to_dict(self) -> dict:
        return {k: None if v is None else v.tolist()
                for k, v in (("op", self.op), ("kernel", self.kernel), ("depth", self.depth))}

    @property
    def cells_per_stage(self) -> int | None:
        return None if self.depth is None else self.depth.shape[1]


def _draw(rng: np.random.Generator, p: np.ndarray) -> int:
    """An index drawn with probabilities ``p`` (renormalised: stored float32 sums are not
    exactly 1); an index of probability 0 is never drawn."""
    p = np.clip(p, 0.0, None)
    return int(rng.choice(len(p), p=p / p.sum()))


def draw_once(d: Distributions, rng: np.random.Generator, in_channels: int, num_classes: int,
              C: int, cells_per_stage: int, image_size: int) -> Genotype:
    rows = len(EDGES)
    stages = []
    for s in range(NUM_STAGES):
        edges = []
        for e in range(rows):
            r = s * rows + e
            op = OP_NAMES[_draw(rng, d.op[r])]
            if op == "conv_kxk":
                kernel = (PHASE1_KERNEL if d.kernel is None
                          else KERNEL_SIZES[_draw(rng, d.kernel[r])])
                op = conv_name(kernel)
            edges.append(op)
        depth = cells_per_stage if d.depth is None else _draw(rng, d.depth[s]) + 1
        stages.append(StageGenotype(depth, tuple(edges)))
    return Genotype(tuple(stages), in_channels, num_classes, C, image_size)


def draw_genotype(d: Distributions, seed: int | Sequence[int], in_channels: int,
                  num_classes: int, C: int, cells_per_stage: int, image_size: int,
                  band: tuple[float, float] | None = None, max_tries: int = MAX_TRIES
                  ) -> tuple[Genotype, int]:
    """A connected genotype drawn from ``d`` (inside ``band`` when given) and the number of
    draws it took; a ConfigError after ``max_tries``."""
    rng = np.random.default_rng(seed)
    for tries in range(1, max_tries + 1):
        genotype = draw_once(d, rng, in_channels, num_classes, C, cells_per_stage, image_size)
        if genotype.disconnected_stages():
            continue
        if band is None or band[0] <= count_params(genotype) <= band[1]:
            return genotype, tries
    where = "" if band is None else f" with between {band[0]:,.0f} and {band[1]:,.0f} parameters"
    raise ConfigError(f"{max_tries:,} draws from the search's final distributions gave no "
                      f"connected genotype{where}: the search ended too far from the band "
                      "for sampling to meet it; derive by argmax instead (`--resume --derive "
                      "argmax` on the run folder, with the command that made it), or search "
                      "longer or with the band's penalty")
