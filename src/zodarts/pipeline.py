"""The stages of `zodarts run` in one run folder: search → train → evaluate → report.

Shared by the command, the Python API and the sweep's workers; with ``resume``, finished stages
are skipped and an interrupted one continues from its checkpoint. A search derives one
architecture (the argmax, trained in the run folder itself) or several (``--derive sample``:
draws, each trained in draws/dK/; ``both``: all of them), and every one is trained, evaluated
and reported.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from zodarts.config import SearchConfig, TrainConfig, load_config
from zodarts.data import derive_seed
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.search.loop import SearchResult, run_search
from zodarts.tracking import NO_TRACKER, Tracker, log_evaluation, log_settings, open_run
from zodarts.train.retrain import TrainResult
from zodarts.utils.kinds import RUN, require_kind

# derive_seed's stream for the training seeds of drawn architectures.
DRAW_TRAIN_STREAM = 11


@dataclass
class RunResult:
    out: Path
    evaluation: dict                      # the argmax's, else the first draw's
    report: Path
    search_seconds: float
    train_seconds: float                  # of every architecture the run trained
    search: SearchResult | None = None    # None where a resumed run found the stage done
    train: TrainResult | None = None
    evaluations: list[dict] = field(default_factory=list)   # one per derived architecture
    folders: list[Path] = field(default_factory=list)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def derived(out: str | Path) -> list[RunPaths]:
    """The folders of a search's derived architectures, drawing them where the search was
    stopped before it could (draws are repeatable)."""
    from zodarts.search.derive import derived_folders, write_draws
    from zodarts.space import Genotype, resolve_budget

    paths = RunPaths(out)
    config = load_config(SearchConfig, paths.config)
    if config.derive != "argmax":
        g = Genotype.load(paths.genotype)
        band = resolve_budget(config.budget, config.params_min, config.params_max,
                              g.in_channels, g.num_classes, config.C, config.cells_per_stage)
        write_draws(paths.root, config, band, g)
    return derived_folders(paths.root, config)


def train_seed(run: RunPaths, folder: RunPaths, seed: int) -> int:
    """The run's seed for its own architecture; a seed of each draw's own for a draw (the
    authors retrain each draw as a run of its own)."""
    if folder.root == run.root:
        return seed
    index = int(folder.root.name[1:])
    return derive_seed(seed, index, DRAW_TRAIN_STREAM) % 2 ** 32


def trackers(tracker: Tracker, out: str | Path) -> dict[Path, Tracker]:
    """The tracker of each derived architecture's folder: the run's own for the argmax, a
    nested run for each draw."""
    run = RunPaths(out)
    return {f.root: tracker if f.root == run.root else
            tracker.child(f.root, f"{run.root.name} draw {f.root.name[1:]}")
            for f in derived(out)}


def train_epoch_logger(tracker: Tracker) -> Callable[[dict], None]:
    """Retraining epochs to the tracker, a restarted attempt as a curve of its own."""
    return lambda r: tracker.epoch("train" if not r.get("attempt") else
                                   f"train_attempt{r['attempt']}", r)


def train_derived(out: str | Path, train_config: TrainConfig | None, resume: bool = False,
                  progress: bool = True, log: Callable[[str], None] | None = _stderr,
                  tracker: Tracker = NO_TRACKER) -> list[TrainResult]:
    """Train every derived architecture of the search in ``out`` that is not trained yet
    (resuming an interrupted one); returns the trainings run now."""
    from zodarts.train.retrain import run_train, training_finished

    run = RunPaths(out)
    tracked = trackers(tracker, out)
    results = []
    for folder in derived(out):
        if training_finished(folder):
            if not resume and log:   # `zodarts train RUN` again: the rest still trains
                log(f"{folder.root} is trained already: skipped (delete its train/ folder to "
                    "train it again)")
            continue
        again = resume and folder.train_last.is_file()
        folder_tracker = tracked[folder.root]
        if not again:
            if train_config is None:
                raise ConfigError(f"{folder.root} has no training to resume: give the "
                                  "training settings")
            folder_tracker.fresh("train")    # a new training: its epochs are new
        config = None if again else dataclasses.replace(
            train_config, seed=train_seed(run, folder, train_config.seed))
        results.append(run_train(config, folder.root, resume=again, progress=progress,
                                 log=log, on_epoch=train_epoch_logger(folder_tracker)))
        log_settings(folder_tracker, folder.root)
        if folder_tracker is not tracker:
            folder_tracker.finish()
    return results


def finished(out: str | Path) -> bool:
    """Whether every derived architecture of the run in ``out`` is evaluated and reported."""
    paths = RunPaths(out)
    if not (paths.genotype.is_file() and paths.config.is_file()):
        return False
    from zodarts.search.derive import derived_folders
    config = load_config(SearchConfig, paths.config)
    return (paths.report_dir / "report.md").is_file() and all(
        f.eval.is_file() and (f.report_dir / "report.md").is_file()
        for f in derived_folders(paths.root, config))


def planned_training(paths: RunPaths, train_config: TrainConfig, resume: bool
                     ) -> TrainConfig:
    """The retraining settings of the run in ``paths``: a resumed run trains with what it
    recorded when it started (:func:`record_training`), so that a resume naming no settings
    trains as first asked; a folder of an older zodarts has no record and keeps
    ``train_config``."""
    if resume and paths.train_plan.is_file():
        return load_config(TrainConfig, paths.train_plan)
    return train_config


def record_training(paths: RunPaths, train_config: TrainConfig) -> Callable[[], None]:
    """What a new run's search calls once its folder holds the search's settings: the
    retraining settings written beside them (never before the request was found valid, so a
    refused one leaves no folder behind)."""
    from zodarts.config import save_config

    return lambda: save_config(train_config, paths.train_plan)


def run_pipeline(search_config: SearchConfig, train_config: TrainConfig, out: str | Path,
                 resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] | None = _stderr, track: str | None = None,
                 parent_run: str | None = None, run_name: str | None = None) -> RunResult:
    """Search, retrain, evaluate and report into ``out``; with ``track`` (an MLflow URI, made
    reachable by the caller) as one tracked run (``run_name``, default the folder's name),
    nested under ``parent_run`` when given."""
    from zodarts.report import make_reports, read_run
    from zodarts.train.evaluate import evaluate_run

    paths = RunPaths(out)
    require_kind(paths.root, RUN, "choose another --out for the run")
    config = search_config if not resume else None
    train_config = planned_training(paths, train_config, resume)
    method = (load_config(SearchConfig, paths.config).method
              if resume and paths.config.is_file() else search_config.method)
    tracker = open_run(track, out, run_name or paths.root.name, parent_run,
                       {"zodarts.method": method})
    with tracker.ending_on_error():
        searched = None
        if not (resume and paths.genotype.is_file()):  # genotype.json: the search's last write
            searched = run_search(config, out, resume=resume, progress=progress, log=log,
                                  on_epoch=lambda r: tracker.epoch("search", r),
                                  on_start=record_training(paths, train_config))
        trained = train_derived(out, train_config, resume, progress, log, tracker)
        folders = derived(out)
        evaluations = [evaluate_run(f.root, device=train_config.device) for f in folders]
        report = make_reports(out)   # the draws' first: the run's report links to them
        for folder, folder_tracker in trackers(tracker, out).items():
            log_settings(folder_tracker, folder)
            log_evaluation(folder_tracker, folder)
            if folder_tracker is not tracker:
                folder_tracker.finish()
        if folders[0].root != paths.root:
            log_settings(tracker, paths.root)
            log_evaluation(tracker, paths.root)
    tracker.finish()
    train_seconds = sum(read_run(f.root).train_seconds for f in folders)
    return RunResult(paths.root, evaluations[0], report, read_run(out).search_seconds,
                     train_seconds, searched, trained[0] if trained else None, evaluations,
                     [f.root for f in folders])
