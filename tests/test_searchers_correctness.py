"""The peers' formulas against exact answers.

DARTS: the finite-difference Hessian-vector product against autograd's double backward, the
second-order hypergradient against autograd through the unrolled step, the first-order gradient
against autograd and finite differences. ZARTS: the three update rules on objectives whose
answer is known (RS's mean estimate is the gradient, MGS's weights recover the Gibbs mean and
follow −∇ when the proposal is tight, GLD never accepts a worse point), and the response
L(α + u) the searchers feed them against a brute-force twin. Random search: budget, resume.
"""

import copy

import pytest
import torch
from torch import nn

from zodarts.config import SearchConfig
from zodarts.errors import ConfigError
from zodarts.search.base import SearchContext
from zodarts.search.darts import (DartsFirstOrder, DartsSecondOrder, finite_difference_hvp,
                                  unrolled_weights)
from zodarts.search.protocol import resolve_method
from zodarts.search.random_search import RandomSearch
from zodarts.search.zarts import (MGSOptions, ZartsGLD, ZartsMGS, ZartsRS, flatten, gld_radii,
                                  gld_step, mgs_step, mgs_weights, rs_gradient, unflatten)
from zodarts.space import SuperNet, count_params

CPU = torch.device("cpu")


def _searcher(cls, options=None, budget=None, dtype=torch.float64, seed=0, momentum_steps=2):
    """A searcher on a tiny supernet (C=4, one cell per stage, 8×8 inputs), warmed up by a few
    weight steps so the momentum buffers are not empty. A budget comes with the size-variable
    phase, the only one where its penalty acts."""
    torch.manual_seed(seed)
    options = {"zarts_warmup": 0.0, **(options or {})} if cls.name.startswith("zarts") \
        else options or {}
    size_search = budget is not None and cls.uses_alpha
    config = resolve_method(SearchConfig(method=cls.name, C=4, cells_per_stage=1, w_lr=0.05,
                                         size_search=size_search, options=options))

    def make():
        return SuperNet(1, 3, C=4, cells_per_stage=1, relax=cls.relax, image_size=8).to(dtype)

    net = make()
    if size_search:
        net.enable_size_search(torch.Generator().manual_seed(seed))
    with torch.no_grad():
        net.alpha_op.normal_(0, 0.5)  # away from ties
    opt = torch.optim.SGD(net.weight_parameters(), lr=config.w_lr, momentum=0.9, nesterov=True,
                          weight_decay=3e-4)
    searcher = cls(SearchContext(net, opt, config, budget, nn.CrossEntropyLoss(), CPU,
                                 torch.Generator().manual_seed(seed), make))
    batches = _batches(dtype, n=momentum_steps + 2, seed=seed + 1)
    for b in batches[2:]:
        searcher.weight_step(b)
    return searcher, batches[0], batches[1]


def _batches(dtype=torch.float64, n=2, seed=1, size=16):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 1, 8, 8, generator=g).to(dtype),
             torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def _rel(a, b):
    return ((a - b).norm() / b.norm()).item()


# ---- DARTS second order ---------------------------------------------------------------------
def test_finite_difference_hvp_matches_double_backward_on_a_smooth_function():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(7, 4, generator=g, dtype=torch.float64)
    w = torch.randn(7, generator=g, dtype=torch.float64)
    alpha = torch.randn(4, generator=g, dtype=torch.float64, requires_grad=True)
    v = [torch.randn(7, generator=g, dtype=torch.float64)]

    def loss(w_):
        return (torch.sin(w_ * (A @ alpha)) ** 2).sum() + (w_ ** 3).sum() * alpha.sum()

    def grad_alpha_at(ws):
        return torch.autograd.grad(loss(ws[0]), [alpha])

    hvp, eps = finite_difference_hvp(grad_alpha_at, [w], v)  # the default ε = 0.01 / ‖v‖
    assert float(eps) == pytest.approx(0.01 / v[0].norm().item())
    wr = w.clone().requires_grad_(True)
    (gw,) = torch.autograd.grad(loss(wr), [wr], create_graph=True)
    (exact,) = torch.autograd.grad((gw * v[0]).sum(), [alpha])
    error = _rel(hvp[0], exact)
    assert error < 1e-3
    # A central difference: ten times smaller ε, a hundred times smaller error.
    finer, _ = finite_difference_hvp(grad_alpha_at, [w], v, eps_scale=1e-3)
    assert _rel(finer[0], exact) < error / 50


def test_finite_difference_hvp_of_zero_vector_is_zero():
    w = torch.ones(3)
    hvp, _ = finite_difference_hvp(lambda ws: [ws[0] ** 2], [w], [torch.zeros(3)])
    assert torch.equal(hvp[0], torch.zeros(3))


def test_finite_difference_hvp_matches_double_backward_on_a_supernet():
    s, train, _ = _searcher(DartsSecondOrder)
    params = s.net.weight_parameters()
    weights = [p.detach() for p in params]
    alphas = s.net.arch_parameters()
    g = torch.Generator().manual_seed(3)
    v = [torch.randn(w.shape, generator=g, dtype=w.dtype) for w in weights]

    def grad_alpha_at(ws):
        return torch.autograd.grad(s._loss(ws, train, False), alphas)

    # ReLU kinks: a central difference also sees units whose sign flips within ±εv, a jump that
    # does not shrink with ε until none flips; a small ε checks the arithmetic itself.
    hvp, _ = finite_difference_hvp(grad_alpha_at, weights, v, eps_scale=1e-5)
    gw = torch.autograd.grad(s._loss(params, train, False), params, create_graph=True,
                             allow_unused=True)
    dot = sum((gi * vi).sum() for gi, vi in zip(gw, v) if gi is not None)
    (exact,) = torch.autograd.grad(dot, alphas)
    assert _rel(hvp[0], exact) < 1e-6


def test_unrolled_weights_follow_darts_virtual_step():
    w = [torch.tensor([1.0, 2.0]), torch.tensor([3.0])]
    g = [torch.tensor([0.5, -1.0]), None]
    buf = [torch.tensor([1.0, 1.0]), None]
    out = unrolled_weights(w, g, lr=0.1, momentum=0.9, weight_decay=0.01, buffers=buf)
    assert torch.allclose(out[0], w[0] - 0.1 * (0.9 * buf[0] + g[0] + 0.01 * w[0]))
    assert torch.allclose(out[1], w[1] - 0.1 * 0.01 * w[1])
    assert torch.equal(w[0], torch.tensor([1.0, 2.0]))  # the input is left alone


@pytest.mark.parametrize("unroll_momentum", [True, False])
def test_darts_2nd_gradient_equals_autograd_through_the_unrolled_step(unroll_momentum):
    s, train, val = _searcher(DartsSecondOrder, {"hvp_eps": 1e-5,
                                                 "unroll_momentum": unroll_momentum},
                              budget=(0.0, 1000.0))  # a band the supernet is far above
    assert s.penalty_active()
    before = {k: v.clone() for k, v in s.net.state_dict().items()}
    grads, objective = s.arch_gradient(train, val)

    # The exact derivative of L_val(ω′(α), α) + penalty(α), ω′ built with autograd's graph.
    net, opt = s.net, s.ctx.weight_optimizer
    params = net.weight_parameters()
    group = opt.param_groups[0]
    xi = group["lr"]
    gw = torch.autograd.grad(s._loss(params, train, False), params, create_graph=True,
                             allow_unused=True)
    w_prime = []
    for p, g in zip(params, gw):
        step = torch.zeros_like(p) if g is None else g
        if unroll_momentum:
            buf = opt.state.get(p, {}).get("momentum_buffer")
            step = step + group["weight_decay"] * p
            if buf is not None:
                step = step + group["momentum"] * buf
        w_prime.append(p - xi * step)
    val_obj = s._loss(w_prime, val, True)
    exact = torch.autograd.grad(val_obj, net.arch_parameters())
    assert objective == pytest.approx(val_obj.item())
    for g, e in zip(grads, exact):  # op, kernel and depth α (the budget's size phase)
        torch.testing.assert_close(g, e, rtol=1e-6, atol=1e-12)
    # The second-order term is not negligible here: ∇_α L_val at a fixed ω′ differs.
    fixed = [w.detach() for w in w_prime]
    first = torch.autograd.grad(s._loss(fixed, val, True), net.arch_parameters())
    assert _rel(grads[0], first[0]) > 1e-3
    # ω, α and the BatchNorm buffers are bit-for-bit what they were.
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_darts_2nd_step_moves_alpha_and_trains_weights():
    s, train, val = _searcher(DartsSecondOrder, dtype=torch.float32)
    alpha = s.net.alpha_op.detach().clone()
    weights = [p.detach().clone() for p in s.net.weight_parameters()]
    stats = s.step(train, val)
    assert {"train_loss", "train_acc", "val_objective"} <= set(stats)
    assert not torch.equal(alpha, s.net.alpha_op)
    assert any(not torch.equal(a, b) for a, b in zip(weights, s.net.weight_parameters()))


# ---- DARTS first order ----------------------------------------------------------------------
def test_darts_1st_gradient_equals_autograd_and_finite_differences():
    s, train, val = _searcher(DartsFirstOrder)
    reference = copy.deepcopy(s.net)
    alpha0 = s.net.alpha_op.detach().clone()
    s.step(train, val)
    grad = s.net.alpha_op.grad  # left by the α step; the weight step touches only ω's grads

    reference.train()
    loss = s.ctx.criterion(reference(val[0]), val[1])
    (exact,) = torch.autograd.grad(loss, [reference.alpha_op])
    assert torch.allclose(grad, exact, rtol=1e-10, atol=1e-12)

    eps = 1e-6
    for r, c in [(0, 0), (5, 3), (17, 4)]:
        values = []
        for sign in (1, -1):
            probe = copy.deepcopy(reference)
            with torch.no_grad():
                probe.alpha_op[r, c] += sign * eps
                values.append(s.ctx.criterion(probe(val[0]), val[1]).item())
        assert grad[r, c].item() == pytest.approx((values[0] - values[1]) / (2 * eps),
                                                  rel=1e-4, abs=1e-8)
    # Adam's first step (config a_* settings): −lr·ĝ/(|ĝ| + eps), ĝ = g + weight_decay·α.
    c = s.ctx.config
    g_wd = grad + c.a_weight_decay * alpha0
    expected = alpha0 - c.a_lr * g_wd / (g_wd.abs() + 1e-8)
    assert torch.allclose(s.net.alpha_op.detach(), expected, atol=1e-9)


# ---- ZARTS update rules ---------------------------------------------------------------------
def _quadratic(d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q = torch.randn(d, d, generator=g, dtype=torch.float64)
    A = Q @ Q.T / d + torch.eye(d, dtype=torch.float64)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    alpha = torch.randn(d, generator=g, dtype=torch.float64)
    return A, b, alpha


@pytest.mark.parametrize("sphere", [False, True])
def test_rs_mean_estimate_aligns_with_the_true_gradient(sphere):
    A, b, alpha = _quadratic()
    true = A @ alpha + b

    def loss_at(u):
        x = alpha + u
        return (0.5 * x @ A @ x + b @ x).item()

    gen = torch.Generator().manual_seed(1)
    estimates = torch.stack([rs_gradient(loss_at, len(alpha), 4, 0.05, gen, sphere)
                             for _ in range(500)])
    mean = estimates.mean(0)
    assert torch.nn.functional.cosine_similarity(mean, true, dim=0).item() > 0.9
    # φ(d) makes the estimate unbiased on a quadratic, for both sampling laws.
    assert mean.norm().item() == pytest.approx(true.norm().item(), rel=0.15)
    # One estimate is noisy, but already points downhill more often than not.
    cos = torch.nn.functional.cosine_similarity(estimates, true[None], dim=1)
    assert (cos > 0).float().mean().item() > 0.7


def test_mgs_reduces_to_a_step_along_minus_gradient_on_a_linear_objective():
    g = torch.Generator().manual_seed(2)
    c = torch.randn(30, generator=g, dtype=torch.float64)

    def loss_at(u):
        return (c @ u).item()

    for seed in range(5):
        step, ess, _, _ = mgs_step(loss_at, c, samples=8, sigma=1e-3, tau=1e3, lam=0.0,
                                   generator=torch.Generator().manual_seed(seed))
        # Every proposal sits near −∇ and the weights are convex: the step is −∇ up to σ.
        assert torch.allclose(step, -c, atol=5e-3)


def test_mgs_effective_sample_size_on_known_weights():
    flat = torch.zeros(4, dtype=torch.float64)
    # Equal losses and a floor far above q̃: uniform weights, ESS = N.
    c = mgs_weights(flat, torch.full((4,), -50.0, dtype=torch.float64), tau=0.01, floor=1e-4)
    assert torch.allclose(c, torch.full((4,), 0.25, dtype=torch.float64))
    assert 1.0 / (c ** 2).sum().item() == pytest.approx(4.0)
    # One loss lower by 20 τ: all the weight on it, ESS = 1.
    c = mgs_weights(torch.tensor([0.0, 0.2, 0.2, 0.2], dtype=torch.float64),
                    torch.full((4,), -50.0, dtype=torch.float64), tau=0.01, floor=1e-4)
    assert c.argmax() == 0 and 1.0 / (c ** 2).sum().item() == pytest.approx(1.0, abs=1e-6)


def test_mgs_at_its_defaults_weights_by_the_loss():
    """The ZARTS paper's diagnostic: importance weights that follow the loss, ESS well above 1.
    A synthetic response in 90 dimensions (ZARTS's α in this space) whose loss differences
    between proposals are on the scale τ: at the defaults (the authors' code: σ = 0.025,
    τ = 0.01, λ = 1e-3, weights exp(−ΔL/τ)/(q̃ + 1e-4)) the highest weight goes to the lowest
    loss far more often than the chance 1/N; the textbook weights (floor 0) are dominated by
    1/q(u) in this many dimensions and do not follow the loss."""
    o = MGSOptions()
    g = torch.Generator().manual_seed(0)
    c = torch.randn(90, generator=g, dtype=torch.float64)
    c = 0.5 * c / c.norm()

    def loss_at(u):
        return (c @ u + 0.5 * (u @ u)).item()

    def diagnostics(floor):
        hits, ess = [], []
        for seed in range(200):
            _, e, weights, losses = mgs_step(loss_at, c, o.zarts_samples, o.mgs_sigma,
                                             o.mgs_tau, o.mgs_lambda,
                                             torch.Generator().manual_seed(seed), floor)
            hits.append(float(weights.argmax() == losses.argmin()))
            ess.append(e)
        return sum(hits) / len(hits), sum(ess) / len(ess)

    hit_rate, mean_ess = diagnostics(o.mgs_floor)
    assert hit_rate > 0.9 and mean_ess > 2.0  # chance: 1/4; degenerate: ESS 1
    exact_hit_rate, exact_ess = diagnostics(0.0)
    assert exact_hit_rate < 0.5 and exact_ess < 1.6


def test_mgs_small_temperature_takes_the_best_sample():
    g = torch.Generator().manual_seed(3)
    target = torch.randn(5, generator=g, dtype=torch.float64)
    calls = []

    def loss(u):
        return ((u - target) ** 2).sum().item()

    def loss_at(u):
        calls.append(u.clone())
        return loss(u)

    step, ess, _, _ = mgs_step(loss_at, torch.zeros(5, dtype=torch.float64), samples=16,
                               sigma=1.0, tau=1e-6, lam=1.0,
                               generator=torch.Generator().manual_seed(4))
    assert len(calls) == 16
    best = min(calls, key=loss)
    assert torch.allclose(step, best) and ess == pytest.approx(1.0)


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_mgs_weights_recover_the_gibbs_mean(lam):
    # With L(α + u) = ‖u − m‖²/2, exp(−L/τ) is N(m, τI): self-normalised importance sampling
    # with weights exp(−L/τ)/q must recover its mean m from proposals centred elsewhere.
    m = torch.tensor([0.4, -0.3, 0.2], dtype=torch.float64)
    grad = torch.tensor([0.2, 0.1, -0.3], dtype=torch.float64)  # proposal centre −∇ ≠ m

    def loss_at(u):
        return 0.5 * ((u - m) ** 2).sum().item()

    step, ess, _, _ = mgs_step(loss_at, grad, samples=20000, sigma=0.8, tau=0.1, lam=lam,
                               generator=torch.Generator().manual_seed(5))
    assert torch.allclose(step, m, atol=0.03)
    assert ess > 500


def test_gld_never_accepts_a_worse_point():
    radii = gld_radii(0.2, 0.025)
    assert radii == pytest.approx([0.2, 0.1, 0.05, 0.025])
    gen = torch.Generator().manual_seed(6)
    accepted = 0
    for trial in range(200):
        g = torch.Generator().manual_seed(100 + trial)
        d = int(torch.randint(2, 20, (1,), generator=g))
        # A bowl around a random centre (from inside the smallest radius to beyond the largest)
        # with a rough, non-convex ripple on top.
        c = torch.randn(d, generator=g, dtype=torch.float64)
        c *= 0.3 * torch.rand(1, generator=g, dtype=torch.float64) ** 2 / c.norm()

        def loss_at(u, c=c):
            return (((u - c) ** 2).sum() + 1e-3 * torch.cos(50 * u).sum()).item()

        offset, base, best = gld_step(loss_at, d, radii, gen)
        assert base == loss_at(torch.zeros(d, dtype=torch.float64))
        if offset is None:
            assert best == base
        else:
            accepted += 1
            assert best < base and loss_at(offset) == best
            assert min(abs(offset.norm().item() - r) for r in radii) < 1e-9
    assert 0 < accepted < 200  # both branches were exercised


def test_gld_stays_when_every_candidate_is_worse():
    offset, base, best = gld_step(lambda u: (u ** 2).sum().item(), 4, [1.0, 0.5],
                                  torch.Generator().manual_seed(0))
    assert offset is None and base == best == 0.0


def test_gld_radii_validate():
    with pytest.raises(ConfigError):
        gld_radii(0.1, 0.2)


def test_flatten_round_trip():
    like = [torch.zeros(2, 3), torch.zeros(4)]
    values = [torch.arange(6.0).view(2, 3), None]
    flat = flatten(values, like)
    assert flat.dtype == torch.float64 and flat.shape == (10,)
    back = unflatten(flat, like)
    assert torch.equal(back[0], values[0]) and torch.equal(back[1], torch.zeros(4))


# ---- ZARTS searchers ------------------------------------------------------------------------
def _brute_force_response(s, offset, trains, val, budget_on):
    """M weight steps (one per batch of ``trains``) on a deep copy at α + offset, then the
    validation objective."""
    net = copy.deepcopy(s.net)
    opt = torch.optim.SGD(net.weight_parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=3e-4)
    # A deep copy: load_state_dict may keep the very momentum tensors it is given.
    opt.load_state_dict(copy.deepcopy(s.ctx.weight_optimizer.state_dict()))
    with torch.no_grad():
        for a, o in zip(net.arch_parameters(), unflatten(offset, net.arch_parameters())):
            a.add_(o)
    for train in trains:
        net.train()
        opt.zero_grad()
        s.ctx.criterion(net(train[0]), train[1]).backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), s.ctx.config.grad_clip)
        opt.step()
    net.train()
    with torch.no_grad():
        loss = s.ctx.criterion(net(val[0]), val[1])
        if budget_on:
            loss = loss + s.budget_penalty(net)
    return loss.item()


@pytest.mark.parametrize("budget", [None, (0.0, 1000.0)])
def test_zarts_response_matches_brute_force_and_leaves_the_main_network(budget):
    s, train, val = _searcher(ZartsRS, {"zarts_steps": 3}, budget=budget)
    before = {k: v.clone() for k, v in s.net.state_dict().items()}
    momentum = [b["momentum_buffer"].clone() for b in s.ctx.weight_optimizer.state.values()]
    trains = _batches(n=3, seed=11)  # M distinct batches, as drawn from the loop's stream
    loss_at = s.response(trains, val)
    offset = 0.1 * torch.randn(s.dim(), generator=torch.Generator().manual_seed(0),
                               dtype=torch.float64)
    value = loss_at(offset)
    assert value == pytest.approx(_brute_force_response(s, offset, trains, val,
                                                        budget is not None), rel=1e-9)
    assert loss_at(offset) == value  # the same data and start: a deterministic function of α
    for k, v in s.net.state_dict().items():
        assert torch.equal(v, before[k]), k
    after = [b["momentum_buffer"] for b in s.ctx.weight_optimizer.state.values()]
    assert all(torch.equal(a, b) for a, b in zip(momentum, after))
    if budget is not None:  # the penalty at α + u is part of L(α + u)
        assert value > 1.0


@pytest.mark.parametrize("cls,keys", [(ZartsRS, {"zo_grad_norm"}),
                                      (ZartsMGS, {"ess", "val_objective"}),
                                      (ZartsGLD, {"gld_accept", "gld_radius"})])
def test_zarts_takes_an_arch_step_every_zarts_every_batches(cls, keys):
    options = {"zarts_steps": 2, "zarts_every": 3}
    if cls is not ZartsGLD:
        options["zarts_samples"] = 2
    s, train, val = _searcher(cls, options, dtype=torch.float32)
    alpha = s.net.alpha_op.detach().clone()
    seen = [set(s.step(train, val)) for _ in range(3)]
    assert not keys & seen[0] and not keys & seen[1] and keys <= seen[2]
    assert s.since_arch_step == 0
    if cls is not ZartsGLD:  # GLD may rightly stay put
        assert not torch.equal(alpha, s.net.alpha_op)


def test_zarts_rejects_bad_options():
    with pytest.raises(ConfigError):
        _searcher(ZartsMGS, {"mgs_lambda": 2.0})
    with pytest.raises(ConfigError):
        _searcher(ZartsRS, {"zarts_samples": 0})
    with pytest.raises(ConfigError, match="no option"):
        _searcher(ZartsGLD, {"zarts_samples": 3})  # GLD's candidates are its radii


# ---- random search --------------------------------------------------------------------------
def test_random_search_samples_within_the_budget():
    s, _, _ = _searcher(RandomSearch, budget=(30_000.0, 60_000.0), dtype=torch.float32)
    for _ in range(10):
        assert 30_000 <= count_params(s._sample()[0]) <= 60_000
    assert s.genotype() == s.first  # nothing scored yet


def test_random_search_impossible_band_is_a_config_error():
    with pytest.raises(ConfigError, match="none has between"):
        _searcher(RandomSearch, {"random_max_tries": 50}, budget=(1.0, 2.0), dtype=torch.float32)


def test_random_search_keeps_the_best_candidate_and_resumes_exactly():
    # Two weight steps per batch (ZO-DARTS++'s main and twin): 8 batches are 16 steps, five
    # candidates of three steps scored and a sixth in flight.
    options = {"random_steps_per_candidate": 3, "random_eval_batches": 2}
    a, _, _ = _searcher(RandomSearch, options, dtype=torch.float32)
    batches = _batches(torch.float32, n=16, seed=7)
    for i in range(8):
        a.step(batches[i], batches[i + 1])
    assert a.scored == 5 and a.candidate is not None and a.steps_done == 1
    assert a.genotype() == a.best and a.best_score < float("inf")
    assert a.net.genotype() == a.best  # the supernet shows the best genotype

    state = copy.deepcopy(a.state_dict())
    rng = torch.get_rng_state()
    b, _, _ = _searcher(RandomSearch, options, dtype=torch.float32, seed=1)
    b.net.load_state_dict(a.net.state_dict())
    b.net.size_search = a.net.size_search
    b.load_state_dict(state)
    b.ctx.generator.set_state(a.ctx.generator.get_state())
    torch.set_rng_state(rng)
    out_a = [a.step(batches[i], batches[i + 1]) for i in range(8, 14)]
    torch.set_rng_state(rng)
    out_b = [b.step(batches[i], batches[i + 1]) for i in range(8, 14)]
    assert out_a == out_b
    assert a.genotype() == b.genotype() and a.scored == b.scored == 9


def test_random_search_splits_twice_the_loop_batches_over_its_candidates():
    # Equal compute with ZO-DARTS++ (main and twin: two weight steps per batch).
    s, _, _ = _searcher(RandomSearch, {"random_candidates": 4}, dtype=torch.float32)
    s.ctx.total_steps = 30
    fresh = RandomSearch(s.ctx)
    assert fresh.steps_per_candidate == 15  # 60 steps over 4 candidates
