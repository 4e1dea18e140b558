"""Random search over genotypes: the sanity floor every NAS result is held against.

Candidates are drawn uniformly from the space (``sample_genotype``), rejected until their exact
parameter count lies in the budget band when one is set. Each is built as a standalone network
and trained for ``random_steps_per_candidate`` of the loop's training batches with the same
settings for every candidate (SGD at ``w_lr`` with the config's momentum, Nesterov, weight decay
and gradient clip: a fixed learning rate, so a candidate drawn late is not handicapped by the
search's cosine schedule). Over its last ``random_eval_batches`` steps it is scored, after that
step's training update, on the validation batch the loop passes in (batch statistics, as the
other searchers' architecture objective); the score is the mean validation loss, lower is
better. ``genotype()`` is the best scored candidate, or the first sample before any is scored.

Defaults: 20 training batches per candidate, scored on the last 4. Candidates are counted in the
loop's batches, so a search of E epochs of B batches scores about E·B/20 of them: on BreastMNIST
at batch 256 (one batch per epoch) a 50-epoch search scores two; lower
``random_steps_per_candidate`` or raise the epochs there. At one weight pass per batch, random
search is also the cheapest method per epoch; compare at equal wall time when that matters.

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
from zodarts.space import Genotype, Network, count_params, sample_genotype
from zodarts.train.metrics import batch_accuracy


class CandidateNetwork(Network):
    """A standalone network that the shared ``Searcher.weight_step`` can train."""

    def weight_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.parameters())


@dataclass
class RandomOptions:
    random_steps_per_candidate: int = 20  # training batches per candidate
    random_eval_batches: int = 4          # validation batches scored (a candidate's last steps)
    random_max_tries: int = 10_000        # rejection-sampling attempts per candidate


class RandomSearch(Searcher):
    name = "random"
    relax = "softmax"
    Options = RandomOptions

    def __init__(self, ctx: SearchContext):
        super().__init__(ctx)
        o = self.options
        if o.random_steps_per_candidate < 1 or not \
                1 <= o.random_eval_batches <= o.random_steps_per_candidate:
            raise ConfigError("random: random_steps_per_candidate must be >= 1 and "
                              "random_eval_batches between 1 and random_steps_per_candidate")
        if o.random_max_tries < 1:
            raise ConfigError("random: random_max_tries must be >= 1")
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
        rng = np.random.default_rng(seed)
        n = self.net
        for _ in range(self.options.random_max_tries):
            g = sample_genotype(rng, n.in_channels, n.num_classes, n.C, n.cells_per_stage,
                                n.image_size)
            if g.disconnected_stages():
                continue  # a network that cannot learn is not worth a candidate's training
            if self.ctx.budget is None or \
                    self.ctx.budget[0] <= count_params(g) <= self.ctx.budget[1]:
                return g, seed
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
        self.score_sum = 0.0
        self.score_count = 0

    def _show(self, genotype: Genotype) -> None:
        """Pin the supernet's α to ``genotype`` so the loop's records describe it."""
        self.net.set_architecture(genotype)

    # ---- the interface ----------------------------------------------------------------------
    def step(self, train_batch: Batch, val_batch: Batch) -> dict[str, float]:
        if self.candidate is None:
            self._start_candidate(*self._sample())
        loss, acc = self.weight_step(train_batch, self.model, self.optimizer)
        self.steps_done += 1
        stats = {"train_loss": loss, "train_acc": acc}
        o = self.options
        if self.steps_done > o.random_steps_per_candidate - o.random_eval_batches:
            stats.update(self._score(val_batch))
        if self.steps_done == o.random_steps_per_candidate:
            stats.update(self._finish_candidate())
        return stats

    @torch.no_grad()
    def _score(self, batch: Batch) -> dict[str, float]:
        x, y = batch
        self.model.train()
        logits = self.model(x)
        loss = self.ctx.criterion(logits, y).item()
        self.score_sum += loss
        self.score_count += 1
        return {"candidate_val_loss": loss, "candidate_val_acc": batch_accuracy(logits, y).item()}

    def _finish_candidate(self) -> dict[str, float]:
        score = self.score_sum / self.score_count
        self.scored += 1
        if score < self.best_score:  # a NaN score never wins
            self.best, self.best_score = self.candidate, score
            self._show(self.best)
        self.candidate = self.model = self.optimizer = None
        return {"candidates": float(self.scored), "best_val_loss": self.best_score}

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
                "optimizer": self.optimizer.state_dict(), "steps_done": self.steps_done,
                "score_sum": self.score_sum, "score_count": self.score_count}
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
        self.score_sum, self.score_count = current["score_sum"], current["score_count"]
