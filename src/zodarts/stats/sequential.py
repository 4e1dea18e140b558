"""Growing a landscape until its verdict is decided, with honest error rates.

Looking at the interval after every round and stopping as soon as it clears the threshold
("optional stopping") makes a 95% interval lie: each look is another chance to be wrong. The
looks here are planned before any data (rounds of R architectures up to a cap), and each look j
reads an interval at its own level 1 − α_j with Σ α_j = α (Bonferroni over the planned looks:
by the union bound, the chance that any look's interval misses is at most α, so a wrong "flat"
or a wrong "structured" over the whole run has at most α / 2). The spending follows Haybittle
and Peto: the early looks get a small share each (so an early stop needs an obvious answer: a
positive control, a label-shuffled dataset) and the planned last look keeps most of α, so a
landscape that runs to its cap is judged almost as sharply as one planned at that size. A run
stopped early by a time cap uses the level of the look it stopped at (more conservative, never
less).

Compared with an alpha-spending function (Lan & DeMets 1983) this is cruder but needs no
assumption on how the ICC's estimate is distributed across looks; its error rate is checked by
simulation (:func:`simulate`, and tests/test_verdict.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zodarts.stats.verdict import FLAT, STRUCTURED, UNDETERMINED, THRESHOLD, decide, icc_interval

ALPHA = 0.05
EARLY_SHARE = 0.2     # of α, spread evenly over the looks before the last


@dataclass(frozen=True)
class LookPlan:
    """Looks after ``round_archs``, 2·``round_archs``, … up to ``max_archs`` architectures."""

    round_archs: int = 10
    max_archs: int = 60
    alpha: float = ALPHA
    archs: list[int] = field(init=False)
    alphas: list[float] = field(init=False)

    def __post_init__(self):
        if self.round_archs < 2 or self.max_archs < self.round_archs:
            raise ValueError(f"need round_archs >= 2 and max_archs >= round_archs (got "
                             f"{self.round_archs}, {self.max_archs})")
        archs = list(range(self.round_archs, self.max_archs + 1, self.round_archs))
        if archs[-1] != self.max_archs:
            archs.append(self.max_archs)
        early = len(archs) - 1
        alphas = ([self.alpha * EARLY_SHARE / early] * early + [self.alpha * (1 - EARLY_SHARE)]
                  if early else [self.alpha])
        object.__setattr__(self, "archs", archs)
        object.__setattr__(self, "alphas", alphas)

    def confidence_at(self, look: int) -> float:
        return 1.0 - self.alphas[look]

    def look_for(self, archs: int) -> int | None:
        """The index of the look planned at ``archs`` architectures, None if none is."""
        return self.archs.index(archs) if archs in self.archs else None


def look_verdict(f_statistic: float, archs: int, seeds: float, confidence: float,
                 threshold: float = THRESHOLD) -> tuple[str, float, float]:
    """A look's verdict and its interval at the look's level."""
    low, high = icc_interval(f_statistic, archs, seeds, confidence)
    low, high = max(0.0, low), min(1.0, max(0.0, high))
    return decide(low, high, threshold), low, high


def _f_statistics(y: np.ndarray) -> np.ndarray:
    """One-way ANOVA F of tables y (reps, k, n)."""
    k, n = y.shape[1:]
    means = y.mean(axis=2)
    msb = n * means.var(axis=1, ddof=1)
    msw = ((y - means[..., None]) ** 2).sum(axis=(1, 2)) / (k * (n - 1))
    return msb / msw


def simulate(icc: float, plan: LookPlan, seeds: int = 3, reps: int = 4000, seed: int = 0,
             threshold: float = THRESHOLD) -> dict[str, float]:
    """The sequential rule on ``reps`` normal tables of true ICC ``icc`` grown as ``plan``
    grows them: the share that ends flat / structured / undetermined and the mean number of
    architectures trained when it stops."""
    rng = np.random.default_rng(seed)
    k = plan.max_archs
    arch = rng.normal(0.0, np.sqrt(icc), size=(reps, k, 1))
    y = arch + rng.normal(0.0, np.sqrt(1 - icc), size=(reps, k, seeds))
    outcome = np.full(reps, UNDETERMINED, dtype=object)
    stopped = np.full(reps, k)
    open_ = np.ones(reps, dtype=bool)
    for look, archs in enumerate(plan.archs):
        f = _f_statistics(y[:, :archs])
        for r in np.flatnonzero(open_):
            word, _, _ = look_verdict(f[r], archs, seeds, plan.confidence_at(look), threshold)
            if word != UNDETERMINED:
                outcome[r], stopped[r], open_[r] = word, archs, False
    return {FLAT: float(np.mean(outcome == FLAT)),
            STRUCTURED: float(np.mean(outcome == STRUCTURED)),
            UNDETERMINED: float(np.mean(outcome == UNDETERMINED)),
            "mean_archs": float(stopped.mean())}
