"""The fixed (never searched) parts shared by the supernet and the standalone network."""

from __future__ import annotations

import torch
from torch import nn

from zodarts.space.operations import ReLUConvBN

# NHWC: oneDNN runs this space's 7×7 convolutions and 3×3 average pools far faster in it than in
# NCHW (a supernet training step about 1.4× faster on CPU: benchmarks/search_speed.py).
MEMORY_FORMAT = torch.channels_last


def to_memory_format(x: torch.Tensor) -> torch.Tensor:
    """``x`` in NHWC. The networks apply it to the stem's input and output too: with one input
    channel the stem's layout is ambiguous, and a conv may then hand NCHW to every later layer."""
    # Spelled out: TorchScript (export) cannot read MEMORY_FORMAT, a module-level global.
    return x.contiguous(memory_format=torch.channels_last)


def stem(in_channels: int, C: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))


class ResidualReduction(nn.Module):
    """NAS-Bench-201's residual block between stages: stride 2, channels × 2."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        # ceil_mode: the shortcut then has conv_a's size ⌈H/2⌉ for odd H too (28 → 14 → 7 never
        # reduces an odd map, but a 30×30 or 50×50 input does).
        self.downsample = nn.Sequential(nn.AvgPool2d(2, stride=2, ceil_mode=True),
                                        nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Head(nn.Module):
    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(C)
        # A module, not torch.relu: activation-pattern measures (NASWOT) hook every nn.ReLU.
        self.relu = nn.ReLU()
        self.classifier = nn.Linear(C, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.relu(self.bn(x)).mean(dim=(2, 3)))


def stage_channels(C: int, num_stages: int) -> list[int]:
    return [C * 2 ** s for s in range(num_stages)]
