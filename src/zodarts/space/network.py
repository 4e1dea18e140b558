"""The standalone network a genotype describes: only its live ops, affine BN, plain forward."""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from zodarts.space.blocks import (MEMORY_FORMAT, Head, ResidualReduction, stage_channels, stem,
                                  to_memory_format)
from zodarts.space.genotype import EDGES, NUM_NODES, Genotype, live_edges
from zodarts.space.operations import build_op


class FixedCell(nn.Module):
    def __init__(self, C: int, edges: tuple[str, ...]):
        super().__init__()
        # Dead ops (see live_edges) are not built: they cannot change the output from the input,
        # and a conv on an always-zero node would only add its BN shift as a constant.
        kept = [(edge, op) for edge, op, live in zip(EDGES, edges, live_edges(edges)) if live]
        self.ops = nn.ModuleList(build_op(op, C, affine=True) for _, op in kept)
        # Plain int lists keep the forward TorchScript-friendly.
        self.src: List[int] = [j for (j, _), _ in kept]
        self.dst: List[int] = [i for (_, i), _ in kept]
        self.num_nodes: int = NUM_NODES  # TorchScript cannot read module-level globals

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros_like(x)
        nodes: List[torch.Tensor] = [x] + [zero] * (self.num_nodes - 1)
        # Edges are ordered by destination, so every source is complete when it is read.
        for k, op in enumerate(self.ops):
            nodes[self.dst[k]] = nodes[self.dst[k]] + op(nodes[self.src[k]])
        return nodes[self.num_nodes - 1]


def use_batch_statistics(model: nn.Module) -> None:
    """Every BatchNorm of ``model`` without running statistics: it normalises each batch by
    its own statistics in training and in evaluation alike (``track_running_stats=False``, as
    the ZO-DARTS++ authors' retrained networks are used: never put in eval mode). Predictions
    then depend on the batch an image is evaluated in."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None


class Network(nn.Module):
    def __init__(self, genotype: Genotype, bn_batch_stats: bool = False):
        super().__init__()
        self.genotype = genotype
        channels = stage_channels(genotype.C, len(genotype.stages))
        self.stem = stem(genotype.in_channels, genotype.C)
        layers: list[nn.Module] = []
        for s, stage in enumerate(genotype.stages):
            if s > 0:
                layers.append(ResidualReduction(channels[s - 1], channels[s]))
            layers += [FixedCell(channels[s], stage.edges) for _ in range(stage.depth)]
        self.layers = nn.Sequential(*layers)
        self.head = Head(channels[-1], genotype.num_classes)
        if bn_batch_stats:
            use_batch_statistics(self)
        self.to(memory_format=MEMORY_FORMAT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(to_memory_format(self.stem(to_memory_format(x)))))


def build_network(genotype: Genotype, bn_batch_stats: bool = False) -> Network:
    return Network(genotype, bn_batch_stats)
