"""What picking architectures gives: random search's best of K, and the best architecture of a
table, each scored on retrainings that did not pick it.

A selection scored on the run that picked it carries that run's luck: the best of K candidates
on validation is, among other things, the luckiest run, and its own test value is lucky too (a
flat BreastMNIST-like table gives 0.848 where the picked architecture retrains to 0.83). A
searched network is scored as the mean of fresh retrainings, so the reference it is held against
must be too: here a candidate is picked on one seed's validation value and scored by its
architecture's *other* seeds (``held_out=True``, the default). ``held_out=False`` keeps the old
same-run score, for comparison only.

The intervals are about *this* table's architectures: what picking among them and retraining
the pick gives, in truth (its architecture's true mean, the mean over infinitely many seeds).
Given the picks, a held-out score is the picked architectures' true means plus seed residuals
that played no part in the picking, so its error is a known linear combination of independent
residuals, with the seed variance pooled over the landscape's architectures of similar means as
their
variance: a t interval, exact under normal, equal seed noise. (A bootstrap over architectures
cannot do this: it never varies the seeds of the architecture a selection picks, so its upper
bound could not pass the observed value — coverage 0.77 with one clear winner; resampling both
levels from linearly shrunken effects, Davison & Hinkley §3.8, shrinks a lone winner towards the
rest and covered 0.54 there.)
"""

from __future__ import annotations

import math
import operator
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

from zodarts.stats.common import (N_BOOT, Estimate, Interval, balanced, bootstrap_replicates,
                                  check_confidence, clean_groups, clean_pairs, padded,
                                  percentile_bounds)

# The sum of the exact keep-probabilities must be 1 up to rounding; more is a bug, not noise.
_PROBABILITY_TOLERANCE = 1e-9
# ACC and AUC lie in [0, 1]: an interval for one is clipped to it.
METRIC_RANGE = (0.0, 1.0)
# Upper bound on the elements of one intermediate array, so that large tables are processed in
# chunks instead of allocating gigabytes.
_CHUNK_ELEMENTS = 2_000_000


class _BestOfKTable:
    """A cleaned (val, score) table prepared once for any number of k (see :func:`best_of_k`):
    runs are picked on val and scored by ``score`` (aligned with val run by run)."""

    def __init__(self, val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike]):
        vals, tests = clean_pairs(val_groups, test_groups)
        if not vals:
            raise ValueError("best_of_k needs at least one architecture with a finite "
                             "(val, test) pair")
        self.n_archs = len(vals)
        self.counts = np.array([v.size for v in vals], dtype=int)
        self.run_arch = np.repeat(np.arange(self.n_archs), self.counts)
        self.run_val = np.concatenate(vals)
        self.run_score = np.concatenate(tests)
        # A candidate's keep-probability depends only on (its architecture, its val value), so
        # it is computed once per distinct pair and mapped back to the runs.
        pairs = np.stack([self.run_arch.astype(float), self.run_val], axis=1)
        uniq, self.run_to_pair = np.unique(pairs, axis=0, return_inverse=True)
        self.run_to_pair = self.run_to_pair.reshape(-1)
        self.pair_arch = uniq[:, 0].astype(int)
        # a_j(v) = P(val of a random run of j < v), b_j(v) = P(... == v), per distinct value.
        self.values, pair_to_value = np.unique(uniq[:, 1], return_inverse=True)
        self.pair_to_value = pair_to_value.reshape(-1)
        matrix, counts = padded(vals)
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
        return float(p @ self.run_score)


def held_out_scores(val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike]
                    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """For each run, its architecture's mean test value over the *other* runs: what picking that
    run's architecture and training it again gives. Architectures need two or more runs."""
    vals, tests = clean_pairs(val_groups, test_groups)
    keep = [i for i, t in enumerate(tests) if t.size >= 2]
    scores = [(tests[i].sum() - tests[i]) / (tests[i].size - 1) for i in keep]
    return [vals[i] for i in keep], scores


def best_of_k(val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike], k: int,
              held_out: bool = True) -> float:
    """Exact expected test metric of random search over k architectures, selecting by val.

    The procedure: draw k distinct architectures uniformly at random from the N; for each, one
    of its S_i finished seeds uniformly at random (the one training random search gives a
    candidate); keep the candidate with the highest validation value, ties broken uniformly at
    random; score it — by default by its architecture's other seeds' mean test value
    (``held_out``: what retraining the pick gives, as a searched network is scored), else by
    the picked run's own test value. No Monte Carlo: for a candidate run p = (i, s) with
    validation value v,

        P(p kept) = (k/N) (1/S_i) E_J[ integral_0^1 prod_{j in J} (a_j + b_j z) dz ],

    J a uniformly random (k-1)-subset of the other N-1 architectures, a_j (b_j) the share of
    architecture j's runs with val < v (== v). Given J, p wins iff no rival beats v and it wins
    the tie-break among the t rivals that equal v, which has probability
    1/(t+1) = integral_0^1 z^t dz; expanding the product gives exactly that. E_J of the product
    is e_{k-1}(x_{-i}) / C(N-1, k-1) with e the elementary symmetric polynomial, by the usual
    O(N k) dynamic programme normalised by C(t, m) at each step to stay in [0, 1]. The integrand
    is a polynomial in z of degree min(k-1, T), T the rivals with a run tied at v, so
    Gauss-Legendre quadrature with ceil(k/2)+1 nodes is exact. The probabilities are checked to
    sum to 1 within 1e-9. This is the "expected maximum" curve of Dodge et al. (2019, EMNLP),
    made exact for sampling without replacement, seeds and ties.

    Held out, only architectures with two or more runs take part (N counts them). Runs with a
    non-finite val or test are dropped first. ValueError unless 1 <= k <= N.
    """
    return best_of_k_curve(val_groups, test_groups, [k], held_out, strict=True)[k]


def best_of_k_curve(val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike],
                    ks: Iterable[int], held_out: bool = True, strict: bool = False
                    ) -> dict[int, float]:
    """:func:`best_of_k` for every k in ``ks`` (in the given order), skipping k > N (unless
    ``strict``: then it is an error). The table is prepared once."""
    if held_out:
        val_groups, test_groups = held_out_scores(val_groups, test_groups)
    table = _BestOfKTable(val_groups, test_groups)
    out: dict[int, float] = {}
    for k in ks:
        k = operator.index(k)
        if k > table.n_archs and not strict:
            continue  # a budget beyond the table's size is not defined by it
        out[k] = table.expected_test(k)
    return out


# The architectures whose seed variance speaks for a value: the third of them with the closest
# means (at least this many). A landscape's seed noise is not the same everywhere: on the
# closure control the architectures at its ceiling vary by half a point from seed to seed, the
# ones that half fail by ten, and a variance pooled over all of them made every interval about
# the top architectures four times too wide.
LOCAL_SHARE, LOCAL_MIN = 1 / 3, 10


def seed_noise(groups: Sequence[ArrayLike], around: float | None = None) -> tuple[float, int]:
    """The pooled within-architecture variance σ²_seed (MSW) and its degrees of freedom, over
    the architectures with two or more values; with ``around``, over those of them whose means
    are closest to it (a third of them, at least ten): the seed noise of architectures like the
    ones an estimate is about (homoscedastic tables give the same value with fewer degrees of
    freedom, so wider t intervals)."""
    data = [g for g in clean_groups(groups) if g.size >= 2]
    if around is not None and len(data) > LOCAL_MIN:
        keep = max(LOCAL_MIN, math.ceil(LOCAL_SHARE * len(data)))
        data = sorted(data, key=lambda g: abs(g.mean() - around))[:keep]
    dof = sum(g.size - 1 for g in data)
    if dof < 1:
        return math.nan, 0
    return float(sum(((g - g.mean()) ** 2).sum() for g in data) / dof), dof


def reference(val_groups: Sequence[ArrayLike], test_groups: Sequence[ArrayLike],
              ks: Iterable[int], confidence: float = 0.95) -> dict[int, Estimate]:
    """Random search's expected best-of-K among this table's architectures (picked on one
    seed's validation, scored on the architecture's other seeds) for each K ≤ N, with a t
    interval for the picked architectures' expected *true* mean: the reference a searched
    network is held against. Empty where no architecture has two runs.

    The estimate is Σ_p w_p · score_p with w_p the exact keep-probability of run p and score_p
    the mean of its architecture's other runs; the weights are fixed by the validation values,
    and score_p − (its architecture's true mean) is a mean of test residuals of other runs, so
    the error is Σ_{i,s} c_is e_is with c_is = Σ_{r≠s} w_ir / (S_i − 1) and Var = σ²_seed Σ c².
    """
    confidence = check_confidence(confidence)
    vals, scores = held_out_scores(val_groups, test_groups)
    if not vals:   # no architecture with a second run to score a pick on
        return {}
    tests = [t for t in clean_pairs(val_groups, test_groups)[1] if t.size >= 2]
    table = _BestOfKTable(vals, scores)
    out = {}
    for k in ks:
        k = operator.index(k)
        if k > table.n_archs:
            continue
        w = table.keep_probabilities(k)
        value = float(w @ table.run_score)
        sigma2, dof = seed_noise(tests, around=value)
        coef = []
        for i in range(table.n_archs):
            wi = w[table.run_arch == i]
            coef.append((wi.sum() - wi) / (wi.size - 1))
        se = math.sqrt(sigma2 * float(np.sum(np.concatenate(coef) ** 2)))
        out[k] = Estimate(value, se, dof, confidence, *METRIC_RANGE)
    return out


def _held_out_picks(y: np.ndarray, keep: int) -> np.ndarray:
    """For tables ``y`` (..., k, n): per seed s, the indices of the ``keep`` architectures
    best on the other seeds, shape (..., n, keep)."""
    n = y.shape[-1]
    others = (y.sum(axis=-1, keepdims=True) - y) / (n - 1)
    order = np.argsort(-np.moveaxis(others, -1, -2), axis=-1, kind="stable")
    return order[..., :keep]


def _held_out_error_sd(k: int, n: int, keep: int, sigma_a: float, sigma_e: float,
                       reps: int = 500, seed: int = 0) -> float:
    """The spread of (held-out score − the picks' true mean) in normal tables with these
    variance components. Each seed's residual is independent of that seed's pick, but an
    architecture picked at two seeds was picked partly for its residual at the other one, so
    the residuals of overlapping picks correlate (the top 10% overlap much more than a single
    best): simulated rather than assumed away."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, sigma_a, size=(reps, k))
    y = a[..., None] + rng.normal(0.0, sigma_e, size=(reps, k, n))
    picks = _held_out_picks(y, keep)                                 # (reps, n, keep)
    scored = np.take_along_axis(np.moveaxis(y, -1, -2), picks, axis=-1)
    true = np.take_along_axis(np.broadcast_to(a[:, None, :], (reps, n, k)), picks, axis=-1)
    return float((scored - true).mean(axis=(-2, -1)).std())


def held_out_best(groups: Sequence[ArrayLike], top: float = 0.0,
                  confidence: float = 0.95) -> Estimate:
    """The best architecture judged on held-out seeds, free of the winner's curse: for each
    seed s, the architecture(s) with the highest mean over the *other* seeds (the top ``top``
    share of them, at least one) are scored by their seed-s value alone; the average over s.
    This is what picking the best-looking architecture and training it once more gives
    (cross-validation over seeds; cf. the selection bias discussed by Yang et al., "NAS
    evaluation is frustratingly hard", ICLR 2020). Uses the architectures with two or more
    seeds, each cut to the smallest such count n.

    Interval: for the picked architectures' true mean. Each seed-s score is a picked true mean
    plus a residual that seed's pick did not see, so the error is a mean of n · keep residuals
    of variance σ²_seed (pooled, many degrees of freedom), correlated only where one
    architecture is picked at several seeds; its spread is simulated at the table's estimated
    variance components (:func:`_held_out_error_sd`), and the interval is a t interval with
    that spread, never narrower than the independent case's σ_seed / sqrt(n · keep)."""
    from zodarts.stats.variance import variance_split

    confidence = check_confidence(confidence)
    (y,) = balanced(groups)
    if y.shape[0] < 2:
        raise ValueError("held_out_best needs two architectures with two or more seeds")
    k, n = y.shape
    keep = max(1, int(np.floor(top * k)))
    picks = _held_out_picks(y, keep)
    value = float(np.mean([y[picks[s], s].mean() for s in range(n)]))
    sigma2, dof = seed_noise(list(y), around=value)
    split = variance_split(list(y))
    se = max(math.sqrt(sigma2 / (n * keep)),
             _held_out_error_sd(k, n, keep, math.sqrt(split.between), math.sqrt(sigma2)))
    return Estimate(value, se, dof, confidence, *METRIC_RANGE)


QUANTILE_NAMES = ("median",)


def architecture_quantiles(groups: Sequence[ArrayLike], n_boot: int = N_BOOT, seed: int = 0,
                           confidence: float = 0.95) -> dict[str, Interval]:
    """How the architectures' means spread, as measured: the median architecture mean with a
    percentile interval from a bootstrap over architectures only (each mean already carries its
    seeds' noise, which the old second, within-architecture resampling counted twice: its
    intervals missed their own point estimate a third of the time). Also ``best``, ``worst``
    and ``top10`` (the mean of the best tenth of the means), without an interval: each includes
    the luck of the seeds that made it look best or worst, and neither a maximum nor a tail of a
    few means has a bootstrap interval that holds 95% (the bootstrap of a maximum can never pass
    the observed one, Bickel & Freedman 1981; a top tenth's covered 83–86% in simulation). The
    held-out best and top 10% (:func:`held_out_best`) are their honest counterparts."""
    confidence = check_confidence(confidence)
    data = clean_groups(groups)
    if len(data) < 2:
        raise ValueError("architecture_quantiles needs two architectures with a value")
    means = np.array([g.mean() for g in data])
    reps = bootstrap_replicates(lambda idx: np.median(means[idx]), means.size, n_boot, seed)
    low, high = percentile_bounds(reps, confidence)
    ordered = np.sort(means)
    tail = max(1, means.size // 10)
    return {"median": Interval(float(np.median(means)), float(low[0]), float(high[0])),
            "best": Interval(float(ordered[-1]), math.nan, math.nan),
            "top10": Interval(float(ordered[-tail:].mean()), math.nan, math.nan),
            "worst": Interval(float(ordered[0]), math.nan, math.nan)}


def placed_mean(values: ArrayLike, sigma2: float, dof: int, confidence: float = 0.95
                ) -> Estimate:
    """The mean of a placed network's retrainings, its standard error from the landscape's
    seed variance ``sigma2`` (``dof`` degrees of freedom; pooled over architectures of similar
    means, :func:`seed_noise`): two or three seeds of its own
    could not estimate their spread, and a seed moves every architecture of the space alike
    (the variance split's model)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return Estimate(float(values.mean()), math.sqrt(sigma2 / values.size), dof, confidence,
                    *METRIC_RANGE)
