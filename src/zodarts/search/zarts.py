"""ZARTS (arXiv 2110.04743): the architecture step by zeroth-order search over α.

Every ``zarts_every`` training batches, candidates α + u are scored by the response

    L(α + u) = L_val(ω*(α + u), α + u)   (+ the budget penalty at α + u when one is active),

where ω*(α + u) is estimated by ``zarts_steps`` (M) SGD steps from the current ω and its
momentum, on a twin supernet whose tensors are allocated once and refreshed by ``Twin.sync``.
The M steps replay the current training batch (as DARTS's unrolled step does with its one batch)
and the loss is taken on the current validation batch: every candidate of one α step sees the
same data and the same starting weights, so their differences measure α, not batch noise, and a
step stays a function of its arguments (nothing to buffer or checkpoint). The main ω takes its
normal weight step on every call of ``step``. Relaxation softmax, no annealing, no size phase.

The response is rough at small scales: M float32 SGD steps at the search's learning rate
amplify any change of α, so (measured on digits, C=8) offsets of 1e-5 per coordinate already
move L by ~1e-3 and offsets up to ~0.03 by ~1e-2 whatever their direction. Perturbation sizes
below are therefore chosen at the scale an α step travels, not "small" in the calculus sense.

Three solvers move α (the pure rules are functions below, testable with any loss callable):

* ``zarts-rs`` — two-point random search, antithetic pairs,
  ĝ = φ(d)/(2μN) Σ_i [L(α+μu_i) − L(α−μu_i)] u_i, u_i ~ N(0, I) (φ = 1) or uniform on the
  unit sphere (``rs_sphere``, φ = d). ĝ goes to Adam with the config's ``a_*`` settings, like
  every gradient-based searcher here (the same α optimizer makes the comparison fair and
  removes ĝ's scale); ``rs_lr`` > 0 instead takes the plain step α ← α − ξĝ with ξ = ``rs_lr``.
  Cost: 2N candidates. Default μ = 0.015, Adam's per-coordinate step (a_lr): a perturbation of
  norm ≈ 0.14 at d = 90, the distance one α step travels anyway.
* ``zarts-mgs`` — mixture-Gaussian sampling. u_i ~ q = (1−λ)·N(−∇_α L_val(ω, α), σ²I) +
  λ·N(0, σ²I); weights c_i ∝ exp(−(L(α+u_i) − L(α))/τ) / q(u_i), normalised in log space (the
  constant L(α) cancels there, so it is not evaluated); α ← α + Σ c_i u_i. The effective sample
  size 1/Σc_i² is returned as ``ess``. Cost: N candidates and one validation backward. Defaults
  σ = 0.015 per coordinate (as RS's μ: exploration at Adam's per-step scale), τ = 0.01 (the size
  of the loss differences between such candidates after M steps, so the Gibbs factor separates
  them), λ = 0.5 (half the proposals trust the gradient, half explore around α). In d ≈ 90
  dimensions log q(u_i) itself spreads by about √(d/2) ≈ 7 between samples, so the 1/q factor
  dominates and the ESS is typically close to 1 — the degeneracy the paper's diagnostic shows.
* ``zarts-gld`` — gradient-less descent. One direction on the sphere of each radius R·2^{−k},
  k = 0 … ⌊log₂(R/r)⌋; α moves to the best of {α, α + u_k} and stays if none improves.
  Cost: ⌊log₂(R/r)⌋ + 2 candidates (α itself included). Defaults R = 0.2, r = 0.025: four radii
  from about 1.5 Adam steps (0.015 per coordinate at d = 90 has norm 0.14) down to a fifth of
  one, so the candidate count matches MGS's N + 1.

``zarts_every`` defaults to 10, ZO-DARTS's M: one α step per 10 weight steps, and each α step
costs N·M twin steps, so ZARTS's weight-step work per batch stays within a small factor of
DARTS-2nd's five passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from zodarts.errors import ConfigError
from zodarts.search.base import Batch, Searcher, SearchContext
from zodarts.search.darts import apply_arch_gradient
from zodarts.search.twin import Twin

LossAt = Callable[[torch.Tensor], float]  # flat α offset (float64, CPU) → L(α + offset)


# ---- flat views of the active α groups ------------------------------------------------------
def flatten(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """One float64 CPU vector over all groups (None counts as zeros)."""
    return torch.cat([torch.zeros(t.numel(), dtype=torch.float64) if g is None
                      else g.detach().double().cpu().flatten() for g, t in zip(tensors, like)])


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out, start = [], 0
    for t in like:
        out.append(vector[start:start + t.numel()].view(t.shape).to(t.device, t.dtype))
        start += t.numel()
    return out


# ---- the three update rules -----------------------------------------------------------------
def rs_gradient(loss_at: LossAt, dim: int, samples: int, mu: float, generator: torch.Generator,
                sphere: bool = False) -> torch.Tensor:
    """ĝ = φ(d)/(2μN) Σ_i [L(α+μu_i) − L(α−μu_i)] u_i (antithetic two-point estimate)."""
    phi = dim if sphere else 1
    total = torch.zeros(dim, dtype=torch.float64)
    for _ in range(samples):
        u = torch.randn(dim, generator=generator, dtype=torch.float64)
        if sphere:
            u /= u.norm()
        total += (loss_at(mu * u) - loss_at(-mu * u)) * u
    return total * (phi / (2 * mu * samples))


def mixture_log_density(u: torch.Tensor, mean: torch.Tensor, sigma: float, lam: float
                        ) -> torch.Tensor:
    """log q(u) up to a constant for q = (1−λ)·N(mean, σ²I) + λ·N(0, σ²I); u is (n, d)."""
    a = ((u - mean) ** 2).sum(-1) / (-2 * sigma ** 2)
    b = (u ** 2).sum(-1) / (-2 * sigma ** 2)
    log_a = torch.full_like(a, -math.inf) if lam >= 1 else a + math.log1p(-lam)
    log_b = torch.full_like(b, -math.inf) if lam <= 0 else b + math.log(lam)
    return torch.logaddexp(log_a, log_b)


def mgs_step(loss_at: LossAt, grad: torch.Tensor, samples: int, sigma: float, tau: float,
             lam: float, generator: torch.Generator) -> tuple[torch.Tensor, float]:
    """Σ c_i u_i with u_i ~ q and c_i ∝ exp(−L(α+u_i)/τ) / q(u_i); returns (step, ESS)."""
    mean = -grad.double()
    explore = torch.rand(samples, generator=generator, dtype=torch.float64) < lam
    noise = sigma * torch.randn(samples, grad.numel(), generator=generator, dtype=torch.float64)
    u = torch.where(explore[:, None], torch.zeros_like(mean), mean) + noise
    losses = torch.tensor([loss_at(ui) for ui in u], dtype=torch.float64)
    # L(α) would only shift every log-weight by the same amount: subtracting min L instead keeps
    # the exponent near zero without an extra evaluation.
    log_c = -(losses - losses.min()) / tau - mixture_log_density(u, mean, sigma, lam)
    c = torch.softmax(log_c, dim=0)
    return (c[:, None] * u).sum(0), 1.0 / (c ** 2).sum().item()


def gld_radii(R: float, r: float) -> list[float]:
    """R·2^{−k} for k = 0 … ⌊log₂(R/r)⌋."""
    if not 0 < r <= R:
        raise ConfigError(f"zarts-gld needs 0 < gld_r <= gld_R (got r={r}, R={R})")
    K = int(math.floor(math.log2(R / r) + 1e-9))
    return [R * 2.0 ** -k for k in range(K + 1)]


def gld_step(loss_at: LossAt, dim: int, radii: Sequence[float], generator: torch.Generator
             ) -> tuple[torch.Tensor | None, float, float]:
    """The best of {α, α + u_k}, u_k uniform on the sphere of radius radii[k].

    Returns (offset or None to stay, L(α), the accepted loss).
    """
    base = best = loss_at(torch.zeros(dim, dtype=torch.float64))
    chosen = None
    for radius in radii:
        z = torch.randn(dim, generator=generator, dtype=torch.float64)
        u = radius * z / z.norm()
        value = loss_at(u)
        if value < best:
            best, chosen = value, u
    return chosen, base, best


# ---- the shared searcher --------------------------------------------------------------------
@dataclass
class ZartsOptions:
    zarts_steps: int = 10    # M: SGD steps estimating ω*(α + u) for each candidate
    zarts_every: int = 10    # training batches per α step (ZO-DARTS's M)


@dataclass
class SampledOptions(ZartsOptions):
    zarts_samples: int = 4   # N: sampled candidates per α step (RS: antithetic pairs)


class ZartsSearcher(Searcher):
    """The shared part of the three ZARTS solvers: schedule, twin, the response L(α + u)."""

    relax = "softmax"
    Options = ZartsOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if min(getattr(o, "zarts_samples", 1), o.zarts_steps, o.zarts_every) < 1:
            raise ConfigError(f"{self.name}: zarts_samples, zarts_steps and zarts_every must be "
                              ">= 1")
        self.twin = Twin(self.net, ctx.weight_optimizer, ctx.make_supernet())
        self.since_arch_step = 0

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        loss, acc = self.weight_step(train_batch)
        stats = {"train_loss": loss, "train_acc": acc}
        self.since_arch_step += 1
        if self.since_arch_step >= self.options.zarts_every:
            self.since_arch_step = 0
            stats.update(self.arch_step(train_batch, val_batch))
        return stats

    def arch_step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def response(self, train_batch: Batch, val_batch: Batch) -> LossAt:
        """L(α + u) for flat offsets u: M twin steps from (ω, momentum), then L_val at α + u."""
        alphas = self.net.arch_parameters()

        def loss_at(offset: torch.Tensor) -> float:
            self.twin.sync(unflatten(offset, alphas))
            for _ in range(self.options.zarts_steps):
                self.weight_step(train_batch, self.twin.net, self.twin.optimizer)
            with torch.no_grad():
                return self.val_loss(val_batch, self.twin.net).item()

        return loss_at

    def dim(self) -> int:
        return sum(a.numel() for a in self.net.arch_parameters())

    @torch.no_grad()
    def move_alpha(self, offset: torch.Tensor) -> None:
        alphas = self.net.arch_parameters()
        for a, step in zip(alphas, unflatten(offset, alphas)):
            a.add_(step)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "since_arch_step": self.since_arch_step}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.since_arch_step = state["since_arch_step"]


@dataclass
class RSOptions(SampledOptions):
    rs_mu: float = 0.015      # μ: smoothing radius (per coordinate for Gaussian u)
    rs_sphere: bool = False   # u uniform on the unit sphere (φ = d) instead of N(0, I) (φ = 1)
    rs_lr: float = 0.0        # ξ of α ← α − ξĝ; 0: feed ĝ to Adam (a_* settings)


class ZartsRS(ZartsSearcher):
    name = "zarts-rs"
    Options = RSOptions

    def arch_step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        o = self.options
        g = rs_gradient(self.response(train_batch, val_batch), self.dim(), o.zarts_samples,
                        o.rs_mu, self.ctx.generator, o.rs_sphere)
        if o.rs_lr > 0:
            self.move_alpha(-o.rs_lr * g)
        else:
            alphas = self.net.arch_parameters()
            apply_arch_gradient(self.arch_optimizer, alphas, unflatten(g, alphas))
        return {"zo_grad_norm": g.norm().item()}


@dataclass
class MGSOptions(SampledOptions):
    mgs_sigma: float = 0.015  # σ of both mixture components
    mgs_tau: float = 0.01     # τ of the Gibbs weights exp(−ΔL/τ)
    mgs_lambda: float = 0.5   # λ: share of proposals around α rather than α − ∇


class ZartsMGS(ZartsSearcher):
    name = "zarts-mgs"
    Options = MGSOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if not (o.mgs_sigma > 0 and o.mgs_tau > 0 and 0 <= o.mgs_lambda <= 1):
            raise ConfigError("zarts-mgs needs mgs_sigma > 0, mgs_tau > 0, 0 <= mgs_lambda <= 1")

    def arch_step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        o = self.options
        alphas = self.net.arch_parameters()
        objective = self.val_loss(val_batch)
        grad = flatten(torch.autograd.grad(objective, alphas, allow_unused=True), alphas)
        step, ess = mgs_step(self.response(train_batch, val_batch), grad, o.zarts_samples,
                             o.mgs_sigma, o.mgs_tau, o.mgs_lambda, self.ctx.generator)
        self.move_alpha(step)
        return {"val_objective": objective.item(), "ess": ess, "alpha_step": step.norm().item()}


@dataclass
class GLDOptions(ZartsOptions):
    gld_R: float = 0.2        # largest search radius (norm of the α offset)
    gld_r: float = 0.025      # smallest search radius


class ZartsGLD(ZartsSearcher):
    name = "zarts-gld"
    Options = GLDOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        self.radii = gld_radii(self.options.gld_R, self.options.gld_r)

    def arch_step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        offset, base, best = gld_step(self.response(train_batch, val_batch), self.dim(),
                                      self.radii, self.ctx.generator)
        if offset is not None:
            self.move_alpha(offset)
        return {"val_objective": base, "gld_accept": float(offset is not None),
                "gld_radius": 0.0 if offset is None else offset.norm().item()}
