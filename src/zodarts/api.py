"""The Python API: the same jobs as the CLI, returning result objects."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from zodarts.config import (DEFAULT_PRESET, TRAIN_PRESETS, TrainConfig, make_config,
                            make_search_config)
from zodarts.search.loop import SearchResult, run_search
from zodarts.train.retrain import TrainResult


def search(dataset: str = "digits", method: str = "zo-darts++", budget: str = "none",
           epochs: int | None = None, out: str | Path = "runs/search",
           preset: str | None = DEFAULT_PRESET, resume: bool = False, progress: bool = False,
           **settings: Any) -> SearchResult:
    """Search an architecture; ``settings`` are any :class:`SearchConfig` fields.

    >>> result = zodarts.search(dataset="breastmnist", budget="small", preset="quick",
    ...                         out="runs/breast")
    >>> result.genotype, result.history[-1]["val_acc"]
    """
    config = None if resume else make_search_config(
        preset, dataset=dataset, method=method, budget=budget, epochs=epochs, **settings)
    return run_search(config, out, resume=resume, progress=progress, log=None)


# ---- retraining, evaluation, report, export, and the whole pipeline ----------------------------

def train(run_dir: str | Path, genotype: str | Path | None = None, dataset: str | None = None,
          preset: str | None = None, resume: bool = False, progress: bool = False,
          **settings: Any) -> TrainResult:
    """Retrain a run's genotype (or a genotype file, into ``run_dir``) from scratch;
    ``settings`` are any :class:`TrainConfig` fields.

    >>> result = zodarts.api.train("runs/breast", preset="quick")
    >>> result.best["val"]["acc"]
    """
    from zodarts.commands.train import search_preset
    from zodarts.space import Genotype
    from zodarts.train.retrain import run_train

    preset = preset or search_preset(run_dir) or DEFAULT_PRESET
    config = None if resume else make_config(TrainConfig, TRAIN_PRESETS, preset,
                                             dataset=dataset, **settings)
    loaded = Genotype.load(genotype) if genotype is not None else None
    return run_train(config, run_dir, loaded, resume=resume, progress=progress, log=None)


def evaluate(run_dir: str | Path, checkpoint: str = "best", device: str = "auto") -> dict:
    """Test/val ACC and AUC, parameters and FLOPs; also written to ``run_dir/eval.json``."""
    from zodarts.train.evaluate import evaluate_run
    return evaluate_run(run_dir, checkpoint, device)


def report(run_dir: str | Path) -> Path:
    """Plots and report.md under ``run_dir/report``; returns the path of report.md."""
    from zodarts.report import make_report
    return make_report(run_dir)


def export(run_dir: str | Path, format: str = "torchscript", out: str | Path | None = None
           ) -> Path:
    """The trained model as TorchScript or ONNX (input: float images in [0, 1])."""
    from zodarts.export import export_model
    return export_model(run_dir, format, out)


@dataclass
class RunResult:
    out: Path
    evaluation: dict
    report: Path
    search_seconds: float
    train_seconds: float
    search: SearchResult | None = None   # None where a resumed run found the stage done
    train: TrainResult | None = None


def run(dataset: str = "digits", method: str = "zo-darts++", budget: str = "none",
        preset: str | None = DEFAULT_PRESET, out: str | Path | None = None, resume: bool = False,
        progress: bool = False, search_settings: dict | None = None,
        train_settings: dict | None = None) -> RunResult:
    """Search → train → evaluate → report in one folder (``zodarts run``).

    >>> result = zodarts.api.run()          # digits, quick preset: about two minutes on a CPU
    >>> result.evaluation["test"]["acc"]
    """
    from zodarts.commands.common import default_out

    search_config = make_search_config(preset, dataset=dataset, method=method, budget=budget,
                                       **(search_settings or {}))
    shared = {name: getattr(search_config, name)
              for name in ("seed", "device", "deterministic", "precision")}
    train_config = make_config(TrainConfig, TRAIN_PRESETS, preset,
                               **{**shared, **(train_settings or {})})
    return run_pipeline(search_config, train_config, out or default_out(search_config), resume,
                        progress, log=None)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_pipeline(search_config: SearchConfig, train_config: TrainConfig, out: str | Path,
                 resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] | None = _stderr) -> RunResult:
    """The stages of ``run``; with ``resume``, finished stages are skipped and an interrupted
    one continues from its checkpoint."""
    from zodarts.report import make_report, read_run
    from zodarts.rundir import RunPaths
    from zodarts.train.evaluate import evaluate_run
    from zodarts.train.retrain import run_train, training_finished

    kwargs = {"progress": progress, "log": log}
    paths = RunPaths(out)
    searched = trained = None
    if not (resume and paths.genotype.is_file()):  # genotype.json is the search's last write
        searched = run_search(None if resume else search_config, out, resume=resume, **kwargs)
    if not (resume and training_finished(paths)):
        again = resume and paths.train_last.is_file()
        trained = run_train(None if again else train_config, out, resume=again, **kwargs)
    evaluation = evaluate_run(out, device=train_config.device)
    records = read_run(out)
    return RunResult(paths.root, evaluation, make_report(out), records.search_seconds,
                     records.train_seconds, searched, trained)
