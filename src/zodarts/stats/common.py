"""What every statistic of a table of architectures × seeds shares: the input conventions, the
interval type, and the percentile bootstrap.

Input convention: a *groups* argument is a sequence with one 1-D array per architecture, holding
that architecture's metric over its finished seeds (the seed counts may differ). Where two
metrics are needed (validation and test), two such sequences are given aligned element-wise:
``val[i][s]`` and ``test[i][s]`` come from the same trained network. Non-finite values (a seed
that diverged or did not finish) are dropped, and so are architectures left without a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

# Resamples behind every bootstrap interval: with fewer, the same bound moves visibly between
# bootstrap seeds (±0.03 on a Spearman bound at 300), which decides whether "excludes 0" holds.
N_BOOT = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with the bounds of its confidence interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a standard error and the degrees of freedom of its t interval
    (``dof`` 0: no interval). Differences of independent estimates add their variances."""

    value: float
    se: float
    dof: int
    confidence: float = 0.95
    floor: float = -math.inf       # the range the quantity can take (a metric: [0, 1]); the
    ceiling: float = math.inf      # interval is clipped to it

    def _half(self) -> float:
        from scipy import stats as sps

        if not self.dof or not math.isfinite(self.se):
            return math.nan
        return float(sps.t.ppf(0.5 + self.confidence / 2, self.dof)) * self.se

    @property
    def low(self) -> float:
        return max(self.floor, self.value - self._half())

    @property
    def high(self) -> float:
        return min(self.ceiling, self.value + self._half())

    def minus(self, other: "Estimate") -> "Estimate":
        """self − other, the two independent (Welch–Satterthwaite-free: the smaller dof)."""
        dof = min(d for d in (self.dof, other.dof) if d) if self.dof and other.dof else 0
        return Estimate(self.value - other.value, math.hypot(self.se, other.se), dof,
                        self.confidence)

    def to_dict(self) -> dict:
        return {"value": self.value, "low": self.low, "high": self.high, "se": self.se,
                "dof": self.dof}


def check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    return confidence


def clean_groups(groups: Iterable[ArrayLike]) -> list[np.ndarray]:
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


def clean_pairs(val_groups: Sequence[ArrayLike],
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


def padded(groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Groups as a (k, max seeds) matrix padded with NaN, and the seed counts."""
    counts = np.array([g.size for g in groups], dtype=int)
    matrix = np.full((len(groups), int(counts.max())), np.nan)
    for i, g in enumerate(groups):
        matrix[i, :g.size] = g
    return matrix, counts


def balanced(*aligned: Sequence[ArrayLike], min_seeds: int = 2) -> list[np.ndarray]:
    """Aligned groups of several metrics as (k, n) matrices: the architectures with at least
    ``min_seeds`` runs finite in every metric, each cut to the first n runs, n the smallest such
    count. A landscape's seeds are balanced but while it grows; the statistics that need a
    rectangle (held-out seeds, the fitted random-effects world) use this one."""
    if not aligned:
        raise ValueError("balanced needs at least one metric")
    k = len(aligned[0])
    if any(len(a) != k for a in aligned):
        raise ValueError("every metric must list the same architectures")
    rows = []
    for i in range(k):
        runs = [np.asarray(a[i], dtype=float).reshape(-1) for a in aligned]
        if len({r.size for r in runs}) != 1:
            raise ValueError(f"architecture {i}: the metrics hold different numbers of runs")
        keep = np.logical_and.reduce([np.isfinite(r) for r in runs])
        if keep.sum() >= min_seeds:
            rows.append([r[keep] for r in runs])
    if not rows:
        return [np.empty((0, 0)) for _ in aligned]
    n = min(len(r[0]) for r in rows)
    return [np.array([r[m][:n] for r in rows]) for m in range(len(aligned))]


# ---- bootstrap --------------------------------------------------------------------------------

def bootstrap_replicates(statistic: Callable[[np.ndarray], ArrayLike], n_items: int,
                         n_boot: int, seed: int) -> np.ndarray:
    """``statistic`` on ``n_boot`` resamples (indices drawn with replacement), shape
    (n_boot, m). The resamples depend only on (n_items, n_boot, seed)."""
    if n_items < 1:
        raise ValueError("the bootstrap needs at least one item")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    reps = [np.atleast_1d(np.asarray(statistic(rng.integers(0, n_items, size=n_items)),
                                     dtype=float))
            for _ in range(n_boot)]
    return np.vstack(reps)


def percentile_bounds(replicates: ArrayLike, confidence: float) -> tuple[np.ndarray, np.ndarray]:
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
                       n_boot: int = N_BOOT, seed: int = 0,
                       confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``n_items`` exchangeable items.

    ``statistic`` receives an index array (length ``n_items``, drawn uniformly with
    replacement) and returns a float; the interval is [q_{α/2}, q_{1-α/2}] of the replicates
    (Efron & Tibshirani 1993, ch. 13), non-finite replicates left out.
    """
    confidence = check_confidence(confidence)
    reps = bootstrap_replicates(lambda idx: float(statistic(idx)), n_items, n_boot, seed)
    low, high = percentile_bounds(reps, confidence)
    return float(low[0]), float(high[0])


def t_interval(values: ArrayLike, confidence: float = 0.95, low: float = -math.inf,
               high: float = math.inf) -> tuple[float, list[float] | None]:
    """The mean of ``values`` and Student's t interval (n − 1 degrees of freedom; None below
    two values), clipped to the range [low, high] the quantity can take."""
    from scipy import stats as sps

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, None
    half = float(sps.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1)
                 / np.sqrt(values.size))
    return mean, [max(low, mean - half), min(high, mean + half)]


def percentile_of(value: float, population: ArrayLike) -> float:
    """Percentile rank of ``value`` in ``population``, in [0, 100]:
    100 · (#{p < value} + #{p == value} / 2) / n (mid-rank; scipy's
    ``percentileofscore(kind="mean")``). Non-finite entries are dropped; ValueError if none is
    left or ``value`` is NaN."""
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
