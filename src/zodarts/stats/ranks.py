"""Rank correlation of paired items (a predictor's score against the retrained metric,
validation against test, one landscape against another), with bootstrap intervals."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from zodarts.stats.common import N_BOOT, check_confidence, percentile_bounds


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman rho and Kendall tau-b of paired items, each with a percentile bootstrap interval
    and scipy's p-value (see :func:`rank_correlation`). ``n`` is the number of items used (after
    dropping non-finite pairs); with fewer than 3 every other field is None."""

    n: int
    spearman: float | None
    spearman_low: float | None
    spearman_high: float | None
    spearman_p: float | None
    kendall: float | None
    kendall_low: float | None
    kendall_high: float | None
    kendall_p: float | None
    confidence: float


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of x, y (b, n): Pearson's r of average ranks; NaN where
    a row is constant."""
    rx = sps.rankdata(x, axis=1)
    ry = sps.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=1) / np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair, (P − Q) / sqrt((P + Q + T_x)(P + Q + T_y)): the sum of
    sign products over the pairs, over the root of the pairs untied in x times those untied in
    y; NaN where a row is constant."""
    i, j = np.triu_indices(x.shape[1], k=1)
    sx = np.sign(x[:, j] - x[:, i])
    sy = np.sign(y[:, j] - y[:, i])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sx * sy).sum(axis=1) / np.sqrt(np.abs(sx).sum(axis=1) * np.abs(sy).sum(axis=1))


def rank_correlation(x: ArrayLike, y: ArrayLike, n_boot: int = N_BOOT, seed: int = 0,
                     confidence: float = 0.95) -> RankCorrelation:
    """Spearman rho and Kendall tau-b of paired items, with percentile bootstrap intervals.

    rho is Pearson's correlation of the ranks (average ranks for ties; Spearman 1904); tau-b
    = (P − Q) / sqrt((P + Q + T_x)(P + Q + T_y)) (Kendall 1945). Both point estimates and
    their p-values are scipy's (``spearmanr``, ``kendalltau``); the intervals are percentile
    bootstrap intervals over the items (Efron & Tibshirani 1993), computed for all resamples at
    once; resamples on which a correlation is undefined (constant) are left out of its
    interval. With the default 2,000 resamples a bound moves by about ±0.01 between bootstrap
    seeds (±0.03 at 300), and the p-value beside it says the same thing without resampling.

    Items where x or y is not finite are dropped first; with fewer than 3 left every field but
    ``n`` and ``confidence`` is None.
    """
    confidence = check_confidence(confidence)
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must pair up item by item: {x.size} against {y.size} values")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    if n < 3:
        return RankCorrelation(n, None, None, None, None, None, None, None, None, confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    reps = []
    step = max(1, 4_000_000 // (n * n))
    for start in range(0, n_boot, step):
        idx = rng.integers(0, n, size=(min(step, n_boot - start), n))
        reps.append(np.stack([_spearman_rows(x[idx], y[idx]), _kendall_rows(x[idx], y[idx])],
                             axis=1))
    with warnings.catch_warnings():
        # Constant inputs give NaN with a warning; NaN is handled.
        warnings.simplefilter("ignore")
        sp = sps.spearmanr(x, y)
        kt = sps.kendalltau(x, y)
    low, high = percentile_bounds(np.concatenate(reps), confidence)
    return RankCorrelation(
        n=n,
        spearman=float(sp.statistic), spearman_low=float(low[0]), spearman_high=float(high[0]),
        spearman_p=float(sp.pvalue),
        kendall=float(kt.statistic), kendall_low=float(low[1]), kendall_high=float(high[1]),
        kendall_p=float(kt.pvalue),
        confidence=confidence,
    )
