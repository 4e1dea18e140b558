"""Ray as the engine of sweeps and landscapes: an embedded local Ray or an existing cluster,
per-job resources, and retries of jobs whose worker died.

A sweep's trial is a Ray task in a fresh worker process (``max_calls=1``): a clean torch state
per trial, and nothing one trial leaks can slow the next. A landscape's jobs are many short
trainings, which reuse their worker processes instead (torch imported and the data loaded once).
``max_retries`` re-runs a task whose worker died (kill -9, out of memory, a lost node); the retry
finds the job's folder and resumes it. ``retry_exceptions=False``: an exception is never retried
(the workers return input failures as outcomes anyway, since the same input fails the same way).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from zodarts.errors import ConfigError
from zodarts.sweep.grid import TrialSpec
from zodarts.sweep.progress import Progress
from zodarts.sweep.trials import TRIAL_LOG, TrialRecord
from zodarts.sweep.worker import TrialOutcome
from zodarts.utils.termination import sigterm_handler_kept

RAY_MISSING = "zodarts sweep needs Ray, which is not installed: pip install 'zodarts[sweep]'"
CONNECT_TIMEOUT_S = 5.0
POLL_S = 1.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


# ---- the cluster ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cluster:
    address: str | None        # None: the embedded local Ray
    nodes: int
    cpus: float
    gpus: float
    node_cpus: float           # of the largest node: a trial cannot use more
    node_gpus: float

    def describe(self) -> str:
        where = "a local Ray" if self.address is None else f"the Ray cluster at {self.address}"
        return (f"{where} ({self.nodes} node{'s' * (self.nodes != 1)}, {self.cpus:g} CPUs, "
                f"{self.gpus:g} GPUs)")


def _resolve_auto(address: str) -> str | None:
    """What `auto` means to Ray (RAY_ADDRESS, else the cluster `ray start` last started); None
    when it cannot tell, and then Ray itself says so."""
    try:
        from ray._private.services import canonicalize_bootstrap_address
        return canonicalize_bootstrap_address(address)
    except Exception:  # a private helper: any change in it only skips this pre-check
        return None


def check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's minutes of reconnecting, when nothing listens there."""
    target = _resolve_auto(address) if address == "auto" else address
    if not target:
        return
    parts = urlsplit(target if "://" in target else f"tcp://{target}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ConfigError(f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ConfigError(f"cannot reach a Ray cluster at {target} "
                          f"({err.strerror or type(err).__name__}): start one with `ray start "
                          "--head` or leave out --address to run on this machine") from None


def _describe(ray, address: str | None) -> Cluster:
    nodes = [n for n in ray.nodes() if n.get("Alive", n.get("alive", True))]
    totals = ray.cluster_resources()
    per_node = [n.get("Resources", {}) for n in nodes] or [totals]
    return Cluster(address, len(nodes), totals.get("CPU", 0.0), totals.get("GPU", 0.0),
                   max(r.get("CPU", 0.0) for r in per_node),
                   max(r.get("GPU", 0.0) for r in per_node))


def _hint(address: str | None, message: str) -> str:
    """Why a reachable cluster may still refuse the driver: recent Rays start clusters with
    token authentication, and a driver joins one only in that mode."""
    if (not address or address.startswith("ray://") or os.environ.get("RAY_AUTH_MODE")
            or "failed to connect" not in message.lower()):
        return ""
    return ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token (and the "
            "cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN) for this command")


@contextlib.contextmanager
def ray_cluster(address: str | None, num_cpus: int | None = None) -> Iterator[Cluster]:
    """Ray for the sweep's lifetime: connect to ``address``, else start an embedded local one
    (no dashboard: nothing to install or open); shut down on the way out.

    Where this process already runs Ray (a notebook, a Ray job, a test session) and no
    ``address`` is given, that Ray is used and left running; ``num_cpus`` then caps how many
    of its CPUs the command takes."""
    ray = import_ray()
    if not address and ray.is_initialized():
        cluster = _describe(ray, None)
        if num_cpus is not None:
            cluster = replace(cluster, cpus=min(cluster.cpus, num_cpus),
                              node_cpus=min(cluster.node_cpus, num_cpus))
        yield cluster
        return
    if address:
        if num_cpus is not None:
            raise ConfigError("--num-cpus sizes the local Ray; a cluster has its own (leave "
                              "out --address or --num-cpus)")
        check_reachable(address)
    try:
        with sigterm_handler_kept():
            _init_ray(ray, address, num_cpus)
    except (ConnectionError, RuntimeError, ValueError) as err:
        ray.shutdown()
        lines = str(err).strip().splitlines() or [type(err).__name__]
        raise ConfigError(f"cannot start Ray{' at ' + address if address else ''}: "
                          f"{lines[0]}{_hint(address, lines[0])}") from None
    except BaseException:   # Ctrl-C or SIGTERM while Ray starts: leave nothing of it running
        ray.shutdown()
        raise
    try:
        yield _describe(ray, address)
    finally:
        ray.shutdown()


def _init_ray(ray, address: str | None, num_cpus: int | None) -> None:
    if address:
        # Ray Client (ray://) accepts no driver logging options.
        kwargs: dict[str, Any] = {} if address.startswith("ray://") else {
            "logging_level": logging.ERROR, "log_to_driver": False}
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)


# ---- resources --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrialResources:
    cpus: float
    gpus: float

    @property
    def threads(self) -> int:
        """torch threads of a trial: its CPUs, so trials side by side do not oversubscribe."""
        return max(1, int(self.cpus))


def trial_resources(cluster: Cluster, trials: int, cpus: float | None = None,
                    gpus: float | None = None, wants_gpu: bool = True) -> TrialResources:
    """Each trial's CPUs and GPUs: as given, else one GPU per trial where Ray sees GPUs (and the
    trials may use one), and the CPUs shared out so that the trials that run at once fill the
    machine without oversubscribing it."""
    if gpus is None:
        gpus = 1.0 if wants_gpu and cluster.gpus >= 1 else 0.0
    if cpus is None:
        parallel = int(cluster.gpus // gpus) if gpus else int(cluster.cpus)
        parallel = max(1, min(trials, parallel))
        cpus = max(1, min(int(cluster.cpus) // parallel, int(cluster.node_cpus)))
    if cpus <= 0 or gpus < 0:
        raise ConfigError(f"--cpus-per-trial must be > 0 and --gpus-per-trial >= 0 (got {cpus:g}, "
                          f"{gpus:g})")
    if cpus > cluster.node_cpus or gpus > cluster.node_gpus:
        largest = f"{cluster.node_cpus:g} CPUs and {cluster.node_gpus:g} GPUs"
        message = (f"a trial asks for {cpus:g} CPUs and {gpus:g} GPUs, but the largest node of "
                   f"{cluster.describe()} has {largest}")
        if cluster.address is None:  # nothing will ever join a local Ray: it would wait forever
            raise ConfigError(message + ": lower --cpus-per-trial / --gpus-per-trial")
        print(f"warning: {message}; its trials wait until such a node joins", file=sys.stderr)
    return TrialResources(float(cpus), float(gpus))


# ---- running ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One Ray task as the driver sees it: a sweep's trial or a landscape's architecture.
    Its folder holds its ``trial.json`` (written by the worker while it runs) and its log."""

    label: str                          # shown in the progress line and the logs
    out: Path
    payload: Any                        # what ``execute`` receives
    record: Callable[[], TrialRecord]   # a fresh trial.json when the folder has none


def trial_job(spec: TrialSpec) -> Job:
    return Job(spec.cell.path, spec.out, spec, functools.partial(TrialRecord.for_spec, spec))


@dataclass
class _Watch:
    """What the driver knows of one submitted job, from its trial.json."""

    job: Job
    seen_attempts: int
    running: bool = False

    def poll(self, progress: Progress) -> None:
        try:
            record = TrialRecord.load(self.job.out)
        except ConfigError:
            return
        if record.status != "running" or record.attempts <= self.seen_attempts:
            return
        where = f"pid {record.pid} on {record.host}"
        if self.running:  # a new attempt of a job we saw running: its worker died
            progress.retried(self.job.label, record.attempts, where)
        else:
            progress.started(self.job.label, record.attempts, where)
        self.running, self.seen_attempts = True, record.attempts


def queue(job: Job) -> int:
    """Record ``job`` as queued (keeping its earlier attempts); returns those attempts."""
    job.out.mkdir(parents=True, exist_ok=True)
    fresh = job.record()
    try:
        record = TrialRecord.load(job.out)
        record.arguments = fresh.arguments
    except ConfigError:
        record = fresh
    record.status, record.error = "queued", None
    record.save(job.out)
    return record.attempts


def _gave_up(ray, err: Exception, watch: _Watch, max_retries: int) -> TrialOutcome:
    """The outcome of a job Ray could not finish: recorded as failed, with the reason."""
    job = watch.job
    if isinstance(err, ray.exceptions.RayTaskError):
        lines = str(err).strip().splitlines()
        reason = lines[-1] if lines else type(err).__name__
    else:
        reason = (f"its worker died {max_retries + 1} time(s) ({type(err).__name__}); run the "
                  "same command again to resume it")
    try:
        record = TrialRecord.load(job.out)
    except ConfigError:
        record = job.record()
    record.mark_finished(reason)
    record.save(job.out)
    with open(job.out / TRIAL_LOG, "a", encoding="utf-8") as log:
        log.write(f"=== {job.label}: given up: {reason}\n")
    return TrialOutcome(job.label, reason, 0.0, record.attempts)


def run_jobs(jobs: list[Job], execute: Callable[..., TrialOutcome], resources: TrialResources,
             max_retries: int, progress: Progress, reuse_workers: bool = False
             ) -> list[TrialOutcome]:
    """Run ``execute(job.payload, threads, gpus)`` for every job on the connected Ray (see
    :func:`ray_cluster`) and wait for all of them.

    ``reuse_workers``: a worker process runs job after job (torch is imported and the data
    loaded once per process), for many short jobs; otherwise each job gets a fresh process,
    so nothing one leaks can slow the next."""
    ray = import_ray()
    remote = ray.remote(max_calls=0 if reuse_workers else 1)(execute)
    watches = {}
    for job in jobs:
        attempts = queue(job)
        ref = remote.options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                             max_retries=max_retries, retry_exceptions=False,
                             name=f"zodarts {job.label}"
                             ).remote(job.payload, resources.threads, resources.gpus)
        watches[ref] = _Watch(job, attempts)
    outcomes: list[TrialOutcome] = []
    pending = list(watches)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
            for ref in ready:
                watch = watches[ref]
                watch.poll(progress)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as err:
                    outcome = _gave_up(ray, err, watch, max_retries)
                if outcome.ok:
                    progress.finished(outcome.cell, outcome.seconds, watch.running)
                else:
                    progress.failed(outcome.cell, outcome.error, watch.running)
                outcomes.append(outcome)
            for ref in pending:
                watches[ref].poll(progress)
            progress.refresh()
    except BaseException:
        # Ray may outlive this call (see ray_cluster): nothing of ours may go on running in it.
        for ref in pending:
            ray.cancel(ref, force=True)
        for ref in pending:
            mark_interrupted(watches[ref].job)
        raise
    return outcomes


def mark_interrupted(job: Job) -> None:
    """A job the driver stopped before it finished: its trial.json must not say "running"
    (nothing runs it any more) or "queued" (nothing will)."""
    try:
        record = TrialRecord.load(job.out)
    except ConfigError:
        return
    if record.status in ("running", "queued"):
        record.status = "interrupted"
        record.save(job.out)
