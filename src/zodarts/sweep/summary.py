"""The numbers of a sweep folder: every trained network's results, mean ± std per dataset ×
method × budget × derivation, and the ZO-DARTS++ paper's three headline figures computed from
the grid, the paper's way and selected on validation.

Everything is read from the trials' own run folders (eval.json, the search and training logs,
environment.json, trial.json), so the summary of a folder is the same whoever made it and
whenever: a sweep still running, interrupted, or grown over several invocations.

A trial trains one network per architecture its search derives: the argmax (in the trial's
folder) and, with ``--derive sample`` or ``both``, each draw (draws/dK/). Draws count like
seeds: a cell of 3 seeds × 3 draws has 9 networks.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from zodarts.errors import ConfigError
from zodarts.report.records import RunRecords
from zodarts.rundir import RunPaths
from zodarts.search.registry import SEARCHERS
from zodarts.sweep.grid import Cell
from zodarts.sweep.trials import TRIAL_FILE, TrialRecord, is_finished
from zodarts.utils.io import read_jsonl

FLAGSHIP = "zo-darts++"
DARTS_FAMILY = ("darts-1st", "darts-2nd")
COST_BASELINE = "darts-2nd"        # the paper's search-time comparison
UNCONSTRAINED = "none"
BUDGET_ORDER = ("none", "small", "medium", "large")
DERIVATIONS = ("argmax", "sampled")
# How a network is picked among its epochs: at the best validation epoch (honest), or at its
# best test epoch (the paper's way: optimistic, chosen on test).
SELECTIONS = {"val": "test_acc", "test": "test_max_acc"}
SELECTION_LABELS = {"val": "selected on validation",
                    "test": "selected on test (optimistic; the paper's way)"}
BOOTSTRAP = 2000

# MedMNIST v2 (Yang et al., Scientific Data 10:41, 2023), Table 3, ResNet-18 (28): test ACC and
# AUC, mean of at least three runs; about 11.2M parameters. The reference a searched network is
# held against.
RESNET18_28: dict[str, tuple[float, float]] = {
    "pathmnist": (0.907, 0.983), "chestmnist": (0.947, 0.768), "dermamnist": (0.735, 0.917),
    "octmnist": (0.743, 0.943), "pneumoniamnist": (0.854, 0.944),
    "retinamnist": (0.524, 0.717), "breastmnist": (0.863, 0.901),
    "bloodmnist": (0.958, 0.998), "tissuemnist": (0.676, 0.930),
    "organamnist": (0.935, 0.997), "organcmnist": (0.900, 0.992),
    "organsmnist": (0.782, 0.972),
}
RESNET18_28_PARAMS = 11.2e6
RESNET18_SOURCE = "MedMNIST v2 (Yang et al. 2023), Table 3, ResNet-18 (28)"


@dataclass
class TrialResult:
    """One trained network of a trial (or, for an unfinished trial, the trial itself)."""

    cell: Cell
    status: str                      # done | failed | unfinished
    network: str = "argmax"          # argmax | draw K
    error: str | None = None
    test_acc: float | None = None
    test_auc: float | None = None
    val_acc: float | None = None
    test_max_acc: float | None = None   # the best test ACC over the epochs (selected on test)
    test_max_auc: float | None = None
    params: int | None = None
    flops: int | None = None
    search_seconds: float | None = None
    train_seconds: float | None = None
    within_budget: bool | None = None
    hardware: str | None = None
    majority_acc: float | None = None  # test ACC of always predicting the most frequent class
    restarts: int = 0
    landscape_percentile: float | None = None   # test ACC among a landscape's retrainings

    @property
    def derive(self) -> str:
        return "argmax" if self.network == "argmax" else "sampled"

    @property
    def path(self) -> str:
        return self.cell.path if self.network == "argmax" else \
            f"{self.cell.path}/draws/d{self.network.split()[-1]}"


@dataclass(frozen=True)
class Stat:
    mean: float | None
    std: float | None                # sample std; None with fewer than two values
    n: int

    @classmethod
    def of(cls, values: Iterable[float | None]) -> "Stat":
        xs = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not xs:
            return cls(None, None, 0)
        return cls(statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else None, len(xs))


METRICS = ("test_acc", "test_auc", "test_max_acc", "test_max_auc", "params", "flops",
           "search_seconds", "train_seconds", "landscape_percentile")


@dataclass
class CellSummary:
    dataset: str
    method: str
    budget: str
    trials: int                      # trial folders (seeds)
    finished: int                    # finished networks (seeds × draws)
    stats: dict[str, Stat]
    hardware: tuple[str, ...]
    derive: str = "argmax"           # argmax | sampled
    values: dict[str, list[float]] = field(default_factory=dict, repr=False)
    seeds: int = 0                   # trials with a finished network
    # Per trial, the mean over its networks: the draws of one search are not independent of
    # each other, so intervals resample trials, not networks.
    by_trial: dict[str, list[float]] = field(default_factory=dict, repr=False)


@dataclass
class Headline:
    """ZO-DARTS++ on one dataset at one budget against its peers (or an average over
    datasets): each figure with the cells it was computed from and a 95% interval."""

    dataset: str
    budget: str
    acc_gap: float | None = None             # its test ACC − the best DARTS-family ACC
    acc_basis: str | None = None             # e.g. "darts-1st, same budget"
    time_reduction: float | None = None      # 1 − t_zo / t_darts-2nd (search seconds)
    time_basis: str | None = None
    params_reduction: float | None = None    # 1 − params(budget) / params(none)
    mixed_hardware: bool = False             # its cells' trials ran on different hardware
    datasets: int = 1                        # averaged over this many (average rows)
    derive: str = "argmax"                   # the networks: argmax or sampled
    selection: str = "val"                   # val | test (the paper's way)
    acc_gap_interval: tuple[float, float] | None = None
    time_interval: tuple[float, float] | None = None
    params_interval: tuple[float, float] | None = None


@dataclass
class SweepSummary:
    root: Path
    grid: dict[str, Any] | None
    trials: list[TrialResult]
    cells: list[CellSummary]
    headline: list[Headline]
    averages: list[Headline]
    hardware: list[str] = field(default_factory=list)
    landscapes: dict[str, str] = field(default_factory=dict)   # dataset → landscape folder
    not_placed: list[str] = field(default_factory=list)         # why some networks were not

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(c.dataset for c in self.cells))

    def majority(self, dataset: str) -> float | None:
        """The test ACC of always predicting the training split's most frequent class: what a
        network that learnt nothing but the class balance scores (the same for every trial of a
        dataset)."""
        values = {t.majority_acc for t in self.trials
                  if t.cell.dataset == dataset and t.majority_acc is not None}
        return max(values) if values else None


# ---- reading ----------------------------------------------------------------------------------

def hardware_label(environment: dict | None, threads: int | None) -> str | None:
    """What a trial's seconds depend on: the device, the threads it had, the platform."""
    if not environment:
        return None
    device = environment.get("gpu") or "CPU"
    threads_text = f", {threads} threads" if threads else ""
    return f"{device}{threads_text}, {environment.get('platform', '?')}"


def _network(paths: RunPaths, base: TrialResult, network: str) -> TrialResult:
    evaluation = json.loads(paths.eval.read_text())
    train = RunRecords(paths, train_log=read_jsonl(paths.train_log)).train_seconds
    test, val = evaluation.get("test", {}), evaluation.get("val", {})
    best = evaluation.get("test_max_over_epochs") or {}
    budget = evaluation.get("budget")
    return TrialResult(
        base.cell, "done", network, None, test.get("acc"), test.get("auc"), val.get("acc"),
        best.get("acc"), best.get("auc"), evaluation.get("params"), evaluation.get("flops"),
        base.search_seconds, train, None if budget is None else budget.get("within"),
        base.hardware, (test.get("majority") or {}).get("acc"),
        len(evaluation.get("restarts") or []))


def read_trial(run_dir: Path) -> list[TrialResult]:
    """The trial's networks (argmax and draws), or one row saying why there are none yet."""
    from zodarts.config import SearchConfig, load_config
    from zodarts.search.derive import derived_folders

    record = TrialRecord.load(run_dir)
    cell = Cell(**record.cell)
    paths = RunPaths(run_dir)
    environment = (json.loads(paths.environment.read_text())
                   if paths.environment.is_file() else None)
    # An unfinished trial's row sits with the networks it will train.
    drawn_only = record.search_config.get("derive") == "sample"
    base = TrialResult(cell, "unfinished", "draw 0" if drawn_only else "argmax",
                       hardware=hardware_label(environment, record.threads))
    if not is_finished(run_dir):
        if record.status == "failed":
            base.status, base.error = "failed", record.error
        return [base]
    base.search_seconds = RunRecords(paths, search_log=read_jsonl(paths.search_log)
                                     ).search_seconds
    config = load_config(SearchConfig, paths.config)
    return [_network(folder, base, "argmax" if folder.root == paths.root
                     else f"draw {folder.root.name[1:]}")
            for folder in derived_folders(run_dir, config)]


def _order(values: Iterable[str], preferred: Iterable[str]) -> dict[str, int]:
    preferred = list(preferred)
    rest = sorted(set(values) - set(preferred))
    return {v: i for i, v in enumerate([*preferred, *rest])}


def read_trials(root: Path, grid: dict | None) -> list[TrialResult]:
    trials = [t for path in root.rglob(TRIAL_FILE) for t in read_trial(path.parent)]
    grid = grid or {}
    datasets = _order((t.cell.dataset for t in trials),
                      (Path(d).stem if "/" in d else d for d in grid.get("datasets", [])))
    methods = _order((t.cell.method for t in trials),
                     dict.fromkeys([*grid.get("methods", []), *SEARCHERS]))
    budgets = _order((t.cell.budget for t in trials), BUDGET_ORDER)
    trials.sort(key=lambda t: (datasets[t.cell.dataset], methods[t.cell.method],
                               budgets[t.cell.budget], DERIVATIONS.index(t.derive),
                               t.cell.seed, -1 if t.network == "argmax"
                               else int(t.network.split()[-1])))
    return trials


# ---- aggregating ------------------------------------------------------------------------------

def summarise_cells(trials: list[TrialResult]) -> list[CellSummary]:
    groups: dict[tuple[str, str, str, str], list[TrialResult]] = {}
    for t in trials:
        # An unfinished trial has no networks yet: it counts with those it will train.
        groups.setdefault((t.cell.dataset, t.cell.method, t.cell.budget, t.derive), []).append(t)
    cells = []
    for (dataset, method, budget, derive), members in groups.items():
        done = [t for t in members if t.status == "done"]
        values = {m: [float(v) for t in done if (v := getattr(t, m)) is not None
                      and math.isfinite(v)] for m in METRICS}
        # One search per trial, however many networks it trained.
        searches = {t.cell.path: t.search_seconds for t in done}
        values["search_seconds"] = [v for v in searches.values() if v is not None]
        by_trial = {}
        for m in METRICS:
            per_trial = [[v for t in done if t.cell.path == path
                          and (v := getattr(t, m)) is not None and math.isfinite(v)]
                         for path in searches]
            by_trial[m] = [statistics.fmean(v) for v in per_trial if v]
        stats = {m: Stat.of(values[m]) for m in METRICS}
        hardware = tuple(sorted({t.hardware for t in done if t.hardware}))
        cells.append(CellSummary(dataset, method, budget,
                                 len({t.cell.path for t in members}), len(done), stats,
                                 hardware, derive, values, len(searches), by_trial))
    return cells


def _finished(cells: dict, method: str, budget: str, derive: str) -> CellSummary | None:
    cell = cells.get((method, budget, derive)) or cells.get((method, budget, "argmax"))
    return cell if cell and cell.finished else None


def _peer(cells: dict, methods: Iterable[str], budget: str, derive: str
          ) -> tuple[list[CellSummary], str] | tuple[list, None]:
    """The peers' cells at ``budget`` where any finished, else their unconstrained ones."""
    for where in dict.fromkeys((budget, UNCONSTRAINED)):
        found = [c for m in methods if (c := _finished(cells, m, where, derive))]
        if found:
            return found, ("same budget" if where == budget else "their unconstrained runs")
    return [], None


def _welch(a: list[float], b: list[float]) -> tuple[float, float] | None:
    """95% Welch interval of mean(a) − mean(b)."""
    from scipy.stats import ttest_ind

    if len(a) < 2 or len(b) < 2 or (np.std(a) == 0 and np.std(b) == 0):
        return None
    interval = ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


def _ratio_interval(a: list[float], b: list[float]) -> tuple[float, float] | None:
    """95% bootstrap interval of 1 − mean(a) / mean(b), each resampled on its own."""
    if len(a) < 2 or len(b) < 2:
        return None
    rng = np.random.default_rng(0)
    x, y = np.asarray(a), np.asarray(b)
    ratios = 1 - (rng.choice(x, (BOOTSTRAP, len(x))).mean(1)
                  / rng.choice(y, (BOOTSTRAP, len(y))).mean(1))
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def headline_for(dataset: str, cells: list[CellSummary]) -> list[Headline]:
    by_key = {(c.method, c.budget, c.derive): c for c in cells if c.dataset == dataset}
    rows = []
    budgets = sorted({b for m, b, _ in by_key if m == FLAGSHIP},
                     key=lambda b: _order([b], BUDGET_ORDER)[b])
    for budget in budgets:
        for derive in DERIVATIONS:
            zo = by_key.get((FLAGSHIP, budget, derive))
            if zo is None or not zo.finished:
                continue
            for selection, metric in SELECTIONS.items():
                if not zo.values[metric]:
                    continue
                rows.append(_headline(dataset, budget, derive, selection, metric, zo, by_key))
    return rows


def _headline(dataset: str, budget: str, derive: str, selection: str, metric: str,
              zo: CellSummary, by_key: dict) -> Headline:
    row = Headline(dataset, budget, derive=derive, selection=selection)
    used = [zo]
    family, basis = _peer(by_key, DARTS_FAMILY, budget, derive)
    family = [c for c in family if c.values[metric]]
    if family:
        best = max(family, key=lambda c: statistics.fmean(c.values[metric]))
        row.acc_gap = statistics.fmean(zo.values[metric]) - statistics.fmean(best.values[metric])
        row.acc_gap_interval = _welch(zo.by_trial[metric], best.by_trial[metric])
        row.acc_basis = f"{best.method}{'' if best.derive == derive else ' (argmax)'}, {basis}"
        used.append(best)
    cost, basis = _peer(by_key, [COST_BASELINE], budget, derive)
    if cost and zo.values["search_seconds"] and cost[0].values["search_seconds"]:
        row.time_reduction = 1 - (statistics.fmean(zo.values["search_seconds"])
                                  / statistics.fmean(cost[0].values["search_seconds"]))
        row.time_interval = _ratio_interval(zo.values["search_seconds"],
                                            cost[0].values["search_seconds"])
        row.time_basis = f"{COST_BASELINE}, {basis}"
        used.append(cost[0])
    free = _finished(by_key, FLAGSHIP, UNCONSTRAINED, derive)
    if budget != UNCONSTRAINED and free and free.values["params"]:
        row.params_reduction = 1 - (statistics.fmean(zo.values["params"])
                                    / statistics.fmean(free.values["params"]))
        row.params_interval = _ratio_interval(zo.by_trial["params"], free.by_trial["params"])
        used.append(free)
    row.mixed_hardware = len({h for c in used for h in c.hardware}) > 1
    return row


def _mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.fmean(xs) if xs else None


def averages(rows: list[Headline]) -> list[Headline]:
    """Per budget, derivation and selection, each figure averaged over the datasets that
    have it."""
    out = []
    for key in dict.fromkeys((r.budget, r.derive, r.selection) for r in rows):
        group = [r for r in rows if (r.budget, r.derive, r.selection) == key]
        out.append(Headline(
            "average", key[0], _mean([r.acc_gap for r in group]), None,
            _mean([r.time_reduction for r in group]), None,
            _mean([r.params_reduction for r in group]),
            any(r.mixed_hardware for r in group), len(group), key[1], key[2]))
    return out


@dataclass(frozen=True)
class SingleRuns:
    """What a sweep's networks are placed among: a landscape's single retrainings of one
    dataset (``landscape.table.single_runs`` makes it), so that sweeps need nothing of the
    landscape but these numbers."""

    dataset: str
    root: str
    test_acc: np.ndarray
    train: dict[str, Any]


def place_in_landscapes(root: Path, trials: list[TrialResult], landscapes: Iterable[SingleRuns]
                        ) -> tuple[dict[str, str], list[str]]:
    """Each finished network's test ACC as a percentile of the single retrainings of its
    dataset's landscape, where the landscape retrained with the same settings; returns the
    landscapes used and the reasons of networks left out."""
    from zodarts.config import read_yaml, training_difference
    from zodarts.stats import percentile_of

    by_dataset = {runs.dataset: runs for runs in landscapes}
    reasons = []
    for t in trials:
        runs = by_dataset.get(t.cell.dataset)
        if runs is None or t.status != "done" or t.test_acc is None:
            continue
        why = training_difference(runs.train, read_yaml(root / t.path / "train" / "config.yaml"))
        if why:
            reasons.append(f"{t.path}: {why}")
        else:
            t.landscape_percentile = percentile_of(t.test_acc, runs.test_acc)
    return {d: runs.root for d, runs in by_dataset.items()}, reasons


def summarise(root: str | Path, landscapes: Iterable[SingleRuns] = ()) -> SweepSummary:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"sweep folder {root} does not exist")
    grid_path = root / "grid.yaml"
    grid = yaml.safe_load(grid_path.read_text()) if grid_path.is_file() else None
    trials = read_trials(root, grid)
    if not trials:
        raise ConfigError(f"{root} holds no sweep trials (no */trial.json): run `zodarts sweep "
                          f"--out {root}` first")
    used, not_placed = place_in_landscapes(root, trials, landscapes)
    cells = summarise_cells(trials)
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    headline = [row for d in datasets for row in headline_for(d, cells)]
    hardware = sorted({t.hardware for t in trials if t.hardware and t.status == "done"})
    return SweepSummary(root, grid, trials, cells, headline, averages(headline), hardware,
                        used, not_placed)
