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


MIN_ALPHA_NORM = 1e-3


@dataclass
class ZOOptions:
    zo_steps: int = 10               # M: weight steps per architecture step
    zo_mu: float = 0.005             # μ = zo_mu · ‖α_op‖
    zo_directions: int = 1           # q: directions (twins) averaged per step
    twin_fresh_optimizer: bool = False  # True reproduces the reference code's fresh twin optimizer


class ZODarts(Searcher):
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
        if self.options.zo_steps < 1 or self.options.zo_directions < 1:
            raise ConfigError("zo_steps and zo_directions must be >= 1")
        if self.arch_optimizer is None:
            raise ConfigError(f"{self.name} steps α along its estimate: it needs an α optimizer "
                              "(--a-optimizer adam or sgd)")
        self.twins = [Twin(self.net, ctx.weight_optimizer, ctx.make_supernet())
                      for _ in range(self.options.zo_directions)]
        self.round_step = 0
        self.mu = 0.0
        self.directions: list[list[torch.Tensor]] = []

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        if self.round_step == 0:
            self._start_round()
        loss, acc = self.weight_step(train_batch)
        for twin in self.twins:
            twin.follow_schedule()
            self.weight_step(train_batch, twin.net, twin.optimizer)
        self.round_step += 1
        stats = {"train_loss": loss, "train_acc": acc}
        if self.round_step == self.options.zo_steps:
            stats.update(self._architecture_step(val_batch))
            self.round_step = 0
        return stats

    def _start_round(self) -> None:
        alphas = self.net.arch_parameters()
        # The floor only matters for an all-zero α_op (μ = 0 would divide by zero below).
        alpha_norm = self.net.alpha_op.detach().norm().item()
        self.mu = self.options.zo_mu * max(alpha_norm, MIN_ALPHA_NORM)
        self.directions = []
        for twin in self.twins:
            z = unit_direction([a.shape for a in alphas], self.ctx.generator, self.ctx.device)
            twin.sync([self.mu * zi for zi in z],
                      copy_optimizer_state=not self.options.twin_fresh_optimizer)
            self.directions.append(z)

    def _architecture_step(self, val_batch: Batch) -> dict[str, float]:
        alphas = self.net.arch_parameters()
        weights = self.net.weight_parameters()
        loss = self.val_loss(val_batch)
        grads = torch.autograd.grad(loss, alphas + weights, allow_unused=True)
        g_alpha, g_weights = grads[:len(alphas)], grads[len(alphas):]
        estimate = [torch.zeros_like(a) for a in alphas]
        derivatives = []
        for twin, z in zip(self.twins, self.directions):
            D = directional_derivative(g_alpha, z, twin.weight_difference_dot(g_weights,
                                                                              1.0 / self.mu))
            derivatives.append(D.item())
            for est, zi in zip(estimate, z):
                est.add_(D.to(est.dtype) * zi, alpha=1.0 / len(self.twins))
        self.arch_optimizer.zero_grad(set_to_none=True)
        for alpha, est in zip(alphas, estimate):
            alpha.grad = est
        self.arch_optimizer.step()
        return {"val_objective": loss.item(), "zo_D": sum(derivatives) / len(derivatives)}

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
