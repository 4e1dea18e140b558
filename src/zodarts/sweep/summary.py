"""The numbers of a sweep folder: every trial's results, mean ± std per dataset × method ×
budget, and the ZO-DARTS++ paper's three headline figures computed from the grid.

Everything is read from the trials' own run folders (eval.json, the search and training logs,
environment.json, trial.json), so the summary of a folder is the same whoever made it and
whenever: a sweep still running, interrupted, or grown over several invocations.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

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
    cell: Cell
    status: str                      # done | failed | unfinished
    error: str | None = None
    test_acc: float | None = None
    test_auc: float | None = None
    val_acc: float | None = None
    params: int | None = None
    flops: int | None = None
    search_seconds: float | None = None
    train_seconds: float | None = None
    within_budget: bool | None = None
    hardware: str | None = None
    majority_acc: float | None = None  # test ACC of always predicting the most frequent class


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


METRICS = ("test_acc", "test_auc", "params", "flops", "search_seconds", "train_seconds")


@dataclass
class CellSummary:
    dataset: str
    method: str
    budget: str
    trials: int
    finished: int
    stats: dict[str, Stat]
    hardware: tuple[str, ...]


@dataclass
class Headline:
    """ZO-DARTS++ on one dataset at one budget against its peers (or an average over
    datasets): each figure with the cells it was computed from."""

    dataset: str
    budget: str
    acc_gap: float | None = None             # its test ACC − the best DARTS-family ACC
    acc_basis: str | None = None             # e.g. "darts-1st, same budget"
    time_reduction: float | None = None      # 1 − t_zo / t_darts-2nd (search seconds)
    time_basis: str | None = None
    params_reduction: float | None = None    # 1 − params(budget) / params(none)
    mixed_hardware: bool = False             # its cells' trials ran on different hardware
    datasets: int = 1                        # averaged over this many (average rows)


@dataclass
class SweepSummary:
    root: Path
    grid: dict[str, Any] | None
    trials: list[TrialResult]
    cells: list[CellSummary]
    headline: list[Headline]
    averages: list[Headline]
    hardware: list[str] = field(default_factory=list)

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


def read_trial(run_dir: Path) -> TrialResult:
    record = TrialRecord.load(run_dir)
    cell = Cell(**record.cell)
    paths = RunPaths(run_dir)
    environment = (json.loads(paths.environment.read_text())
                   if paths.environment.is_file() else None)
    result = TrialResult(cell, "unfinished", hardware=hardware_label(environment, record.threads))
    if not is_finished(run_dir):
        if record.status == "failed":
            result.status, result.error = "failed", record.error
        return result
    evaluation = json.loads(paths.eval.read_text())
    # The run's own logs: the same seconds `zodarts report` shows.
    records = RunRecords(paths, search_log=read_jsonl(paths.search_log),
                         train_log=read_jsonl(paths.train_log))
    test, val = evaluation.get("test", {}), evaluation.get("val", {})
    budget = evaluation.get("budget")
    result.status = "done"
    result.test_acc, result.test_auc = test.get("acc"), test.get("auc")
    result.val_acc = val.get("acc")
    result.params, result.flops = evaluation.get("params"), evaluation.get("flops")
    result.search_seconds, result.train_seconds = records.search_seconds, records.train_seconds
    result.within_budget = None if budget is None else budget.get("within")
    result.majority_acc = (test.get("majority") or {}).get("acc")
    return result


def _order(values: Iterable[str], preferred: Iterable[str]) -> dict[str, int]:
    preferred = list(preferred)
    rest = sorted(set(values) - set(preferred))
    return {v: i for i, v in enumerate([*preferred, *rest])}


def read_trials(root: Path, grid: dict | None) -> list[TrialResult]:
    trials = [read_trial(path.parent) for path in root.rglob(TRIAL_FILE)]
    grid = grid or {}
    datasets = _order((t.cell.dataset for t in trials),
                      (Path(d).stem if "/" in d else d for d in grid.get("datasets", [])))
    methods = _order((t.cell.method for t in trials),
                     dict.fromkeys([*grid.get("methods", []), *SEARCHERS]))
    budgets = _order((t.cell.budget for t in trials), BUDGET_ORDER)
    trials.sort(key=lambda t: (datasets[t.cell.dataset], methods[t.cell.method],
                               budgets[t.cell.budget], t.cell.seed))
    return trials


# ---- aggregating ------------------------------------------------------------------------------

def summarise_cells(trials: list[TrialResult]) -> list[CellSummary]:
    groups: dict[tuple[str, str, str], list[TrialResult]] = {}
    for t in trials:
        groups.setdefault((t.cell.dataset, t.cell.method, t.cell.budget), []).append(t)
    cells = []
    for (dataset, method, budget), members in groups.items():
        done = [t for t in members if t.status == "done"]
        stats = {m: Stat.of(getattr(t, m) for t in done) for m in METRICS}
        hardware = tuple(sorted({t.hardware for t in done if t.hardware}))
        cells.append(CellSummary(dataset, method, budget, len(members), len(done), stats,
                                 hardware))
    return cells


def _finished(cells: dict[tuple[str, str], CellSummary], method: str, budget: str
              ) -> CellSummary | None:
    cell = cells.get((method, budget))
    return cell if cell and cell.finished else None


def _peer(cells: dict, methods: Iterable[str], budget: str
          ) -> tuple[list[CellSummary], str] | tuple[list, None]:
    """The peers' cells at ``budget`` where any finished, else their unconstrained ones."""
    for where in dict.fromkeys((budget, UNCONSTRAINED)):
        found = [c for m in methods if (c := _finished(cells, m, where))]
        if found:
            return found, ("same budget" if where == budget else "their unconstrained runs")
    return [], None


def headline_for(dataset: str, cells: list[CellSummary]) -> list[Headline]:
    by_key = {(c.method, c.budget): c for c in cells if c.dataset == dataset}
    rows = []
    for budget in sorted({b for m, b in by_key if m == FLAGSHIP},
                         key=lambda b: _order([b], BUDGET_ORDER)[b]):
        zo = _finished(by_key, FLAGSHIP, budget)
        if zo is None:
            continue
        row = Headline(dataset, budget)
        used = [zo]
        family, basis = _peer(by_key, DARTS_FAMILY, budget)
        family = [c for c in family if c.stats["test_acc"].mean is not None]
        if family and zo.stats["test_acc"].mean is not None:
            best = max(family, key=lambda c: c.stats["test_acc"].mean)
            row.acc_gap = zo.stats["test_acc"].mean - best.stats["test_acc"].mean
            row.acc_basis = f"{best.method}, {basis}"
            used.append(best)
        cost, basis = _peer(by_key, [COST_BASELINE], budget)
        t_zo = zo.stats["search_seconds"].mean
        if cost and t_zo is not None and cost[0].stats["search_seconds"].mean:
            row.time_reduction = 1 - t_zo / cost[0].stats["search_seconds"].mean
            row.time_basis = f"{COST_BASELINE}, {basis}"
            used.append(cost[0])
        free = _finished(by_key, FLAGSHIP, UNCONSTRAINED)
        if budget != UNCONSTRAINED and free and free.stats["params"].mean:
            row.params_reduction = 1 - zo.stats["params"].mean / free.stats["params"].mean
            used.append(free)
        row.mixed_hardware = len({h for c in used for h in c.hardware}) > 1
        rows.append(row)
    return rows


def _mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.fmean(xs) if xs else None


def averages(rows: list[Headline]) -> list[Headline]:
    """Per budget, each figure averaged over the datasets that have it."""
    out = []
    for budget in dict.fromkeys(r.budget for r in rows):
        group = [r for r in rows if r.budget == budget]
        out.append(Headline(
            "average", budget, _mean([r.acc_gap for r in group]), None,
            _mean([r.time_reduction for r in group]), None,
            _mean([r.params_reduction for r in group]),
            any(r.mixed_hardware for r in group), len(group)))
    return out


def summarise(root: str | Path) -> SweepSummary:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ConfigError(f"sweep folder {root} does not exist")
    grid_path = root / "grid.yaml"
    grid = yaml.safe_load(grid_path.read_text()) if grid_path.is_file() else None
    trials = read_trials(root, grid)
    if not trials:
        raise ConfigError(f"{root} holds no sweep trials (no */trial.json): run `zodarts sweep "
                          f"--out {root}` first")
    cells = summarise_cells(trials)
    datasets = list(dict.fromkeys(c.dataset for c in cells))
    headline = [row for d in datasets for row in headline_for(d, cells)]
    hardware = sorted({t.hardware for t in trials if t.hardware and t.status == "done"})
    return SweepSummary(root, grid, trials, cells, headline, averages(headline), hardware)
