"""A whole sweep: validate every trial, plan against what the folder holds, run the rest on Ray,
write the report. Every check that can fail on the user's input runs before Ray starts or any
file is written."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from zodarts.errors import ConfigError
from zodarts.sweep.grid import Grid, TrialSpec, build_trial, build_trials
from zodarts.sweep.progress import Progress
from zodarts.sweep.trials import SweepPlan, TrialRecord, config_difference, plan_sweep
from zodarts.sweep.worker import TrialOutcome, execute_trial
from zodarts.utils.kinds import SWEEP, require_kind
from zodarts.utils.io import ensure_writable
from zodarts.utils.lock import folder_lock

GRID_FILE = "grid.yaml"


@dataclass(frozen=True)
class SweepOptions:
    address: str | None = None          # None: an embedded local Ray
    num_cpus: int | None = None         # of the local Ray (None: every core)
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    max_retries: int = 3                # re-runs of a trial whose worker died
    quiet: bool = False


@dataclass
class SweepResult:
    root: Path
    plan: SweepPlan
    outcomes: list[TrialOutcome]
    report: Path

    @property
    def failed(self) -> list[TrialOutcome]:
        return [o for o in self.outcomes if not o.ok]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def grid_change(root: Path, grid: Grid, plan: SweepPlan) -> str | None:
    """One line when the folder was swept before with another grid."""
    path = root / GRID_FILE
    if not path.is_file() or yaml.safe_load(path.read_text()) == grid.to_dict():
        return None
    kept = (f"; {plan.elsewhere} earlier trial(s) outside this grid are kept and reported"
            if plan.elsewhere else "")
    return (f"grid changed since the last sweep of {root}: {len(plan.new)} new trial(s) "
            f"added{kept}")


def check_folder_options(root: Path, grid: Grid, new: list[TrialSpec]) -> None:
    """A sweep folder holds one configuration: a new cell whose `zodarts run` options resolve
    to other settings than the folder's (grid.yaml's ``run``) is refused, as a conflicting cell
    is, so the report never averages or labels trials of two protocols as one."""
    path = root / GRID_FILE
    if not new or not path.is_file():
        return
    recorded = tuple(str(t) for t in (yaml.safe_load(path.read_text()) or {}).get("run", []))
    if recorded == grid.run_options:
        return
    folder_grid = dataclasses.replace(grid, run_options=recorded)
    for spec in new:
        dataset = spec.arguments[spec.arguments.index("--dataset") + 1]
        as_folder = build_trial(folder_grid, spec.cell, dataset, root)
        difference = config_difference(TrialRecord.for_spec(as_folder), TrialRecord.for_spec(spec))
        if difference:
            raise ConfigError(
                f"trial {spec.cell.path} would run with other settings than the trials in {root} "
                f"({difference}): a sweep folder holds one configuration, so that its report "
                f"compares like with like; give the folder's run options "
                f"(`{' '.join(recorded) or 'none'}`) or choose another --out")


def run_sweep(grid: Grid, out: str | Path, options: SweepOptions = SweepOptions(),
              track: str | None = None) -> SweepResult:
    """Run the grid's unfinished trials into ``out``; with ``track`` (an MLflow URI, already
    reached) the sweep is a parent run with one nested run per trial. Another process
    writing the same folder is refused (ConfigError) before any work."""
    from zodarts.sweep import runner

    root = Path(out).expanduser().resolve()
    require_kind(root, SWEEP, "choose another --out for the sweep")
    specs = build_trials(grid, root)
    plan = plan_sweep(root, specs)
    check_folder_options(root, grid, plan.new)
    if options.address:
        runner.check_reachable(options.address)  # in seconds, before anything is written
    ensure_writable(root)
    with folder_lock(root, "zodarts sweep"):
        return _run_locked(grid, root, specs, options, track)


def _run_locked(grid: Grid, root: Path, specs: list, options: SweepOptions,
                track: str | None) -> SweepResult:
    from zodarts.sweep import runner
    from zodarts.sweep.report import write_report
    from zodarts.tracking import open_run

    plan = plan_sweep(root, specs)   # again: the folder may have changed before the lock
    change = grid_change(root, grid, plan)
    if change:
        _say(change)
    outcomes: list[TrialOutcome] = []
    if not plan.to_run:
        _say(f"nothing to run: all {len(specs)} trials of this grid in {root} are finished")
        root.mkdir(parents=True, exist_ok=True)
        grid.save(root / GRID_FILE)
    else:
        with runner.ray_cluster(options.address, options.num_cpus) as cluster:
            resources = runner.trial_resources(
                cluster, len(plan.to_run), options.cpus_per_trial, options.gpus_per_trial,
                wants_gpu=any(s.search_config.device != "cpu" for s in plan.to_run))
            root.mkdir(parents=True, exist_ok=True)
            grid.save(root / GRID_FILE)
            resumed = f", {len(plan.resumed)} of them resumed" if plan.resumed else ""
            _say(f"sweep: {len(plan.to_run)} trial(s) to run{resumed}, {len(plan.finished)} "
                 f"finished before; on {cluster.describe()}, {resources.cpus:g} CPUs and "
                 f"{resources.gpus:g} GPUs per trial; folder {root}")
            progress = Progress(len(specs), len(plan.finished), quiet=options.quiet)
            tracker = open_run(track, root, root.name, tags={"zodarts.kind": "sweep"})
            # Tags, not params: a grown grid changes them, and MLflow never changes a param.
            tracker.tags({f"grid.{axis}": ", ".join(map(str, values))
                          for axis, values in grid.to_dict().items()})
            to_run = [dataclasses.replace(s, track=track, parent_run=tracker.run_id)
                      if tracker.enabled else s for s in plan.to_run]
            try:
                with tracker.ending_on_error():
                    outcomes = runner.run_jobs([runner.trial_job(s) for s in to_run],
                                               execute_trial, resources, options.max_retries,
                                               progress)
            except KeyboardInterrupt:
                progress.close()
                _say("the unfinished trials keep their checkpoints: run the same command "
                     "again to resume them")
                raise
            progress.close()
    report = write_report(root)
    if plan.to_run:
        tracker.metrics({"trials_finished": sum(o.ok for o in outcomes),
                         "trials_failed": sum(not o.ok for o in outcomes)})
        tracker.artifacts([report, root / "results.csv", root / "summary.csv",
                           root / GRID_FILE])
        tracker.finish()
    return SweepResult(root, plan, outcomes, report)
