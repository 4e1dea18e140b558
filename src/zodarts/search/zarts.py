"""ZARTS (Wang et al., "ZARTS: On Zero-order Optimization for Neural Architecture Search",
NeurIPS 2022, arXiv 2110.04743): the architecture step by zeroth-order search over α.

Every ``zarts_every`` training batches, N candidates α + u are scored by the response

    L(α + u) = L_val(ω*(α + u), α + u)   (+ the budget penalty at α + u when one is active),

where ω*(α + u) is estimated by ``zarts_steps`` (M) SGD steps from the current ω and its
momentum, on a twin supernet whose tensors are allocated once and refreshed by ``Twin.sync``.
The main ω takes its normal weight step on every call of ``step``. Softmax, T = 1, the fixed-size
space (each a switch, as for every α-based method).

Settings follow the authors' code (github.com/vicFigure/ZARTS, ``cnn/train_search.py`` and
``cnn/script/run_search.sh``) where it fixes them:

* N = 4 candidates, M = 10 weight steps each, one α step every 10 training batches, and no α
  step in the first 10 of 50 epochs (``zarts_warmup`` = 0.2 of the search).
* The M steps of one α step run on M fresh training batches (a stream of the weights half beside
  the loop's), the same M for every candidate, and the loss is taken on one validation batch:
  the candidates of an α step differ only in α. (The authors' code draws those M batches from the
  validation half at batch 48 and lets every candidate step the main optimizer's momentum; here
  they come from the weights half — ω*(α) minimises the *training* loss — and each candidate
  starts from a copy of the main optimizer's state.)

Three solvers move α (the pure rules are functions below, testable with any loss callable):

* ``zarts-mgs`` — mixture-Gaussian sampling. u_i ~ q = (1−λ)·N(−∇_α L_val(ω, α), σ²I) +
  λ·N(0, σ²I); weights c_i ∝ exp(−(L(α+u_i) − L(α))/τ) / (q̃(u_i) + floor), normalised (the
  constant L(α) cancels, so it is not evaluated); α ← α + Σ c_i u_i. The authors' code fixes
  σ = 0.025 decayed along a cosine to 0 over the epochs after the warm-up, τ = 0.01, λ = 1e-3,
  and divides by q̃ + 1e-4 with q̃ the *unnormalised* mixture density (peak 1). In d ≈ 90
  dimensions q̃(u) ≈ e^{−d/4} ≪ 1e-4 for every proposal, so the weights are the Gibbs factors
  exp(−ΔL/τ) alone: they follow the loss, and their effective sample size 1/Σc_i² (returned as
  ``ess``, the paper's diagnostic) is between 1 and N according to how much the candidates'
  losses differ on the scale τ. ``mgs_floor = 0`` gives the textbook self-normalised importance
  weights instead (normalised q, in log space), which in this many dimensions let 1/q(u_i) —
  spread by about √(d/2) ≈ 7 nats between samples — swamp the loss: on the synthetic response
  of tests/test_searchers_correctness.py (d = 90, loss differences on the scale τ) the floored
  weights put the largest weight on the lowest loss in 100% of 200 steps with a mean ESS of
  3.6, the exact ones in 0% with an ESS of 1.3 (the old defaults here, σ = 0.015, λ = 0.5 with
  exact weights, had a mean ESS of 1.25 on BreastMNIST).
* ``zarts-rs`` — two-point random search, antithetic pairs,
  ĝ = φ(d)/(2μN) Σ_i [L(α+μu_i) − L(α−μu_i)] u_i, u_i ~ N(0, I) (φ = 1) or uniform on the
  unit sphere (``rs_sphere``, φ = d); α ← α − ξĝ (the paper's update: plain SGD on α,
  ``a_optimizer: sgd``). The paper fixes neither μ nor ξ: μ = 0.025 is the authors' MGS σ (the
  perturbation scale their code explores at), and ξ = 1 moves α by −ĝ, as their MGS moves it by
  −∇ on average. Cost: 2N candidates.
* ``zarts-gld`` — gradient-less descent. One direction on the sphere of each radius R·2^{−k},
  k = 0 … ⌊log₂(R/r)⌋; α moves to the best of {α, α + u_k} and stays if none improves. The paper
  fixes no radii: R = 0.25 is about the norm of one MGS perturbation (0.025 per coordinate in
  d = 90: 0.24), r = R/8, so four radii and, with α itself, N + 1 = 5 candidates like MGS.
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
    """log q̃(u) for q = (1−λ)·N(mean, σ²I) + λ·N(0, σ²I) without its normalising constant
    (q̃ peaks at 1 when λ = 0); u is (n, d)."""
    a = ((u - mean) ** 2).sum(-1) / (-2 * sigma ** 2)
    b = (u ** 2).sum(-1) / (-2 * sigma ** 2)
    log_a = torch.full_like(a, -math.inf) if lam >= 1 else a + math.log1p(-lam)
    log_b = torch.full_like(b, -math.inf) if lam <= 0 else b + math.log(lam)
    return torch.logaddexp(log_a, log_b)


def mgs_weights(losses: torch.Tensor, log_q: torch.Tensor, tau: float, floor: float
                ) -> torch.Tensor:
    """c_i ∝ exp(−L_i/τ) / (q̃_i + floor), normalised (floor 0: exact importance weights)."""
    # Subtracting min L only shifts every log-weight by one constant, and keeps exp() in range.
    log_gibbs = -(losses - losses.min()) / tau
    log_denominator = log_q if floor <= 0 else torch.logaddexp(
        log_q, torch.full_like(log_q, math.log(floor)))
    return torch.softmax(log_gibbs - log_denominator, dim=0)


def mgs_step(loss_at: LossAt, grad: torch.Tensor, samples: int, sigma: float, tau: float,
             lam: float, generator: torch.Generator, floor: float = 0.0
             ) -> tuple[torch.Tensor, float, torch.Tensor, torch.Tensor]:
    """Σ c_i u_i with u_i ~ q; returns (step, ESS = 1/Σc_i², weights c, losses L(α + u_i))."""
    mean = -grad.double()
    explore = torch.rand(samples, generator=generator, dtype=torch.float64) < lam
    noise = sigma * torch.randn(samples, grad.numel(), generator=generator, dtype=torch.float64)
    u = torch.where(explore[:, None], torch.zeros_like(mean), mean) + noise
    losses = torch.tensor([loss_at(ui) for ui in u], dtype=torch.float64)
    c = mgs_weights(losses, mixture_log_density(u, mean, sigma, lam), tau, floor)
    return (c[:, None] * u).sum(0), 1.0 / (c ** 2).sum().item(), c, losses


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
    zarts_steps: int = 10      # M: SGD steps estimating ω*(α + u) for each candidate
    zarts_every: int = 10      # training batches per α step
    zarts_warmup: float = 0.2  # share of the search (in epochs) before the first α step


@dataclass
class SampledOptions(ZartsOptions):
    zarts_samples: int = 4   # N: sampled candidates per α step (RS: antithetic pairs)


class ZartsSearcher(Searcher):
    """The shared part of the three ZARTS solvers: schedule, twin, the response L(α + u)."""

    source = "ZARTS (Wang et al., NeurIPS 2022, arXiv 2110.04743) and github.com/vicFigure/ZARTS"
    relax = "softmax"
    # MGS and GLD move α themselves; RS overrides this with its plain SGD step.
    arch_optimizer_defaults = dict(a_optimizer="none", a_lr=None, a_beta1=None, a_beta2=None,
                                   a_weight_decay=None)
    Options = ZartsOptions

    @classmethod
    def batches_per_arch_step(cls, options: ZartsOptions) -> int:
        return options.zarts_every

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if min(getattr(o, "zarts_samples", 1), o.zarts_steps, o.zarts_every) < 1:
            raise ConfigError(f"{self.name}: zarts_samples, zarts_steps and zarts_every must be "
                              ">= 1")
        if not 0 <= o.zarts_warmup < 1:
            raise ConfigError(f"{self.name}: zarts_warmup is a share of the search, in [0, 1)")
        self.twin = Twin(self.net, ctx.weight_optimizer, ctx.make_supernet())
        self.since_arch_step = 0
        self.warmup_epochs = math.ceil(o.zarts_warmup * ctx.config.epochs) \
            if ctx.config.epochs else 0
        self.epoch = 0

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def searching(self) -> bool:
        """False during the warm-up, where only the weights train (the authors' code)."""
        return self.epoch >= self.warmup_epochs

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        loss, acc = self.weight_step(train_batch)
        stats = {"train_loss": loss, "train_acc": acc}
        if not self.searching():
            return stats
        self.since_arch_step += 1
        if self.since_arch_step >= self.options.zarts_every:
            self.since_arch_step = 0
            stats.update(self.arch_step(self.candidate_batches(train_batch), val_batch))
        return stats

    def candidate_batches(self, train_batch: Batch) -> list[Batch]:
        """The M training batches every candidate of this α step trains on: fresh ones from the
        loop's extra stream (the current batch repeated where there is none, as in unit tests)."""
        stream = self.ctx.train_stream
        if stream is None:
            return [train_batch] * self.options.zarts_steps
        return [next(stream) for _ in range(self.options.zarts_steps)]

    def arch_step(self, train_batches: list[Batch], val_batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def response(self, train_batches: list[Batch], val_batch: Batch) -> LossAt:
        """L(α + u) for flat offsets u: M twin steps from (ω, momentum), then L_val at α + u."""
        alphas = self.net.arch_parameters()

        def loss_at(offset: torch.Tensor) -> float:
            self.twin.sync(unflatten(offset, alphas))
            for batch in train_batches:
                self.weight_step(batch, self.twin.net, self.twin.optimizer)
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
    rs_mu: float = 0.025      # μ: smoothing radius (per coordinate for Gaussian u)
    rs_sphere: bool = False   # u uniform on the unit sphere (φ = d) instead of N(0, I) (φ = 1)


class ZartsRS(ZartsSearcher):
    name = "zarts-rs"
    # α ← α − ξĝ with ξ = 1 (see the module docstring).
    arch_optimizer_defaults = dict(a_optimizer="sgd", a_lr=1.0, a_beta1=None, a_beta2=None,
                                   a_weight_decay=0.0)
    Options = RSOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        if self.arch_optimizer is None:
            raise ConfigError("zarts-rs steps α along its estimate: it needs an α optimizer "
                              "(--a-optimizer sgd, the paper's, or adam)")

    def arch_step(self, train_batches: list[Batch], val_batch: Batch) -> dict[str, float]:
        o = self.options
        g = rs_gradient(self.response(train_batches, val_batch), self.dim(), o.zarts_samples,
                        o.rs_mu, self.ctx.generator, o.rs_sphere)
        alphas = self.net.arch_parameters()
        apply_arch_gradient(self.arch_optimizer, alphas, unflatten(g, alphas))
        return {"zo_grad_norm": g.norm().item()}


@dataclass
class MGSOptions(SampledOptions):
    mgs_sigma: float = 0.025      # σ of both mixture components at the end of the warm-up
    mgs_sigma_decay: bool = True  # σ follows a cosine to 0 over the rest of the search
    mgs_tau: float = 0.01         # τ of the Gibbs weights exp(−ΔL/τ)
    mgs_lambda: float = 1e-3      # λ: share of proposals around α rather than α − ∇
    mgs_floor: float = 1e-4       # c ∝ exp(−ΔL/τ)/(q̃ + floor); 0: exact importance weights


class ZartsMGS(ZartsSearcher):
    name = "zarts-mgs"
    Options = MGSOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if not (o.mgs_sigma > 0 and o.mgs_tau > 0 and 0 <= o.mgs_lambda <= 1
                and o.mgs_floor >= 0):
            raise ConfigError("zarts-mgs needs mgs_sigma > 0, mgs_tau > 0, 0 <= mgs_lambda <= 1 "
                              "and mgs_floor >= 0")

    def sigma(self) -> float:
        """σ of this epoch: the authors' cosine from σ₀ after the warm-up towards 0."""
        o = self.options
        epochs = self.ctx.config.epochs or 1
        if not o.mgs_sigma_decay or epochs <= self.warmup_epochs:
            return o.mgs_sigma
        progress = (self.epoch - self.warmup_epochs) / (epochs - self.warmup_epochs)
        return o.mgs_sigma * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))

    def arch_step(self, train_batches: list[Batch], val_batch: Batch) -> dict[str, float]:
        o = self.options
        alphas = self.net.arch_parameters()
        objective = self.val_loss(val_batch)
        grad = flatten(torch.autograd.grad(objective, alphas, allow_unused=True), alphas)
        step, ess, weights, losses = mgs_step(
            self.response(train_batches, val_batch), grad, o.zarts_samples, self.sigma(),
            o.mgs_tau, o.mgs_lambda, self.ctx.generator, o.mgs_floor)
        self.move_alpha(step)
        return {"val_objective": objective.item(), "ess": ess, "alpha_step": step.norm().item(),
                "mgs_sigma": self.sigma(),
                "best_weight_on_best_loss": float(weights.argmax() == losses.argmin())}


@dataclass
class GLDOptions(ZartsOptions):
    gld_R: float = 0.25       # largest search radius (norm of the α offset)
    gld_r: float = 0.03125    # smallest search radius


class ZartsGLD(ZartsSearcher):
    name = "zarts-gld"
    Options = GLDOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        self.radii = gld_radii(self.options.gld_R, self.options.gld_r)

    def arch_step(self, train_batches: list[Batch], val_batch: Batch) -> dict[str, float]:
        offset, base, best = gld_step(self.response(train_batches, val_batch), self.dim(),
                                      self.radii, self.ctx.generator)
        if offset is not None:
            self.move_alpha(offset)
        return {"val_objective": base, "gld_accept": float(offset is not None),
                "gld_radius": 0.0 if offset is None else offset.norm().item()}
