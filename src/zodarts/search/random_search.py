"""Random search over genotypes: the sanity floor every NAS result is held against.

Candidates are drawn uniformly from the space (``sample_connected``: ops, kernel sizes and depths, every cell connected),
rejected until their exact parameter count lies in the budget band when one is set. Each is
built as a standalone network, trained with the same settings for every candidate (SGD at
``w_lr`` with the config's momentum, Nesterov, weight decay and gradient clip: a fixed learning
rate, so a candidate drawn late is not handicapped by the search's cosine schedule), and then
scored by its mean validation loss over the first ``random_eval_batches`` batches of the
validation half (unaugmented, the same batches for every candidate, BatchNorm in eval mode).
The best-scored candidate is the result (the first sample before any is scored).

Equal compute, by default: ZO-DARTS++ at the same preset takes two weight steps per training
batch (its main network and its twin), so random search takes two as well — the loop's batch and
one from the loop's extra stream of the weights half — and splits the total, 2 × (the loop's
batches), evenly over ``random_candidates`` (10) candidates. ``random_steps_per_candidate`` set
explicitly fixes the steps per candidate instead (and so the number of candidates).

The supernet is not trained. It is pinned (``set_architecture``) to the current best genotype,
so the loop's α history, E[params] and collapse statistics describe what the search holds.
The state dict carries the candidate's weights and optimizer and every counter, so a resumed
search continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from zodarts.errors import ConfigError
from zodarts.search.base import Batch, Searcher, SearchContext
from zodarts.space import Genotype, Network, sample_connected


class CandidateNetwork(Network):
    """A standalone network that the shared ``Searcher.weight_step`` can train."""

    def weight_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.parameters())


@dataclass
class RandomOptions:
    random_candidates: int = 10           # candidates sharing the compute budget
    random_steps_per_candidate: int = 0   # 0: the budget / random_candidates
    random_eval_batches: int = 4          # validation batches scoring a trained candidate
    random_max_tries: int = 10_000        # rejection-sampling attempts per candidate


# Weight steps per training batch: ZO-DARTS++'s main network and twin each take one.
STEPS_PER_BATCH = 2


class RandomSearch(Searcher):
    name = "random"
    source = ("random search at equal compute, the sanity floor of NAS (Li & Talwalkar, "
              "UAI 2019; Yang et al., ICLR 2020)")
    relax = "softmax"
    arch_optimizer_defaults = dict(a_optimizer="none", a_lr=None, a_beta1=None, a_beta2=None,
                                   a_weight_decay=None)
    uses_alpha = False
    Options = RandomOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if o.random_candidates < 1 or o.random_steps_per_candidate < 0 \
                or o.random_eval_batches < 1:
            raise ConfigError("random: random_candidates and random_eval_batches must be >= 1, "
                              "random_steps_per_candidate >= 0 (0: from the compute budget)")
        if o.random_max_tries < 1:
            raise ConfigError("random: random_max_tries must be >= 1")
        budget_steps = STEPS_PER_BATCH * max(ctx.total_steps, 1)
        self.steps_per_candidate = o.random_steps_per_candidate or \
            max(1, budget_steps // o.random_candidates)
        self.best: Genotype | None = None
        self.best_score = math.inf
        self.scored = 0
        self._start_candidate(*self._sample())
        self.first = self.candidate
        self._show(self.first)

    # ---- sampling ---------------------------------------------------------------------------
    def _sample(self) -> tuple[Genotype, int]:
        """A uniform genotype within the budget (rejection sampling) and the seed of its weights.

        Both come from one draw of ctx.generator (which the loop checkpoints), not from the
        global RNG: anything else that happens to draw from that (a lazily built cache, say)
        cannot change which candidates a search tries or how they start.
        """
        seed = int(torch.randint(0, 2 ** 62, (1,), generator=self.ctx.generator))
        n = self.net
        genotype = sample_connected(np.random.default_rng(seed), n.in_channels, n.num_classes,
                                    n.C, n.cells_per_stage, n.image_size, self.ctx.budget,
                                    self.options.random_max_tries)
        if genotype is not None:
            return genotype, seed
        lo, hi = self.ctx.budget
        raise ConfigError(f"random search drew {self.options.random_max_tries} genotypes and "
                          f"none has between {lo:,.0f} and {hi:,.0f} parameters; widen the "
                          "budget band or raise --opt random_max_tries")

    def _start_candidate(self, genotype: Genotype, seed: int) -> None:
        c = self.ctx.config
        self.candidate = genotype
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = CandidateNetwork(genotype).to(self.ctx.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=c.w_lr, momentum=c.w_momentum,
                                         nesterov=c.w_nesterov and c.w_momentum > 0,
                                         weight_decay=c.w_weight_decay)
        self.steps_done = 0

    def _show(self, genotype: Genotype) -> None:
        """Pin the supernet's α to ``genotype`` so the loop's records describe it."""
        self.net.set_architecture(genotype)

    # ---- the interface ----------------------------------------------------------------------
    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        stats: dict[str, float] = {}
        extra = self.ctx.train_stream
        batches = [train_batch] + ([next(extra)] if extra is not None else [train_batch])
        for batch in batches[:STEPS_PER_BATCH]:
            if self.candidate is None:
                self._start_candidate(*self._sample())
            loss, acc = self.weight_step(batch, self.model, self.optimizer)
            self.steps_done += 1
            stats.setdefault("train_loss", loss)
            stats.setdefault("train_acc", acc)
            if self.steps_done == self.steps_per_candidate:
                stats.update(self._finish_candidate(val_batch))
        return stats

    @torch.no_grad()
    def _score(self, fallback: Batch) -> float:
        """Mean validation loss of the trained candidate (eval-mode BatchNorm) over the first
        batches of the validation half, the same for every candidate."""
        self.model.eval()
        batches = self.ctx.val_batches() if self.ctx.val_batches is not None else [fallback]
        total = count = 0
        for i, (x, y) in enumerate(batches):
            if i >= self.options.random_eval_batches:
                break
            total += self.ctx.criterion(self.model(x), y).item()
            count += 1
        return total / count

    def _finish_candidate(self, fallback: Batch) -> dict[str, float]:
        score = self._score(fallback)
        self.scored += 1
        if score < self.best_score:  # a NaN score never wins
            self.best, self.best_score = self.candidate, score
            self._show(self.best)
        self.candidate = self.model = self.optimizer = None
        return {"candidates": float(self.scored), "candidate_val_loss": score,
                "best_val_loss": self.best_score}

    def genotype(self) -> Genotype:
        return self.best or self.first

    def on_size_search(self) -> None:
        pass  # no size phase: candidates already have their kernels and depths

    # ---- resume -----------------------------------------------------------------------------
    # The inherited α optimizer is never stepped, so it is neither saved nor restored (its
    # parameter groups change when pinning a genotype switches the supernet's size phase on).
    def state_dict(self) -> dict:
        state = {"first": self.first.to_dict(), "scored": self.scored,
                 "best": None if self.best is None else self.best.to_dict(),
                 "best_score": self.best_score, "candidate": None}
        if self.candidate is not None:
            state["candidate"] = {
                "genotype": self.candidate.to_dict(), "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "steps_done": self.steps_done}
        return state

    def load_state_dict(self, state: dict) -> None:
        self.first = Genotype.from_dict(state["first"])
        self.best = None if state["best"] is None else Genotype.from_dict(state["best"])
        self.best_score, self.scored = state["best_score"], state["scored"]
        current = state["candidate"]
        if current is None:
            self.candidate = self.model = self.optimizer = None
            return
        self._start_candidate(Genotype.from_dict(current["genotype"]), seed=0)  # weights loaded
        self.model.load_state_dict(current["model"])
        self.optimizer.load_state_dict(current["optimizer"])
        self.steps_done = current["steps_done"]
