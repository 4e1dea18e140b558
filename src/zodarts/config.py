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
    "quick": dict(epochs=8, batch_size=64, steps_per_epoch=None, C=8, cells_per_stage=2,
                  size_search_start=4, temp_decay_every=2),
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
