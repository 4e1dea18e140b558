"""What an architecture is made of, as numbers a regression can read: how many of each operation
it runs (live ones, once per cell it repeats), how many cells, and where.

The landscape report sets these against the architectures' mean metric
(:func:`zodarts.stats.regression.fit_features`): on a structured landscape they say what made
the good architectures good; on a flat one, that nothing did.
"""

from __future__ import annotations

import numpy as np

from zodarts.space import Genotype

# Operations as a genotype names them (a convolution by its kernel); `none` is what is left.
OPERATIONS = ("skip_connect", "conv_1x1", "conv_3x3", "conv_5x5", "conv_7x7", "avg_pool_3x3")
LABELS = {"skip_connect": "skip", "conv_1x1": "conv 1×1", "conv_3x3": "conv 3×3",
          "conv_5x5": "conv 5×5", "conv_7x7": "conv 7×7", "avg_pool_3x3": "avg pool",
          "cells": "cells", "stage1_convs": "convs in stage 1", "stage1_pools": "pools in stage 1"}


def genotype_features(genotype: Genotype) -> dict[str, float]:
    """Live operations of each kind in the whole network (a cell's count times the stage's
    depth), the number of cells, and the convolutions and poolings of the first stage (full
    resolution, where a long reach costs the most and a blur loses the most)."""
    pruned = genotype.pruned()
    counts = {op: 0.0 for op in OPERATIONS}
    for stage in pruned.stages:
        for op in stage.edges:
            if op in counts:
                counts[op] += stage.depth
    first = pruned.stages[0]
    counts["cells"] = float(sum(stage.depth for stage in pruned.stages))
    counts["stage1_convs"] = float(first.depth * sum(op.startswith("conv") for op in first.edges))
    counts["stage1_pools"] = float(first.depth * sum(op == "avg_pool_3x3" for op in first.edges))
    return counts


def feature_table(genotypes: list[Genotype]) -> dict[str, np.ndarray]:
    """One array per feature, one value per genotype (in order)."""
    rows = [genotype_features(g) for g in genotypes]
    return {name: np.array([r[name] for r in rows]) for name in rows[0]} if rows else {}
