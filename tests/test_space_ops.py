"""Candidate operations: the registry, shapes, BN affinity and the kernel-variable convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zodarts.space import KERNEL_SIZES, OP_NAMES, OPS
from zodarts.space.operations import (PHASE1_KERNEL, KernelVariableConv, ReLUConvBN, Zero,
                                      build_op, conv_name)


def test_registry_and_relaxation_order():
    assert OP_NAMES == ("none", "skip_connect", "conv_1x1", "conv_kxk", "avg_pool_3x3")
    assert KERNEL_SIZES == (7, 5, 3) and PHASE1_KERNEL == 7
    assert set(OPS) == {"none", "skip_connect", "conv_1x1", "conv_7x7", "conv_5x5", "conv_3x3",
                        "avg_pool_3x3"}
    assert [conv_name(k) for k in KERNEL_SIZES] == ["conv_7x7", "conv_5x5", "conv_3x3"]


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("channels,size", [(4, 8), (4, 28), (8, 7)])
def test_every_op_keeps_the_shape(name, affine, channels, size):
    torch.manual_seed(0)
    op = build_op(name, channels, affine=affine)
    x = torch.randn(2, channels, size, size)
    y = op(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    for bn in (m for m in op.modules() if isinstance(m, nn.BatchNorm2d)):
        assert bn.affine is affine
    if name == "none":
        assert isinstance(op, Zero) and torch.equal(y, torch.zeros_like(x))
    elif name == "skip_connect":
        assert torch.equal(y, x)
    elif name == "avg_pool_3x3":
        # count_include_pad=False: a constant image stays constant, borders included.
        assert torch.allclose(op(torch.ones_like(x)), torch.ones_like(x))
    else:
        k = int(name.split("x")[-1])
        assert isinstance(op, ReLUConvBN)
        assert op.conv.kernel_size == (k, k) and op.conv.bias is None
        assert sum(p.numel() for p in op.parameters()) == channels * channels * k * k + (
            2 * channels if affine else 0)
        y.sum().backward()
        assert op.conv.weight.grad is not None


def test_parameter_free_ops_have_no_parameters():
    for name in ("none", "skip_connect", "avg_pool_3x3"):
        assert list(build_op(name, 8).parameters()) == []


def test_unknown_op_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown operation 'conv_9x9'.*conv_5x5"):
        build_op("conv_9x9", 4)


def _branch_reference(x, weight, bn: nn.BatchNorm2d):
    """ReLU → conv (same padding) → eval-mode BN, written out with functional ops."""
    y = F.conv2d(torch.relu(x), weight, padding=weight.shape[-1] // 2)
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0,
                        bn.eps)


def test_kernel_variable_conv_phase1_mixture_and_skipping():
    torch.manual_seed(0)
    kv = KernelVariableConv(4).eval()
    assert all(not b.bn.affine for b in kv.branches)
    assert [b.conv.kernel_size[0] for b in kv.branches] == list(KERNEL_SIZES)
    x = torch.randn(2, 4, 8, 8)
    # Phase 1: the 7×7 branch alone.
    assert torch.equal(kv(x, None, None), kv.branches[0](x))
    # A mixture is Σ_k p_k · branch_k(x).
    w = torch.tensor([0.5, 0.3, 0.2])
    expected = sum(wk * b(x) for wk, b in zip(w, kv.branches))
    assert torch.allclose(kv(x, w, [True, True, True]), expected, atol=1e-6)
    # A branch whose weight is exactly zero is not run at all, and the result is unchanged.
    calls = []
    hooks = [b.register_forward_hook(lambda m, i, o, k=k: calls.append(k))
             for k, b in zip(KERNEL_SIZES, kv.branches)]
    w0 = torch.tensor([0.0, 0.6, 0.4])
    out = kv(x, w0, (w0 != 0).tolist())
    for h in hooks:
        h.remove()
    assert calls == [5, 3]
    assert torch.allclose(out, sum(wk * b(x) for wk, b in zip(w0, kv.branches)), atol=1e-6)


def test_inherit_from_largest_is_an_exact_centre_crop():
    torch.manual_seed(0)
    kv = KernelVariableConv(4)
    big = kv.branches[0]
    # Give the 7×7 branch non-trivial BN statistics.
    kv.train()
    for _ in range(3):
        big(torch.randn(8, 4, 8, 8) * 3 + 1)
    assert not torch.allclose(big.bn.running_var, torch.ones(4))
    kv.inherit_from_largest()
    kv.eval()
    x = torch.randn(2, 4, 9, 9)
    for k, branch in zip(KERNEL_SIZES[1:], kv.branches[1:]):
        lo = (7 - k) // 2
        crop = big.conv.weight[:, :, lo:lo + k, lo:lo + k]
        assert torch.equal(branch.conv.weight, crop)
        assert torch.equal(branch.bn.running_mean, big.bn.running_mean)
        assert torch.equal(branch.bn.running_var, big.bn.running_var)
        assert torch.allclose(branch(x), _branch_reference(x, crop, big.bn), atol=1e-5)
    # The copies are independent tensors: training the 5×5 later leaves the 7×7 alone.
    assert kv.branches[1].conv.weight.data_ptr() != big.conv.weight.data_ptr()
