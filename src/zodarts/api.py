"""The Python API: the command line's jobs as functions of keyword arguments that return result
objects.

    from zodarts import api
    found = api.search(dataset="breastmnist", budget="small", out="runs/breast")
    api.train("runs/breast"); api.evaluate("runs/breast"); api.report("runs/breast")
    result = api.run(dataset="digits", out="runs/digits")     # the whole job
    api.train("runs/breast", seeds=[0, 1, 2])                 # an ensemble: runs/breast/ensemble
    preds = api.predict("runs/breast/ensemble", ["scans/"], out="preds.csv")

Settings are the fields of :class:`zodarts.config.SearchConfig` and
:class:`zodarts.config.TrainConfig` as keywords (``epochs=10``, ``C=8``, ``options={"zo_steps":
5}``); ``run`` takes both, the training ones with a ``train_`` prefix as on the command line
(``train_epochs=100``). Errors are the CLI's, spoken in keyword arguments (``resume=True``, not
``--resume``).

The functions live here rather than on the package: ``zodarts.search``, ``zodarts.train``,
``zodarts.report`` and ``zodarts.export`` are the modules that do the work, and a name must not be
both a module and a function.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from zodarts.config import (DEFAULT_PRESET, DERIVATION_FIELDS, TRAIN_PRESETS, SearchConfig,
                            TrainConfig, load_config, make_config, make_search_config,
                            resume_conflicts)
from zodarts.errors import ConfigError, ZodartsError
from zodarts.pipeline import RunResult, run_pipeline
from zodarts.predict.core import Predictions
from zodarts.search.loop import SearchResult, run_search
from zodarts.tracking import check, resolve_uri, source
from zodarts.train.ensemble import EnsembleResult
from zodarts.train.retrain import TrainResult
from zodarts.utils.threads import configure_threads

__all__ = ["search", "train", "evaluate", "report", "export", "predict", "run", "RunResult",
           "SearchResult", "TrainResult", "EnsembleResult", "Predictions"]

F = TypeVar("F", bound=Callable[..., Any])

# Command-line flags that are switches: `--resume` becomes `resume=True`, `--no-anneal`
# `anneal=False`.
_SWITCHES = {"resume", "until-decided", "size-search", "anneal", "deterministic", "force",
             "quiet", "bn-batch-stats", "test-every-epoch", "crop-flip", "flip",
             "twin-fresh-optimizer", "keep-models", "train-bn-batch-stats",
             "train-test-every-epoch", "nesterov", "train-nesterov"}
# A flag outside `backticks` (those quote shell commands, which keep their flags), with the
# upper-case placeholder that may follow it (`--dataset NAME`).
_FLAG = re.compile(r"(?<![\w-])--(no-)?([a-z][a-z0-9-]*)(?:[ =]([A-Z][A-Z_]*)\b)?")


def keyword_spelling(message: str) -> str:
    """``message`` with its command-line flags spelled as this API's keyword arguments."""
    def keyword(match: re.Match) -> str:
        negated, flag, placeholder = match.groups()
        if flag == "opt":
            return "the options entry"
        name = flag.replace("-", "_")
        if flag in _SWITCHES:
            return f"{name}={not negated}"
        return f"{name}={placeholder or '...'}"

    parts = message.split("`")
    parts[::2] = [_FLAG.sub(keyword, part) for part in parts[::2]]
    return "`".join(parts)


def speaks_keywords(function: F) -> F:
    """Errors that reach an API caller name keyword arguments, not command-line flags."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ZodartsError as err:
            err.args = (keyword_spelling(str(err)),)
            raise
    return wrapper  # type: ignore[return-value]


def _check_resume(out: str | Path, given: dict[str, Any], cls: type, path: Path,
                  prefix: str = "") -> None:
    """Settings given with resume=True must agree with the folder's own (``path``, a saved
    ``cls``); ``prefix`` is how the caller spells them (``train_`` in run())."""
    if not path.is_file():
        return
    conflicts = resume_conflicts(given, load_config(cls, path),
                                 lambda name, value: f"{prefix}{name}={value!r}")
    if conflicts:
        raise ConfigError(f"{out} was started with other settings, and resume=True continues "
                          f"them as they are: {'; '.join(conflicts)}. Leave those out, or "
                          "start a new run in another out")


def _check_preset(out: str | Path, preset: str | None) -> None:
    from zodarts.commands.run import saved_search_config

    saved = saved_search_config(out)
    if preset is not None and saved is not None and saved.preset != preset:
        raise ConfigError(f"{out} was started with other settings, and resume=True continues "
                          f"them as they are: preset={preset!r} (the folder holds "
                          f"{saved.preset!r}). Leave it out, or start a new run in another out")


def _resume_search_settings(out: str | Path, given: dict[str, Any], preset: str | None) -> None:
    """Search settings given with resume=True: each must agree with the folder's, but the
    derivation ones, which a resume may change (search.rederive)."""
    from zodarts.rundir import RunPaths
    from zodarts.search.rederive import change_derivation

    _check_resume(out, {k: v for k, v in given.items() if k not in DERIVATION_FIELDS},
                  SearchConfig, RunPaths(out).config)
    _check_preset(out, preset)
    change_derivation(out, given)


def _default_out(config: SearchConfig) -> Path:
    from zodarts.commands.common import default_out
    return default_out(config)


def _named(dataset: str | None, method: str | None, budget: str | None) -> dict[str, Any]:
    """The named settings a caller gave (None: not given; the defaults fill them later)."""
    return {k: v for k, v in (("dataset", dataset), ("method", method), ("budget", budget))
            if v is not None}


@speaks_keywords
def search(dataset: str | None = None, method: str | None = None, budget: str | None = None,
           preset: str | None = None, out: str | Path | None = None,
           resume: bool = False, progress: bool = False, threads: int | None = None,
           **settings: Any) -> SearchResult:
    """Search an architecture (``zodarts search``); ``settings`` are SearchConfig fields. The
    defaults: digits, zo-darts++, no budget, the quick preset.

    >>> found = api.search(dataset="breastmnist", budget="small", out="runs/breast")
    >>> found.genotype, found.history[-1]["val_acc"]
    """
    from zodarts.rundir import RunPaths

    configure_threads(threads)
    given = {**_named(dataset, method, budget), **settings}
    if resume:
        if out is None:
            raise ConfigError("resume=True needs out (the run folder to continue)")
        _resume_search_settings(out, given, preset)
        return run_search(None, out, resume=True, progress=progress, log=None)
    config = make_search_config(preset or DEFAULT_PRESET, **given)
    return run_search(config, out or _default_out(config), progress=progress, log=None)


@speaks_keywords
def train(run_dir: str | Path, genotype: str | Path | None = None, dataset: str | None = None,
          preset: str | None = None, resume: bool = False, progress: bool = False,
          seeds: Sequence[int] | None = None, threads: int | None = None,
          **settings: Any) -> TrainResult | EnsembleResult:
    """Retrain a run's genotype (or a genotype file, into ``run_dir``) from scratch (``zodarts
    train``); ``settings`` are TrainConfig fields. With ``seeds``, an ensemble: the genotype
    trained once per seed into ``run_dir/ensemble`` (an EnsembleResult), which evaluate,
    report, export and predict take as one model.

    >>> trained = api.train("runs/breast")          # the search's preset by default
    >>> trained.best["val"]["acc"]
    >>> api.train("runs/breast", seeds=[0, 1, 2]).out    # runs/breast/ensemble
    """
    from zodarts.commands.train import derives_draws, search_preset
    from zodarts.pipeline import train_derived
    from zodarts.rundir import RunPaths
    from zodarts.space import Genotype
    from zodarts.train.retrain import run_train

    configure_threads(threads)
    preset = preset or search_preset(run_dir) or DEFAULT_PRESET
    if seeds is not None:
        return _train_ensemble(run_dir, genotype, dataset, preset, resume, progress, seeds,
                               settings)
    config = make_config(TrainConfig, TRAIN_PRESETS, preset, dataset=dataset, **settings)
    if genotype is None and derives_draws(run_dir):  # every drawn architecture
        results = train_derived(run_dir, config, resume, progress, log=None)
        if not results:
            from zodarts.commands.train import all_trained
            raise ConfigError(all_trained(run_dir))
        return results[0]
    if resume:
        _check_resume(run_dir, {"dataset": dataset, **settings}, TrainConfig,
                      RunPaths(run_dir).train_config)
        return run_train(None, run_dir, resume=True, progress=progress, log=None)
    loaded = Genotype.load(genotype) if genotype is not None else None
    return run_train(config, run_dir, loaded, progress=progress, log=None)


def _train_ensemble(run_dir: str | Path, genotype: str | Path | None, dataset: str | None,
                    preset: str, resume: bool, progress: bool, seeds: Sequence[int],
                    settings: dict[str, Any]) -> EnsembleResult:
    from zodarts.rundir import RunPaths
    from zodarts.space import Genotype
    from zodarts.train.ensemble import check_seeds, train_ensemble

    if "seed" in settings:
        raise ConfigError("give seeds= (an ensemble, one member per seed) or seed= (one "
                          "network), not both")
    check_seeds(list(seeds))
    if resume:
        _check_resume(run_dir, {"dataset": dataset, **settings}, TrainConfig,
                      RunPaths(run_dir).ensemble.train_plan)
        return train_ensemble(run_dir, None, list(seeds), resume=True, progress=progress,
                              log=None)
    config = make_config(TrainConfig, TRAIN_PRESETS, preset, dataset=dataset, **settings)
    loaded = Genotype.load(genotype) if genotype is not None else None
    return train_ensemble(run_dir, config, list(seeds), loaded, progress=progress, log=None)


@speaks_keywords
def evaluate(run_dir: str | Path, checkpoint: str = "best", device: str = "auto",
             data_root: str | None = None, threads: int | None = None) -> dict:
    """Test/val ACC and AUC, parameters and FLOPs (``zodarts evaluate``); also written to
    ``run_dir/eval.json``."""
    from zodarts.train.evaluate import evaluate_run

    configure_threads(threads)
    return evaluate_run(run_dir, checkpoint, device, data_root)


@speaks_keywords
def report(run_dir: str | Path) -> Path:
    """Plots and report.md under ``run_dir/report`` (``zodarts report``); returns report.md."""
    from zodarts.report import make_reports
    return make_reports(run_dir)


@speaks_keywords
def export(run_dir: str | Path, format: str = "torchscript", out: str | Path | None = None
           ) -> Path:
    """The trained model as TorchScript or ONNX (``zodarts export``; input: float images in
    [0, 1], normalisation inside); returns the file's path."""
    from zodarts.export import export_model
    return export_model(run_dir, format, out)


@speaks_keywords
def predict(model: str | Path, inputs: str | Path | Sequence[str | Path],
            out: str | Path | None = None, split: str = "test", batch_size: int | None = None,
            device: str = "auto", progress: bool = False) -> Predictions:
    """Class probabilities of new images (``zodarts predict``): ``model`` is a run folder, an
    ensemble folder or an exported model.pt / model.onnx (with its JSON); ``inputs`` image
    files, folders of them, or MedMNIST-layout .npz files (their ``split``). Writes the CSV
    to ``out`` when given; notes on converted or resized images are ZodartsWarnings.

    >>> preds = api.predict("runs/breast", ["scans/"], out="preds.csv")
    >>> preds.labels()[:3], preds.probabilities.shape
    """
    from zodarts.predict.core import predict_inputs

    listed = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    return predict_inputs(model, listed, out, split, batch_size, device, progress)


# Settings that the search and the retraining of one run share.
SHARED = ("dataset", "data_root", "seed", "device", "deterministic", "precision")


def _split_run_settings(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``run``'s keywords into SearchConfig fields and TrainConfig fields (``train_`` prefix)."""
    import dataclasses

    search_fields = {f.name for f in dataclasses.fields(SearchConfig)} - {"preset"}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)} - {"preset", *SHARED}
    searched, trained, unknown = {}, {}, []
    for key, value in settings.items():
        if key in search_fields:
            searched[key] = value
        elif key.startswith("train_") and key[len("train_"):] in train_fields:
            trained[key[len("train_"):]] = value
        else:
            unknown.append(key)
    if unknown:
        raise ConfigError(
            f"run() got unknown keyword argument(s) {', '.join(sorted(unknown))}; it takes the "
            f"search's settings ({', '.join(sorted(search_fields))}) and the training's with a "
            f"train_ prefix ({', '.join('train_' + n for n in sorted(train_fields))})")
    return searched, trained


@speaks_keywords
def run(dataset: str | None = None, method: str | None = None, budget: str | None = None,
        preset: str | None = None, out: str | Path | None = None,
        resume: bool = False, progress: bool = False, track: str | None = None,
        threads: int | None = None, **settings: Any) -> RunResult:
    """Search → train → evaluate → report in one folder (``zodarts run``).

    ``settings``: SearchConfig fields (``epochs``, ``seed``, ``device``, ``options``...) and
    TrainConfig fields with a ``train_`` prefix (``train_epochs``, ``train_lr``...); the seed,
    device, precision and dataset are shared by both stages. ``track``: an MLflow tracking URI
    ("" for the embedded default; None: $ZODARTS_TRACK, else no tracking). ``threads``: torch's
    CPU threads, in every function here (None: $OMP_NUM_THREADS, else the CPUs available).

    >>> result = api.run()          # digits, quick preset: about two minutes on a CPU
    >>> result.evaluation["test"]["acc"]
    """
    from zodarts.rundir import RunPaths

    from zodarts.commands.run import saved_search_config

    configure_threads(threads)
    searched, trained = _split_run_settings(settings)
    searched = {**_named(dataset, method, budget), **searched}
    if resume:
        if out is None:
            raise ConfigError("resume=True needs out (the run folder to continue)")
        _check_resume(out, trained, TrainConfig, RunPaths(out).train_settings, prefix="train_")
        _resume_search_settings(out, searched, preset)
        # A stage not yet started trains with the folder's preset and seed, not the defaults.
        search_config = (saved_search_config(out)
                         or make_search_config(preset or DEFAULT_PRESET, **searched))
    else:
        search_config = make_search_config(preset or DEFAULT_PRESET, **searched)
    shared = {name: getattr(search_config, name) for name in SHARED if name != "dataset"}
    train_config = make_config(TrainConfig, TRAIN_PRESETS, search_config.preset, "train_",
                               **{**shared, **trained})
    out = out or _default_out(search_config)
    uri = resolve_uri(track, out)
    if uri is not None:
        check(uri, source(track))
    return run_pipeline(search_config, train_config, out, resume, progress, log=None,
                        track=uri)
