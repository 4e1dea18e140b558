"""The searcher interface and what every searcher shares.

A searcher owns the architecture optimizer and decides how α moves; the loop owns data, epochs,
schedules, logging and checkpoints. One call of ``step`` consumes one training batch (and may use
the validation batch); it always takes the weight step(s) of that batch.

A searcher class also declares the settings its own paper or code fixes (``paper_defaults``:
relaxation, annealing, size search, the α optimizer) and its ``Options``; the loop runs it with
those unless the user overrides them (``zodarts.search.protocol``), so no method is run at
another method's settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, Iterator

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
    # Training batches beyond the loop's one per step (ZARTS's candidates, random search's
    # second step per batch); an endless stream whose position the loop checkpoints.
    train_stream: Iterator[Batch] | None = None
    # The validation half in a fixed order, unaugmented (random search scores candidates on it).
    val_batches: Callable[[], Iterable[Batch]] | None = None
    total_steps: int = 0              # the loop's training batches over the whole search


@dataclass
class NoOptions:
    pass


# ZO-DARTS(++)'s round length M: the search length of a preset is counted in such rounds.
DEFAULT_ROUND = 10


class Searcher:
    name: ClassVar[str] = ""
    source: ClassVar[str] = ""           # where the settings below come from
    # The method's own settings (its paper's); a config field left None takes these.
    relax: ClassVar[str] = "softmax"     # relaxation of the supernet
    anneal: ClassVar[bool] = False       # temperature schedule (else T = 1)
    size_search: ClassVar[bool] = False  # kernel/depth phase from size_search_start
    arch_optimizer_defaults: ClassVar[dict[str, Any]] = dict(  # DARTS's (ICLR 2019)
        a_optimizer="adam", a_lr=3e-4, a_beta1=0.5, a_beta2=0.999, a_weight_decay=1e-3)
    uses_alpha: ClassVar[bool] = True    # False: the α switches above do not apply
    Options: ClassVar[type] = NoOptions

    @classmethod
    def paper_defaults(cls) -> dict[str, Any]:
        """The config fields this method fills in when the user leaves them unset."""
        return {"relax": cls.relax, "anneal": cls.anneal, "size_search": cls.size_search,
                **cls.arch_optimizer_defaults}

    @classmethod
    def batches_per_arch_step(cls, options: Any) -> int:
        """Training batches per α step, which turns an α-step budget into epochs. A method that
        steps α every batch (DARTS) or never (random search) runs as many batches as ZO-DARTS++
        at its default M, so that every method at one preset trains its weights as long."""
        return DEFAULT_ROUND

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

    def start_epoch(self, epoch: int) -> None:
        """Called by the loop before each epoch's first step (schedules that follow epochs)."""

    def state_dict(self) -> dict[str, Any]:
        optimizer = self.arch_optimizer
        return {"arch_optimizer": None if optimizer is None else optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.arch_optimizer = self.build_arch_optimizer()
        if self.arch_optimizer is not None:
            self.arch_optimizer.load_state_dict(state["arch_optimizer"])

    # ---- shared pieces ----------------------------------------------------------------------
    def build_arch_optimizer(self) -> torch.optim.Optimizer | None:
        """The α optimizer of the resolved config: Adam, plain SGD, or none (the searcher moves
        α itself)."""
        c = self.ctx.config
        params = self.net.arch_parameters()
        if c.a_optimizer == "adam":
            return torch.optim.Adam(params, lr=c.a_lr, betas=(c.a_beta1, c.a_beta2),
                                    weight_decay=c.a_weight_decay)
        if c.a_optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.a_lr, weight_decay=c.a_weight_decay or 0.0)
        return None

    def autocast(self):
        """bf16 autocast for forward and backward when the config asks for it (α, its
        distributions and the ZO estimate stay in float32: see ``SuperNet.relaxed``)."""
        return precision_context(self.ctx.config.precision, self.ctx.device)

    def weight_step(self, batch: Batch, net: SuperNet | None = None,
                    optimizer: torch.optim.Optimizer | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on ω (gradients for ω only), returning loss and accuracy as 0-d
        tensors on the device: reading them would make the host wait for the device, so the
        loop does that once in a while (and checks them for NaN then), not every step."""
        net = net or self.net
        optimizer = optimizer or self.ctx.weight_optimizer
        x, y = batch
        net.train()
        with self.autocast():
            logits = net(x)
            loss = self.ctx.criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        weights = net.weight_parameters()
        loss.backward(inputs=[p for p in weights if p.requires_grad])
        nn.utils.clip_grad_norm_(weights, self.ctx.config.grad_clip)
        optimizer.step()
        return loss.detach(), batch_accuracy(logits, y)

    def penalty_active(self) -> bool:
        """The budget penalty acts in the size-variable phase only: before it, the space is
        fixed-size and a budget could only be met by collapsing to parameter-free ops."""
        return self.ctx.budget is not None and self.net.size_search

    def budget_penalty(self, net: SuperNet | None = None) -> torch.Tensor:
        """λ·R(α) with λ = scale / T and R = (relu(P − U) + relu(L − P)) / unit."""
        net = net or self.net
        lo, hi = self.ctx.budget
        c = self.ctx.config
        P = net.expected_params()
        R = (torch.relu(P - hi) + torch.relu(lo - P)) / c.penalty_unit
        return (c.penalty_scale / net.temperature) * R.to(net.alpha_op.dtype)

    def val_loss(self, batch: Batch, net: SuperNet | None = None) -> torch.Tensor:
        """The architecture objective on one validation batch (with the budget penalty when on)."""
        net = net or self.net
        x, y = batch
        net.train()  # batch statistics, as in DARTS's architecture step
        with self.autocast():
            loss = self.ctx.criterion(net(x), y)
        if self.penalty_active():
            loss = loss + self.budget_penalty(net)
        if not torch.isfinite(loss.detach()):
            raise NonFiniteLoss(f"validation loss is {loss.item()}")
        return loss


def precision_context(precision: str, device: torch.device):
    """torch.autocast to bfloat16 for ``precision == "bf16"``, else a no-op."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
