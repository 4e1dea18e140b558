"""ZO-DARTS and ZO-DARTS++: the architecture hypergradient by a zeroth-order estimate.

Each round trains the main supernet (α) and a twin (α + μz) for M steps on the same batches,
then on one validation batch, with ℓ = L_val(ω, α) (+ λ·R(α) in the size phase):

    D = ∂ℓ/∂α · z + ((ω′ − ω)/μ) · ∂ℓ/∂ω        ĝ = D · z

D estimates the total derivative of the response L_val(ω*(α), α) along the unit direction z;
ĝ is set as α's gradient for an Adam step. q directions (q twins) may be averaged.

Settings, from the ZO-DARTS++ paper (arXiv 2503.06092) and its authors' search scripts: α by
Adam, lr 1.5e-2, betas (0.5, 0.999), weight decay 1e-3; M = 10 weight steps per α step;
μ = 0.005·‖α_op‖. ZO-DARTS++ relaxes with sparsemax, anneals T (1.5, × 0.75 every tenth of the
search) and searches kernel sizes and depths from 40% of the search on (the paper's epoch 20
of 50); ZO-DARTS, its predecessor, is the same estimator with softmax, T = 1 and the fixed-size
space. Every one of the three switches is a config field (``--relax``, ``--anneal``,
``--size-search``), so each of ZO-DARTS++'s components can be ablated on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zodarts.errors import ConfigError
from zodarts.search.base import Batch, Searcher, SearchContext
from zodarts.search.twin import Twin


def unit_direction(shapes: list[torch.Size], generator: torch.Generator,
                   device: torch.device) -> list[torch.Tensor]:
    """z ~ N(0, I) over all the given tensors jointly, scaled to unit length."""
    z = [torch.randn(shape, generator=generator) for shape in shapes]
    norm = torch.sqrt(sum((t ** 2).sum() for t in z))
    return [(t / norm).to(device) for t in z]


def directional_derivative(g_alpha: list[torch.Tensor | None], z: list[torch.Tensor],
                           weight_term: torch.Tensor) -> torch.Tensor:
    """D = g_α·z + weight_term, where weight_term = ((ω′ − ω)/μ)·g_ω."""
    direct = sum(((g * zi).sum(dtype=torch.float64) for g, zi in zip(g_alpha, z)
                  if g is not None), torch.zeros((), dtype=torch.float64, device=z[0].device))
    return direct + weight_term


def weight_term(dot_plus: torch.Tensor, dot_minus: torch.Tensor | None = None) -> torch.Tensor:
    """J_z from the twins' dots ((ω′ − ω)/μ)·g_ω: the twin at α + μz alone (a forward
    difference), or with the twin at α − μz their central difference, ((ω₊ − ω₋)/2μ)·g_ω,
    whose error is O(μ²) instead of O(μ)."""
    return dot_plus if dot_minus is None else (dot_plus - dot_minus) / 2


ESTIMATORS = ("paper", "hybrid")


@dataclass
class ZOOptions:
    zo_steps: int = 10               # M: weight steps per architecture step
    zo_mu: float = 0.005             # μ = max(zo_mu · ‖α_op‖, zo_mu_min)
    zo_mu_min: float = 5e-6          # floor of μ (the paper's rule alone is 0 at α_op = 0)
    zo_directions: int = 1           # q: directions averaged per step
    zo_antithetic: bool = False      # twins at α ± μz: a central difference per direction
    zo_estimator: str = "paper"      # paper: ĝ = D·z; hybrid: the explicit part exactly
    zo_sign: bool = False            # ĝ = sign(D)·z: a step's length no longer follows |D|
    zo_overlap: bool = True          # CUDA: twins step on their own streams beside the main one
    twin_fresh_optimizer: bool = False  # True reproduces the reference code's fresh twin optimizer


class ZODarts(Searcher):
    """The estimator's variants, all with the same expectation up to a scale Adam removes:

    * ``paper``: ĝ = mean_q D_q·z_q, D = g_α·z + J_z, J_z = ((ω′ − ω)/μ)·g_ω (E[ĝ] = ∇/d).
    * ``zo_antithetic``: J_z = ((ω′₊ − ω′₋)/2μ)·g_ω from twins at α ± μz (two twins per
      direction), which cancels the even part of the response's change along z.
    * ``zo_sign``: ĝ = mean_q sign(D_q)·z_q. D is heavy-tailed: the first round's |D| is
      200–5,000× the later median (μ = 0.005·‖α_op‖ is ~5e-5 at the initial α, and the fresh
      weights move fast), and Adam's second moment (β₂ = 0.999) keeps that one value for the
      rest of a short search, so every later step is ~1e-3 of lr: α stays where the first step
      put it. With the sign, every step has unit length, as in ZO-signSGD (Liu et al., ICLR
      2019), which takes the sign per coordinate instead. For D = ∇F·z + symmetric noise, E[ĝ]
      still points along ∇F.
    * ``hybrid``: ĝ = g_α/d + mean_q J_{z_q}·z_q. The explicit gradient g_α costs nothing extra
      (the validation backward computes it anyway), so only the implicit part is left to the
      random directions; E[ĝ] = (g_α + J)/d is unchanged.

    None is the default, because none wins at equal compute: benchmarks/zo_variance.py measured
    (BreastMNIST, C = 4, one cell per stage, batch 16, M = 10, after 50 weight steps) the cosine
    between one α step's estimate and the hypergradient of the response smoothed at the scale
    of an α step at −0.03 … +0.03 for every variant (q = 4, antithetic pairs, a larger μ, the
    hybrid; standard error 0.012), against 0.21 for DARTS's first-order gradient alone. Within
    a round the weights' response to α is rough (ReLU's gradient is a step, so ω_M jumps where
    activations change sign), and a few twins do not see through it.
    """

    name = "zo-darts"
    source = ("ZO-DARTS (the ZO-DARTS++ paper's predecessor), with the settings of the "
              "ZO-DARTS++ authors' code")
    relax = "softmax"
    arch_optimizer_defaults = dict(a_optimizer="adam", a_lr=1.5e-2, a_beta1=0.5, a_beta2=0.999,
                                   a_weight_decay=1e-3)
    Options = ZOOptions

    @classmethod
    def batches_per_arch_step(cls, options: ZOOptions) -> int:
        return options.zo_steps

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if o.zo_steps < 1 or o.zo_directions < 1:
            raise ConfigError("zo_steps and zo_directions must be >= 1")
        if not (o.zo_mu > 0 and o.zo_mu_min > 0):
            raise ConfigError("zo_mu and zo_mu_min must be > 0")
        if o.zo_estimator not in ESTIMATORS:
            raise ConfigError(f"zo_estimator must be one of {', '.join(ESTIMATORS)} "
                              f"(got {o.zo_estimator!r})")
        if o.zo_sign and o.zo_estimator == "hybrid":
            raise ConfigError("zo_sign keeps only the sign of D, and the hybrid estimator does not "
                              "step along D·z: use one of the two (zo_estimator paper with "
                              "zo_sign, or hybrid without it)")
        if self.arch_optimizer is None:
            raise ConfigError(f"{self.name} steps α along its estimate: it needs an α optimizer "
                              "(--a-optimizer adam or sgd)")
        signs = (1.0, -1.0) if o.zo_antithetic else (1.0,)
        # One twin per (direction, sign); twins[k] sits at α + signs[k % len(signs)]·μz.
        self.signs = signs
        self.twins = [Twin(self.net, ctx.weight_optimizer, ctx.make_supernet())
                      for _ in range(o.zo_directions * len(signs))]
        self.round_step = 0
        self.mu = 0.0
        self.directions: list[list[torch.Tensor]] = []
        self.last_estimate: list[torch.Tensor] | None = None
        self._streams = ([torch.cuda.Stream(ctx.device) for _ in self.twins]
                         if ctx.device.type == "cuda" and o.zo_overlap else [])

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        if self.round_step == 0:
            self._start_round()
        loss, acc = self._weight_steps(train_batch)
        self.round_step += 1
        stats = {"train_loss": loss, "train_acc": acc}
        if self.round_step == self.options.zo_steps:
            stats.update(self._architecture_step(val_batch))
            self.round_step = 0
        return stats

    def _weight_steps(self, batch: Batch):
        """The main network's step and each twin's, on one batch.

        On CUDA each twin steps on a stream of its own beside the main network: the networks
        share no tensor but the batch, and at this space's sizes one network's kernels leave
        most of a GPU idle. The results are those of the sequential order (each network's own
        kernels still run in order); on CPU there is nothing to overlap.
        """
        for twin in self.twins:
            twin.follow_schedule()
        if not self._streams:
            loss, acc = self.weight_step(batch)
            for twin in self.twins:
                self.weight_step(batch, twin.net, twin.optimizer)
            return loss, acc
        main = torch.cuda.current_stream(self.ctx.device)
        for stream in self._streams:
            stream.wait_stream(main)  # the batch and the twins' synced state are ready
        for twin, stream in zip(self.twins, self._streams):
            with torch.cuda.stream(stream):
                self.weight_step(batch, twin.net, twin.optimizer)
        loss, acc = self.weight_step(batch)
        for stream in self._streams:
            main.wait_stream(stream)
            for tensor in batch:  # its memory is not reused before the twins have read it
                tensor.record_stream(stream)
        return loss, acc

    def _start_round(self) -> None:
        o = self.options
        alphas = self.net.arch_parameters()
        # A device tensor: reading ‖α_op‖ to the host would make it wait for the device.
        self.mu = torch.clamp(o.zo_mu * self.net.alpha_op.detach().norm(), min=o.zo_mu_min)
        self.directions = [unit_direction([a.shape for a in alphas], self.ctx.generator,
                                          self.ctx.device) for _ in range(o.zo_directions)]
        for k, twin in enumerate(self.twins):
            z, sign = self.directions[k // len(self.signs)], self.signs[k % len(self.signs)]
            twin.sync([sign * self.mu * zi for zi in z],
                      copy_optimizer_state=not o.twin_fresh_optimizer)

    def implicit_term(self, direction: int, g_weights) -> torch.Tensor:
        """J_z: the weights' response along direction ``direction``, dotted with g_ω."""
        k = direction * len(self.signs)
        dots = [self.twins[k + j].weight_difference_dot(g_weights, 1.0 / self.mu)
                for j in range(len(self.signs))]
        return weight_term(*dots)

    def estimate(self, g_alpha, g_weights) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """ĝ per α group and the directional derivatives D of the round's directions."""
        alphas = self.net.arch_parameters()
        hybrid = self.options.zo_estimator == "hybrid"
        q = len(self.directions)
        estimate = [torch.zeros_like(a) for a in alphas]
        if hybrid:
            dim = sum(a.numel() for a in alphas)
            for est, g in zip(estimate, g_alpha):
                if g is not None:
                    est.add_(g.detach(), alpha=1.0 / dim)
        derivatives = []
        for i, z in enumerate(self.directions):
            J = self.implicit_term(i, g_weights)
            D = directional_derivative(g_alpha, z, J)
            derivatives.append(D)
            coefficient = J if hybrid else (torch.sign(D) if self.options.zo_sign else D)
            for est, zi in zip(estimate, z):
                est.add_(coefficient.to(est.dtype) * zi, alpha=1.0 / q)
        return estimate, derivatives

    def _architecture_step(self, val_batch: Batch) -> dict[str, float]:
        alphas = self.net.arch_parameters()
        weights = self.net.weight_parameters()
        loss = self.val_loss(val_batch)
        grads = torch.autograd.grad(loss, alphas + weights, allow_unused=True)
        g_alpha, g_weights = grads[:len(alphas)], grads[len(alphas):]
        estimate, derivatives = self.estimate(g_alpha, g_weights)
        self.last_estimate = [e.detach().clone() for e in estimate]  # diagnostics, benchmarks
        self.arch_optimizer.zero_grad(set_to_none=True)
        for alpha, est in zip(alphas, estimate):
            alpha.grad = est
        self.arch_optimizer.step()
        return {"val_objective": loss.detach(),
                "zo_D": torch.stack(derivatives).mean(), "zo_mu": self.mu}

    def on_size_search(self) -> None:
        super().on_size_search()
        # Directions drawn over phase-1 α no longer span the active parameters: start afresh.
        self.round_step = 0

    def state_dict(self) -> dict:
        return {**super().state_dict(), "round_step": self.round_step, "mu": self.mu,
                "directions": self.directions, "twins": [t.state_dict() for t in self.twins]}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.round_step, self.mu = state["round_step"], state["mu"]
        self.directions = [[z.to(self.ctx.device) for z in zs] for zs in state["directions"]]
        for twin, twin_state in zip(self.twins, state["twins"]):
            twin.load_state_dict(twin_state)


class ZODartsPP(ZODarts):
    """ZO-DARTS++: sparsemax with temperature annealing and the size-variable phase."""

    name = "zo-darts++"
    source = "ZO-DARTS++ (arXiv 2503.06092) and its authors' search scripts"
    relax = "sparsemax"
    anneal = True
    size_search = True
