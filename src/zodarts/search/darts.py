"""DARTS, first and second order: the architecture gradient by backpropagation.

* ``darts-1st`` steps α along ∇_α L_val(ω, α): it treats ω as if it did not depend on α.
* ``darts-2nd`` differentiates the one-step unrolled response L_val(ω′(α), α) with
  ω′ = ω − ξ·∇_ω L_train(ω, α), which gives

      ∇_α L_val(ω′, α) − ξ · ∇²_{α,ω} L_train(ω, α) · v,      v = ∇_{ω′} L_val(ω′, α),

  the mixed Hessian-vector product taken by central finite differences,
  (∇_α L_train(ω + εv, α) − ∇_α L_train(ω − εv, α)) / 2ε with ε = 0.01 / ‖v‖.

Both take one α step per training batch, before that batch's weight step, with DARTS's own α
optimizer: Adam, lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 (Liu et al., "DARTS:
Differentiable Architecture Search", ICLR 2019, and its code's ``--arch_learning_rate 3e-4
--arch_weight_decay 1e-3``; the ZO-DARTS++ authors' DARTS baselines use the same). Softmax
relaxation, T = 1, the fixed-size space; ``--size-search`` (and ``--relax``, ``--anneal``) turn
ZO-DARTS++'s components on for an ablation.

The virtual passes of ``darts-2nd`` run through :func:`torch.func.functional_call` with
parameter dictionaries: nothing is deep-copied per step and the real ω is never written, so it is
exactly the same after the step's perturbations. Those passes also use their own scratch copy of
the BatchNorm buffers, so running statistics record only the real weight step.

The unrolled step mirrors DARTS's code: ω′ = ω − ξ(m·buf + ∇_ω L_train + wd·ω), where buf is the
weight optimizer's momentum buffer (plain momentum, no Nesterov look-ahead, no gradient clipping)
and wd its weight decay; ``unroll_momentum=false`` drops m·buf and wd·ω. Neither term depends on
α, so the hypergradient formula above is exact for this ω′ up to the finite difference.
ξ defaults to the weight optimizer's current learning rate (DARTS's choice); ``xi`` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.func import functional_call

from zodarts.errors import ConfigError
from zodarts.search.base import Batch, NonFiniteLoss, Searcher, SearchContext

Tensors = list[torch.Tensor]


# ---- pure pieces ----------------------------------------------------------------------------
def apply_arch_gradient(optimizer: torch.optim.Optimizer, params: Sequence[torch.Tensor],
                        grads: Sequence[torch.Tensor | None]) -> None:
    """Set ``grads`` as the α gradients (None: no gradient) and take one optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    for p, g in zip(params, grads):
        p.grad = None if g is None else g.detach().to(p.dtype)
    optimizer.step()


def unrolled_weights(weights: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None],
                     lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                     buffers: Sequence[torch.Tensor | None] | None = None) -> Tensors:
    """ω′ = ω − lr·(momentum·buf + g + weight_decay·ω), new tensors (ω is left alone).

    A missing gradient (a weight the loss does not use) counts as zero; so does a missing
    momentum buffer (the optimizer has not stepped yet).
    """
    out = []
    with torch.no_grad():
        for i, w in enumerate(weights):
            step = weight_decay * w if weight_decay else torch.zeros_like(w)
            if grads[i] is not None:
                step = step + grads[i]
            buf = None if buffers is None else buffers[i]
            if momentum and buf is not None:
                step = step + momentum * buf
            out.append(w - lr * step)
    return out


def finite_difference_hvp(grad_alpha_at: Callable[[Tensors], Sequence[torch.Tensor | None]],
                          weights: Sequence[torch.Tensor], v: Sequence[torch.Tensor | None],
                          eps_scale: float = 0.01) -> tuple[list[torch.Tensor | None],
                                                            torch.Tensor]:
    """∇²_{α,ω} L · v ≈ (∇_α L(ω + εv) − ∇_α L(ω − εv)) / 2ε with ε = eps_scale / ‖v‖.

    ``grad_alpha_at(ω±)`` returns ∇_α L at the given weights (entries may be None for α groups
    the loss does not use). ``weights`` are only read: ω± are new tensors. Returns the product
    and ε (a 0-d tensor).
    """
    v = [torch.zeros_like(w) if vi is None else vi for w, vi in zip(weights, v)]
    # ε stays a device tensor (no host read); v = 0 gives ω± = ω and a zero product.
    norm = torch.sqrt(sum((vi.double() ** 2).sum() for vi in v))
    eps = (eps_scale / norm.clamp_min(1e-30)).to(weights[0].dtype)
    with torch.no_grad():
        plus = [w + eps * vi for w, vi in zip(weights, v)]
        minus = [w - eps * vi for w, vi in zip(weights, v)]
    g_plus, g_minus = grad_alpha_at(plus), grad_alpha_at(minus)
    hvp = []
    for gp, gm in zip(g_plus, g_minus):
        if gp is None or gm is None:
            hvp.append(None)
        else:
            hvp.append((gp - gm) / (2 * eps))
    return hvp, eps


# ---- searchers ------------------------------------------------------------------------------
class DartsFirstOrder(Searcher):
    """``darts-1st``: α ← Adam(∇_α L_val(ω, α)), then the weight step."""

    name = "darts-1st"
    source = ("DARTS (Liu et al., ICLR 2019) and its code (--arch_learning_rate 3e-4 "
              "--arch_weight_decay 1e-3)")
    relax = "softmax"

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        if self.arch_optimizer is None:
            raise ConfigError(f"{self.name} steps α along its gradient: it needs an α optimizer "
                              "(--a-optimizer adam or sgd)")

    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        grads, objective = self.arch_gradient(train_batch, val_batch)
        apply_arch_gradient(self.arch_optimizer, self.net.arch_parameters(), grads)
        loss, acc = self.weight_step(train_batch)
        return {"train_loss": loss, "train_acc": acc, "val_objective": objective}

    def arch_gradient(self, train_batch: Batch, val_batch: Batch
                      ) -> tuple[list[torch.Tensor | None], float]:
        """The α gradient this searcher steps along, and the validation objective."""
        loss = self.val_loss(val_batch)
        grads = torch.autograd.grad(loss, self.net.arch_parameters(), allow_unused=True)
        return list(grads), loss.detach()


@dataclass
class Darts2ndOptions:
    xi: float = 0.0               # ξ of the unrolled step; 0: the weight optimizer's current lr
    unroll_momentum: bool = True  # include momentum buffer and weight decay, as DARTS's code
    hvp_eps: float = 0.01         # ε = hvp_eps / ‖v‖ of the finite-difference Hessian product


class DartsSecondOrder(DartsFirstOrder):
    """``darts-2nd``: α steps along the one-step unrolled hypergradient (five passes a step)."""

    name = "darts-2nd"
    Options = Darts2ndOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        named = self.net.named_weight_parameters()
        self._names = [n for n, _ in named]
        # Virtual passes write BatchNorm running statistics here, never into the real buffers.
        self._scratch_buffers = {n: b.detach().clone() for n, b in self.net.named_buffers()}

    def _loss(self, weights: Sequence[torch.Tensor], batch: Batch, validation: bool
              ) -> torch.Tensor:
        """L(ω, α) at the given weights (α: the supernet's own), without touching the module."""
        x, y = batch
        self.net.train()
        params = dict(zip(self._names, weights))
        logits = functional_call(self.net, (params, self._scratch_buffers), (x,))
        loss = self.ctx.criterion(logits, y)
        if validation and self.penalty_active():
            loss = loss + self.budget_penalty()
        if not torch.isfinite(loss.detach()):
            kind = "validation" if validation else "training"
            raise NonFiniteLoss(f"{kind} loss is {loss.item()} (second-order virtual step)")
        return loss

    def _xi(self) -> float:
        return self.options.xi or self.ctx.weight_optimizer.param_groups[0]["lr"]

    def arch_gradient(self, train_batch: Batch, val_batch: Batch
                      ) -> tuple[list[torch.Tensor | None], float]:
        alphas = self.net.arch_parameters()
        params = self.net.weight_parameters()
        weights = [p.detach() for p in params]
        xi = self._xi()

        # 1. ω′ = ω − ξ(m·buf + ∇_ω L_train + wd·ω)
        g_train = torch.autograd.grad(self._loss(params, train_batch, False), params,
                                      allow_unused=True)
        group = self.ctx.weight_optimizer.param_groups[0]
        if self.options.unroll_momentum:
            state = self.ctx.weight_optimizer.state
            buffers = [state.get(p, {}).get("momentum_buffer") for p in params]
            w_prime = unrolled_weights(weights, g_train, xi, group["momentum"],
                                       group["weight_decay"], buffers)
        else:
            w_prime = unrolled_weights(weights, g_train, xi)

        # 2. ∇_α L_val(ω′, α) and v = ∇_{ω′} L_val(ω′, α)
        w_prime = [w.requires_grad_(True) for w in w_prime]
        val = self._loss(w_prime, val_batch, True)
        grads = torch.autograd.grad(val, alphas + w_prime, allow_unused=True)
        d_alpha, v = list(grads[:len(alphas)]), grads[len(alphas):]

        # 3. − ξ · H v by central differences around the real ω
        def grad_alpha_at(w: Tensors) -> Sequence[torch.Tensor | None]:
            return torch.autograd.grad(self._loss(w, train_batch, False), alphas,
                                       allow_unused=True)

        hvp, _ = finite_difference_hvp(grad_alpha_at, weights, v, self.options.hvp_eps)
        for i, h in enumerate(hvp):
            if h is not None:
                d_alpha[i] = -xi * h if d_alpha[i] is None else d_alpha[i] - xi * h
        return d_alpha, val.detach()
