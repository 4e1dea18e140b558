"""Statistics of a landscape table: N sampled architectures, each retrained with several seeds.

Input convention: a *groups* argument is a sequence with one 1-D array per architecture, holding
that architecture's metric over its finished seeds (the seed counts may differ). Where both the
validation and the test metric are needed, two such sequences are given aligned element-wise:
``val[i][s]`` and ``test[i][s]`` come from the same trained network. Non-finite values (a seed
that diverged or did not finish) are dropped, and so are architectures left without a value.

What is here:

* :func:`variance_split` - how much of the metric is the architecture and how much the seed
  (one-way random-effects ANOVA, ICC(1) with its F-based interval);
* :func:`best_of_k` / :func:`best_of_k_curve` - the exact expected test metric of random search
  over k architectures that keeps the best one by validation;
* :func:`rank_correlation` - Spearman and Kendall correlation with bootstrap intervals (e.g. a
  proxy's score against the retrained metric, or validation against test);
* :func:`order_statistics` - best / top-10% / median / worst architecture means with two-level
  bootstrap intervals;
* :func:`percentile_of` - where one value (a searched genotype's metric) lies in the table;
* :func:`bootstrap_interval` - the percentile bootstrap used by the above.

Pure numpy + scipy; nothing here imports torch.
"""

from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

__all__ = [
    "Interval",
    "RankCorrelation",
    "VarianceSplit",
    "best_of_k",
    "best_of_k_curve",
    "bootstrap_interval",
    "held_out_best",
    "order_statistics",
    "percentile_of",
    "rank_correlation",
    "variance_split",
]

# The sum of the exact keep-probabilities must be 1 up to rounding; more is a bug, not noise.
_PROBABILITY_TOLERANCE = 1e-9
# Upper bound on the elements of one intermediate array, so that large tables are processed in
# chunks instead of allocating gigabytes (the vectorised inner loops are otherwise unchanged).
_CHUNK_ELEMENTS = 2_000_000


# ----------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Interval:
    """A point estimate with the bounds of its confidence interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class VarianceSplit:
    """One-way random-effects ANOVA of a landscape table (see :func:`variance_split`).

    ``between`` and ``within`` are the variance components sigma^2_arch and sigma^2_seed;
    ``icc`` = between / (between + within) is the share of the metric's variance that is the
    architecture (ICC(1)), with its ``confidence`` interval [``icc_low``, ``icc_high``].
    ``f_statistic`` = MSB / MSW and ``p_value`` test sigma^2_arch = 0 against F(k-1, N-k).
    ``archs`` is k, ``total`` is N (all values), ``n0`` the effective seeds per architecture.
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


# ----------------------------------------------------------------------------------------------
# Input handling


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return confidence


def _clean_groups(groups: Iterable[ArrayLike]) -> list[np.ndarray]:
    """Each group as a finite 1-D float array; groups left empty are dropped."""
    out = []
    for i, group in enumerate(groups):
        values = np.asarray(group, dtype=float)
        if values.ndim > 1:
            raise ValueError(f"group {i}: expected a 1-D array of values over seeds, "
                             f"got shape {values.shape}")
        values = values.reshape(-1)
        values = values[np.isfinite(values)]
        if values.size:
            out.append(values)
    return out


def _clean_pairs(val_groups: Sequence[ArrayLike],
                 test_groups: Sequence[ArrayLike]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Aligned (val, test) groups with every run whose val or test is non-finite dropped, then
    every architecture without a run left dropped."""
    if len(val_groups) != len(test_groups):
        raise ValueError(f"val and test must list the same architectures: {len(val_groups)} "
                         f"val groups against {len(test_groups)} test groups")
    vals, tests = [], []
    for i, (v, t) in enumerate(zip(val_groups, test_groups)):
        v = np.asarray(v, dtype=float).reshape(-1)
        t = np.asarray(t, dtype=float).reshape(-1)
        if v.shape != t.shape:
            raise ValueError(f"architecture {i}: {v.size} val values against {t.size} test "
                             "values; val[i][s] and test[i][s] must come from the same run")
        keep = np.isfinite(v) & np.isfinite(t)
        if keep.any():
            vals.append(v[keep])
            tests.append(t[keep])
    return vals, tests


def _padded(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Groups as a (k, max seeds) matrix padded with NaN, and the seed counts."""
    counts = np.array([g.size for g in groups], dtype=int)
    matrix = np.full((len(groups), int(counts.max())), np.nan)
    for i, g in enumerate(groups):
        matrix[i, :g.size] = g
    return matrix, counts


# ----------------------------------------------------------------------------------------------
# Bootstrap


def _bootstrap_replicates(statistic: Callable[[np.ndarray], ArrayLike], n_items: int,
                          n_boot: int, seed: int) -> np.ndarray:
    """``statistic`` on ``n_boot`` resamples (indices drawn with replacement), shape (n_boot, m).

    The resamples depend only on (n_items, n_boot, seed): two calls with the same three see the
    same resamples, whatever the statistic.
    """
    if n_items < 1:
        raise ValueError("the bootstrap needs at least one item")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    # One resample at a time: memory stays O(n_items) however many resamples are asked for.
    reps = [np.atleast_1d(np.asarray(statistic(rng.integers(0, n_items, size=n_items)),
                                     dtype=float))
            for _ in range(n_boot)]
    return np.vstack(reps)


def _percentile_bounds(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bounds per column, ignoring non-finite replicates (a resample on which the
    statistic is undefined, e.g. a correlation of a constant resample); NaN if none is left."""
    alpha = 1.0 - confidence
    reps = np.asarray(replicates, dtype=float)
    if reps.ndim == 1:
        reps = reps[:, None]
    low = np.full(reps.shape[1], np.nan)
    high = np.full(reps.shape[1], np.nan)
    for j in range(reps.shape[1]):
        col = reps[:, j][np.isfinite(reps[:, j])]
        if col.size:
            low[j], high[j] = np.percentile(col, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return low, high


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_items: int,
                       n_boot: int = 1000, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``n_items`` exchangeable items.

    ``statistic`` receives an index array (length ``n_items``, drawn uniformly with
    replacement from ``range(n_items)``) and returns a float. The interval is
    [q_{alpha/2}, q_{1-alpha/2}] of the ``n_boot`` replicates, alpha = 1 - confidence
    (Efron & Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13). Replicates that are
    not finite are left out; if none is finite the interval is (nan, nan). The resamples depend
    only on (``n_items``, ``n_boot``, ``seed``), so several statistics bootstrapped with the same
    seed see the same resamples.
    """
    confidence = _check_confidence(confidence)
    reps = _bootstrap_replicates(lambda idx: float(statistic(idx)), n_items, n_boot, seed)
    low, high = _percentile_bounds(reps, confidence)
    return float(low[0]), float(high[0])


# ----------------------------------------------------------------------------------------------
# 1. Variance split


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
      estimate is); neither can exceed 1 for a finite F, so the clip at 1 only guards rounding.
      The interval is exact for balanced data under normality; with unbalanced seeds n0 makes
      it the usual approximation.

    Groups without a finite value are dropped. Raises ValueError with fewer than 2 groups or
    when no group has 2+ values (there is then no within-architecture variance to compare with).
    If MSW = 0 (every architecture's seeds agree exactly) F is infinite and icc = 1 with the
    interval [1, 1] when the architecture means differ, NaN when they do not.
    """
    confidence = _check_confidence(confidence)
    data = _clean_groups(groups)
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
    )


# ----------------------------------------------------------------------------------------------
# 2. Expected best-of-k random search


class _BestOfKTable:
    """A cleaned (val, test) table prepared once for any number of k (see :func:`best_of_k`)."""

    def __init__(self, val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike]):
        vals, tests = _clean_pairs(val_groups, test_groups)
        if not vals:
            raise ValueError("best_of_k needs at least one architecture with a finite "
                             "(val, test) pair")
        self.n_archs = len(vals)
        self.counts = np.array([v.size for v in vals], dtype=int)
        self.run_arch = np.repeat(np.arange(self.n_archs), self.counts)
        self.run_val = np.concatenate(vals)
        self.run_test = np.concatenate(tests)
        # A candidate's keep-probability depends only on (its architecture, its val value), so
        # it is computed once per distinct pair and mapped back to the runs.
        pairs = np.stack([self.run_arch.astype(float), self.run_val], axis=1)
        uniq, self.run_to_pair = np.unique(pairs, axis=0, return_inverse=True)
        self.run_to_pair = self.run_to_pair.reshape(-1)
        self.pair_arch = uniq[:, 0].astype(int)
        # a_j(v) = P(val of a random run of j < v), b_j(v) = P(... == v), per distinct value.
        self.values, pair_to_value = np.unique(uniq[:, 1], return_inverse=True)
        self.pair_to_value = pair_to_value.reshape(-1)
        matrix, counts = _padded(vals)
        self.below = np.empty((self.values.size, self.n_archs))
        self.equal = np.empty((self.values.size, self.n_archs))
        step = max(1, _CHUNK_ELEMENTS // matrix.size)
        for start in range(0, self.values.size, step):
            v = self.values[start:start + step, None, None]
            # NaN padding compares False both ways, so it counts in neither share.
            self.below[start:start + step] = (matrix[None] < v).sum(axis=2) / counts
            self.equal[start:start + step] = (matrix[None] == v).sum(axis=2) / counts

    def keep_probabilities(self, k: int) -> np.ndarray:
        """P(run is the one kept) for every run, in run order."""
        n = self.n_archs
        # The integrand prod_j (a_j + b_j z) has degree min(k-1, T), T = the rivals with a run
        # tied at v; Gauss-Legendre with deg//2 + 1 nodes is exact for it (at most
        # ceil(k/2)+1 nodes). Pairs are processed sorted by T so that a chunk's node count
        # fits its pairs: without ties one node is exact, which saves a factor ~k/2.
        rivals_tied = ((self.equal[self.pair_to_value] > 0).sum(axis=1)
                       - (self.equal[self.pair_to_value, self.pair_arch] > 0))
        degree = np.minimum(k - 1, rivals_tied)
        order = np.argsort(degree, kind="stable")
        m = np.arange(k, dtype=float)
        win = np.empty(self.pair_arch.size)
        step = max(1, _CHUNK_ELEMENTS // ((math.ceil(k / 2) + 1) * max(k, n)))
        for start in range(0, order.size, step):
            pairs = order[start:start + step]
            nodes, weights = np.polynomial.legendre.leggauss(int(degree[pairs].max()) // 2 + 1)
            z = (nodes + 1.0) / 2.0   # Gauss-Legendre on [-1, 1] mapped to [0, 1]
            w = weights / 2.0
            value_idx = self.pair_to_value[pairs]
            # x_j(z) = a_j + b_j z, shape (pairs, nodes, archs)
            x = (self.below[value_idx][:, None, :]
                 + self.equal[value_idx][:, None, :] * z[None, :, None])
            # The candidate's own architecture is not among its rivals.
            x[np.arange(pairs.size), :, self.pair_arch[pairs]] = 0.0
            # Normalised DP for E_m = e_m(x_1..x_t) / C(t, m), m = 0..k-1, over t = 1..N:
            # E_m <- ((t-m)/t) E_m + (m/t) x_t E_{m-1}. Dividing by C(t, m) as we go keeps every
            # entry in [0, 1]; the raw e_m would overflow float64 for a few hundred archs.
            # Only m <= t can be non-zero yet, and only m >= k-1-(N-t) can still reach k-1, so
            # each step updates just that band.
            e = np.zeros(x.shape[:2] + (k,))
            e[..., 0] = 1.0
            for t in range(1, n + 1):
                lo, hi = max(1, k - 1 - (n - t)), min(t, k - 1)
                if lo > hi:
                    continue
                band = m[lo:hi + 1]
                e[..., lo:hi + 1] = (((t - band) / t) * e[..., lo:hi + 1]
                                     + (band / t) * x[..., t - 1, None] * e[..., lo - 1:hi])
            # e_{k-1}(x without own) / C(N-1, k-1) = E_{k-1} * C(N, k-1) / C(N-1, k-1)
            #                                      = E_{k-1} * N / (N - k + 1)
            win[pairs] = (e[..., k - 1] * (n / (n - k + 1))) @ w
        # P(kept) = P(arch in the k) * P(this seed) * P(it wins) = (k/N) (1/S_i) win.
        return (k / n) / self.counts[self.run_arch] * win[self.run_to_pair]

    def expected_test(self, k: int) -> float:
        k = operator.index(k)
        if not 1 <= k <= self.n_archs:
            raise ValueError(f"k must satisfy 1 <= k <= N = {self.n_archs} architectures, "
                             f"got k = {k}")
        p = self.keep_probabilities(k)
        total = float(p.sum())
        if abs(total - 1.0) > _PROBABILITY_TOLERANCE:
            raise RuntimeError(f"best_of_k: keep-probabilities sum to {total!r}, not 1 "
                               "(an internal error)")
        return float(p @ self.run_test)


def best_of_k(val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike],
              k: int) -> float:
    """Exact expected test metric of random search over k architectures, selecting by val.

    The procedure: draw k distinct architectures uniformly at random from the N; for each, one
    of its S_i finished seeds uniformly at random; keep the candidate with the highest
    validation value, ties broken uniformly at random; report its test value. No Monte Carlo:
    for a candidate run p = (i, s) with validation value v,

        P(p kept) = (k/N) (1/S_i) E_J[ integral_0^1 prod_{j in J} (a_j + b_j z) dz ],

    J a uniformly random (k-1)-subset of the other N-1 architectures, a_j (b_j) the share of
    architecture j's runs with val < v (== v). Given J, p wins iff no rival beats v and it wins
    the tie-break among the t rivals that equal v, which has probability
    1/(t+1) = integral_0^1 z^t dz; expanding the product gives exactly that. E_J of the product
    is e_{k-1}(x_{-i}) / C(N-1, k-1) with e the elementary symmetric polynomial (the average of
    a product over random subsets; e.g. Stanley, *Enumerative Combinatorics* vol. 2, 7.5), by
    the usual O(N k) dynamic programme, here normalised by C(t, m) at each step to stay in
    [0, 1]. The integrand is a polynomial in z of degree min(k-1, T), T the rivals with a run
    tied at v, so Gauss-Legendre quadrature with ceil(k/2)+1 nodes is exact (fewer, deg//2+1,
    are used where fewer rivals tie). The result is sum_p P(p kept) test_p; the probabilities are
    checked to sum to 1 within 1e-9 (RuntimeError otherwise).

    This is the "expected maximum" curve of Dodge et al. (2019, "Show your work", EMNLP) made
    exact for sampling without replacement, seeds, and ties, as used to report random search on
    tabular NAS benchmarks (Ying et al. 2019, NAS-Bench-101; Dong & Yang 2020, NAS-Bench-201).

    Runs with a non-finite val or test are dropped, then architectures without runs; N counts
    what is left. ValueError unless 1 <= k <= N.

    Cost: O(P * Q * k * N) for P distinct (architecture, val) pairs and Q <= ceil(k/2)+1
    quadrature nodes, vectorised over pairs and nodes (well under a second for 100
    architectures x 3 seeds and k = 50; memory is bounded by processing the pairs in chunks).
    """
    return _BestOfKTable(val_groups, test_groups).expected_test(k)


def best_of_k_curve(val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike],
                    ks: Iterable[int]) -> dict[int, float]:
    """:func:`best_of_k` for every k in ``ks`` (in the given order), skipping k > N.

    The table is prepared once. ValueError for a k below 1.
    """
    table = _BestOfKTable(val_groups, test_groups)
    out: dict[int, float] = {}
    for k in ks:
        k = operator.index(k)
        if k > table.n_archs:
            continue  # a budget beyond the table's size is not defined by it
        out[k] = table.expected_test(k)
    return out


# ----------------------------------------------------------------------------------------------
# 3. Rank correlation


def rank_correlation(x: ArrayLike, y: ArrayLike, n_boot: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> RankCorrelation:
    """Spearman rho and Kendall tau-b of paired items, with percentile bootstrap intervals.

    rho is Pearson's correlation of the ranks (average ranks for ties; Spearman 1904);
    tau-b = (P - Q) / sqrt((P + Q + T_x)(P + Q + T_y)) with P concordant and Q discordant pairs
    and T_x, T_y pairs tied only in x, only in y (Kendall 1945, Biometrika 33:239). Both and
    their p-values are scipy's (``scipy.stats.spearmanr``, ``scipy.stats.kendalltau``). The
    intervals are percentile bootstrap intervals over the items (Efron & Tibshirani 1993): the
    same ``n_boot`` resamples of indices, drawn with replacement, serve both statistics;
    resamples on which a correlation is undefined (constant) are left out of its interval.

    Items where x or y is not finite are dropped first; with fewer than 3 left every field but
    ``n`` and ``confidence`` is None.
    """
    confidence = _check_confidence(confidence)
    x = np.asarray(x, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must pair up item by item: {x.size} against {y.size} values")
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(x.size)
    if n < 3:
        return RankCorrelation(n, None, None, None, None, None, None, None, None, confidence)

    def both(idx: np.ndarray) -> tuple[float, float]:
        return (float(sps.spearmanr(x[idx], y[idx]).statistic),
                float(sps.kendalltau(x[idx], y[idx]).statistic))

    with warnings.catch_warnings():
        # Constant inputs (whole data or a resample) give NaN with a warning; NaN is handled.
        warnings.simplefilter("ignore")
        sp = sps.spearmanr(x, y)
        kt = sps.kendalltau(x, y)
        reps = _bootstrap_replicates(both, n, n_boot, seed)
    low, high = _percentile_bounds(reps, confidence)
    return RankCorrelation(
        n=n,
        spearman=float(sp.statistic), spearman_low=float(low[0]), spearman_high=float(high[0]),
        spearman_p=float(sp.pvalue),
        kendall=float(kt.statistic), kendall_low=float(low[1]), kendall_high=float(high[1]),
        kendall_p=float(kt.pvalue),
        confidence=confidence,
    )


# ----------------------------------------------------------------------------------------------
# 4. Order statistics of the architecture means


def _order_stats(means: np.ndarray) -> np.ndarray:
    """(best, top10, median, worst) along the last axis of ``means``."""
    k = means.shape[-1]
    top = max(1, k // 10)
    ordered = np.sort(means, axis=-1)
    return np.stack([ordered[..., -1], ordered[..., k - top:].mean(axis=-1),
                     np.median(ordered, axis=-1), ordered[..., 0]], axis=-1)


_ORDER_NAMES = ("best", "top10", "median", "worst")


def order_statistics(groups: Sequence[ArrayLike], n_boot: int = 2000, seed: int = 0,
                     confidence: float = 0.95) -> dict[str, Interval]:
    """Order statistics of the architecture means m_i (each the mean over its seeds).

    Keys: "best" = max m_i, "top10" = the mean of the floor(k/10) largest m_i (at least one),
    "median" = median m_i, "worst" = min m_i. The intervals come from a two-level (hierarchical)
    bootstrap that mirrors how the table was made: resample k architectures with replacement,
    then within each resampled architecture its seeds with replacement, recompute the means and
    the statistic; percentile bounds of ``n_boot`` replicates (Davison & Hinkley 1997,
    *Bootstrap Methods and their Application*, sec. 3.8; Efron & Tibshirani 1993).

    "best" is biased upward as an estimate of the best architecture's true metric (winner's
    curse: the largest of k noisy means favours the lucky seeds), and so is "top10" to a lesser
    degree. The interval describes the resampling variability of the statistic, not that bias:
    it does not correct it, and the bootstrap of a maximum is itself not reliable near the top.

    Non-finite values are dropped, then architectures without values; ValueError if none is
    left.
    """
    confidence = _check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    data = _clean_groups(groups)
    if not data:
        raise ValueError("order_statistics needs at least one architecture with a value")
    matrix, counts = _padded(data)
    k, width = matrix.shape
    point = _order_stats(np.array([g.mean() for g in data]))

    rng = np.random.default_rng(seed)
    reps = np.empty((n_boot, len(_ORDER_NAMES)))
    step = max(1, _CHUNK_ELEMENTS // (k * width))
    for start in range(0, n_boot, step):
        b = min(step, n_boot - start)
        archs = rng.integers(0, k, size=(b, k))
        n_seeds = counts[archs]                                       # (b, k)
        # Seed draws as floor(u * n_i): uniform over each architecture's own seeds; the columns
        # past n_i are masked out of the mean.
        seed_idx = np.floor(rng.random((b, k, width)) * n_seeds[..., None]).astype(int)
        values = matrix[archs[..., None], seed_idx]
        mask = np.arange(width) < n_seeds[..., None]
        means = np.where(mask, values, 0.0).sum(axis=-1) / n_seeds
        reps[start:start + b] = _order_stats(means)
    low, high = _percentile_bounds(reps, confidence)
    return {name: Interval(float(point[j]), float(low[j]), float(high[j]))
            for j, name in enumerate(_ORDER_NAMES)}


# ----------------------------------------------------------------------------------------------
# 5. Percentile of one value


def percentile_of(value: float, population: ArrayLike) -> float:
    """Percentile rank of ``value`` in ``population``, in [0, 100]:

        100 * (#{p < value} + #{p == value} / 2) / n,

    the mid-rank definition (ties count half; scipy.stats.percentileofscore(kind="mean")).
    Non-finite population entries are dropped; ValueError if none is left or value is NaN.
    """
    pop = np.asarray(population, dtype=float).reshape(-1)
    pop = pop[np.isfinite(pop)]
    if pop.size == 0:
        raise ValueError("percentile_of needs a population with at least one finite value")
    value = float(value)
    if math.isnan(value):
        raise ValueError("percentile_of: value is NaN")
    below = np.count_nonzero(pop < value)
    equal = np.count_nonzero(pop == value)
    return float(100.0 * (below + 0.5 * equal) / pop.size)


def held_out_best(groups: Sequence[ArrayLike], top: float = 0.0, n_boot: int = 1000,
                  seed: int = 0, confidence: float = 0.95) -> Interval:
    """The best architecture judged on held-out seeds, free of the winner's curse: for each
    seed s, the architecture(s) with the highest mean over the *other* seeds (the top ``top``
    share of them, at least one, with ``top`` > 0) are scored by their seed-s value alone; the
    average over s. This is what picking the best-looking architecture and training it once
    more is expected to give (cross-validation over seeds; cf. the selection bias discussed by
    Yang et al., "NAS evaluation is frustratingly hard", ICLR 2020). Needs the architectures
    with at least two seeds; uses the first ``n`` seeds of each, n the smallest count among
    them. Interval: bootstrap over architectures."""
    confidence = _check_confidence(confidence)
    data = [g for g in _clean_groups(groups) if len(g) >= 2]
    if len(data) < 2:
        raise ValueError("held_out_best needs two architectures with two or more seeds")
    n = min(len(g) for g in data)
    matrix = np.array([g[:n] for g in data])
    keep = max(1, int(np.floor(top * len(data))))

    def statistic(rows: np.ndarray) -> float:
        m = matrix[rows]
        scores = []
        for s in range(n):
            others = np.delete(m, s, axis=1).mean(axis=1)
            chosen = np.argsort(-others, kind="stable")[:keep]
            scores.append(m[chosen, s].mean())
        return float(np.mean(scores))

    low, high = bootstrap_interval(statistic, len(data), n_boot, seed, confidence)
    return Interval(statistic(np.arange(len(data))), low, high)
