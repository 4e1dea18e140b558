"""Measuring a network: per-split metrics during training, and the final ``eval.json``."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from zodarts.config import SearchConfig, TrainConfig, load_config
from zodarts.data import BatchIterator, ImageDataset, load_dataset
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.space import (budget_check, count_flops, count_params, count_params_all_ops,
                           resolve_budget)
from zodarts.train.checkpoint import Trained, load_trained
from zodarts.train.metrics import (confusion_matrix, majority_baseline, make_criterion,
                                   per_class_metrics, scores_from_logits, task_metrics)
from zodarts.utils.kinds import RUN, require_kind
from zodarts.utils.io import atomic_write_bytes, atomic_write_text, read_jsonl
from zodarts.utils.runtime import resolve_device

EVAL_BATCH_SIZE = 512


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable, max_batches: int | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels (on the CPU) of every batch, in order; the model is left in eval mode."""
    model.eval()
    logits, labels = [], []
    for i, (x, y) in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        logits.append(model(x).float().cpu())
        labels.append(y.cpu())
    return torch.cat(logits), torch.cat(labels)


def split_metrics(task: str, logits: torch.Tensor, labels: torch.Tensor) -> dict:
    """loss (unsmoothed), acc and auc of one split, MedMNIST's way; a ``note`` where the AUC is
    undefined."""
    loss = make_criterion(task)(logits, labels).item()
    metrics = task_metrics(task, labels.numpy(), scores_from_logits(task, logits))
    return {"loss": loss, **metrics.to_dict()}


def evaluate_model(model: nn.Module, batches: Iterable, task: str,
                   max_batches: int | None = None) -> dict:
    return split_metrics(task, *predict(model, batches, max_batches))


def split_details(task: str, labels: np.ndarray, scores: np.ndarray, train_labels: np.ndarray,
                  names: Sequence[str]) -> dict:
    """What eval.json adds to a split's ACC and AUC (too much for every training epoch): its
    size, the majority-class baseline, the confusion matrix and the per-class numbers."""
    return {"n": len(labels),
            "majority": majority_baseline(task, train_labels, labels),
            "confusion_matrix": confusion_matrix(task, labels, scores).tolist(),
            "per_class": {"name": list(names), **per_class_metrics(task, labels, scores)}}


def run_dataset(paths: RunPaths) -> tuple[str, str | None]:
    """(dataset, data_root) the run was trained on: its training settings (an ensemble's are
    its train_plan.yaml), else the search's."""
    for cls, path in ((TrainConfig, paths.train_settings), (SearchConfig, paths.config)):
        if path.is_file():
            config = load_config(cls, path)
            if config.dataset:
                return config.dataset, config.data_root
    raise ConfigError(f"{paths.root} names no dataset (no train/config.yaml or config.yaml); "
                      "train it first with `zodarts train`")


def architecture_paths(paths: RunPaths) -> RunPaths:
    """The folder whose genotype this one trains: itself, or for an ensemble (RUN/ensemble/)
    and its members (RUN/ensemble/mS/) the folder RUN they were trained from."""
    if paths.is_member:
        return RunPaths(paths.root.parent.parent)
    if paths.is_ensemble:
        return RunPaths(paths.root.parent)
    return paths


def search_paths(paths: RunPaths) -> RunPaths:
    """The folder of the search that produced this run's architecture: the run's own, or for
    a drawn architecture (draws/dK/) the run two levels up; an ensemble's is that of the
    architecture it trains."""
    paths = architecture_paths(paths)
    return RunPaths(paths.root.parent.parent) if paths.draw_info.is_file() else paths


def run_method(paths: RunPaths) -> str | None:
    """The search method that produced the genotype; None for a genotype given by file."""
    return load_config(SearchConfig, paths.config).method if paths.config.is_file() else None


def run_seeds(paths: RunPaths) -> dict:
    """The seeds of the search and the retraining (None for a stage the run did not have)."""
    return {name: load_config(cls, path).seed if path.is_file() else None
            for name, cls, path in (("search", SearchConfig, paths.config),
                                    ("train", TrainConfig, paths.train_config))}


def run_environment(paths: RunPaths) -> dict | None:
    """environment.json (versions, device, git revision), None in a folder without one."""
    return json.loads(paths.environment.read_text()) if paths.environment.is_file() else None


def run_budget(paths: RunPaths, channels: int, classes: int) -> tuple[float, float] | None:
    """The parameter band the run's search was asked to meet (None: no search or no budget)."""
    if not paths.config.is_file():
        return None
    c = load_config(SearchConfig, paths.config)
    return resolve_budget(c.budget, c.params_min, c.params_max, channels, classes, c.C,
                          c.cells_per_stage)


def measure(trained: Trained, dataset: ImageDataset, device: torch.device
            ) -> tuple[dict, dict[str, np.ndarray]]:
    """Test and val metrics of a trained model (eval.json's per-split part), and its labels
    and scores per split (predictions.npz)."""
    train_labels = dataset.splits["train"].labels.numpy()
    results, predictions = {}, {}
    for split in ("test", "val"):
        batches = BatchIterator(dataset.splits[split], trained.eval_batch or EVAL_BATCH_SIZE,
                                device, trained.normalizer, shuffle=False)
        logits, labels = predict(trained.model, batches)
        scores = scores_from_logits(dataset.task, logits)
        results[split] = {**split_metrics(dataset.task, logits, labels),
                          **split_details(dataset.task, labels.numpy(), scores, train_labels,
                                          dataset.class_names())}
        predictions.update({f"{split}_labels": labels.numpy(), f"{split}_scores": scores})
    return results, predictions


def evaluate_run(run_dir: str | Path, which: str = "best", device: str = "auto",
                 data_root: str | None = None, write: bool = True,
                 dataset: ImageDataset | None = None) -> dict:
    """Test (and val) metrics of a trained run, its exact parameters and FLOPs; written to
    ``RUN_DIR/eval.json`` (NaN as null) unless ``write`` is False. ``dataset``: the run's,
    already loaded.

    The genotype, ``params`` and ``flops`` are those of the network as built: live ops only.
    ``params_all_ops`` also counts the dead ops the genotype names (see ``live_edges``).
    An ensemble folder is evaluated as one model (the mean of its members' probabilities), its
    size the members' sum; each member is evaluated too, and its numbers listed."""
    from zodarts.train.ensemble import ensemble_section, member_folders

    paths = RunPaths(run_dir)
    require_kind(paths.root, RUN, "give `zodarts evaluate` a run folder")
    if (paths.config.is_file() and not paths.train_best.is_file()
            and load_config(SearchConfig, paths.config).derive == "sample"):
        raise ConfigError(f"{paths.root} draws its architectures, and each is trained and "
                          f"evaluated in a folder of its own ({paths.draw(0).root}, ...): "
                          f"`zodarts evaluate {paths.root}` evaluates them all, or evaluate one "
                          "of those folders")
    searched = search_paths(paths)
    dev = resolve_device(device)
    trained = load_trained(paths.root, which, dev)
    if dataset is None:
        name, root = run_dataset(paths)
        dataset = load_dataset(name, data_root or root)
    members = member_folders(paths) if paths.is_ensemble else []
    member_reports = [evaluate_run(m.root, which, device, data_root, write, dataset)
                      for m in members]
    results, predictions = measure(trained, dataset, dev)
    genotype, n = trained.genotype, trained.members
    params = count_params(genotype) * n        # an ensemble's size is its members' sum
    # A member's environment stands for the ensemble's: they ran in one process.
    own = members[0] if members else paths
    report = {
        "dataset": dataset.name, "task": dataset.task, "method": run_method(searched),
        "genotype": genotype.pruned().to_dict(), "params": params,
        "params_all_ops": count_params_all_ops(genotype) * n,
        "flops": count_flops(genotype, dataset.image_size) * n,
        "budget": budget_check(params, run_budget(searched, dataset.channels, dataset.classes)),
        "checkpoint": {"which": which, "epoch": trained.epoch},
        "seeds": {**run_seeds(searched),
                  "train": ([r["seeds"]["train"] for r in member_reports] if members
                            else run_seeds(paths)["train"])},
        "environment": run_environment(own),
        "search": search_decision(searched),
        "derivation": derivation(architecture_paths(paths)),
        "bn_batch_stats": trained.bn_batch_stats,
        "restarts": read_jsonl(paths.restarts),
        "test": results["test"],
        "test_max_over_epochs": max_over_epochs(read_jsonl(paths.train_log), "test"),
        "val": {k: v for k, v in results["val"].items() if k != "loss"},
    }
    if members:
        report["ensemble"] = ensemble_section(members, member_reports)
    if write:
        write_predictions(paths.predictions, predictions)
        atomic_write_text(paths.eval, json.dumps(json_safe(report), indent=2) + "\n")
    return report


# How every table labels a number chosen by looking at the test split.
SELECTED_ON_TEST = "selected on test (optimistic; the paper's way)"


def max_over_epochs(log: list[dict], split: str) -> dict | None:
    """The best ``split`` ACC and AUC over the training's epochs, each with its epoch: how the
    ZO-DARTS++ authors report a network (retrain/read_percentile.py). Chosen by looking at the
    test split, so optimistic; None where the training did not measure it every epoch."""
    rows = [r for r in log if r.get(f"{split}_acc") is not None]
    if not rows:
        return None
    out: dict = {"selection": SELECTED_ON_TEST, "epochs": len(rows)}
    for metric in ("acc", "auc"):
        values = [(r[f"{split}_{metric}"], r["epoch"]) for r in rows
                  if r.get(f"{split}_{metric}") is not None
                  and math.isfinite(r[f"{split}_{metric}"])]
        if values:
            best, epoch = max(values, key=lambda v: (v[0], -v[1]))  # the first epoch of a tie
            out[metric], out[f"{metric}_epoch"] = best, epoch
    return out


def derivation(paths: RunPaths) -> dict:
    """How this run's architecture was derived from its search: argmax, or draw K (with its
    seed, epoch and tries), or given by file."""
    if paths.draw_info.is_file():
        info = json.loads(paths.draw_info.read_text())
        out = {"kind": "draw", "index": info["index"], "seed": info["seed"],
               "epoch": info["epoch"], "tries": info["tries"], "band": info["band"]}
        redraws = [r for r in read_jsonl(paths.restarts) if "genotype" in r]
        if redraws:  # restarted with a new draw: that is the architecture trained
            out.update(redrawn=len(redraws), seed=[*info["seed"], redraws[-1]["attempt"]],
                       tries=redraws[-1]["tries"])
        return out
    return {"kind": "argmax" if paths.config.is_file() else "file"}


def search_decision(paths: RunPaths) -> dict | None:
    """How decided the search ended (zodarts.space.decision): from its last log line."""
    log = read_jsonl(paths.search_log)
    if not log or "decided" not in log[-1]:
        return None  # a genotype given by file, or random search (no α)
    last = log[-1]
    return {"decided": last["decided"], "margin_min": last["margin_min"],
            "margin_weakest": last["margin_weakest"], "epochs": len(log),
            "decided_epochs": last.get("decided_epochs")}


def write_predictions(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Labels and class scores per split, so the report can draw ROC curves (and a researcher
    compute any other metric) without the model or the data."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def json_safe(value):
    """NaN and infinities become null: strict JSON has no NaN, and tools like jq reject it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
