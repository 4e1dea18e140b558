"""What compute buys: at an equal number of retrainings K, the test ACC of (a) one random
architecture, (b) the best of K random architectures picked on validation and trained again,
(c) an ensemble of K seeds of one random architecture, (d) an ensemble of K random
architectures, one seed each, and (e) each placed search, retrained K times and averaged.

Ensembles average the members' class probabilities, which the landscape keeps for every
retraining (``probabilities.npz``). (a) and (b) are exact expectations over the table
(``zodarts.stats``); (c) is exact over the K-subsets of each architecture's seeds; (d) averages
many random draws of K architectures (the draws' own error is below 0.001 at the default count).
Intervals: (a)–(b) as in the report (t, pooled seed variance); (c)–(d) a percentile bootstrap
over architectures; (e) none (one network).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from zodarts.landscape.table import (ARCHS, PLACED, PROBABILITIES, ArchRows, Table,
                                     label_folder, seed_folder)
from zodarts.stats import N_BOOT, reference
from zodarts.stats.common import percentile_bounds

KS = (1, 3, 5)
ARCH_DRAWS = 2000


def accuracy(task: str, scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """MedMNIST's ACC of probabilities ``scores`` (..., n, classes) against ``labels``, over
    any leading axes: argmax, or for multi-label each label at 0.5, averaged."""
    if task == "multi-label":
        return ((scores > 0.5) == labels).mean(axis=(-2, -1))
    return (scores.argmax(axis=-1) == labels).mean(axis=-1)


def probabilities(folder, seeds: int) -> np.ndarray | None:
    """(seeds, n, classes) test probabilities of seeds 0..seeds-1 of an architecture's (or a
    placed search's) folder; None unless every one of them was kept."""
    out = []
    for s in range(seeds):
        path = seed_folder(folder, s) / PROBABILITIES
        if not path.is_file():
            return None
        with np.load(path) as data:
            out.append(data["test"].astype(np.float64))
    return np.stack(out)


def _seed_ensembles(probs: np.ndarray, task: str, labels: np.ndarray, k: int) -> np.ndarray:
    """Per architecture, the mean ACC of the ensembles of every k-subset of its seeds."""
    archs, seeds = probs.shape[:2]
    subsets = list(itertools.combinations(range(seeds), k))
    means = np.stack([probs[:, list(c)].mean(axis=1) for c in subsets], axis=1)
    return accuracy(task, means, labels).mean(axis=1)                   # (archs,)


def _arch_ensembles(probs: np.ndarray, task: str, labels: np.ndarray, k: int,
                    archs: np.ndarray, rng: np.random.Generator, draws: int) -> float:
    """Mean ACC of ensembles of k distinct architectures drawn from ``archs``, one random
    seed each."""
    seeds = probs.shape[1]
    total = 0.0
    step = max(1, 2_000_000 // (k * probs.shape[2] * probs.shape[3]))
    for start in range(0, draws, step):
        b = min(step, draws - start)
        chosen = np.argsort(rng.random((b, archs.size)), axis=1)[:, :k]
        picked = archs[chosen]                                          # (b, k)
        seed = rng.integers(0, seeds, size=(b, k))
        total += float(accuracy(task, probs[picked, seed].mean(axis=1), labels).sum())
    return total / draws


def what_compute_buys(table: Table, task: str, labels: np.ndarray, ks=KS,
                      n_boot: int = N_BOOT // 4, seed: int = 0,
                      placed: list[tuple[dict[str, Any], ArchRows]] = ()) -> dict[str, Any] | None:
    """The table of (a)–(e) for each K, or None where the landscape kept no probabilities
    (made before they were kept: rerun it, the retrainings are redone)."""
    archs = table.complete()
    seeds = table.settings.seeds
    loaded = [probabilities(table.root / ARCHS / a.id, seeds) for a in archs]
    keep = [i for i, p in enumerate(loaded) if p is not None]
    if len(keep) < 3:
        return None
    probs = np.stack([loaded[i] for i in keep])                         # (A, S, n, C)
    rows = [archs[i] for i in keep]
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"archs": len(rows), "seeds": seeds, "ks": list(ks), "rows": {}}
    single = accuracy(task, probs, labels)                               # (A, S)
    refs = reference([r.values("val_acc") for r in rows], [r.values("test_acc") for r in rows],
                     [k for k in ks if k <= len(rows)])
    for k in ks:
        row: dict[str, Any] = {}
        row["one"] = _bootstrapped(single.mean(axis=1), lambda m: m.mean(), n_boot, rng)
        if k in refs:
            row["best_of_k"] = {"value": refs[k].value, "low": refs[k].low,
                                "high": refs[k].high}
        if k <= seeds:
            per_arch = _seed_ensembles(probs, task, labels, k)
            row["seed_ensemble"] = _bootstrapped(per_arch, lambda m: m.mean(), n_boot, rng)
        if k <= len(rows):
            index = np.arange(len(rows))
            value = _arch_ensembles(probs, task, labels, k, index, rng, ARCH_DRAWS)
            reps = [_arch_ensembles(probs, task, labels, k, rng.choice(index, index.size),
                                    rng, ARCH_DRAWS // 10) for _ in range(n_boot)]
            low, high = percentile_bounds(np.array(reps), 0.95)
            row["arch_ensemble"] = {"value": value, "low": float(low[0]), "high": float(high[0])}
        out["rows"][str(k)] = row
    out["placed"] = []
    for source, found in placed:
        p = probabilities(table.root / PLACED / label_folder(source["label"]), seeds)
        if p is None:
            continue
        out["placed"].append({"label": source["label"], "method": source.get("method"),
                              "acc": {str(k): float(_seed_ensembles(p[None], task, labels,
                                                                    k)[0])
                                      for k in ks if k <= seeds}})
    return out


def _bootstrapped(values: np.ndarray, statistic, n_boot: int, rng: np.random.Generator
                  ) -> dict[str, float]:
    """``statistic`` of per-architecture ``values`` with a percentile bootstrap interval over
    architectures."""
    reps = [statistic(values[rng.integers(0, values.size, values.size)])
            for _ in range(n_boot)]
    low, high = percentile_bounds(np.array(reps), 0.95)
    return {"value": float(statistic(values)), "low": float(low[0]), "high": float(high[0])}

