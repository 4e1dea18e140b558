"""Runs, sweeps and landscapes in an experiment tracker (MLflow): a view of the run folders,
never the only copy of anything.

``--track URI`` (or ``$ZODARTS_TRACK``) names an MLflow tracking URI; ``--track`` alone is the
embedded default, a SQLite store beside the folder the command writes (``--out runs/x``:
``sqlite:///.../runs/mlflow.db``), which ``mlflow ui --backend-store-uri URI`` shows with nothing
else to start; the command prints the URI and that line. Without it nothing here runs and
MLflow is not imported.

One MLflow run per zodarts run folder: its resolved settings as params, each epoch's numbers as
metrics (``search/...``, ``train/...``, step = the epoch), the final numbers of eval.json, tags
(decided, within budget, device) and the genotype, configs, eval.json and report as artifacts.
A sweep or a landscape is a parent run, its trials (or architectures) nested runs. The run id
lives in the folder's ``tracking.json``, so a folder resumed after a kill continues its own run,
and an epoch logged before the kill is not logged again.

A tracker that cannot be reached is one clear line before any work (``check``); one that fails
mid-run is a warning, after which the run goes on untracked: its folder stays complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

from zodarts.errors import ConfigError, ZodartsWarning
from zodarts.utils.io import atomic_write_text

DEFAULT_STORE = "mlflow.db"   # --track alone: this file, beside the folder the command writes
ENVIRONMENT = "ZODARTS_TRACK"
# The tracking URIs MLflow takes: a server, a SQLAlchemy database, a file store, Databricks.
SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks")
EXPERIMENT = "zodarts"
TRACKING_FILE = "tracking.json"
RETRY_DELAYS = (0.5, 2.0, 0.0)   # seconds after each failed attempt of a call
MISSING = "tracking needs MLflow, which is not installed: pip install 'zodarts[track]'"


def resolve_uri(given: str | None, out: str | Path | None = None) -> str | None:
    """The tracking URI asked for: ``--track URI``, ``--track`` alone (``""``: the embedded
    default, a SQLite store beside ``out``, the folder the command writes) or $ZODARTS_TRACK;
    None: no tracking. A relative SQLite or file path is made absolute, since a sweep's
    workers may run from another directory."""
    uri = given if given is not None else os.environ.get(ENVIRONMENT) or None
    if uri is None:
        return None
    beside = Path(out).expanduser().resolve().parent if out is not None else Path("runs")
    uri = uri or f"sqlite:///{beside / DEFAULT_STORE}"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///"):]).expanduser().resolve())
    elif ":" not in uri and ("/" in uri or uri.startswith((".", "~"))):
        uri = str(Path(uri).expanduser().resolve())   # a folder: MLflow's file store
    return uri


def _client(uri: str):
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise ConfigError(MISSING) from None
    # MLflow's and its database migrations' INFO lines would interleave with zodarts's own.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(uri)


def source(given: str | None) -> str:
    """Where the tracking URI came from, for messages: the flag or the environment."""
    return "--track" if given is not None else f"${ENVIRONMENT}"


def how_to_open(uri: str) -> str:
    """How a person sees what is logged at ``uri``."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return f"`mlflow ui --backend-store-uri {uri}`, then http://127.0.0.1:5000"


def _scheme(uri: str) -> str | None:
    """The URI's scheme (``postgresql+psycopg2`` -> postgresql); None for a plain path."""
    if "://" not in uri:
        return None
    return uri.split("://", 1)[0].split("+", 1)[0].lower()


def check(uri: str, given_by: str = "--track") -> None:
    """Reach the tracker now, in seconds, or fail with one line: before any work is done or
    any folder made. ``given_by`` names where the URI came from (the flag or
    $ZODARTS_TRACK), so that the line says what to fix."""
    scheme = _scheme(uri)
    leave = "leave --track out" if given_by == "--track" else f"unset {given_by}"
    if scheme is not None and scheme not in SCHEMES:
        raise ConfigError(f"{given_by} {uri}: MLflow has no tracking store of scheme "
                          f"'{scheme}': give http(s)://HOST:PORT (a tracking server), "
                          "sqlite:///PATH.db, postgresql://, mysql://, file:///FOLDER or a "
                          f"folder, or {leave}")
    # MLflow retries an unreachable server for minutes by default: here, once and briefly
    # (only for this check: a run's own calls keep MLflow's retries).
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    saved = {k: os.environ.get(k) for k in quick}
    os.environ.update(quick)
    try:
        if uri.startswith("sqlite:///"):
            Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        _client(uri).search_experiments(max_results=1)
    except ConfigError:
        raise
    except Exception as err:
        first = _shorten((str(err).strip().splitlines() or [type(err).__name__])[0])
        fix = f"fix {given_by}, or {leave}"
        start = ("start it (`mlflow server --host HOST --port PORT`), "
                 if scheme in ("http", "https") else "")
        raise ConfigError(f"cannot reach the MLflow tracker at {uri} (from {given_by}: "
                          f"{first}): {start}{fix}") from None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _shorten(text: str, limit: int = 160) -> str:
    """``text`` cut at a word before ``limit`` characters, marked as cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:[(") + " …"


def _experiment(client, uri: str) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):   # artifacts beside the store, not in the working dir
        location = Path(uri[len("sqlite:///"):]).with_name("mlartifacts").as_uri()
    try:
        return client.create_experiment(EXPERIMENT, artifact_location=location)
    except Exception:  # created by another process in between
        return client.get_experiment_by_name(EXPERIMENT).experiment_id


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class Tracker:
    """No tracking: every call does nothing (what a run gets without --track)."""

    enabled = False
    run_id: str | None = None
    uri: str | None = None

    def epoch(self, stage: str, record: dict) -> None: ...

    def params(self, values: dict[str, Any]) -> None: ...

    def metrics(self, values: dict[str, Any], step: int = 0) -> None: ...

    def tags(self, values: dict[str, Any]) -> None: ...

    def artifacts(self, paths: list[Path], under: str | None = None) -> None: ...

    def finish(self, status: str = "FINISHED") -> None: ...

    def fresh(self, stage: str) -> None:
        """A stage starts again from scratch (a new training, not a resume): its epochs are
        logged again from the first."""

    def evaluated(self, text: str) -> bool:
        """Whether this evaluation (eval.json's text) was logged already; notes it if not."""
        return False

    def child(self, folder: Path, name: str) -> "Tracker":
        return self

    @contextlib.contextmanager
    def ending_on_error(self) -> Iterator[None]:
        """An exception in the block ends the run, KILLED for Ctrl-C and FAILED for anything
        else, before it goes on up: the tracker never shows a dead run as running."""
        try:
            yield
        except KeyboardInterrupt:
            self.finish(status="KILLED")
            raise
        except BaseException:
            self.finish(status="FAILED")
            raise


NO_TRACKER = Tracker()


class MlflowRun(Tracker):
    """One MLflow run, tied to a folder through its tracking.json."""

    enabled = True

    def __init__(self, uri: str, run_id: str, folder: Path, state: dict):
        self.uri, self.run_id, self.folder, self.state = uri, run_id, folder, state
        self.client = _client(uri)

    @classmethod
    def open(cls, uri: str, folder: str | Path, name: str, parent: str | None = None,
             tags: dict[str, Any] | None = None) -> Tracker:
        """The folder's run (resumed where tracking.json names one on this tracker), else a new
        one; NO_TRACKER, with a warning, where the tracker fails."""
        folder = Path(folder)
        path = folder / TRACKING_FILE
        try:
            state = json.loads(path.read_text()) if path.is_file() else {}
            client = _client(uri)
            if state.get("uri") == uri and state.get("run_id"):
                client.update_run(state["run_id"], status="RUNNING")
            else:
                all_tags = {"zodarts.folder": str(folder.resolve()), **(tags or {})}
                if parent:
                    all_tags["mlflow.parentRunId"] = parent
                run = client.create_run(_experiment(client, uri), run_name=name,
                                        tags={k: str(v) for k, v in all_tags.items()})
                state = {"uri": uri, "run_id": run.info.run_id, "logged": {}}
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, json.dumps(state, indent=1) + "\n")
            return cls(uri, state["run_id"], folder, state)
        except Exception as err:   # MLflow missing on a worker, the tracker gone: go on
            _stopped(uri, err)
            return NO_TRACKER

    def _guard(self, call: Callable[[], None]) -> None:
        """A tracker failing mid-run must not stop the run: a call is tried again twice (a
        busy SQLite store, a network blip), then tracking stops with one warning and the run
        goes on untracked."""
        if not self.enabled:
            return
        for delay in RETRY_DELAYS:
            try:
                call()
                return
            except Exception as err:
                failure = err
                time.sleep(delay)
        self.enabled = False
        _stopped(self.uri, failure)

    def _save_state(self) -> None:
        atomic_write_text(self.folder / TRACKING_FILE, json.dumps(self.state, indent=1) + "\n")

    def epoch(self, stage: str, record: dict) -> None:
        """One epoch's numbers as ``stage/name`` at step = the epoch; an epoch logged before a
        kill (and redone after the resume) is not logged twice."""
        logged = self.state.setdefault("logged", {})
        step = int(record["epoch"])
        if step <= logged.get(stage, -1):
            return
        values = {f"{stage}/{k}": v for k, v in record.items() if k not in ("epoch", "attempt")}
        self.metrics(values, step)
        if self.enabled:
            logged[stage] = step
            self._save_state()

    def fresh(self, stage: str) -> None:
        logged = self.state.setdefault("logged", {})
        if any(key.startswith(stage) for key in logged):
            self.state["logged"] = {k: v for k, v in logged.items() if not k.startswith(stage)}
            self._save_state()

    def evaluated(self, text: str) -> bool:
        import hashlib

        digest = hashlib.sha256(text.encode()).hexdigest()
        if self.state.get("evaluation") == digest:
            return True
        self.state["evaluation"] = digest
        self._save_state()
        return False

    def params(self, values: dict[str, Any]) -> None:
        """Settings as params. MLflow never changes a param's value: one that differs from what
        the run holds (a folder retrained with other settings) is skipped, never the rest."""
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in _flat("", values, {}).items()]
        if not self.enabled:
            return
        held = self.client.get_run(self.run_id).data.params
        params = [p for p in params if p.key not in held]
        for i in range(0, len(params), 100):   # MLflow's limit per batch
            self._guard(lambda batch=params[i:i + 100]: self.client.log_batch(
                self.run_id, params=batch))

    def metrics(self, values: dict[str, Any], step: int = 0) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k.replace(" ", "_"), v, now, step)
                   for k, raw in values.items() if (v := _number(raw)) is not None]
        for i in range(0, len(metrics), 1000):
            self._guard(lambda batch=metrics[i:i + 1000]: self.client.log_batch(
                self.run_id, metrics=batch))

    def tags(self, values: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        tags = [RunTag(k, str(v)) for k, v in values.items() if v is not None]
        self._guard(lambda: self.client.log_batch(self.run_id, tags=tags))

    def artifacts(self, paths: list[Path], under: str | None = None) -> None:
        for path in paths:
            if path.is_dir():
                self._guard(lambda p=path: self.client.log_artifacts(
                    self.run_id, str(p), f"{under}/{p.name}" if under else p.name))
            elif path.is_file():
                self._guard(lambda p=path: self.client.log_artifact(self.run_id, str(p), under))

    def finish(self, status: str = "FINISHED") -> None:
        """FINISHED, FAILED or KILLED (an interrupt: resuming the folder reopens the run);
        tried even after tracking stopped, so a run is not left RUNNING where it can help."""
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception as err:
            if self.enabled:
                _stopped(self.uri, err)

    def child(self, folder: Path, name: str) -> Tracker:
        return LazyRun(self.uri, Path(folder), name, self.run_id, None) if self.enabled \
            else NO_TRACKER


def _stopped(uri: str | None, err: Exception) -> None:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    warnings.warn(f"tracking at {uri} stopped ({first[:200]}); the run goes on and its folder "
                  "keeps every record", ZodartsWarning, stacklevel=3)


class LazyRun(Tracker):
    """A folder's MLflow run, opened at its first use: a run that fails before it logs anything
    (a bad setting, a folder already in use) leaves no run in the tracker and no tracking.json
    in the folder."""

    def __init__(self, uri: str, folder: Path, name: str, parent: str | None,
                 tags: dict[str, Any] | None):
        self.uri, self.folder, self.name, self.parent, self._tags = uri, folder, name, parent, tags
        self._run: Tracker | None = None

    @property
    def run(self) -> Tracker:
        if self._run is None:
            self._run = MlflowRun.open(self.uri, self.folder, self.name, self.parent, self._tags)
        return self._run

    @property
    def enabled(self) -> bool:  # type: ignore[override]
        return self._run is None or self._run.enabled

    @property
    def run_id(self) -> str | None:  # type: ignore[override]
        return self.run.run_id

    def epoch(self, stage: str, record: dict) -> None:
        self.run.epoch(stage, record)

    def params(self, values: dict[str, Any]) -> None:
        self.run.params(values)

    def metrics(self, values: dict[str, Any], step: int = 0) -> None:
        self.run.metrics(values, step)

    def tags(self, values: dict[str, Any]) -> None:
        self.run.tags(values)

    def artifacts(self, paths: list[Path], under: str | None = None) -> None:
        self.run.artifacts(paths, under)

    def finish(self, status: str = "FINISHED") -> None:
        if self._run is not None:
            self._run.finish(status)

    def fresh(self, stage: str) -> None:
        if self._run is not None or (self.folder / TRACKING_FILE).is_file():
            self.run.fresh(stage)

    def evaluated(self, text: str) -> bool:
        return self.run.evaluated(text)

    def child(self, folder: Path, name: str) -> Tracker:
        return LazyRun(self.uri, Path(folder), name, self.run.run_id, None) \
            if self.run.enabled else NO_TRACKER


def open_run(uri: str | None, folder: str | Path, name: str, parent: str | None = None,
             tags: dict[str, Any] | None = None) -> Tracker:
    """The tracker of the run in ``folder`` (NO_TRACKER without a URI), opened at first use."""
    return NO_TRACKER if uri is None else LazyRun(uri, Path(folder), name, parent, tags)


# ---- what a zodarts run logs ------------------------------------------------------------------

EVAL_METRICS = {"params": ("params",), "flops": ("flops",), "test_acc": ("test", "acc"),
                "test_auc": ("test", "auc"), "test_loss": ("test", "loss"),
                "val_acc": ("val", "acc"), "val_auc": ("val", "auc"),
                "majority_acc": ("test", "majority", "acc"),
                "test_max_acc": ("test_max_over_epochs", "acc"),
                "test_max_auc": ("test_max_over_epochs", "auc")}


def log_settings(tracker: Tracker, folder: Path) -> None:
    """A run folder's resolved settings as params (config.yaml as search.*, train/config.yaml
    as train.*), with its dataset's md5 status."""
    if not tracker.enabled:
        return
    from zodarts.config import read_yaml
    from zodarts.rundir import RunPaths

    paths = RunPaths(folder)
    values: dict[str, Any] = {}
    if paths.config.is_file():
        search = read_yaml(paths.config)
        values["search"] = search
        values.update(method=search.get("method"), preset=search.get("preset"),
                      dataset=search.get("dataset"), seed=search.get("seed"),
                      budget=search.get("budget"))
        # A tag, not a param: the file under a name can be replaced between a search and a
        # retraining.
        tracker.tags({"dataset_md5": _md5_status(search.get("dataset"),
                                                 search.get("data_root"))})
    if paths.train_config.is_file():
        values["train"] = read_yaml(paths.train_config)
    tracker.params(values)


def _md5_status(dataset: str | None, root: str | None) -> str | None:
    from zodarts.data import REGISTRY, find_local, md5_status

    if not dataset or dataset.lower() not in REGISTRY:
        return None
    try:
        path = find_local(dataset, root)
        return None if path is None else md5_status(path, dataset)
    except Exception:
        return None


def log_evaluation(tracker: Tracker, folder: Path) -> None:
    """eval.json's final numbers as metrics, its verdicts as tags, and the run's files as
    artifacts."""
    if not tracker.enabled:
        return
    from zodarts.rundir import RunPaths

    paths = RunPaths(folder)
    if paths.eval.is_file() and tracker.evaluated(paths.eval.read_text()):
        return   # a resumed run whose evaluation the tracker has already
    if paths.eval.is_file():
        evaluation = json.loads(paths.eval.read_text())
        values = {}
        for name, keys in EVAL_METRICS.items():
            value: Any = evaluation
            for key in keys:
                value = value.get(key) if isinstance(value, dict) else None
            values[name] = value
        values["restarts"] = len(evaluation.get("restarts") or [])
        tracker.metrics(values)
        search = evaluation.get("search") or {}
        budget = evaluation.get("budget") or {}
        environment = evaluation.get("environment") or {}
        tracker.tags({"decided": search.get("decided"), "within_budget": budget.get("within"),
                      "device": environment.get("device"),
                      "derivation": (evaluation.get("derivation") or {}).get("kind")})
    tracker.artifacts([p for p in (paths.genotype, paths.config, paths.eval) if p.is_file()])
    if paths.train_config.is_file():
        tracker.artifacts([paths.train_config], "train")
    if paths.report_dir.is_dir():
        tracker.artifacts([paths.report_dir])


def log_exported(state: dict, path: Path, fmt: str, example) -> str | None:
    """The exported file as a model of the run ``state`` names (see ``export.log_model``);
    returns the model's MLflow URI (None where the tracker failed)."""
    import numpy as np

    client = status = None
    try:
        import mlflow
        from mlflow.models import infer_signature

        x = example.numpy().astype(np.float32)
        client = _client(state["uri"])
        status = client.get_run(state["run_id"]).info.status
        status = status if status != "RUNNING" else "FINISHED"
        mlflow.set_tracking_uri(state["uri"])
        with warnings.catch_warnings(), mlflow.start_run(run_id=state["run_id"]):
            warnings.simplefilter("ignore", DeprecationWarning)   # torch.jit.load
            if fmt == "onnx":
                import onnx
                import onnxruntime

                session = onnxruntime.InferenceSession(str(path),
                                                       providers=["CPUExecutionProvider"])
                y = session.run(None, {session.get_inputs()[0].name: x})[0]
                info = mlflow.onnx.log_model(
                    onnx.load(str(path)), name="model_onnx", input_example=x,
                    signature=infer_signature(x, y),
                    onnx_execution_providers=["CPUExecutionProvider"])
            else:
                import torch

                model = torch.jit.load(str(path), map_location="cpu")
                with torch.no_grad():
                    y = model(example).numpy()
                # A TorchScript module is saved as itself (the default, pt2, takes
                # torch.export programs only).
                info = mlflow.pytorch.log_model(model, name="model", input_example=x,
                                                signature=infer_signature(x, y),
                                                serialization_format="pickle")
        return info.model_uri
    except Exception as err:
        _stopped(state.get("uri"), err)
        return None
    finally:  # a failed export must not leave the trained run FAILED or RUNNING
        if client is not None and status is not None:
            try:
                client.set_terminated(state["run_id"], status)
            except Exception:
                pass
