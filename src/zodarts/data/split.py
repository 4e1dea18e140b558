"""Seeded, stratified partitions: the 70/10/20 split of data that comes without one, and the
search split of train+val into the half that trains the weights ω and the half that
validates the architecture α (the test split is never touched here)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from zodarts.data.dataset import ImageDataset, Split
from zodarts.errors import DataError


def stratified_indices(labels: np.ndarray, fractions: Sequence[float],
                       seed: int) -> list[np.ndarray]:
    """Partition ``range(len(labels))`` into parts of the given fractions, stratified by label.

    Systematic sampling rather than per-class rounding: each sample gets its class quantile
    ``(rank + u) / n_class`` (rank in a seeded shuffle of its class, u uniform jitter), all samples
    are ordered by it and the order is cut at the cumulative fractions. The part sizes are then
    exact (``round(cumsum(fractions) * n)``) whatever the number of classes, and every class is
    spread over the parts in proportion, to within one sample. Each part is returned sorted.
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:  # multi-label: stratify on the first label, as documented
        labels = labels[:, 0]
    shares = np.asarray(fractions, dtype=np.float64)
    if np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {shares.tolist()}")
    n = len(labels)
    rng = np.random.default_rng(seed)
    quantile = np.empty(n, dtype=np.float64)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        ranks = rng.permutation(len(members))
        quantile[members] = (ranks + rng.random(len(members))) / len(members)
    order = np.argsort(quantile, kind="stable")
    cuts = np.round(np.cumsum(shares)[:-1] * n).astype(np.int64)
    return [np.sort(part) for part in np.split(order, cuts)]


def search_split(dataset: ImageDataset, seed: int, fraction: float = 0.5) -> tuple[Split, Split]:
    """(weights half, architecture half) of train+val, stratified and seeded; disjoint, covering.

    ``fraction`` is the share of train+val that trains the weights.
    """
    if not 0.0 < fraction < 1.0:
        raise DataError(f"search split fraction must be in (0, 1), got {fraction}")
    merged = dataset.splits["train"].concat(dataset.splits["val"])
    weights, arch = stratified_indices(merged.labels.numpy(), (fraction, 1.0 - fraction), seed)
    if len(weights) == 0 or len(arch) == 0:
        raise DataError(f"{dataset.name}: train+val has {len(merged)} images, too few to split "
                        f"into a weights half and an architecture half at fraction {fraction}")
    return merged.subset(torch.from_numpy(weights)), merged.subset(torch.from_numpy(arch))
