"""Candidate operations of a cell edge (NAS-Bench-201 style).

Every operation maps ``(N, C, H, W)`` to the same shape. ``OPS`` is the registry: a new operation
is one factory and one line there. Convolutions are ReLU-Conv-BN; the supernet uses non-affine BN
(its scale would compete with the architecture weights) and the standalone network affine BN.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# The order of the relaxed op weights; ``conv_kxk`` is the kernel-variable convolution.
OP_NAMES: tuple[str, ...] = ("none", "skip_connect", "conv_1x1", "conv_kxk", "avg_pool_3x3")
KERNEL_SIZES: tuple[int, ...] = (7, 5, 3)
# Phase 1 of ZO-DARTS++ searches with the largest kernel only.
PHASE1_KERNEL = KERNEL_SIZES[0]


class ReLUConvBN(nn.Sequential):
    # TorchScript would otherwise compile the accessors below and reject `self[2]`'s type.
    __jit_unused_properties__ = ["conv", "bn"]

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )

    @property
    def conv(self) -> nn.Conv2d:
        return self[1]

    @property
    def bn(self) -> nn.BatchNorm2d:
        return self[2]


class Zero(nn.Module):
    """The ``none`` operation; cells never call it (its contribution is exactly zero)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def _avg_pool(C: int, affine: bool) -> nn.Module:
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def _conv(kernel: int) -> Callable[[int, bool], nn.Module]:
    return lambda C, affine: ReLUConvBN(C, C, kernel, affine=affine)


# Concrete operations, as they appear in a genotype: the kernel-variable conv becomes conv_kxk.
OPS: dict[str, Callable[[int, bool], nn.Module]] = {
    "none": lambda C, affine: Zero(),
    "skip_connect": lambda C, affine: nn.Identity(),
    "conv_1x1": _conv(1),
    **{f"conv_{k}x{k}": _conv(k) for k in KERNEL_SIZES},
    "avg_pool_3x3": _avg_pool,
}


def conv_name(kernel: int) -> str:
    return f"conv_{kernel}x{kernel}"


def build_op(name: str, C: int, affine: bool = True) -> nn.Module:
    try:
        return OPS[name](C, affine)
    except KeyError:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(OPS)}") from None


class KernelVariableConv(nn.Module):
    """Σ_k p_k · ReLUConvBN_k(x) over kernel sizes 7, 5, 3.

    All branches exist from the start so that parameter lists (optimizers, checkpoints, the ZO
    twin) never change shape; before the size-variable phase only the 7×7 branch is used.
    """

    def __init__(self, C: int, affine: bool = False):
        super().__init__()
        self.branches = nn.ModuleList(ReLUConvBN(C, C, k, affine=affine) for k in KERNEL_SIZES)

    @torch.no_grad()
    def inherit_from_largest(self) -> None:
        """Initialise smaller kernels from the centre crop of the trained largest kernel."""
        source = self.branches[0]
        k_max = KERNEL_SIZES[0]
        for branch, k in zip(self.branches[1:], KERNEL_SIZES[1:]):
            lo = (k_max - k) // 2
            branch.conv.weight.copy_(source.conv.weight[:, :, lo:lo + k, lo:lo + k])
            branch.bn.load_state_dict(source.bn.state_dict())

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, active: list[bool] | None
                ) -> torch.Tensor:
        if weights is None:  # phase 1: the largest kernel alone
            return self.branches[0](x)
        out = 0
        for branch, w, on in zip(self.branches, weights, active):
            if on:
                out = out + w * branch(x)
        return out
