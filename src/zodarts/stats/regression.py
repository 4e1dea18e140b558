"""Which features of an architecture explain the spread of its mean metric: ordinary least
squares on standardised features, with t intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Coefficient:
    feature: str
    value: float            # change of the mean metric per standard deviation of the feature
    low: float
    high: float
    p_value: float


@dataclass(frozen=True)
class FeatureFit:
    coefficients: list[Coefficient]
    r2: float               # share of the architecture means' variance the features explain
    r2_adjusted: float
    n: int
    dropped: list[str]      # constant or collinear features left out
    confidence: float

    def to_dict(self) -> dict:
        import dataclasses
        return dataclasses.asdict(self)


def fit_features(features: dict[str, np.ndarray], target: np.ndarray,
                 confidence: float = 0.95) -> FeatureFit | None:
    """OLS of ``target`` (one value per architecture) on the ``features`` (name → one value
    per architecture), each standardised, so a coefficient reads as "per standard deviation of
    the feature". Constant features, and features that are linear combinations of earlier ones
    (operation shares that sum to a constant), are dropped and named. Classical t intervals
    (n − p − 1 degrees of freedom); None with fewer than p + 3 architectures. The target
    carries seed noise, which lowers R² below what the true means would give (at most the
    means' reliability, σ²_arch / (σ²_arch + σ²_seed / n))."""
    names = list(features)
    y = np.asarray(target, dtype=float)
    X = np.column_stack([np.asarray(features[f], dtype=float) for f in names]) if names else \
        np.empty((y.size, 0))
    keep = np.isfinite(y) & np.all(np.isfinite(X), axis=1)
    X, y = X[keep], y[keep]
    dropped, columns, used = [], [], []
    for j, name in enumerate(names):
        column = X[:, j]
        if column.std() == 0:
            dropped.append(name)
            continue
        z = (column - column.mean()) / column.std()
        trial = np.column_stack([np.ones(y.size), *columns, z])
        if np.linalg.matrix_rank(trial) < trial.shape[1]:
            dropped.append(name)
            continue
        columns.append(z)
        used.append(name)
    p = len(used)
    n = y.size
    if n < p + 3 or p == 0:
        return None
    design = np.column_stack([np.ones(n), *columns])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    dof = n - p - 1
    sigma2 = float(residual @ residual) / dof
    covariance = sigma2 * np.linalg.inv(design.T @ design)
    se = np.sqrt(np.diag(covariance))
    t = sps.t.ppf(0.5 + confidence / 2, dof)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(residual @ residual) / total if total > 0 else math.nan
    coefficients = [
        Coefficient(name, float(beta[j + 1]), float(beta[j + 1] - t * se[j + 1]),
                    float(beta[j + 1] + t * se[j + 1]),
                    float(2 * sps.t.sf(abs(beta[j + 1] / se[j + 1]), dof)))
        for j, name in enumerate(used)]
    return FeatureFit(coefficients, r2, 1 - (1 - r2) * (n - 1) / dof, n, dropped, confidence)
