"""What a sweep folder records about each trial (``trial.json``) and what a new sweep over it
must do: skip finished trials, resume unfinished ones, add new cells, and refuse a cell whose
recorded configuration differs from the one asked for now.

``trial.json`` is written by the driver before the trial is submitted and then only by the
worker running it (start, end), so the two never write it at the same time; the driver writes it
again only after Ray has given up on a dead worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zodarts.config import SearchConfig, TrainConfig
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.sweep.grid import TrialSpec

TRIAL_FILE = "trial.json"
TRIAL_LOG = "trial.log"


@dataclass
class TrialRecord:
    cell: dict[str, Any]
    arguments: list[str]             # `zodarts run` arguments that reproduce the trial
    search_config: dict[str, Any]    # the configs they build: compared on a re-run
    train_config: dict[str, Any]
    status: str = "queued"
    attempts: int = 0                # worker starts, over every sweep of this folder
    pid: int | None = None           # of the worker running (or that last ran) the trial
    host: str | None = None
    threads: int | None = None
    gpus: float | None = None
    started: float | None = None     # time.time() of the latest attempt
    finished: float | None = None
    error: str | None = None         # the one-line reason of a failure

    @classmethod
    def for_spec(cls, spec: TrialSpec) -> "TrialRecord":
        return cls(spec.cell.to_dict(), list(spec.arguments),
                   dataclasses.asdict(spec.search_config), dataclasses.asdict(spec.train_config))

    @classmethod
    def load(cls, run_dir: str | Path) -> "TrialRecord":
        path = Path(run_dir) / TRIAL_FILE
        try:
            values = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"cannot read {path}: {err}") from None
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def save(self, run_dir: str | Path) -> None:
        from zodarts.utils.io import atomic_write_text
        atomic_write_text(Path(run_dir) / TRIAL_FILE,
                          json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    def mark_running(self, threads: int, gpus: float) -> None:
        self.status, self.error, self.finished = "running", None, None
        self.attempts += 1
        self.pid, self.host = os.getpid(), socket.gethostname()
        self.threads, self.gpus, self.started = threads, gpus, time.time()

    def mark_finished(self, error: str | None) -> None:
        self.status, self.error, self.finished = ("failed" if error else "done"), error, time.time()


def is_finished(run_dir: str | Path) -> bool:
    """A trial whose run went all the way: every architecture it derives evaluated and
    reported."""
    from zodarts.pipeline import finished
    return finished(run_dir)


def config_difference(recorded: TrialRecord, wanted: TrialRecord) -> str | None:
    """The first setting in which two records' configs differ, as `key: old -> new`. A setting
    that a record predates counts at its default, so trials recorded by an older zodarts are not
    refused for fields added since."""
    for part, cls in (("search_config", SearchConfig), ("train_config", TrainConfig)):
        defaults = {f.name: f.default for f in dataclasses.fields(cls)
                    if f.default is not dataclasses.MISSING}
        old, new = getattr(recorded, part), getattr(wanted, part)
        for key in sorted(set(old) | set(new)):
            was, now = old.get(key, defaults.get(key)), new.get(key, defaults.get(key))
            if was != now:
                label = key if part == "search_config" else f"train {key}"
                return f"{label}: {was!r} -> {now!r}"
    return None


@dataclass
class SweepPlan:
    to_run: list[TrialSpec]          # new and unfinished trials, in grid order
    finished: list[TrialSpec]        # already done: skipped
    new: list[TrialSpec]             # cells this folder has not seen before
    resumed: list[TrialSpec]         # unfinished trials that already started a run folder
    elsewhere: int                   # trials in the folder that this grid leaves out


def plan_sweep(root: str | Path, specs: list[TrialSpec]) -> SweepPlan:
    """Sort ``specs`` against what ``root`` already holds; refuse, before any work, a cell run
    with another configuration or a folder that is not one of this sweep's trials."""
    root = Path(root)
    plan = SweepPlan([], [], [], [], 0)
    for spec in specs:
        record_path = spec.out / TRIAL_FILE
        if not record_path.is_file():
            if RunPaths(spec.out).config.is_file():
                raise ConfigError(f"{spec.out} holds a run that is not one of this sweep's "
                                  "trials (no trial.json): move it away or choose another --out")
            plan.new.append(spec)
            plan.to_run.append(spec)
            continue
        difference = config_difference(TrialRecord.load(spec.out), TrialRecord.for_spec(spec))
        if difference:
            raise ConfigError(f"trial {spec.cell.path} in {root} was run with another "
                              f"configuration ({difference}): keep the sweep's options, choose "
                              "another --out, or delete that trial's folder")
        if is_finished(spec.out):
            plan.finished.append(spec)
        else:
            plan.to_run.append(spec)
            if RunPaths(spec.out).config.is_file():
                plan.resumed.append(spec)
    wanted = {spec.out.resolve() for spec in specs}
    plan.elsewhere = sum(1 for path in root.rglob(TRIAL_FILE)
                         if path.parent.resolve() not in wanted) if root.is_dir() else 0
    return plan
