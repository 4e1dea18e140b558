"""The resource model: exact counts, the differentiable expectation, budgets, sampling, FLOPs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zodarts.errors import ConfigError
from zodarts.space import (EDGES, KERNEL_SIZES, OP_NAMES, Genotype, StageGenotype, SuperNet,
                           budget_bands, build_network, count_flops, count_params,
                           count_params_all_ops, live_edges, resolve_budget, sample_genotype)
from zodarts.space.operations import build_op, conv_name
from zodarts.space.resources import _sampled_counts, _space_extremes

ROWS = len(EDGES)


def numel(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def uniform_genotype(op: str, depth: int, in_channels=1, num_classes=2, C=4) -> Genotype:
    return Genotype(tuple(StageGenotype(depth, (op,) * 6) for _ in range(3)), in_channels,
                    num_classes, C)


def phase1_version(g: Genotype, cells_per_stage: int) -> Genotype:
    """The same genotype as phase 1 can express it: 7×7 convs, full depth."""
    return Genotype(tuple(StageGenotype(cells_per_stage, tuple(
        "conv_7x7" if op in ("conv_5x5", "conv_3x3") else op for op in s.edges))
        for s in g.stages), g.in_channels, g.num_classes, g.C, g.image_size)


# ---- exact counts ----------------------------------------------------------------------------
def sparse_genotype(rng: np.random.Generator, in_channels=1, num_classes=2, C=4, cells=1
                    ) -> Genotype:
    """A sampled genotype with half of its edges `none`: dead ops and disconnected cells are
    common (uniform sampling gives `none` only one edge in five)."""
    g = sample_genotype(rng, in_channels, num_classes, C, cells)
    return Genotype(tuple(StageGenotype(s.depth, tuple(
        "none" if rng.random() < 0.4 else op for op in s.edges)) for s in g.stages),
        in_channels, num_classes, C)


def dead_op_params(g: Genotype) -> int:
    """Parameters of the ops that live_edges calls dead, from freshly built modules."""
    return sum(stage.depth * numel(build_op(op, g.C * 2 ** s))
               for s, stage in enumerate(g.stages)
               for op, live in zip(stage.edges, live_edges(stage.edges)) if not live)


@pytest.mark.parametrize("in_channels,num_classes,C,cells", [(1, 2, 16, 3), (3, 9, 8, 3),
                                                              (3, 14, 4, 1), (1, 11, 12, 2)])
def test_count_params_is_the_built_networks_count(in_channels, num_classes, C, cells):
    rng = np.random.default_rng(C)
    genotypes = [sample_genotype(seed, in_channels, num_classes, C, cells) for seed in range(10)]
    genotypes += [sparse_genotype(rng, in_channels, num_classes, C, cells) for _ in range(10)]
    for g in genotypes:
        assert count_params(g) == numel(build_network(g))
        assert count_params_all_ops(g) == count_params(g) + dead_op_params(g)
    # Both kinds of genotype that live-only counting is about were checked.
    assert any(dead_op_params(g) > 0 for g in genotypes)
    assert any(g.disconnected_stages() for g in genotypes)


def test_dead_ops_are_counted_only_by_count_params_all_ops():
    # Nodes 1 and 2 feed nothing, so only 3←0 is built (the pattern of issue 13's demo).
    stage = StageGenotype(1, ("conv_5x5", "conv_1x1", "conv_5x5", "conv_1x1", "none", "none"))
    g = Genotype((stage,) * 3, 1, 2, C=8)
    only_live = Genotype((StageGenotype(1, ("none",) * 3 + ("conv_1x1", "none", "none")),) * 3,
                         1, 2, C=8)
    assert count_params(g) == count_params(only_live) == count_params_all_ops(only_live)
    assert count_params_all_ops(g) - count_params(g) == sum(
        numel(build_op(op, 8 * 2 ** s)) for s in range(3)
        for op in ("conv_5x5", "conv_1x1", "conv_5x5"))
    # FLOPs are measured on the built network, so they are the live network's too.
    assert count_flops(g) == count_flops(only_live)


def test_space_extremes_are_the_smallest_and_largest_networks():
    for cells in (1, 3):
        lo, hi = _space_extremes(3, 5, 8, cells)
        assert lo == count_params(uniform_genotype("none", 1, 3, 5, 8))
        assert lo == count_params(uniform_genotype("skip_connect", 1, 3, 5, 8))
        assert hi == count_params(uniform_genotype("conv_7x7", cells, 3, 5, 8))
        counts = [count_params(sample_genotype(s, 3, 5, 8, cells)) for s in range(50)]
        assert lo <= min(counts) and max(counts) <= hi


# ---- the differentiable expectation ----------------------------------------------------------
# The derived network builds live ops only, so E[params] weighs each op by the probability that
# it is live, edges drawn independently from their relaxed distributions.
@pytest.mark.parametrize("relax", ["sparsemax", "softmax", "entmax15"])
@pytest.mark.parametrize("cells", [3, 2])
def test_expected_params_is_exact_on_one_hot_weights(relax, cells):
    phase2 = SuperNet(1, 3, C=8, cells_per_stage=cells, relax=relax)
    phase1 = SuperNet(1, 3, C=8, cells_per_stage=cells, relax=relax)
    rng = np.random.default_rng(cells)
    genotypes = [sample_genotype(seed, 1, 3, C=8, cells_per_stage=cells) for seed in range(8)]
    genotypes += [sparse_genotype(rng, 1, 3, C=8, cells=cells) for _ in range(8)]
    assert any(count_params(g) != count_params_all_ops(g) for g in genotypes)  # dead ops
    for g in genotypes:  # 2 × 16 genotypes per case, 6 cases
        phase2.set_architecture(g)
        assert phase2.expected_params().item() == count_params(g)
        g1 = phase1_version(g, cells)
        phase1.set_architecture(g1)
        assert not phase1.size_search  # phase 1 counted without the switch
        assert phase1.expected_params().item() == count_params(g1)


def _random_supernet(relax: str, size_search: bool, seed: int, cells: int = 2) -> SuperNet:
    """Spread-out α leaning to `none`, so that many ops are dead; under sparsemax with exact
    zeros, and 1←0 of stages 0 and 2 always `none` (q = 0: node 1's ops are never live)."""
    torch.manual_seed(seed)
    net = SuperNet(1, 4, C=8, cells_per_stage=cells, relax=relax, temperature=0.5)
    if size_search:
        net.enable_size_search()
    none = OP_NAMES.index("none")
    with torch.no_grad():
        for alpha in net.all_arch_parameters():
            alpha.normal_(0, 0.5)
        net.alpha_op[:, none] += 0.3
        if relax == "sparsemax":
            net.alpha_op[[0, 2 * ROWS], none] = 3.0
    if relax == "sparsemax":
        p_op = net.relaxed()["op"]
        assert (p_op[[0, 2 * ROWS], none] == 1).all() and (p_op == 0).any()
    return net


def _op_params(name: str, C: int, p_kernel: list[float] | None) -> float:
    """params of one relaxed op from a freshly built module (the conv: its kernel mix)."""
    if name != "conv_kxk":
        return float(numel(build_op(name, C)))
    p_kernel = p_kernel or [1.0, 0.0, 0.0]  # phase 1: 7×7
    return sum(pk * numel(build_op(conv_name(k), C)) for pk, k in zip(p_kernel, KERNEL_SIZES))


@pytest.mark.parametrize("size_search", [False, True])
def test_expected_params_is_the_brute_force_expectation(size_search):
    """Law of total expectation over the 2^6 patterns of `none` edges of each cell: given the
    pattern, live_edges says which edges are built, and a built edge's op is drawn from its
    distribution without `none`."""
    import itertools

    net = _random_supernet("softmax", size_search, seed=1)
    w = {k: None if v is None else v.double() for k, v in net.relaxed().items()}
    expected = float(numel(build_network(uniform_genotype("none", 1, 1, 4, 8))))
    for s in range(3):
        C_s = 8 * 2 ** s
        rows = range(s * ROWS, (s + 1) * ROWS)
        q = [1 - w["op"][r, OP_NAMES.index("none")].item() for r in rows]
        given_not_none = [sum(w["op"][r, o].item() * _op_params(
            name, C_s, None if w["kernel"] is None else w["kernel"][r].tolist())
            for o, name in enumerate(OP_NAMES)) / q_r for r, q_r in zip(rows, q)]
        cell = 0.0
        for pattern in itertools.product((False, True), repeat=ROWS):
            prob = math.prod(q_e if on else 1 - q_e for q_e, on in zip(q, pattern))
            live = live_edges(["conv_1x1" if on else "none" for on in pattern])
            cell += prob * sum(m for m, on in zip(given_not_none, live) if on)
        depth = (float(net.cells_per_stage) if w["depth"] is None else
                 sum((d + 1) * p for d, p in enumerate(w["depth"][s].tolist())))
        expected += depth * cell
    got = net.expected_params()
    assert got.dtype == torch.float64
    assert got.item() == pytest.approx(expected, rel=1e-12)


def _sample_from(net: SuperNet, n: int, rng: np.random.Generator) -> list[Genotype]:
    """n genotypes drawn from the supernet's relaxed distributions (independent rows); phase 1:
    7×7 convs at full depth."""
    w = {k: None if v is None else v.detach().double().numpy() for k, v in net.relaxed().items()}

    def draw(p):  # one categorical column of n draws per row
        p = p / p.sum()
        return rng.choice(len(p), size=n, p=p)

    ops = np.stack([draw(p) for p in w["op"]], axis=1)
    kernels = (np.zeros_like(ops) if w["kernel"] is None
               else np.stack([draw(p) for p in w["kernel"]], axis=1))
    depths = (np.full((n, 3), net.cells_per_stage) if w["depth"] is None
              else np.stack([draw(p) for p in w["depth"]], axis=1) + 1)
    out = []
    for i in range(n):
        stages = []
        for s in range(3):
            edges = []
            for e in range(ROWS):
                r = s * ROWS + e
                name = OP_NAMES[ops[i, r]]
                edges.append(conv_name(KERNEL_SIZES[kernels[i, r]]) if name == "conv_kxk"
                             else name)
            stages.append(StageGenotype(int(depths[i, s]), tuple(edges)))
        out.append(Genotype(tuple(stages), net.in_channels, net.num_classes, net.C))
    return out


@pytest.mark.parametrize("relax", ["sparsemax", "softmax"])
@pytest.mark.parametrize("size_search", [False, True])
def test_expected_params_matches_monte_carlo(relax, size_search):
    net = _random_supernet(relax, size_search, seed=2)
    genotypes = _sample_from(net, 20000, np.random.default_rng(0))
    counts = np.array([count_params(g) for g in genotypes])
    expected = net.expected_params().item()
    # (seeded, so not flaky; 4 standard errors of the mean)
    assert abs(counts.mean() - expected) < 4 * counts.std() / math.sqrt(len(counts))
    # …and it is a real expectation, not something that happens to be near every sample…
    assert counts.std() > 0.05 * expected
    # …of the live count: the expectation of the all-ops count is far outside that bound.
    all_ops = np.mean([count_params_all_ops(g) for g in genotypes])
    assert all_ops - expected > 20 * counts.std() / math.sqrt(len(counts))


def test_expected_params_gradients():
    torch.manual_seed(0)
    net = SuperNet(1, 2, C=4, cells_per_stage=3)
    net.expected_params().backward()
    assert net.alpha_op.grad.abs().sum() > 0
    assert net.alpha_kernel.grad is None and net.alpha_depth.grad is None  # phase 1
    net.zero_grad()
    net.enable_size_search()
    net.expected_params().backward()
    for alpha in net.arch_parameters():
        assert alpha.grad is not None and torch.isfinite(alpha.grad).all()
        assert (alpha.grad.abs().sum(-1) > 0).all()  # every row of every group moves
    # More params for more conv: raising a row's conv logit raises E (a conv has the most
    # parameters, and less `none` makes the other edges more often live).
    assert (net.alpha_op.grad[:, OP_NAMES.index("conv_kxk")] > 0).all()
    assert (net.alpha_kernel.grad[:, 0] > 0).all()  # 7×7 is the largest kernel
    assert (net.alpha_depth.grad[:, -1] > 0).all()  # 3 cells is the deepest


@pytest.mark.parametrize("relax", ["sparsemax", "softmax"])
def test_expected_params_gradient_matches_finite_differences(relax):
    net = _random_supernet(relax, True, seed=2).double()
    net.expected_params().backward()
    grad = net.alpha_op.grad.clone()
    assert torch.isfinite(grad).all()  # q = 0 on stage 0's 1←0 under sparsemax
    p = net.relaxed()["op"]
    none = OP_NAMES.index("none")
    if relax == "sparsemax":  # stage 0's 3←1 reads node 1, never reached: never live, no pull
        assert 0 < p[4, none] < 1 and (grad[4] == 0).all()
    # `none` logits move E mostly through the liveness of the other edges' ops: check the two
    # that move it most, and the op in the support of the first.
    rows = sorted((r for r in range(len(p)) if 0 < p[r, none] < 1),
                  key=lambda r: -abs(grad[r, none]))[:2]
    coords = [(r, none) for r in rows] + [(rows[0], int(p[rows[0], 1:].argmax()) + 1)]
    h = 1e-6
    for r, o in coords:
        with torch.no_grad():
            net.alpha_op[r, o] += h
            up = net.expected_params().item()
            net.alpha_op[r, o] -= 2 * h
            down = net.expected_params().item()
            net.alpha_op[r, o] += h
        assert grad[r, o].item() == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-3)
        assert grad[r, o] != 0


# ---- budgets ---------------------------------------------------------------------------------
def _check_ordered(bands):
    small, medium, large = bands["small"], bands["medium"], bands["large"]
    assert small[0] == 0
    assert small[0] <= small[1] <= medium[0] <= medium[1] <= large[0] <= large[1]
    assert large[1] == bands["max"]
    assert bands["min"] <= small[1]


def test_budget_bands_are_ordered_and_inside_the_space():
    for args in [(1, 2, 16, 3), (3, 9, 8, 2), (1, 11, 4, 1)]:
        bands = budget_bands(*args)
        _check_ordered(bands)
        lo, hi = _space_extremes(*args)
        assert lo <= bands["min"] and bands["max"] <= hi
        assert isinstance(bands["min"], int) and isinstance(bands["max"], int)


def test_budget_bands_are_cached():
    args = (3, 5, 8, 3)
    first = budget_bands(*args)
    hits = _sampled_counts.cache_info().hits
    again = budget_bands(*args)
    assert _sampled_counts.cache_info().hits == hits + 1
    assert again == first
    again["small"] = (1, 2)  # the caller's copy; the cache is untouched
    assert budget_bands(*args) == first


def test_budget_bands_depend_on_channels_classes_and_C():
    base = budget_bands(1, 2, 16, 3)
    # Same sampled genotypes: more input channels shift every count by the stem's 2·9·C.
    rgb = budget_bands(3, 2, 16, 3)
    assert rgb["min"] - base["min"] == rgb["max"] - base["max"] == 2 * 9 * 16
    assert rgb["medium"][0] - base["medium"][0] == pytest.approx(2 * 9 * 16)
    # More classes: the classifier's (4C + 1) per class.
    many = budget_bands(1, 9, 16, 3)
    assert many["max"] - base["max"] == 7 * (64 + 1)
    # Wider: every band grows.
    wide = budget_bands(1, 2, 24, 3)
    for band in ("small", "medium", "large"):
        assert wide[band][1] > base[band][1]
    # Shallower space: the large band shrinks.
    assert budget_bands(1, 2, 16, 1)["large"][1] < base["large"][1]


def test_resolve_budget_named_none_and_explicit():
    args = dict(in_channels=1, num_classes=2, C=8, cells_per_stage=2)
    bands = budget_bands(1, 2, 8, 2)
    for name in ("small", "medium", "large"):
        assert resolve_budget(name, None, None, **args) == bands[name]
    assert resolve_budget(None, None, None, **args) is None
    assert resolve_budget("none", None, None, **args) is None
    assert resolve_budget(None, 1000, 50000, **args) == (1000.0, 50000.0)
    assert resolve_budget("large", 1000, None, **args) == (1000.0, math.inf)  # explicit wins
    assert resolve_budget(None, None, 50000, **args) == (0.0, 50000.0)


def test_resolve_budget_rejects_impossible_bands_naming_the_space():
    args = dict(in_channels=1, num_classes=2, C=8, cells_per_stage=2)
    lo, hi = _space_extremes(1, 2, 8, 2)
    space = rf"between {lo} and {hi} parameters"
    with pytest.raises(ConfigError, match=rf"impossible budget .*{space}"):
        resolve_budget(None, hi + 1, None, **args)  # min above the largest network
    with pytest.raises(ConfigError, match=rf"impossible budget .*{space}"):
        resolve_budget(None, None, lo - 1, **args)  # max below the smallest network
    with pytest.raises(ConfigError, match=rf"empty band .*{space}"):
        resolve_budget(None, 5000, 5000, **args)
    with pytest.raises(ConfigError, match=rf"empty band .*{space}"):
        resolve_budget(None, 6000, 5000, **args)
    with pytest.raises(ConfigError, match="minimum must be >= 0"):
        resolve_budget(None, -1, 5000, **args)
    with pytest.raises(ConfigError, match="unknown budget 'tiny'.*small, medium, large"):
        resolve_budget("tiny", None, None, **args)
    # The edges themselves are possible.
    assert resolve_budget(None, hi, None, **args) == (hi, math.inf)
    assert resolve_budget(None, None, lo, **args) == (0.0, lo)


# ---- sampling --------------------------------------------------------------------------------
def test_sample_genotype_is_deterministic_per_seed():
    for seed in range(5):
        assert sample_genotype(seed, 3, 4, C=8) == sample_genotype(seed, 3, 4, C=8)
    assert len({sample_genotype(seed, 3, 4) for seed in range(20)}) == 20
    a = [sample_genotype(np.random.default_rng(9), 1, 2) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(9)
    assert sample_genotype(rng, 1, 2) != sample_genotype(rng, 1, 2)  # a generator advances
    g = sample_genotype(0, 3, 7, C=12, cells_per_stage=2, image_size=64)
    assert (g.in_channels, g.num_classes, g.C, g.image_size) == (3, 7, 12, 64)


def test_sample_genotype_covers_the_space():
    samples = [sample_genotype(seed, 1, 2, cells_per_stage=3) for seed in range(300)]
    ops = [op for g in samples for s in g.stages for op in s.edges]
    assert set(ops) == {"none", "skip_connect", "conv_1x1", "conv_7x7", "conv_5x5", "conv_3x3",
                        "avg_pool_3x3"}
    # Uniform over the 5 relaxed ops, then over kernels: conv_kxk ≈ 1/5, each kernel ≈ 1/15.
    freq = {op: ops.count(op) / len(ops) for op in set(ops)}
    assert freq["skip_connect"] == pytest.approx(1 / 5, abs=0.02)
    assert freq["conv_5x5"] == pytest.approx(1 / 15, abs=0.015)
    for s in range(3):
        assert {g.stages[s].depth for g in samples} == {1, 2, 3}
    assert {s.depth for seed in range(30)
            for s in sample_genotype(seed, 1, 2, cells_per_stage=1).stages} == {1}


# ---- FLOPs -----------------------------------------------------------------------------------
def test_count_flops_grows_with_depth_width_and_image_size():
    shallow = uniform_genotype("conv_3x3", 1, C=8)
    deep = uniform_genotype("conv_3x3", 3, C=8)
    wide = uniform_genotype("conv_3x3", 1, C=16)
    f = count_flops(shallow)
    assert isinstance(f, int) and f > 0
    assert count_flops(deep) > f and count_flops(wide) > f
    assert count_flops(uniform_genotype("conv_7x7", 1, C=8)) > f
    assert 0 < count_flops(uniform_genotype("none", 1, C=8)) < f
    # Convolutions dominate: doubling the side roughly quadruples the FLOPs.
    assert count_flops(shallow, image_size=56) == pytest.approx(4 * f, rel=0.05)
    assert count_flops(Genotype(shallow.stages, 1, 2, 8, image_size=56)) == count_flops(
        shallow, image_size=56)


def test_count_flops_of_one_conv_edge():
    """One live 3×3 edge in stage 0 adds exactly 2·C²·9·H·W FLOPs (multiply-adds × 2); the same
    conv where its output never reaches node 3 (1←0 alone) is not built and adds none."""
    none = uniform_genotype("none", 1, C=8)

    def with_stage0(edges):
        return Genotype((StageGenotype(1, edges),) + none.stages[1:], 1, 2, 8, image_size=28)

    live = with_stage0(("none",) * 3 + ("conv_3x3",) + ("none",) * 2)  # 3←0
    dead = with_stage0(("conv_3x3",) + ("none",) * 5)  # 1←0
    assert count_flops(live) - count_flops(none) == 2 * 8 * 8 * 9 * 28 * 28
    assert count_flops(dead) == count_flops(none)
