"""How much of a metric is the architecture: one-way random effects over a landscape table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from zodarts.stats.common import check_confidence, clean_groups


@dataclass(frozen=True)
class VarianceSplit:
    """One-way random-effects ANOVA of a landscape table (see :func:`variance_split`).

    ``between`` and ``within`` are the variance components sigma^2_arch and sigma^2_seed;
    ``icc`` = between / (between + within) is the share of the metric's variance that is the
    architecture (ICC(1)), with its ``confidence`` interval [``icc_low``, ``icc_high``].
    ``f_statistic`` = MSB / MSW and ``p_value`` test sigma^2_arch = 0 against F(k-1, N-k).
    ``archs`` is k, ``total`` is N (all values), ``n0`` the effective seeds per architecture.
    ``icc_raw`` is the estimate before truncation at 0 (negative where the architecture means
    differ less than seeds alone would make them: F < 1); ``truncated`` says the reported
    ``icc`` is that truncation, and ``high_truncated`` that even the upper bound is (F so small
    that no positive share fits): both must be shown, a clipped 0 is not a measured 0.
    """

    grand_mean: float
    between: float
    within: float
    icc: float
    icc_low: float
    icc_high: float
    f_statistic: float
    p_value: float
    archs: int
    n0: float
    total: int
    ms_between: float
    ms_within: float
    confidence: float
    icc_raw: float = math.nan
    truncated: bool = False
    high_truncated: bool = False



def variance_split(groups: Sequence[ArrayLike], confidence: float = 0.95) -> VarianceSplit:
    """One-way random-effects ANOVA: architecture is the random factor, seeds are replicates.

    Model x_is = mu + a_i + e_is, a_i ~ (0, sigma^2_arch), e_is ~ (0, sigma^2_seed). With k
    architectures, n_i values in architecture i, N = sum n_i, architecture means m_i and grand
    mean m (the mean of all N values):

    * MSB = sum n_i (m_i - m)^2 / (k - 1),  MSW = sum_i sum_s (x_is - m_i)^2 / (N - k);
    * n0 = (N - sum n_i^2 / N) / (k - 1), the effective seeds per architecture (= n when
      balanced; Snedecor & Cochran 1989, *Statistical Methods*, 8th ed., sec. 13.7; Searle,
      Casella & McCulloch 1992, *Variance Components*, sec. 3.6);
    * within = sigma^2_seed = MSW; between = sigma^2_arch = max(0, (MSB - MSW) / n0);
    * icc = ICC(1) = (MSB - MSW) / (MSB + (n0 - 1) MSW) = between / (between + within),
      truncated at 0 like ``between`` (the share of variance that is the architecture);
    * F = MSB / MSW, p_value = P(F(k-1, N-k) >= F);
    * the interval of Shrout & Fleiss (1979, Psychol. Bull. 86:420, ICC(1,1)) and McGraw &
      Wong (1996, Psychol. Methods 1:30, case 1): F_L = F / F_{1-alpha/2}(k-1, N-k),
      F_U = F * F_{1-alpha/2}(N-k, k-1), icc_low = (F_L - 1) / (F_L + n0 - 1),
      icc_high = (F_U - 1) / (F_U + n0 - 1). Both bounds are clipped at 0 below (as the point
      estimate is, and flagged: ``truncated``, ``high_truncated``); neither can exceed 1 for a
      finite F, so the clip at 1 only guards rounding.
      The interval is exact for balanced data under normality; with unbalanced seeds n0 makes
      it the usual approximation.

    Groups without a finite value are dropped. Raises ValueError with fewer than 2 groups or
    when no group has 2+ values (there is then no within-architecture variance to compare with).
    If MSW = 0 (every architecture's seeds agree exactly) F is infinite and icc = 1 with the
    interval [1, 1] when the architecture means differ, NaN when they do not.
    """
    confidence = check_confidence(confidence)
    data = clean_groups(groups)
    k = len(data)
    if k < 2:
        raise ValueError(f"variance_split needs at least 2 architectures with a value, got {k}")
    counts = np.array([g.size for g in data], dtype=float)
    total = int(counts.sum())
    if total - k < 1:
        raise ValueError("variance_split needs an architecture with 2 or more seeds: with one "
                         "value each there is no within-architecture (seed) variance")
    means = np.array([g.mean() for g in data])
    grand_mean = float(np.concatenate(data).mean())
    ss_between = float(np.sum(counts * (means - grand_mean) ** 2))
    ss_within = float(sum(np.sum((g - m) ** 2) for g, m in zip(data, means)))
    df_between, df_within = k - 1, total - k
    msb, msw = ss_between / df_between, ss_within / df_within
    n0 = (total - float(np.sum(counts ** 2)) / total) / df_between

    alpha = 1.0 - confidence
    if msw > 0:
        f_stat = msb / msw
        p_value = float(sps.f.sf(f_stat, df_between, df_within))
        icc = (msb - msw) / (msb + (n0 - 1.0) * msw)
        f_low = f_stat / sps.f.ppf(1 - alpha / 2, df_between, df_within)
        f_high = f_stat * sps.f.ppf(1 - alpha / 2, df_within, df_between)
        icc_low = (f_low - 1.0) / (f_low + n0 - 1.0)
        icc_high = (f_high - 1.0) / (f_high + n0 - 1.0)
    elif msb > 0:  # seeds agree exactly, architectures differ: all variance is architecture
        f_stat, p_value, icc, icc_low, icc_high = math.inf, 0.0, 1.0, 1.0, 1.0
    else:  # every value identical: the split is undefined
        f_stat = p_value = icc = icc_low = icc_high = math.nan

    def clip(x: float) -> float:
        return x if math.isnan(x) else min(1.0, max(0.0, x))

    return VarianceSplit(
        grand_mean=grand_mean,
        between=max(0.0, (msb - msw) / n0),
        within=msw,
        icc=clip(icc),
        icc_low=clip(icc_low),
        icc_high=clip(icc_high),
        f_statistic=float(f_stat),
        p_value=float(p_value),
        archs=k,
        n0=float(n0),
        total=total,
        ms_between=msb,
        ms_within=msw,
        confidence=confidence,
        icc_raw=float(icc),
        truncated=bool(icc < 0),
        high_truncated=bool(icc_high < 0),
    )
