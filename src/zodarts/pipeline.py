"""The stages of `zodarts run` in one run folder: search → train → evaluate → report.

Shared by the command, the Python API and the sweep's workers; with ``resume``, finished stages
are skipped and an interrupted one continues from its checkpoint.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from zodarts.config import SearchConfig, TrainConfig
from zodarts.search.loop import SearchResult, run_search
from zodarts.train.retrain import TrainResult


@dataclass
class RunResult:
    out: Path
    evaluation: dict
    report: Path
    search_seconds: float
    train_seconds: float
    search: SearchResult | None = None   # None where a resumed run found the stage done
    train: TrainResult | None = None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_pipeline(search_config: SearchConfig, train_config: TrainConfig, out: str | Path,
                 resume: bool = False, progress: bool = True,
                 log: Callable[[str], None] | None = _stderr) -> RunResult:
    """Search, retrain, evaluate and report into ``out``."""
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
