"""Where does a searched architecture land in the landscape?

Each searched genotype (of a run folder, or of every trial of a sweep folder on the landscape's
dataset) is retrained exactly as the landscape's architectures were: the same retraining
settings, the same seeds, the landscape's width C. Its mean over those seeds is then placed among
the landscape's architecture means (its percentile), and set against what random search is
expected to reach with K candidates picked on validation (``stats.best_of_k``). Intervals come
from a bootstrap over the placed genotype's seeds and the landscape's architectures and seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zodarts.errors import ConfigError
from zodarts.landscape.table import (PLACED, RECORD, ArchRows, Table, label_folder, read_arch,
                                     read_json, seed_folder)
from zodarts.space import Genotype
from zodarts.utils.io import atomic_write_text

SOURCE = "source.json"
PLACEMENT = "placement.json"
KS = (1, 5, 10, 50)
BOOTSTRAP = 300


METHODS = "by_method.json"


@dataclass(frozen=True)
class Searched:
    label: str           # the run folder's name, or SWEEP/DATASET/METHOD/BUDGET/seedN
    run: Path
    method: str | None
    genotype: Genotype
    budget: str | None = None
    network: str = "argmax"   # or "draw": a network drawn from the search's distributions


def _dataset_name(dataset: str) -> str:
    return Path(dataset).stem if "/" in dataset else dataset


def run_label(run: Path, source: Path | None = None) -> str:
    """A sweep trial's cell (``breastmnist/zo-darts++/none/seed0``), else the folder's name
    (its path below ``source`` where it was found inside one)."""
    from zodarts.sweep.trials import TrialRecord

    source = run if source is None else source
    if (run / "trial.json").is_file():
        cell = TrialRecord.load(run).cell
        return "/".join(str(cell[k]) for k in ("dataset", "method", "budget")) + \
            f"/seed{cell['seed']}"
    return run.name if run == source else f"{source.name}/{run.relative_to(source).as_posix()}"


def find_searched(sources: list[Path], dataset: str) -> list[Searched]:
    """The searched genotypes of run folders and of sweep folders' trials on ``dataset``: the
    architectures each search derived (its argmax, and each of its draws, as last drawn)."""
    from zodarts.config import SearchConfig, load_config
    from zodarts.rundir import RunPaths
    from zodarts.search.derive import derived_folders

    found = []
    for source in sources:
        source = Path(source)
        runs = ([source] if RunPaths(source).genotype.is_file() else
                sorted(p.parent for p in source.rglob("trial.json")
                       if RunPaths(p.parent).genotype.is_file()))
        if not runs:
            raise ConfigError(f"{source} holds no searched genotype (a run folder with "
                              "genotype.json, or a sweep folder of such runs)")
        for run in runs:
            paths = RunPaths(run)
            config = load_config(SearchConfig, paths.config) if paths.config.is_file() else None
            if config is not None and _dataset_name(config.dataset) != _dataset_name(dataset):
                continue
            label = run_label(run, source)
            folders = derived_folders(run, config) if config else [paths]
            for folder in folders:
                if not folder.genotype.is_file():
                    continue  # a draw the search has not written yet
                name = label if folder.root == paths.root else f"{label}/{folder.root.name}"
                found.append(Searched(
                    name, run, config.method if config else None,
                    Genotype.load(folder.genotype), config.budget if config else None,
                    "argmax" if folder.root == paths.root else "draw"))
    if not found:
        raise ConfigError(f"none of {', '.join(map(str, sources))} holds a search on "
                          f"{_dataset_name(dataset)}, the landscape's dataset")
    return found


def place_jobs(table: Table, searched: list[Searched], keep_models: bool) -> list:
    """A retraining job per searched genotype with seeds left (its source recorded once)."""
    from zodarts.data import load_dataset
    from zodarts.landscape.driver import transfer
    from zodarts.landscape.worker import ArchJob

    s = table.settings
    dataset = load_dataset(s.dataset, s.data_root)
    jobs = []
    for item in searched:
        folder = table.root / PLACED / label_folder(item.label)
        folder.mkdir(parents=True, exist_ok=True)
        genotype = transfer(item.genotype, dataset.channels, dataset.classes,
                            dataset.image_size, s.C)
        atomic_write_text(folder / SOURCE, json.dumps({
            "label": item.label, "run": str(item.run.resolve()), "method": item.method,
            "budget": item.budget, "network": item.network, "genotype": genotype.to_dict(),
            "deeper_than_the_space": any(st.depth > s.cells_per_stage
                                         for st in genotype.stages)}, indent=1) + "\n")
        missing = tuple(seed for seed in range(s.seeds)
                        if not (seed_folder(folder, seed) / RECORD).is_file())
        if missing:
            jobs.append(ArchJob(item.label, folder, genotype.to_dict(), missing, s.train,
                                keep_models))
    return jobs


def read_placed(table: Table) -> list[tuple[dict[str, Any], ArchRows]]:
    """Every placed genotype of the landscape: its source and its finished retrainings."""
    placed = []
    for folder in sorted((table.root / PLACED).glob("*/")):
        source = read_json(folder / SOURCE)
        if source is None:
            continue
        rows = read_arch(folder, source["label"], Genotype.from_dict(source["genotype"]),
                         table.settings.seeds)
        if rows.records:
            placed.append((source, rows))
    return placed


def placement(table: Table, rows: ArchRows | list[ArchRows], metric: str = "test_acc", ks=KS,
              n_boot: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """The placed genotype's mean ``metric``, its percentile among the landscape's architecture
    means, and its difference to random search's expected best-of-K (picked on the matching
    validation metric), each with a 95% bootstrap interval: architectures and their seeds
    resampled (two levels), and the placed genotype's seeds.

    Given several searches of one method (a list), each number is the average over them of
    what each search gets (mean ACC, percentile, difference), and the bootstrap resamples the
    searches too: the interval is then about the method, whose search seed is part of its
    outcome, not about one network."""
    from zodarts.landscape.stats import best_of_k_curve, percentile_of

    searches = [rows] if isinstance(rows, ArchRows) else list(rows)
    if not searches:
        raise ValueError("placement needs at least one placed search")
    val_metric = metric.replace("test_", "val_")
    test = table.groups(metric)
    val = table.groups(val_metric)
    mine = [r.values(metric) for r in searches]
    ks = [k for k in ks if k <= len(test)]
    means = [float(m.mean()) for m in mine]
    arch_means = [g.mean() for g in test]
    point = {"mean": float(np.mean(means)), "seeds": sum(len(m) for m in mine),
             "percentile": float(np.mean([percentile_of(m, arch_means) for m in means])),
             "best_of_k": best_of_k_curve(val, test, ks)}
    point["minus_best_of_k"] = {k: point["mean"] - v for k, v in point["best_of_k"].items()}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {"mean": [], "percentile": [],
                                     **{f"minus_{k}": [] for k in ks}}
    for _ in range(n_boot):
        archs = rng.integers(0, len(test), len(test))
        within = [rng.integers(0, len(test[i]), len(test[i])) for i in archs]
        boot_test = [test[i][j] for i, j in zip(archs, within)]
        boot_val = [val[i][j] for i, j in zip(archs, within)]
        # One search is not resampled (nothing to draw from), which keeps its draws as they were.
        picked = [mine[0]] if len(mine) == 1 else [mine[i] for i in
                                                   rng.integers(0, len(mine), len(mine))]
        boot_means = [float(rng.choice(m, len(m)).mean()) for m in picked]
        boot_arch_means = [g.mean() for g in boot_test]
        m = float(np.mean(boot_means))
        draws["mean"].append(m)
        draws["percentile"].append(float(np.mean([percentile_of(x, boot_arch_means)
                                                  for x in boot_means])))
        for k, expected in best_of_k_curve(boot_val, boot_test, ks).items():
            draws[f"minus_{k}"].append(m - expected)

    def interval(values: list[float]) -> list[float]:
        return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]

    point["mean_interval"] = interval(draws["mean"])
    point["percentile_interval"] = interval(draws["percentile"])
    point["minus_best_of_k_interval"] = {k: interval(draws[f"minus_{k}"]) for k in ks}
    return point


def method_key(source: dict[str, Any]) -> tuple[str, str, str]:
    """What searches are pooled by: the method, its budget and how the network was derived
    (an argmax and a draw of one search are different kinds of network)."""
    return (source.get("method") or "unknown", source.get("budget") or "unknown",
            source.get("network") or "argmax")


def write_placements(table: Table, ks=KS) -> Path | None:
    """placement.json: every placed genotype's numbers (test ACC and test AUC); by_method.json:
    the same pooled over the searches of each method (and budget, and kind of network)."""
    placed = read_placed(table)
    if not placed:
        return None
    result = [{"label": source["label"], "method": source.get("method"),
               "budget": source.get("budget"), "network": source.get("network", "argmax"),
               "run": source.get("run"), "seeds": len(rows.records),
               "deeper_than_the_space": source.get("deeper_than_the_space", False),
               "test_acc": placement(table, rows, "test_acc", ks),
               "test_auc": placement(table, rows, "test_auc", ks)} for source, rows in placed]
    path = table.root / PLACED / PLACEMENT
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    groups: dict[tuple[str, str, str], list[tuple[dict[str, Any], ArchRows]]] = {}
    for source, rows in placed:
        groups.setdefault(method_key(source), []).append((source, rows))
    by_method = [{"method": method, "budget": budget, "network": network,
                  "searches": [source["label"] for source, _ in members],
                  "test_acc": placement(table, [rows for _, rows in members], "test_acc", ks),
                  "test_auc": placement(table, [rows for _, rows in members], "test_auc", ks)}
                 for (method, budget, network), members in sorted(groups.items())]
    atomic_write_text(table.root / PLACED / METHODS, json.dumps(by_method, indent=1) + "\n")
    return path


def single_run_percentile(table: Table, value: float, metric: str = "test_acc") -> float:
    """A single retraining's ``metric`` among the landscape's single retrainings: how a sweep
    trial (one seed) compares with a random architecture trained once."""
    from zodarts.landscape.stats import percentile_of
    return percentile_of(value, np.concatenate(table.groups(metric)))


def comparable_training(table: Table, train_config: dict[str, Any]) -> str | None:
    """Why a run's retraining cannot be compared with the landscape's (None: it can)."""
    ours = table.settings.train
    for key in sorted(set(ours) | set(train_config)):
        if key in ("seed", "data_root", "dataset", "device", "C"):
            continue
        if ours.get(key) != train_config.get(key):
            return f"retrained with other settings ({key}: {train_config.get(key)!r}, the " \
                   f"landscape's {ours.get(key)!r})"
    return None
