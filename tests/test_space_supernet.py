"""The supernet against brute-force references, its phases, and the standalone network.

The references below evaluate every operation, every kernel and every depth with no skipping,
straight from the definitions in DESIGN.md §2, so they check the supernet's shortcuts (zero-weight
skipping, truncated depth) rather than re-running them.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from zodarts.space import (EDGES, KERNEL_SIZES, OP_NAMES, RELAXATIONS, Genotype, StageGenotype,
                           SuperNet, build_network, live_edges, sample_genotype)
from zodarts.space.network import FixedCell
from zodarts.space.operations import KernelVariableConv, build_op
from zodarts.space.supernet import MixedEdge

CONV = OP_NAMES.index("conv_kxk")
ROWS = len(EDGES)


# ---- references ------------------------------------------------------------------------------
def ref_edge(edge: MixedEdge, x, op_w, k_w):
    out = 0
    for o, op in enumerate(edge.ops):
        if o == CONV:
            y = op.branches[0](x) if k_w is None else sum(
                k_w[k] * b(x) for k, b in enumerate(op.branches))
        else:
            y = op(x)  # `none` too: an explicit zero tensor
        out = out + op_w[o] * y
    return out


def ref_cell(cell, x, op_w, k_w):
    nodes = [x]
    for i in range(1, 4):
        nodes.append(sum(ref_edge(cell.edges[e], nodes[j], op_w[e], None if k_w is None else k_w[e])
                         for e, (j, dst) in enumerate(EDGES) if dst == i))
    return nodes[3]


def ref_forward(net: SuperNet, x, depth_limit: int | None = None):
    """Every op, every kernel, every cell; stage output = Σ_d p_d · (output after d cells).

    ``depth_limit``: run exactly that many cells per stage and take the last output instead.
    """
    w = net.relaxed()
    x = net.stem(x)
    for s, cells in enumerate(net.stages):
        if s > 0:
            x = net.reductions[s - 1](x)
        sl = slice(s * ROWS, (s + 1) * ROWS)
        k_w = None if w["kernel"] is None else w["kernel"][sl]
        outs = []
        for cell in cells[:depth_limit] if depth_limit else cells:
            x = ref_cell(cell, x, w["op"][sl], k_w)
            outs.append(x)
        if depth_limit or w["depth"] is None:
            x = outs[-1]
        else:
            x = sum(w["depth"][s, d] * outs[d] for d in range(len(outs)))
    return net.head(x)


def warm_bn(net: SuperNet, channels: int, size: int = 8, steps: int = 3):
    """Non-trivial running statistics in every BN, skipped ops included (brute-force forward)."""
    net.train()
    with torch.no_grad():
        for _ in range(steps):
            ref_forward(net, torch.randn(8, channels, size, size) * 2 + 0.5)
    net.eval()


# ---- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("relax", RELAXATIONS)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 28])
def test_supernet_shapes_and_gradients_in_both_phases(relax, channels, size):
    torch.manual_seed(0)
    net = SuperNet(channels, 5, C=4, cells_per_stage=2 if size == 8 else 1, relax=relax)
    x = torch.randn(2, channels, size, size)
    for phase in (1, 2):
        if phase == 2:
            assert net.enable_size_search()
        net.zero_grad()
        out = net(x)
        assert out.shape == (2, 5) and torch.isfinite(out).all()
        out.square().sum().backward()
        for alpha in net.arch_parameters():
            assert alpha.grad is not None and torch.isfinite(alpha.grad).all()
    assert len(net.arch_parameters()) == 3


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 28])
def test_build_network_shapes(channels, size):
    for seed in range(3):
        g = sample_genotype(seed, channels, 7, C=4, cells_per_stage=2, image_size=size)
        net = build_network(g)
        out = net(torch.randn(2, channels, size, size))
        assert out.shape == (2, 7) and torch.isfinite(out).all()
        out.sum().backward()


@pytest.mark.parametrize("size", [1, 2, 5, 7, 15, 30])
def test_odd_and_tiny_image_sizes(size):
    """The residual reduction's shortcut must match its conv path for odd sizes too."""
    torch.manual_seed(0)
    g = sample_genotype(1, 1, 3, C=4, cells_per_stage=1, image_size=size)
    assert build_network(g)(torch.randn(2, 1, size, size)).shape == (2, 3)
    net = SuperNet(1, 3, C=4, cells_per_stage=1)
    assert net(torch.randn(2, 1, size, size)).shape == (2, 3)


def test_all_none_cells_still_give_logits():
    g = Genotype(tuple(StageGenotype(1, ("none",) * 6) for _ in range(3)), 1, 2, C=4)
    net = build_network(g)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 2)
    sup = SuperNet(1, 2, C=4, cells_per_stage=1)
    sup.set_architecture(g)
    assert sup(torch.randn(2, 1, 8, 8)).shape == (2, 2)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="relaxation"):
        SuperNet(1, 2, C=4, relax="gumbel")
    with pytest.raises(ValueError, match="cells_per_stage"):
        SuperNet(1, 2, C=4, cells_per_stage=0)


# ---- parameters and phases -------------------------------------------------------------------
def test_arch_and_weight_parameters_are_apart():
    net = SuperNet(1, 2, C=4, cells_per_stage=2)
    assert net.alpha_op.shape == (18, 5)
    assert net.alpha_kernel.shape == (18, 3)
    assert net.alpha_depth.shape == (3, 2)
    assert net.arch_parameters() == [net.alpha_op]
    arch = {id(p) for p in net.all_arch_parameters()}
    weights = net.weight_parameters()
    assert not arch & {id(p) for p in weights}
    assert len(weights) + 3 == len(list(net.parameters()))
    assert [n for n, _ in net.named_weight_parameters()] == [
        n for n, _ in net.named_parameters() if not n.startswith("alpha_")]
    net.enable_size_search()
    assert net.arch_parameters() == [net.alpha_op, net.alpha_kernel, net.alpha_depth]


def test_batchnorm_affinity():
    """Searchable ops: non-affine BN (DESIGN.md §2); the standalone network: affine BN."""
    net = SuperNet(1, 2, C=4, cells_per_stage=1)
    for edge in (m for m in net.modules() if isinstance(m, MixedEdge)):
        bns = [m for m in edge.modules() if isinstance(m, nn.BatchNorm2d)]
        assert len(bns) == 4 and not any(bn.affine for bn in bns)  # 1×1 + three kernels
    g = Genotype(tuple(StageGenotype(1, ("conv_3x3", "conv_1x1", "conv_7x7", "conv_5x5",
                                         "skip_connect", "avg_pool_3x3")) for _ in range(3)),
                 1, 2, C=4)
    bns = [m for m in build_network(g).modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 1 + 3 * 4 + 2 * 2 + 1 and all(bn.affine for bn in bns)


def test_enable_size_search_twice_is_harmless():
    torch.manual_seed(0)
    net = SuperNet(1, 2, C=4, cells_per_stage=2)
    assert not net.size_search
    assert net.enable_size_search(torch.Generator().manual_seed(1)) is True
    assert net.size_search
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert net.enable_size_search(torch.Generator().manual_seed(2)) is False
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_enable_size_search_is_seeded_and_starts_near_uniform():
    nets = [SuperNet(1, 2, C=4, cells_per_stage=3) for _ in range(2)]
    for net in nets:
        net.enable_size_search(torch.Generator().manual_seed(7))
    assert torch.equal(nets[0].alpha_kernel, nets[1].alpha_kernel)
    assert torch.equal(nets[0].alpha_depth, nets[1].alpha_depth)
    w = nets[0].relaxed()
    assert torch.allclose(w["kernel"], torch.full_like(w["kernel"], 1 / 3), atol=0.01)
    assert torch.allclose(w["depth"], torch.full_like(w["depth"], 1 / 3), atol=0.01)


@pytest.mark.parametrize("kernel", [5, 3])
def test_kernel_inheritance_is_exact_through_the_supernet(kernel):
    """After the switch, a conv edge pinned to k×k computes BN(conv(relu(x), crop of 7×7))."""
    torch.manual_seed(0)
    net = SuperNet(1, 2, C=4, cells_per_stage=1)
    # Phase 1: train-mode forwards give the 7×7 BNs statistics; perturb the 7×7 weights too.
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(8, 1, 8, 8) * 2 + 1)
        for m in net.modules():
            if isinstance(m, KernelVariableConv):
                m.branches[0].conv.weight.normal_()
    s, e = 1, 4  # stage 1, edge 3←1
    edge = net.stages[s][0].edges[e]
    big = edge.ops[CONV].branches[0]
    w7 = big.conv.weight.detach().clone()
    mean7, var7 = big.bn.running_mean.clone(), big.bn.running_var.clone()
    assert not torch.allclose(var7, torch.ones_like(var7))

    assert net.enable_size_search()
    edges = ["skip_connect"] * 6
    edges[e] = f"conv_{kernel}x{kernel}"
    g = Genotype(tuple(StageGenotype(1, tuple(edges) if i == s else ("none",) * 6)
                       for i in range(3)), 1, 2, C=4)
    net.set_architecture(g)
    net.eval()
    w = net.relaxed()
    r = s * ROWS + e
    assert torch.equal(w["op"][r], F.one_hot(torch.tensor(CONV), 5).float())
    assert torch.equal(w["kernel"][r], F.one_hot(torch.tensor(KERNEL_SIZES.index(kernel)),
                                                 3).float())

    x = torch.randn(2, 8, 5, 5)
    out = edge(x, w["op"][r], (w["op"][r] != 0).tolist(), w["kernel"][r],
               (w["kernel"][r] != 0).tolist())
    lo = (7 - kernel) // 2
    crop = w7[:, :, lo:lo + kernel, lo:lo + kernel]
    y = F.conv2d(torch.relu(x), crop, padding=kernel // 2)
    expected = F.batch_norm(y, mean7, var7, None, None, False, 0.0, big.bn.eps)
    assert torch.allclose(out, expected, atol=1e-5)


# ---- exactness of the shortcuts --------------------------------------------------------------
@pytest.mark.parametrize("relax", ["sparsemax", "entmax15"])
@pytest.mark.parametrize("size_search", [False, True])
def test_zero_weight_skipping_is_exact(relax, size_search):
    torch.manual_seed(3)
    net = SuperNet(1, 3, C=4, cells_per_stage=3, relax=relax, temperature=0.5)
    if size_search:
        net.enable_size_search()
    with torch.no_grad():
        for alpha in net.all_arch_parameters():
            alpha.normal_(0, 1.5)
    warm_bn(net, 1)
    w = net.relaxed()
    groups = [w["op"]] + ([w["kernel"], w["depth"]] if size_search else [])
    for p in groups:  # the test needs exact zeros and more than one live op per row
        assert (p == 0).any() and ((p > 0).sum(-1) > 1).any()

    # Count which candidate modules run, to show that zero-weight ones really are skipped.
    runs = []
    hooks = [m.register_forward_hook(lambda *_: runs.append(1))
             for edge in net.modules() if isinstance(edge, MixedEdge) for m in edge.ops]
    x = torch.randn(4, 1, 8, 8)
    out = net(x)
    skipped_runs = len(runs)
    runs.clear()
    expected = ref_forward(net, x)
    for h in hooks:
        h.remove()
    assert skipped_runs < len(runs)
    assert torch.allclose(out, expected, atol=1e-5, rtol=1e-4)

    # α gradients agree too: the skipped ops would have contributed exactly nothing.
    target = torch.randn_like(out)
    grads = []
    for fn in (net, lambda t: ref_forward(net, t)):
        net.zero_grad()
        (fn(x) - target).square().sum().backward()
        grads.append([a.grad.clone() for a in net.arch_parameters()])
    for g_skip, g_ref in zip(*grads):
        assert torch.allclose(g_skip, g_ref, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_one_hot_depth_runs_exactly_that_many_cells(depth):
    torch.manual_seed(depth)
    net = SuperNet(1, 3, C=4, cells_per_stage=3, relax="softmax")
    net.enable_size_search()
    with torch.no_grad():
        net.alpha_op.normal_()
        net.alpha_kernel.normal_()
        net.alpha_depth.zero_()
        net.alpha_depth[:, depth - 1] = 1e4
    warm_bn(net, 1)
    assert torch.equal(net.relaxed()["depth"],
                       F.one_hot(torch.full((3,), depth - 1), 3).float())
    ran = []
    hooks = [cell.register_forward_hook(lambda *_, s=s, d=d: ran.append((s, d)))
             for s, cells in enumerate(net.stages) for d, cell in enumerate(cells)]
    x = torch.randn(3, 1, 8, 8)
    out = net(x)
    for h in hooks:
        h.remove()
    assert ran == [(s, d) for s in range(3) for d in range(depth)]
    assert torch.allclose(out, ref_forward(net, x, depth_limit=depth), atol=1e-5, rtol=1e-4)


# ---- genotypes -------------------------------------------------------------------------------
@pytest.mark.parametrize("relax", RELAXATIONS)
@pytest.mark.parametrize("cells_per_stage", [3, 1])
def test_set_architecture_then_genotype_round_trips(relax, cells_per_stage):
    for temperature in (0.05, 1.0, 5.0):
        net = SuperNet(3, 4, C=4, cells_per_stage=cells_per_stage, relax=relax,
                       temperature=temperature)
        for seed in range(8):
            g = sample_genotype(seed, 3, 4, C=4, cells_per_stage=cells_per_stage)
            net.set_architecture(g)
            assert net.genotype() == g
            for name, p in net.relaxed().items():
                if p is None:
                    continue
                one_hot = F.one_hot(p.argmax(-1), p.shape[-1]).to(p.dtype)
                assert torch.equal(p, one_hot), (name, seed, temperature)


def test_set_architecture_stays_in_phase1_when_it_can():
    net = SuperNet(1, 2, C=4, cells_per_stage=2)
    g = sample_genotype(0, 1, 2, C=4, cells_per_stage=2)
    g7 = Genotype(tuple(StageGenotype(2, tuple("conv_7x7" if op.startswith("conv_")
                                               and op != "conv_1x1" else op for op in s.edges))
                        for s in g.stages), 1, 2, C=4)
    net.set_architecture(g7)
    assert not net.size_search and net.genotype() == g7
    g_shallow = Genotype(tuple(StageGenotype(1, s.edges) for s in g7.stages), 1, 2, C=4)
    net.set_architecture(g_shallow)
    assert net.size_search and net.genotype() == g_shallow


def test_set_architecture_rejects_incompatible_genotypes():
    net = SuperNet(1, 2, C=4, cells_per_stage=2)
    with pytest.raises(ValueError, match="does not match"):
        net.set_architecture(sample_genotype(0, 3, 2, C=4))
    with pytest.raises(ValueError, match="deeper"):
        net.set_architecture(Genotype(tuple(StageGenotype(3, ("none",) * 6)
                                            for _ in range(3)), 1, 2, C=4))


def _transfer(sup: SuperNet, net: nn.Module, g: Genotype) -> None:
    """Copy the supernet's weights for the built (live) ops into the standalone network."""
    net.stem.load_state_dict(sup.stem.state_dict())
    net.head.load_state_dict(sup.head.state_dict())
    layers = iter(net.layers)
    for s, stage in enumerate(g.stages):
        if s > 0:
            next(layers).load_state_dict(sup.reductions[s - 1].state_dict())
        for d in range(stage.depth):
            cell, src = next(layers), sup.stages[s][d]
            kept = [(e, op) for e, (op, live) in enumerate(zip(stage.edges,
                                                               live_edges(stage.edges))) if live]
            assert len(kept) == len(cell.ops)
            for module, (e, op) in zip(cell.ops, kept):
                if op == "conv_1x1":
                    source = src.edges[e].ops[OP_NAMES.index("conv_1x1")]
                elif op.startswith("conv_"):
                    k = int(op.split("x")[-1])
                    source = src.edges[e].ops[CONV].branches[KERNEL_SIZES.index(k)]
                else:
                    continue
                # Non-affine → affine BN: the fresh γ=1, β=0 leave the normalisation as is.
                missing = module.load_state_dict(source.state_dict(), strict=False).missing_keys
                assert sorted(missing) == ["2.bias", "2.weight"]


@pytest.mark.parametrize("size_search", [False, True])
def test_pinned_supernet_equals_the_derived_network(size_search):
    """With one-hot α the supernet computes what build_network(genotype) computes.

    Not op for op: the pinned supernet runs every op α picks, the derived network only the
    live ones (see live_edges). A dead op whose output never reaches node 3 changes nothing
    either way; a dead conv that reads an always-zero node does in eval mode, where its BN
    turns the zero into the constant −running_mean/√(running_var + ε) (non-zero once the
    search has trained it on real inputs), which the supernet adds and the network does not.
    So they agree exactly (1) in eval mode once the supernet is pinned to the pruned genotype,
    and (2) in training mode on the genotype itself: batch statistics of an all-zero input are
    zero and the supernet's non-affine BN outputs exactly zero. (3) shows the difference.
    """
    torch.manual_seed(0)
    # The last genotype's 2←1 and 3←1 convs read node 1, which `none` on 1←0 keeps at zero.
    reads_zero = Genotype(tuple(StageGenotype(2, ("none", "conv_3x3", "conv_5x5", "conv_1x1",
                                                  "conv_7x7", "skip_connect"))
                                for _ in range(3)), 3, 4, C=4)
    genotypes = [sample_genotype(seed, 3, 4, C=4, cells_per_stage=2) for seed in range(4)]
    for g in genotypes + [reads_zero]:
        if not size_search:  # phase 1: 7×7 convs at full depth
            g = Genotype(tuple(StageGenotype(2, tuple(
                "conv_7x7" if op in ("conv_5x5", "conv_3x3") else op for op in s.edges))
                for s in g.stages), 3, 4, C=4)
        sup = SuperNet(3, 4, C=4, cells_per_stage=2)
        if size_search:
            sup.enable_size_search()
        with torch.no_grad():  # every BN learns statistics of real inputs, as in a search
            for alpha in sup.all_arch_parameters():
                alpha.normal_()
        warm_bn(sup, 3)
        sup.set_architecture(g)
        assert sup.size_search == size_search
        net = build_network(g).eval()
        _transfer(sup, net, g)
        x = torch.randn(4, 3, 8, 8)
        with torch.no_grad():
            derived, pinned = net(x), sup(x)
            sup.set_architecture(g.pruned())
            assert torch.allclose(sup(x), derived, atol=1e-5, rtol=1e-4)  # (1)
            sup.set_architecture(g)
            sup.train()
            net.train()
            assert torch.allclose(sup(x), net(x), atol=1e-5, rtol=1e-4)  # (2)
    assert not torch.allclose(pinned, derived, atol=1e-3)  # (3), on reads_zero


# ---- the standalone network ------------------------------------------------------------------
def test_network_carries_its_genotype_and_only_the_live_ops():
    g = sample_genotype(5, 1, 2, C=4, cells_per_stage=3)
    net = build_network(g)
    assert net.genotype == g
    cells = [m for m in net.layers if hasattr(m, "ops")]
    assert len(cells) == sum(s.depth for s in g.stages)
    assert sum(len(c.ops) for c in cells) == sum(
        s.depth * sum(live_edges(s.edges)) for s in g.stages)
    assert sum(len(c.ops) for c in cells) < sum(
        s.depth * sum(op != "none" for op in s.edges) for s in g.stages)  # g has dead ops


def test_dead_ops_change_nothing_the_cell_computes_from_its_input():
    """Against the cell with every op that is not `none` (the live ones sharing weights): equal
    in training mode, where a dead conv reading an always-zero node outputs exactly zero (batch
    statistics of zeros are zero and a fresh BN shift is 0), on every pattern of `none` edges."""
    import itertools

    torch.manual_seed(0)
    for pattern in itertools.product(("none", "conv_3x3"), repeat=len(EDGES)):
        edges = tuple(op if op == "none" else ("conv_1x1", "conv_3x3", "skip_connect",
                                               "avg_pool_3x3", "conv_5x5", "conv_3x3")[e]
                      for e, op in enumerate(pattern))
        cell = FixedCell(4, edges).train()
        built = iter(cell.ops)
        every_op = [(j, i, next(built) if live else build_op(op, 4))
                    for (j, i), op, live in zip(EDGES, edges, live_edges(edges)) if op != "none"]
        assert next(built, None) is None
        x = torch.randn(2, 4, 5, 5)
        nodes = [x] + [torch.zeros_like(x)] * 3
        for j, i, op in every_op:
            nodes[i] = nodes[i] + op.train()(nodes[j])
        assert torch.allclose(cell(x), nodes[3], atol=1e-6), edges


def test_network_is_scriptable_with_identical_logits():
    for seed in range(2):
        g = sample_genotype(seed, 3, 5, C=4, cells_per_stage=2)
        net = build_network(g).eval()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice
            scripted = torch.jit.script(net)
        x = torch.randn(2, 3, 28, 28)
        with torch.no_grad():
            assert torch.allclose(scripted(x), net(x), atol=1e-6)


def _layouts_seen(net: nn.Module, run) -> set[bool]:
    """Whether each conv/BN/pool input after the stem was NHWC, over everything ``run`` computes
    (the stem's own BN may see NCHW: with one input channel both layouts are the same strides)."""
    seen: set[bool] = set()
    stem = set(net.stem.modules())
    hooks = [m.register_forward_pre_hook(
        lambda m, args: seen.add(args[0].is_contiguous(memory_format=torch.channels_last)))
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.AvgPool2d)) and m not in stem]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("channels", [1, 3])
def test_networks_compute_in_nhwc_even_at_perturbed_weights(channels):
    # NHWC is what makes the CPU search fast; one NCHW layer turns every later one NCHW too.
    # With one input channel the stem's output layout is ambiguous, and weights built by
    # arithmetic (DARTS-2nd's ω ± εv through functional_call) used to lose NHWC from there on.
    torch.manual_seed(0)
    net = SuperNet(channels, 3, C=4, cells_per_stage=1)
    x = torch.randn(2, channels, 12, 12)
    perturbed = {n: p.detach() + 1e-3 * torch.randn(p.shape) for n, p in net.named_parameters()}
    assert _layouts_seen(net, lambda: net(x)) == {True}
    assert _layouts_seen(net, lambda: torch.func.functional_call(net, perturbed, (x,))) == {True}
    standalone = build_network(sample_genotype(0, channels, 3,
                                               C=4, cells_per_stage=1))
    assert _layouts_seen(standalone, lambda: standalone(x)) == {True}
