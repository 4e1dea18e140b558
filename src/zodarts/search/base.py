"""The searcher interface and what every searcher shares.

A searcher owns the architecture optimizer and decides how α moves; the loop owns data, epochs,
schedules, logging and checkpoints. One call of ``step`` consumes one training batch (and may use
the validation batch); it always takes the weight step(s) of that batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from zodarts.config import SearchConfig
from zodarts.errors import ConfigError
from zodarts.space import Genotype, SuperNet
from zodarts.train.metrics import batch_accuracy

Batch = tuple[torch.Tensor, torch.Tensor]


class NonFiniteLoss(FloatingPointError):
    """Raised inside a step; the loop turns it into a SearchDiverged naming epoch and step."""


@dataclass
class SearchContext:
    supernet: SuperNet
    weight_optimizer: torch.optim.Optimizer
    config: SearchConfig
    budget: tuple[float, float] | None
    criterion: nn.Module
    device: torch.device
    generator: torch.Generator        # the searcher's own randomness; checkpointed with it
    make_supernet: Callable[[], SuperNet]


@dataclass
class NoOptions:
    pass


class Searcher:
    name: ClassVar[str] = ""
    relax: ClassVar[str] = "softmax"     # default relaxation of the supernet
    anneal: ClassVar[bool] = False       # temperature schedule (else T = 1)
    size_search: ClassVar[bool] = False  # kernel/depth phase from size_search_start
    Options: ClassVar[type] = NoOptions

    def __init__(self, ctx: SearchContext):
        self.ctx = ctx
        self.net = ctx.supernet
        self.options = self.parse_options(ctx.config.options)
        self.arch_optimizer = self.build_arch_optimizer()

    # ---- options ----------------------------------------------------------------------------
    @classmethod
    def parse_options(cls, values: dict[str, Any]):
        known = {f.name: f for f in dataclasses.fields(cls.Options)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"method {cls.name!r} has no option(s) {', '.join(unknown)}; "
                              f"its options: {', '.join(known) or 'none'}")
        converted = {}
        for key, value in values.items():
            try:
                converted[key] = _convert(value, known[key].default)
            except (TypeError, ValueError):
                raise ConfigError(f"option {key}={value!r} of {cls.name!r} must be of type "
                                  f"{type(known[key].default).__name__}") from None
        return cls.Options(**converted)

    # ---- the interface ----------------------------------------------------------------------
    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        """One training batch; returns at least ``train_loss`` and ``train_acc``."""
        raise NotImplementedError

    def genotype(self) -> Genotype:
        # A disconnected cell (possible under argmax, typical after a collapse to `none`) gives
        # a network that cannot learn; the closest connected cell is what a user can train.
        return self.net.genotype(connected=True)

    def on_size_search(self) -> None:
        """Called right after the supernet enters the size-variable phase."""
        self.arch_optimizer = self.build_arch_optimizer()

    def state_dict(self) -> dict[str, Any]:
        return {"arch_optimizer": self.arch_optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.arch_optimizer = self.build_arch_optimizer()
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])

    # ---- shared pieces ----------------------------------------------------------------------
    def build_arch_optimizer(self) -> torch.optim.Optimizer:
        c = self.ctx.config
        return torch.optim.Adam(self.net.arch_parameters(), lr=c.a_lr,
                                betas=(c.a_beta1, c.a_beta2), weight_decay=c.a_weight_decay)

    def weight_step(self, batch: Batch, net: SuperNet | None = None,
                    optimizer: torch.optim.Optimizer | None = None) -> tuple[float, float]:
        """One SGD step on ω (gradients for ω only), returning loss and accuracy."""
        net = net or self.net
        optimizer = optimizer or self.ctx.weight_optimizer
        x, y = batch
        net.train()
        logits = net(x)
        loss = self.ctx.criterion(logits, y)
        value = loss.item()
        if not torch.isfinite(torch.tensor(value)):
            raise NonFiniteLoss(f"training loss is {value}")
        optimizer.zero_grad(set_to_none=True)
        weights = net.weight_parameters()
        loss.backward(inputs=[p for p in weights if p.requires_grad])
        nn.utils.clip_grad_norm_(weights, self.ctx.config.grad_clip)
        optimizer.step()
        return value, batch_accuracy(logits, y).item()

    def penalty_active(self) -> bool:
        return self.ctx.budget is not None and (self.net.size_search or not self.size_search)

    def budget_penalty(self, net: SuperNet | None = None) -> torch.Tensor:
        """λ·R(α) with λ = scale / T and R = (relu(P − U) + relu(L − P)) / unit."""
        net = net or self.net
        lo, hi = self.ctx.budget
        c = self.ctx.config
        P = net.expected_params()
        R = (torch.relu(P - hi) + torch.relu(lo - P)) / c.penalty_unit
        return (c.penalty_scale / net.temperature) * R.float()

    def val_loss(self, batch: Batch, net: SuperNet | None = None) -> torch.Tensor:
        """The architecture objective on one validation batch (with the budget penalty when on)."""
        net = net or self.net
        x, y = batch
        net.train()  # batch statistics, as in DARTS's architecture step
        loss = self.ctx.criterion(net(x), y)
        if self.penalty_active():
            loss = loss + self.budget_penalty(net)
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLoss(f"validation loss is {loss.item()}")
        return loss


def _convert(value: Any, default: Any) -> Any:
    """Options arrive as strings from the command line; give them the default's type."""
    if isinstance(default, bool):
        return _as_bool(value)
    if isinstance(default, (int, float)) and not isinstance(value, bool):
        return type(default)(value)
    return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    return bool(value)
