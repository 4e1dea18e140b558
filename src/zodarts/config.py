"""Typed, YAML-serialisable configurations with named presets.

A preset fills in defaults; anything the user sets explicitly wins. Every run writes its fully
resolved config, so a run directory alone says how it was made.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from zodarts.errors import ConfigError


@dataclass
class SearchConfig:
    dataset: str = "digits"
    data_root: str | None = None
    method: str = "zo-darts++"
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False

    epochs: int = 50
    batch_size: int = 256
    steps_per_epoch: int | None = None  # cap on weight steps per epoch (None: the whole half)
    eval_batches: int | None = None     # cap on validation batches per epoch (None: all)
    C: int = 16
    cells_per_stage: int = 3
    relax: str | None = None            # None: the method's own (sparsemax for ZO-DARTS++)

    budget: str = "none"                # small | medium | large | none
    params_min: float | None = None
    params_max: float | None = None
    penalty_scale: float = 15.0         # λ = penalty_scale / T
    penalty_unit: float = 1e6           # R = (relu(P-U) + relu(L-P)) / penalty_unit

    # Weights ω: SGD, cosine schedule over the epochs.
    w_lr: float = 0.1
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_nesterov: bool = True
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0

    # Architecture α: Adam.
    a_lr: float = 1.5e-2
    a_beta1: float = 0.5
    a_beta2: float = 0.999
    a_weight_decay: float = 1e-3

    # Temperature annealing and the size-variable phase (used by methods that support them).
    temperature: float = 1.5
    temp_decay: float = 0.75
    temp_decay_every: int = 5
    size_search_start: int = 20

    # Method-specific settings, validated against the searcher's own Options dataclass.
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "SearchConfig":
        problems = []
        for name in ("epochs", "batch_size", "C", "cells_per_stage", "temp_decay_every"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("steps_per_epoch", "eval_batches"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1 or unset (got {value})")
        for name in ("w_lr", "a_lr", "temperature", "penalty_unit"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0 (got {getattr(self, name)})")
        if not 0 < self.temp_decay <= 1:
            problems.append(f"temp_decay must be in (0, 1] (got {self.temp_decay})")
        if self.size_search_start < 0:
            problems.append("size_search_start must be >= 0")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device must be auto, cpu or cuda (got {self.device!r})")
        if problems:
            raise ConfigError("invalid search config: " + "; ".join(problems))
        return self


# Presets: `tiny` is for tests, `quick` for a first run on CPU, `paper` reproduces the paper.
SEARCH_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(epochs=2, batch_size=32, steps_per_epoch=4, eval_batches=2, C=4,
                 cells_per_stage=1, size_search_start=1, temp_decay_every=1,
                 options={"zo_steps": 2}),
    # quick: about a minute on two CPU cores for digits. Batches of 32 give the ZO searcher
    # (M = 10 weight steps per α step) about two architecture steps per epoch on digits.
    "quick": dict(epochs=6, batch_size=32, steps_per_epoch=None, C=8, cells_per_stage=2,
                  size_search_start=3, temp_decay_every=2),
    "paper": dict(epochs=50, batch_size=256, C=16, cells_per_stage=3, size_search_start=20,
                  temp_decay_every=5),
}


def _apply(config: Any, values: dict[str, Any]) -> Any:
    known = {f.name for f in fields(config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} for {type(config).__name__}; "
                          f"known: {', '.join(sorted(known))}")
    for key, value in values.items():
        if key == "options":
            value = {**getattr(config, key), **value}
        setattr(config, key, value)
    return config


def make_config(cls: type, presets: dict[str, dict], preset: str | None, **overrides: Any):
    """A config from ``preset`` defaults, then ``overrides`` (None values mean 'not given')."""
    config = cls()
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}: use one of {', '.join(presets)}")
        _apply(config, dict(presets[preset]))
    _apply(config, {k: v for k, v in overrides.items() if v is not None})
    return config.validate()


def save_config(config: Any, path: str | Path) -> None:
    from zodarts.utils.io import atomic_write_text
    atomic_write_text(path, yaml.safe_dump(asdict(config), sort_keys=False))


def load_config(cls: type, path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of settings")
    return _apply(cls(), values).validate()


def replace(config: Any, **changes: Any):
    return dataclasses.replace(config, **changes)


@dataclass
class TrainConfig:
    """Retraining a genotype from scratch (``zodarts train``); see zodarts.train.retrain."""

    dataset: str | None = None          # None: the search's dataset, from RUN_DIR/config.yaml
    data_root: str | None = None
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False

    epochs: int = 500                   # the paper's code retrains for 500 epochs
    batch_size: int = 128
    steps_per_epoch: int | None = None  # cap on steps per epoch (None: the whole train split)
    eval_batches: int | None = None     # cap on validation batches per epoch (None: all)
    C: int | None = None                # first-stage channels (None: the genotype's own C)

    # SGD with Nesterov momentum; per-step linear warm-up, then cosine to lr_min.
    lr: float = 0.1
    lr_min: float = 0.0
    warmup_epochs: float = 5.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 3e-4
    label_smoothing: float = 0.1        # cross-entropy only; multi-label BCE is not smoothed
    grad_clip: float | None = 5.0

    # Augmentation: random crop (+ flip), then a stronger policy, then optional mixup/cutmix.
    crop_flip: bool = True
    flip: bool | None = None            # None: on, except for digits (handwriting is not
                                        # mirror-symmetric; medical images are)
    padding: int | None = None          # None: about image_size / 8
    augment: str = "trivialaugment"     # none | trivialaugment | kornia
    mixup_alpha: float = 0.0            # 0: off
    cutmix_alpha: float = 0.0           # 0: off
    mix_prob: float = 1.0               # share of batches mixed when mixup/cutmix is on

    select: str = "acc"                 # best.pt is the epoch with the best val acc | auc | loss

    def validate(self) -> "TrainConfig":
        problems = []
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("steps_per_epoch", "eval_batches", "C"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1 or unset (got {value})")
        if not self.lr > 0 or not 0 <= self.lr_min <= self.lr:
            problems.append(f"need lr > 0 and 0 <= lr_min <= lr (got {self.lr}, {self.lr_min})")
        if self.warmup_epochs < 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            problems.append("warmup_epochs and weight_decay must be >= 0, momentum in [0, 1)")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1) (got {self.label_smoothing})")
        if self.grad_clip is not None and not self.grad_clip > 0:
            problems.append(f"grad_clip must be > 0 or unset (got {self.grad_clip})")
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0 or not 0 <= self.mix_prob <= 1:
            problems.append("mixup_alpha and cutmix_alpha must be >= 0, mix_prob in [0, 1]")
        if self.padding is not None and self.padding < 0:
            problems.append(f"padding must be >= 0 (got {self.padding})")
        if self.augment not in ("none", "trivialaugment", "kornia"):
            problems.append(f"augment must be none, trivialaugment or kornia "
                            f"(got {self.augment!r})")
        if self.select not in ("acc", "auc", "loss"):
            problems.append(f"select must be acc, auc or loss (got {self.select!r})")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device must be auto, cpu or cuda (got {self.device!r})")
        if problems:
            raise ConfigError("invalid train config: " + "; ".join(problems))
        return self


# Same names as the search presets, so `zodarts run --preset quick` sets both.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(epochs=2, batch_size=32, steps_per_epoch=4, eval_batches=2, warmup_epochs=0.5),
    "quick": dict(epochs=40, batch_size=64, warmup_epochs=2),
    "paper": dict(epochs=500, batch_size=128, lr=0.1, warmup_epochs=5),
}
