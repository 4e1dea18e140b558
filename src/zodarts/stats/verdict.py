"""The verdict a landscape gives: is the architecture worth searching on this data?

The rule reads the interval of the intraclass correlation (ICC: the share of a retraining's
metric that is the architecture, :func:`zodarts.stats.variance.variance_split`) of one primary
metric against one threshold τ = 0.3:

* **flat**: the upper bound is below τ — with 95% confidence the architecture explains less
  than 30% of what a user sees, a retraining seed more than 70%;
* **structured**: the lower bound is at least τ — the architecture explains at least 30%;
* **undetermined**: the interval contains τ — more architectures (or seeds) would decide.

Why τ = 0.3: at ICC 0.3 the architecture's spread is σ_arch = 0.65 σ_seed, so the truly best of
ten random architectures stands about one seed's spread above the median (1.54 σ_arch ≈ σ_seed):
below it, what a search can gain is smaller than what a second retraining seed moves; above it,
picking matters more than luck. It is also the lower bound issue 28 asks of a positive control,
so the rule and the controls speak of the same line. A single threshold makes the three words
exclusive and exhaustive; each claim is one-sided at (1 − confidence) / 2, so with 95% intervals
a wrong "flat" (or a wrong "structured") has at most a 2.5% chance.

The primary metric is test ACC (test AUC for multi-label tasks, where ACC counts whole label
sets), chosen before the data are seen; the other metrics' intervals are reported beside it.

One guard comes first: **no skill**. Where even the architecture that looks best, trained
again, has a test AUC not distinguishable from chance (its interval reaches 0.5), nothing is
learnt, and the verdict is *flat* whatever the ICC says. An ICC measures how consistently an
architecture behaves across seeds, not whether the behaviour is useful: networks fitted to the
same shuffled labels, or collapsed to one class, behave consistently per architecture and give
a high ICC on pure noise. AUC's chance level is 0.5 whatever the class balance, which ACC's
is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as sps

THRESHOLD = 0.3
CHANCE_AUC = 0.5
FLAT, STRUCTURED, UNDETERMINED = "flat", "structured", "undetermined"
# The most architectures a "what would decide it" line suggests; beyond, it says so.
MAX_SUGGESTED_ARCHS = 2000


def primary_metric(task: str) -> str:
    """The metric the verdict reads: test ACC, or test AUC for multi-label data."""
    return "test_auc" if task == "multi-label" else "test_acc"


def decide(low: float, high: float, threshold: float = THRESHOLD) -> str:
    """flat / structured / undetermined from an ICC interval [low, high]."""
    if math.isnan(low) or math.isnan(high):
        return UNDETERMINED
    if high < threshold:
        return FLAT
    if low >= threshold:
        return STRUCTURED
    return UNDETERMINED


def icc_interval(f_statistic: float, archs: int, seeds: float, confidence: float
                 ) -> tuple[float, float]:
    """The F-based ICC(1) interval (Shrout & Fleiss 1979) for an observed F with ``archs``
    architectures of ``seeds`` seeds each, unclipped."""
    alpha = 1.0 - confidence
    df1, df2 = archs - 1, archs * (seeds - 1)
    f_low = f_statistic / sps.f.ppf(1 - alpha / 2, df1, df2)
    f_high = f_statistic * sps.f.ppf(1 - alpha / 2, df2, df1)
    return (f_low - 1) / (f_low + seeds - 1), (f_high - 1) / (f_high + seeds - 1)


def archs_to_decide(f_statistic: float, archs: int, seeds: float, confidence: float = 0.95,
                    threshold: float = THRESHOLD) -> int | None:
    """The fewest architectures (same seeds each) at which the interval would clear the
    threshold on the side its point estimate lies, if F stayed as observed; None where that
    needs more than MAX_SUGGESTED_ARCHS (the estimate sits at the threshold)."""
    if not math.isfinite(f_statistic) or seeds < 2:
        return None
    icc = (f_statistic - 1) / (f_statistic + seeds - 1)
    for k in range(max(archs, 2), MAX_SUGGESTED_ARCHS + 1):
        low, high = icc_interval(f_statistic, k, seeds, confidence)
        if (icc < threshold and high < threshold) or (icc >= threshold and low >= threshold):
            return k
    return None


@dataclass(frozen=True)
class Verdict:
    word: str                 # flat | structured | undetermined
    metric: str               # the primary metric it reads
    icc: float
    low: float
    high: float
    confidence: float
    threshold: float
    archs: int
    seeds: float
    f_statistic: float
    suggested_archs: int | None = None   # undetermined: architectures that would decide it
    no_skill: bool = False               # flat because nothing beats chance (see the module)

    def to_dict(self) -> dict:
        import dataclasses
        return dataclasses.asdict(self)


def verdict_of(split, metric: str, confidence: float | None = None,
               threshold: float = THRESHOLD, best_auc: tuple[float, float] | None = None
               ) -> Verdict:
    """The verdict of a variance split (:class:`VarianceSplit`) of ``metric``; with
    ``confidence`` other than the split's own (a sequential look's), the interval is recomputed
    at that level from the same F. ``best_auc``: the (low, high) interval of the test AUC of
    the best-looking architecture trained again; where its lower bound is at or below chance
    (0.5), nothing is learnt and the verdict is flat (the no-skill guard)."""
    level = split.confidence if confidence is None else confidence
    low, high = split.icc_low, split.icc_high
    if confidence is not None and math.isfinite(split.f_statistic):
        low, high = (min(1.0, max(0.0, b)) for b in
                     icc_interval(split.f_statistic, split.archs, split.n0, level))
    chance = best_auc is not None and math.isfinite(best_auc[0]) and best_auc[0] <= CHANCE_AUC
    word = FLAT if chance else decide(low, high, threshold)
    suggested = (archs_to_decide(split.f_statistic, split.archs, split.n0, level, threshold)
                 if word == UNDETERMINED else None)
    return Verdict(word, metric, split.icc, low, high, level, threshold, split.archs,
                   split.n0, split.f_statistic, suggested, chance)
