"""Where does a searched architecture land in the landscape?

Each searched genotype (of a run folder, or of every trial of a sweep folder on the landscape's
dataset) is retrained exactly as the landscape's architectures were: the same retraining
settings, the same seeds, the landscape's width C. Its mean over those seeds is then placed among
the landscape's architecture means (its percentile), and set against what random search is
expected to reach with K candidates picked on validation and retrained (``stats.reference``):
the same kind of number on both sides, means of fresh retrainings. The intervals are t
intervals with the seed variance of the landscape's architectures of similar means
(``zodarts.stats.selection.seed_noise``).
"""

from __future__ import annotations

import json
import re
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


METHODS = "by_method.json"


@dataclass(frozen=True)
class Searched:
    label: str           # the run folder's name, or SWEEP/DATASET/METHOD/BUDGET/seedN
    run: Path
    method: str | None
    genotype: Genotype
    budget: str | None = None
    network: str = "argmax"   # or "draw": a network drawn from the search's distributions
    settings: str | None = None   # settings_id of the search's config


def settings_id(config) -> str:
    """A short fingerprint of a search's settings without what only tells its runs apart (the
    seed, where the data lies, the device): searches pool into one method only when it matches."""
    import dataclasses
    import hashlib

    fields = {k: v for k, v in dataclasses.asdict(config).items()
              if k not in ("seed", "data_root", "device")}
    return hashlib.sha1(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:8]


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
                    "argmax" if folder.root == paths.root else "draw",
                    settings_id(config) if config else None))
    if not found:
        raise ConfigError(f"none of {', '.join(map(str, sources))} holds a search on "
                          f"{_dataset_name(dataset)}, the landscape's dataset")
    labels = [item.label for item in found]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ConfigError(f"two searches would be placed as {twice[0]} (a placed search is "
                          "named by its sweep cell or run folder): place them in separate calls "
                          "from folders of other names")
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
        genotype = transfer(item.genotype, dataset.channels, dataset.classes,
                            dataset.image_size, s.C)
        earlier = read_json(folder / SOURCE)
        if earlier and Genotype.from_dict(earlier["genotype"]) != genotype:
            raise ConfigError(f"{folder} holds the placement of another network of the same "
                              f"name (from {earlier.get('run')}): {item.run} would be recorded "
                              "under its retrainings; place it from a folder of another name")
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / SOURCE, json.dumps({
            "label": item.label, "run": str(item.run.resolve()), "method": item.method,
            "budget": item.budget, "network": item.network, "settings": item.settings,
            "genotype": genotype.to_dict(),
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


def _reference(table: Table, metric: str, ks) -> dict[str, Any]:
    """What a placed mean is set against (computed once for every search placed): the
    architecture means (and their seeds), and random search's expected best-of-K picked on
    validation and retrained."""
    from zodarts.stats import reference

    test = table.groups(metric)
    return {"means": [g.mean() for g in test], "groups": test,
            "best": reference(table.groups(metric.replace("test_", "val_")), test, ks)}


def _point(ref: dict[str, Any], values: np.ndarray) -> dict[str, Any]:
    from zodarts.stats import percentile_of, placed_mean, seed_noise

    # The seed noise of the landscape's architectures whose means are like this one's.
    mean = placed_mean(values, *seed_noise(ref["groups"], around=float(np.nanmean(values))))
    gaps = {k: mean.minus(best) for k, best in ref["best"].items()}
    return {"mean": mean.value, "mean_interval": [mean.low, mean.high],
            "percentile": percentile_of(mean.value, ref["means"]), "percentile_interval": None,
            "best_of_k": {k: best.value for k, best in ref["best"].items()},
            "best_of_k_interval": {k: [best.low, best.high] for k, best in ref["best"].items()},
            "minus_best_of_k": {k: gap.value for k, gap in gaps.items()},
            "minus_best_of_k_interval": {k: [gap.low, gap.high] for k, gap in gaps.items()}}


def placement(table: Table, rows: ArchRows, metric: str = "test_acc", ks=KS) -> dict[str, Any]:
    """The placed genotype's mean ``metric`` (its seeds), its percentile among the landscape's
    architecture means (where it falls: descriptive, no interval), and its difference to random
    search's expected best-of-K (picked on the matching validation metric, scored on held-out
    seeds), each difference with a 95% t interval: the placed mean's error (the landscape's
    seed variance of architectures like it, over its seeds) and the reference's, independent,
    added."""
    ks = [k for k in ks if k <= len(table.groups(metric))]
    values = rows.values(metric)
    return {**_point(_reference(table, metric, ks), values), "seeds": int(values.size)}


def method_placement(table: Table, searches: list[list[ArchRows]], metric: str = "test_acc",
                     ks=KS) -> dict[str, Any]:
    """A method's placement over its searches: each number (mean, percentile, difference to
    random search's best-of-K) is taken per search, then averaged over the searches.

    A search is one unit however many networks it gave (its argmax, or its draws pooled with
    their seeds): the search seed is what varies between a method's outcomes. The 95% interval
    is Student's t over the searches (n − 1 degrees of freedom; none below two searches),
    clipped to the range the quantity can take. With the few searches a method gets here a
    bootstrap's percentile interval would be about [min, max] and cover far less than 95%; the
    t interval is wide when n is small, as it should be. Each search's mean already carries its
    retraining seeds' noise, so the spread between searches includes it; the landscape's own
    uncertainty (the best-of-K reference) is left out, being the same for every method."""
    from zodarts.stats import t_interval

    ks = [k for k in ks if k <= len(table.groups(metric))]
    ref = _reference(table, metric, ks)
    points = []
    for networks in searches:
        values = np.concatenate([r.values(metric) for r in networks])
        if values.size:
            points.append(_point(ref, values))
    if not points:
        raise ValueError("method_placement needs at least one search with a finished seed")
    out: dict[str, Any] = {"searches": len(points)}
    out["mean"], out["mean_interval"] = t_interval([p["mean"] for p in points], low=0.0,
                                                   high=1.0)
    out["percentile"], out["percentile_interval"] = t_interval(
        [p["percentile"] for p in points], low=0.0, high=100.0)
    out["minus_best_of_k"], out["minus_best_of_k_interval"] = {}, {}
    for k in ks:
        out["minus_best_of_k"][k], out["minus_best_of_k_interval"][k] = t_interval(
            [p["minus_best_of_k"][k] for p in points])
    return out


def method_key(source: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """What searches are pooled by: the method, its budget, how the network was derived (an
    argmax and a draw are different kinds of network) and the rest of its settings. None for a
    search of unknown method (a run folder without config.yaml), which is not pooled."""
    if not source.get("method"):
        return None
    return (source["method"], source.get("budget") or "unknown", network_of(source),
            source.get("settings") or "unknown")


def network_of(source: dict[str, Any]) -> str:
    """argmax or draw; a search placed before the kind was recorded is told by its label."""
    return source.get("network") or (
        "draw" if re.search(r"/d\d+$", source.get("label", "")) else "argmax")


def write_placements(table: Table, ks=KS) -> Path | None:
    """placement.json: every placed genotype's numbers (test ACC and test AUC); by_method.json:
    the same per method (and budget, kind of network and settings) over its searches."""
    computed = placements(table, ks)
    if computed is None:
        return None
    result, by_method = computed
    path = table.root / PLACED / PLACEMENT
    atomic_write_text(path, json.dumps(result, indent=1) + "\n")
    atomic_write_text(table.root / PLACED / METHODS, json.dumps(by_method, indent=1) + "\n")
    return path


def placements(table: Table, ks=KS) -> tuple[list[dict], list[dict]] | None:
    """Every placed genotype's numbers and every method's, computed from the placed
    retrainings now (None where nothing is placed)."""
    placed = read_placed(table)
    if not placed:
        return None
    result = [{"label": source["label"], "method": source.get("method"),
               "budget": source.get("budget"), "network": network_of(source),
               "run": source.get("run"), "seeds": len(rows.records),
               "deeper_than_the_space": source.get("deeper_than_the_space", False),
               "test_acc": placement(table, rows, "test_acc", ks),
               "test_auc": placement(table, rows, "test_auc", ks)} for source, rows in placed]
    groups: dict[tuple[str, str, str, str], dict[str, list]] = {}
    for source, rows in placed:
        key = method_key(source)
        if key is not None:   # a search's draws are one unit: grouped by the run they came from
            groups.setdefault(key, {}).setdefault(source.get("run") or source["label"],
                                                  []).append((source["label"], rows))
    names = [key[:3] for key in groups]
    by_method = []
    for key, runs in sorted(groups.items()):
        searches = [[rows for _, rows in networks] for networks in runs.values()]
        by_method.append({
            "method": key[0], "budget": key[1], "network": key[2], "settings": key[3],
            # Settings are named only where one method was placed with several.
            "name": f"{key[0]} ({key[1]}, {key[2]}"
                    + (f", settings {key[3]})" if names.count(key[:3]) > 1 else ")"),
            "placed": [label for networks in runs.values() for label, _ in networks],
            "test_acc": method_placement(table, searches, "test_acc", ks),
            "test_auc": method_placement(table, searches, "test_auc", ks)})
    return result, by_method
