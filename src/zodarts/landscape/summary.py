"""The numbers of a landscape's report, computed from the folder's records (a landscape still
running, or grown over several invocations, is summarised as its records stand)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from typing import Any

import numpy as np

from zodarts import stats
from zodarts.landscape.place import PLACEMENT
from zodarts.landscape.table import LOOKS, PLACED, SUPERNET, Table, proxy_names, read_json
from zodarts.stats.verdict import primary_metric, verdict_of

KS = (1, 5, 10, 50)
METRIC_NAMES = {"test_acc": "test ACC", "test_auc": "test AUC", "val_acc": "val ACC",
                "val_auc": "val AUC"}


def dataset_of(table: Table):
    """The landscape's dataset, or None where it cannot be loaded any more (the data moved:
    the rest of the report does not need it)."""
    from zodarts.data import load_dataset
    from zodarts.errors import ZodartsError

    try:
        return load_dataset(table.settings.dataset, table.settings.data_root)
    except ZodartsError:
        return None


def majority(dataset) -> float | None:
    """Test ACC of always predicting the training split's most frequent class."""
    from zodarts.train.metrics import majority_baseline

    if dataset is None:
        return None
    return majority_baseline(dataset.task, dataset.splits["train"].labels.numpy(),
                             dataset.splits["test"].labels.numpy())["acc"]


def task_of(table: Table) -> str:
    """The dataset's task (for the verdict's metric), without loading images when it can."""
    from zodarts.data import REGISTRY
    from zodarts.data.controls import split_variant

    name = split_variant(table.settings.dataset)[0].lower()
    if name in REGISTRY:
        return REGISTRY[name].task
    genotype = table.archs[0].genotype if table.archs else None
    return "multi-class" if genotype is None or genotype.num_classes > 2 else "binary"


def split_seed_correlation(val: list[np.ndarray], test: list[np.ndarray],
                           n_boot: int = stats.N_BOOT, seed: int = 0) -> dict[str, Any]:
    """Spearman ρ of one seed's val with the other seeds' mean test, averaged over which seed
    is held out. A run that was lucky is lucky on val and test alike, so val and test of the
    same runs correlate even where the architecture does not matter; across seeds only the
    architecture is shared. Interval: bootstrap over architectures."""
    from scipy.stats import spearmanr

    keep = [i for i, g in enumerate(test) if len(g) >= 2]
    if len(keep) < 3:
        return {"spearman": None, "low": None, "high": None, "n": len(keep)}
    seeds = min(len(test[i]) for i in keep)
    v = np.array([val[i][:seeds] for i in keep])
    t = np.array([test[i][:seeds] for i in keep])

    def statistic(rows: np.ndarray) -> float:
        values = []
        for s in range(seeds):
            others = np.delete(t[rows], s, axis=1).mean(axis=1)
            with warnings.catch_warnings():  # a constant resample: no correlation, skipped
                warnings.simplefilter("ignore")
                rho = spearmanr(v[rows, s], others).statistic
            if np.isfinite(rho):
                values.append(rho)
        return float(np.mean(values)) if values else float("nan")

    low, high = stats.bootstrap_interval(statistic, len(keep), n_boot, seed, 0.95)
    return {"spearman": statistic(np.arange(len(keep))), "low": low, "high": high,
            "n": len(keep), "seeds": seeds}


def correlations(table: Table) -> list[dict[str, Any]]:
    """Rank correlations of the architectures' mean test ACC with what could predict it."""
    test = table.means("test_acc")
    rows = [("val ACC (same runs)", table.means("val_acc")),
            ("params", table.info("params")), ("FLOPs", table.info("flops"))]
    rows += [(name, table.info(f"proxies.{name}")) for name in proxy_names(table)]
    out = [{"against": name, **dataclasses.asdict(stats.rank_correlation(values, test))}
           for name, values in rows]
    held_out = split_seed_correlation(table.groups("val_acc"), table.groups("test_acc"))
    out.insert(1, {"against": "val ACC (held-out seeds)", "n": held_out["n"],
                   "spearman": held_out["spearman"], "spearman_low": held_out["low"],
                   "spearman_high": held_out["high"], "spearman_p": None, "kendall": None,
                   "kendall_low": None, "kendall_high": None, "kendall_p": None})
    return out


def features(table: Table, metric: str = "test_acc") -> dict[str, Any] | None:
    """Which features of the genotypes explain the spread of their mean ``metric``: a
    regression on operation counts, cells and the first stage's convolutions (per standard
    deviation of each), and each feature's own rank correlation."""
    from zodarts.landscape.features import LABELS, feature_table
    from zodarts.stats.regression import fit_features

    archs = table.complete()
    if len(archs) < 5:
        return None
    columns = feature_table([a.genotype for a in archs])
    target = np.array([a.values(metric).mean() for a in archs])
    fit = fit_features(columns, target)
    marginal = [{"feature": LABELS.get(name, name), "key": name,
                 **dataclasses.asdict(stats.rank_correlation(values, target))}
                for name, values in columns.items()]
    return {"metric": metric, "fit": None if fit is None else
            {**fit.to_dict(), "coefficients": [{**dataclasses.asdict(c),
                                                "label": LABELS.get(c.feature, c.feature)}
                                               for c in fit.coefficients]},
            "marginal": marginal}


def optimism(table: Table) -> dict[str, Any] | None:
    """Where the landscape measured test every epoch (``--train-test-every-epoch``): how much
    the paper's number — each retraining's maximum test ACC over its epochs, selected on test —
    exceeds the honest one (the test ACC of the epoch validation picked), and whether the
    architectures rank alike by both. Per architecture the mean excess; its mean with a t
    interval over architectures, and the variance split of the maximum beside the honest one."""
    archs = [a for a in table.complete(min_seeds=2)
             if all(r.get("test_max_acc") is not None for r in a.records)]
    if len(archs) < 3:
        return None
    honest = [a.values("test_acc") for a in archs]
    maximum = [a.values("test_max_acc") for a in archs]
    excess = np.array([(m - h).mean() for m, h in zip(maximum, honest)])
    mean, interval = stats.t_interval(excess)
    rank = stats.rank_correlation([h.mean() for h in honest], [m.mean() for m in maximum])
    return {"archs": len(archs), "excess": mean, "excess_interval": interval,
            "excess_min": float(excess.min()), "excess_max": float(excess.max()),
            "honest_mean": float(np.mean([h.mean() for h in honest])),
            "max_mean": float(np.mean([m.mean() for m in maximum])),
            "rank": dataclasses.asdict(rank),
            "variance_max": dataclasses.asdict(stats.variance_split(maximum)),
            "variance_honest": dataclasses.asdict(stats.variance_split(honest))}


def smallest_within_noise(table: Table, metric: str) -> dict[str, Any] | None:
    """The architecture with the fewest parameters whose mean ``metric`` is within noise of the
    best mean: not below it by more than 1.96 standard errors of a difference of two means
    (the pooled seed variance). On a flat landscape this is what to train."""
    archs = table.complete(min_seeds=2)
    if len(archs) < 2:
        return None
    sigma2, _ = stats.seed_noise(table.groups(metric, 2))
    means = np.array([a.values(metric).mean() for a in archs])
    counts = np.array([a.values(metric).size for a in archs])
    best = int(np.argmax(means))
    se = np.sqrt(sigma2 / counts + sigma2 / counts[best])
    close = [i for i in range(len(archs)) if means[i] >= means[best] - 1.96 * se[i]]
    params = [(archs[i].info or {}).get("params") or math.inf for i in close]
    i = close[int(np.argmin(params))]
    return {"id": archs[i].id, "params": (archs[i].info or {}).get("params"),
            "mean": float(means[i]), "best_id": archs[best].id, "best_mean": float(means[best]),
            "within": len(close), "of": len(archs), "genotype": archs[i].genotype.to_dict()}


def cross_dataset(table: Table, other: Table) -> dict[str, Any]:
    """Rank correlation of architecture quality between two landscapes over the genotypes both
    hold (matched by their cells and depths: stem and classifier follow each dataset)."""
    def key(genotype) -> str:
        return json.dumps([[s.depth, list(s.edges)] for s in genotype.stages])

    ours = {key(a.genotype): a for a in table.complete()}
    theirs = {key(a.genotype): a for a in other.complete()}
    common = [k for k in ours if k in theirs]
    result: dict[str, Any] = {"other": str(other.root), "dataset": other.settings.dataset,
                              "common": len(common)}
    for metric in ("test_acc", "test_auc", "val_acc"):
        x = np.array([ours[k].values(metric).mean() for k in common])
        y = np.array([theirs[k].values(metric).mean() for k in common])
        result[metric] = dataclasses.asdict(stats.rank_correlation(x, y))
    # What a correlation between landscapes can be read against: how two seeds of this one
    # rank the same architectures. Where they disagree, no other landscape can agree either.
    both = [k for k in common if len(ours[k].values("test_acc")) >= 2]
    if len(both) >= 3:
        seed0, seed1 = (np.array([ours[k].values("test_acc")[i] for k in both]) for i in (0, 1))
        result["seed_to_seed_test_acc"] = dataclasses.asdict(
            stats.rank_correlation(seed0, seed1))
    return result


def _variance(table: Table) -> dict[str, Any]:
    return {metric: dataclasses.asdict(stats.variance_split(table.groups(metric, 2)))
            for metric in ("test_acc", "test_auc", "val_acc")}


def summarise(table: Table, compare: list[Table] = ()) -> dict[str, Any]:
    archs = table.complete()
    two_seeds = table.complete(min_seeds=2)
    task = task_of(table)
    dataset = dataset_of(table)
    summary: dict[str, Any] = {
        "settings": dataclasses.asdict(table.settings), "archs": len(archs),
        "pairs": table.pairs, "majority_test_acc": majority(dataset), "task": task,
        "primary": primary_metric(task), "written": time.strftime("%Y-%m-%d %H:%M")}
    if len(two_seeds) >= 2:
        summary["variance"] = _variance(table)
        summary["held_out"] = {
            metric: {name: stats.held_out_best(table.groups(metric, 2), top).to_dict()
                     for name, top in (("best", 0.0), ("top10", 0.1))}
            for metric in ("test_acc", "test_auc")}
        split = stats.variance_split(table.groups(summary["primary"], 2))
        auc = summary["held_out"]["test_auc"]["best"]
        summary["verdict"] = verdict_of(split, summary["primary"],
                                        best_auc=(auc["low"], auc["high"])).to_dict()
        summary["smallest"] = smallest_within_noise(table, summary["primary"])
        ks = [k for k in KS if k <= len(two_seeds)]
        summary["best_of_k"] = {
            metric: {k: e.to_dict() for k, e in stats.reference(
                table.groups(metric.replace("test_", "val_")), table.groups(metric),
                ks).items()}
            for metric in ("test_acc", "test_auc")}
    if len(archs) >= 2:
        summary["architectures"] = {
            metric: {k: dataclasses.asdict(v) for k, v in
                     stats.architecture_quantiles(table.groups(metric)).items()}
            for metric in ("test_acc", "test_auc")}
    if len(archs) >= 3:
        summary["correlations"] = correlations(table)
    summary["features"] = features(table, summary["primary"])
    written = read_json(table.root / PLACED / PLACEMENT)
    if written:
        # Computed again, not read back: placement.json holds what the code that placed last
        # computed (an older version's intervals, fewer architectures than the table has now),
        # and the report must say what the table gives today. The K's placed against are kept.
        from zodarts.landscape.place import placements

        ks = sorted({int(k) for p in written for k in p["test_acc"]["best_of_k"]} | set(KS))
        computed = placements(table, ks)
        if computed is not None:   # through JSON, as placement.json gives it: K's as strings
            summary["placed"], summary["by_method"] = json.loads(json.dumps(computed))
    if dataset is not None:
        from zodarts.landscape.compute import what_compute_buys
        from zodarts.landscape.place import read_placed
        from zodarts.train.metrics import as_labels

        labels = as_labels(dataset.task, dataset.splits["test"].labels.numpy())
        summary["compute"] = what_compute_buys(table, dataset.task, labels,
                                               placed=read_placed(table))
    summary["optimism"] = optimism(table)
    supernets = [read_json(p) for p in sorted((table.root / SUPERNET).glob("*.json"))]
    summary["supernets"] = [s for s in supernets if s]
    summary["compare"] = [cross_dataset(table, other) for other in compare]
    seconds = [r.get("train_seconds", 0.0) for a in table.archs for r in a.records]
    summary["train_seconds"] = float(np.sum(seconds)) if seconds else 0.0
    invocations = [json.loads(line) for line in
                   (table.root / "invocations.jsonl").read_text().splitlines()
                   if line.strip()] if (table.root / "invocations.jsonl").is_file() else []
    summary["overhead"] = [i["overhead"] for i in invocations if i.get("overhead")]
    looks = table.root / LOOKS
    if looks.is_file():
        summary["looks"] = [json.loads(line) for line in looks.read_text().splitlines()
                            if line.strip()]
    return summary
