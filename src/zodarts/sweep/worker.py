"""One trial, as a Ray worker runs it: `zodarts run` into the trial's folder, its output in
``trial.log``, its outcome in ``trial.json``.

A trial whose folder already holds a search (config.yaml) continues it (``resume=True``): that is
how a retry after a killed worker, or a later sweep, picks up from the trial's own checkpoints
rather than starting over. A failure on the trial's input (a ZodartsError, what `zodarts run`
exits 1 for) is caught and returned as the outcome, never raised, so Ray has nothing to retry:
the same input would fail the same way. Bugs are caught the same way, with their traceback in
``trial.log``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from zodarts.errors import ZodartsError
from zodarts.rundir import RunPaths
from zodarts.sweep.grid import TrialSpec
from zodarts.sweep.trials import TRIAL_LOG, TrialRecord


@dataclass(frozen=True)
class TrialOutcome:
    cell: str                  # the cell's path, e.g. digits/zo-darts++/none/seed0
    error: str | None          # None: the run finished
    seconds: float             # of this attempt
    attempts: int              # worker starts recorded in trial.json so far

    @property
    def ok(self) -> bool:
        return self.error is None


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr, Python's and the file descriptors' alike (torch
    and C libraries write to fd 2), to the end of ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, "a", buffering=1, encoding="utf-8") as log:
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            log.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def run_recorded(out: Path, label: str, threads: int, gpus: float, starting: str,
                 work: Callable[[], None]) -> TrialOutcome:
    """Run ``work`` as one attempt of the job in ``out``: trial.json says it runs (attempt, pid,
    host) and then how it ended, and its output goes to trial.log. A ZodartsError (bad input)
    is its outcome, a bug too (with the traceback in the log): neither is raised to Ray, which
    would only retry what fails the same way again."""
    import torch

    torch.set_num_threads(max(1, threads))
    record = TrialRecord.load(out)
    record.mark_running(threads, gpus)
    record.save(out)
    tic = time.perf_counter()
    error = None
    with output_to(out / TRIAL_LOG):
        print(f"=== {label}: attempt {record.attempts} on {record.host} (pid {record.pid}, "
              f"{threads} threads, {gpus:g} GPUs): {starting}", flush=True)
        try:
            work()
        except ZodartsError as err:
            error = str(err)
            print(f"error: {error}", file=sys.stderr)
        except Exception as err:  # a bug in zodarts: report it, the others go on
            traceback.print_exc()
            error = f"internal error {type(err).__name__}: {err} (traceback in {TRIAL_LOG})"
        seconds = time.perf_counter() - tic
        print(f"=== {label}: " + (f"failed after {seconds:.1f} s" if error
                                   else f"finished in {seconds:.1f} s"), flush=True)
    record.mark_finished(error)
    record.save(out)
    return TrialOutcome(label, error, seconds, record.attempts)


def execute_trial(spec: TrialSpec, threads: int, gpus: float = 0.0) -> TrialOutcome:
    from zodarts.pipeline import run_pipeline

    resume = RunPaths(spec.out).config.is_file()
    return run_recorded(
        spec.out, spec.cell.path, threads, gpus,
        "resuming from the run folder's checkpoints" if resume else "starting",
        lambda: run_pipeline(spec.search_config, spec.train_config, spec.out, resume=resume,
                             progress=False, track=spec.track, parent_run=spec.parent_run,
                             run_name=spec.cell.path))
