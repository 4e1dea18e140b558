"""Typed, YAML-serialisable configurations with named presets.

A preset fills in defaults; anything the user sets explicitly wins. Every run writes its fully
resolved config, so a run directory alone says how it was made.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from zodarts.errors import ConfigError


@dataclass
class SearchConfig:
    """One search. Fields left ``None`` are the method's own (its paper's) or follow from the
    data; ``zodarts.search.protocol`` resolves them, and config.yaml records the result."""

    dataset: str = "digits"
    data_root: str | None = None
    method: str = "zo-darts++"
    preset: str | None = None
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    precision: str = "fp32"             # fp32 | bf16 (autocast for forward and backward)

    epochs: int | None = 50             # None: from arch_steps and the dataset's size
    arch_steps: int | None = None       # α-step budget (used when epochs is None)
    batch_size: int | None = 256        # None: the paper's batch for the dataset (see below)
    steps_per_epoch: int | None = None  # cap on weight steps per epoch (None: the whole half)
    eval_batches: int | None = None     # cap on validation batches per epoch (None: all)
    C: int = 16
    cells_per_stage: int = 3

    # The three components of ZO-DARTS++, switchable for every α-based method (None: the
    # method's own: on for zo-darts++, off for its peers).
    relax: str | None = None            # softmax | sparsemax | entmax15
    anneal: bool | None = None          # temperature schedule (else T = 1)
    size_search: bool | None = None     # kernel/depth phase from size_search_start

    budget: str = "none"                # small | medium | large | none
    params_min: float | None = None
    params_max: float | None = None
    penalty_scale: float = 15.0         # λ = penalty_scale / T
    penalty_unit: float = 1e6           # R = (relu(P-U) + relu(L-P)) / penalty_unit

    # Weights ω: SGD, cosine schedule over the epochs (shared by every method: the protocol).
    w_lr: float = 0.1
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_nesterov: bool = True
    w_weight_decay: float = 3e-4
    grad_clip: float = 5.0

    # Architecture α optimizer: adam | sgd | none (None: the method's own, from its paper).
    a_optimizer: str | None = None
    a_lr: float | None = None
    a_beta1: float | None = None
    a_beta2: float | None = None
    a_weight_decay: float | None = None

    # Temperature annealing and the size-variable phase. temp_decay_every None: a decay every
    # tenth of the search (search.schedule); size_search_start None: from 40% of the epochs.
    temperature: float = 1.5
    temp_decay: float = 0.75
    temp_decay_every: int | None = 5
    size_search_start: int | None = 20

    # How the searched architecture is derived: the argmax of every distribution, draws from
    # them as the ZO-DARTS++ authors do (zodarts.space.sampling; `draws` of them, each retrained
    # in draws/dK/), or both. draw_epoch: the epoch whose distributions are drawn from (None:
    # the last).
    derive: str = "argmax"              # argmax | sample | both
    draws: int = 1
    draw_epoch: int | None = None

    # When the architecture counts as decided (zodarts.space.decision), and whether to stop then.
    decided_margin: float = 0.1         # every choice's p(top 1) − p(top 2) at least this
    decided_epochs: int = 3             # for this many epochs in a row (--until-decided)
    until_decided: bool = False         # stop once decided, else run all the epochs

    # Method-specific settings, validated against the searcher's own Options dataclass.
    options: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "SearchConfig":
        problems = seed_problems(self.seed)
        for name in ("C", "cells_per_stage"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (got {getattr(self, name)})")
        for name in ("epochs", "arch_steps", "batch_size", "steps_per_epoch", "eval_batches",
                     "temp_decay_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1 or unset (got {value})")
        if self.epochs is None and self.arch_steps is None:
            problems.append("set epochs or arch_steps (the search length)")
        for name in ("w_lr", "temperature", "penalty_unit"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0 (got {getattr(self, name)})")
        if self.a_lr is not None and not self.a_lr > 0:
            problems.append(f"a_lr must be > 0 (got {self.a_lr})")
        if self.a_optimizer not in (None, *ARCH_OPTIMIZERS):
            problems.append(f"a_optimizer must be one of {', '.join(ARCH_OPTIMIZERS)} "
                            f"(got {self.a_optimizer!r})")
        if self.relax not in (None, *RELAXATIONS):
            problems.append(f"relax must be one of {', '.join(RELAXATIONS)} (got {self.relax!r})")
        if not 0 < self.temp_decay <= 1:
            problems.append(f"temp_decay must be in (0, 1] (got {self.temp_decay})")
        if not 0 < self.decided_margin <= 1 or self.decided_epochs < 1:
            problems.append("decided_margin must be in (0, 1] and decided_epochs >= 1")
        if self.size_search_start is not None and self.size_search_start < 0:
            problems.append("size_search_start must be >= 0")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"device must be auto, cpu or cuda (got {self.device!r})")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)} "
                            f"(got {self.precision!r})")
        if self.derive not in DERIVATIONS:
            problems.append(f"derive must be one of {', '.join(DERIVATIONS)} "
                            f"(got {self.derive!r})")
        if self.draws < 1 or (self.draw_epoch is not None and self.draw_epoch < 0):
            problems.append(f"draws must be >= 1 and draw_epoch >= 0 or unset (got "
                            f"{self.draws}, {self.draw_epoch})")
        if problems:
            raise ConfigError("invalid search config: " + "; ".join(problems))
        return self


# numpy's legacy seeding (np.random.seed, seeded by every run) takes 0 <= seed < 2**32.
MAX_SEED = 2 ** 32 - 1


def seed_problems(seed: Any) -> list[str]:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        return [f"seed must be an integer from 0 to {MAX_SEED} (got {seed!r})"]
    return []


ARCH_OPTIMIZERS = ("adam", "sgd", "none")
PRECISIONS = ("fp32", "bf16")
DERIVATIONS = ("argmax", "sample", "both")
RELAXATIONS = ("sparsemax", "softmax", "entmax15")

# Presets: `tiny` is for tests, `quick` for a first run on CPU, `paper` is the ZO-DARTS++
# authors' protocol. Preset options apply to the methods that have them (tiny shortens ZO-DARTS's
# rounds, ZARTS's candidate training and random search's candidates alike).
SEARCH_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": dict(epochs=2, batch_size=32, steps_per_epoch=4, eval_batches=2, C=4,
                 cells_per_stage=1, size_search_start=1, temp_decay_every=1,
                 options={"zo_steps": 2, "zarts_steps": 2, "zarts_every": 2,
                          "random_candidates": 2}),
    # quick: a first look on a laptop CPU, about a minute for digits. Its length is 40 α steps
    # of ZO-DARTS++ (400 training batches), whatever the dataset's size; the size phase and the
    # temperature decays sit at the paper's fractions of the search (40%, every 10%).
    "quick": dict(epochs=None, arch_steps=40, batch_size=32, steps_per_epoch=None, C=8,
                  cells_per_stage=2, size_search_start=None, temp_decay_every=None),
    # paper: 50 epochs, size phase from epoch 20, T × 0.75 every 5 epochs, and the batch of the
    # authors' search script for each dataset (PAPER_SEARCH_BATCH). The architecture is drawn
    # three times from the distributions their log holds for epoch 39 of 0-49
    # (StructureSampler.read_prob reads that block; retrain/experiment_*.sh runs three rounds).
    "paper": dict(epochs=50, batch_size=None, C=16, cells_per_stage=3, size_search_start=20,
                  temp_decay_every=5, derive="sample", draws=3, draw_epoch=39),
}

# The ZO-DARTS++ authors' batch sizes per dataset: search scripts, then the retrain script.
PAPER_SEARCH_BATCH = {
    "breastmnist": 16, "pneumoniamnist": 32, "dermamnist": 128, "bloodmnist": 128,
    "organamnist": 256, "organcmnist": 256, "organsmnist": 256,
    "octmnist": 512, "tissuemnist": 512, "pathmnist": 512,
}
PAPER_TRAIN_BATCH = {
    "organamnist": 128, "organcmnist": 128, "organsmnist": 128, "octmnist": 128,
    "pathmnist": 128, "tissuemnist": 256, "breastmnist": 64, "bloodmnist": 32,
    "dermamnist": 32, "pneumoniamnist": 16,
}
# A dataset outside those tables gets the largest power of two in [16, 512] that still gives at
# least this many batches per epoch (the authors' BreastMNIST setting gives about 20).
MIN_BATCHES_PER_EPOCH = 15


def paper_batch(dataset: str, images: int, table: dict[str, int]) -> int:
    """The authors' batch for ``dataset``, else the rule above for ``images`` training images."""
    name = dataset.lower()
    if name in table:
        return table[name]
    batch = 512
    while batch > 16 and images // batch < MIN_BATCHES_PER_EPOCH:
        batch //= 2
    return batch


# How a setting's type is spelled to a user, and what a value of each type is called.
_EXPECTED = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             dict: "a mapping of settings"}
_GIVEN = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
          dict: "a mapping", list: "a list", type(None): "unset"}


@functools.lru_cache(maxsize=None)
def _field_types(cls: type) -> dict[str, tuple[type, ...]]:
    """Each field's accepted types (``int | None`` -> (int, NoneType)), from the annotations."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        out[name] = tuple(typing.get_origin(a) or a for a in args)
    return out


def _typed(name: str, value: Any, accepted: tuple[type, ...], where: str) -> Any:
    """``value`` if it is of an accepted type (an integer where a number is asked for, and a
    number written as a string, which YAML makes of ``1e-3``), else one ConfigError that says
    which setting, what it takes and what it got: a wrong type would otherwise fail deep
    inside a run, as a traceback."""
    if value is None and type(None) in accepted:
        return value
    if isinstance(value, bool):
        if bool in accepted:
            return value
    elif isinstance(value, int) and (int in accepted or float in accepted):
        return value
    elif isinstance(value, float) and float in accepted:
        return value
    elif isinstance(value, str) and float in accepted and str not in accepted:
        try:
            return float(value)
        except ValueError:
            pass
    elif any(isinstance(value, t) for t in accepted if t in (str, dict)):
        return value
    expected = " or ".join(_EXPECTED[t] for t in accepted if t in _EXPECTED)
    if type(None) in accepted:
        expected += " or unset"
    given = next((text for t, text in _GIVEN.items() if isinstance(value, t)),
                 type(value).__name__)
    raise ConfigError(f"{where}setting {name} must be {expected}, got {value!r} ({given})")


def _apply(config: Any, values: dict[str, Any], where: str = "", prefix: str = "") -> Any:
    """Set ``values`` on ``config``, each checked against its field's type; ``where`` ("FILE:
    ") says where they were read, ``prefix`` how the caller spells them (``train_``)."""
    known = {f.name for f in fields(config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{where}unknown setting(s) {', '.join(unknown)} for "
                          f"{type(config).__name__}; known: {', '.join(sorted(known))}")
    accepted = _field_types(type(config))
    for key, value in values.items():
        value = _typed(prefix + key, value, accepted[key], where)
        if key == "options":
            value = {**getattr(config, key), **value}
        setattr(config, key, value)
    return config


def make_config(cls: type, presets: dict[str, dict], preset: str | None, prefix: str = "",
                **overrides: Any):
    """A config from ``preset`` defaults, then ``overrides`` (None values mean 'not given'),
    which the caller spells with ``prefix`` (``train_`` in ``api.run``)."""
    config = cls()
    if preset is not None:
        if preset not in presets:
            raise ConfigError(f"unknown preset {preset!r}: use one of {', '.join(presets)}")
        _apply(config, dict(presets[preset]))
        if hasattr(config, "preset"):
            config.preset = preset
    _apply(config, {k: v for k, v in overrides.items() if v is not None}, prefix=prefix)
    check_data_root(overrides.get("data_root"))
    return config.validate()


def make_search_config(preset: str | None = None, **overrides: Any) -> SearchConfig:
    """A search config from a preset and overrides.

    The preset's method options apply only to a method that has them (``tiny`` shortens every
    family's inner loops), while options given in ``overrides`` stay strict: an unknown one is
    an error when the search starts. The length the user gives replaces the preset's:
    ``arch_steps`` alone sets it in α steps (whatever the preset's epochs), ``epochs`` alone in
    epochs (whatever the preset's α steps), both spread the α steps over the epochs
    (``search.protocol.resolve_schedule``).
    """
    from zodarts.search.registry import option_names

    user_options = overrides.pop("options", None) or {}
    steps_given = overrides.get("arch_steps") is not None
    epochs_given = overrides.get("epochs") is not None
    config = make_config(SearchConfig, SEARCH_PRESETS, preset, **overrides)
    if steps_given and not epochs_given:
        # The search's length now follows the data: so do its phases, unless set explicitly.
        config.epochs = None
        for name in ("size_search_start", "temp_decay_every"):
            if overrides.get(name) is None:
                setattr(config, name, None)
    if steps_given and overrides.get("steps_per_epoch") is None:
        config.steps_per_epoch = None   # the user's length, not the preset's cap, decides
    if epochs_given and not steps_given:
        config.arch_steps = None        # the epochs given are the length, not the preset's steps
    fit_derivation(config, {k for k in DERIVATION_FIELDS if overrides.get(k) is not None},
                   preset)
    known = option_names(config.method)
    config.options = {k: v for k, v in config.options.items() if k in known}
    config.options.update(user_options)
    return config.validate()


# The settings that say how a finished search hands on its architectures (not how it searches:
# a resumed run may change them).
DERIVATION_FIELDS = ("derive", "draws", "draw_epoch")


def fit_derivation(config: SearchConfig, given: set[str], preset: str | None) -> None:
    """Make the derivation settings mean what they say: a --draws or --draw-epoch the user
    gave without draws to make is refused (it would be ignored); the same settings from a
    preset are dropped (``--preset paper --derive argmax``); a preset's draw epoch that a
    shorter search never reaches moves to the last epoch, with a warning that says so; one
    the user gave is refused (``check_draw_epoch``)."""
    import warnings

    from zodarts.errors import SettingWarning

    if config.derive == "argmax":
        unused = [f"--{name.replace('_', '-')} {getattr(config, name)}"
                  for name in ("draws", "draw_epoch") if name in given]
        if unused:
            raise ConfigError(f"{' and '.join(unused)} appl{'y' if len(unused) > 1 else 'ies'} "
                              "to drawn architectures, and "
                              "--derive argmax draws none: add --derive sample (or both), or "
                              "leave them out")
        config.draws, config.draw_epoch = 1, None
    elif "draw_epoch" not in given and config.draw_epoch is not None and (
            config.epochs is None or config.draw_epoch >= config.epochs):
        length = (f"{config.epochs} epochs" if config.epochs is not None
                  else "a length set in α steps")
        warnings.warn(f"the {preset} preset draws from epoch {config.draw_epoch + 1} of its "
                      f"own search; this one has {length}: drawing from its last epoch "
                      "instead (--draw-epoch E picks another, counted from 0)", SettingWarning,
                      stacklevel=3)
        config.draw_epoch = None
    check_draw_epoch(config)


def check_draw_epoch(config: SearchConfig) -> None:
    """A draw epoch the search never reaches is refused, not clamped to its last epoch."""
    if config.draw_epoch is not None and config.epochs is not None \
            and config.draw_epoch >= config.epochs:
        raise ConfigError(f"--draw-epoch {config.draw_epoch} is beyond the search's "
                          f"{config.epochs} epochs (it counts from 0: 0 to {config.epochs - 1}): "
                          "give one of those, or leave it out to draw from the last")


def check_data_root(root: str | None) -> None:
    """A --data-root that does not exist is refused: the look-up would go on to
    $MEDMNIST_ROOT and ~/.medmnist, and the run's config would name a folder it never read."""
    if root is not None and not Path(root).expanduser().is_dir():
        raise ConfigError(f"the data root {root} (--data-root) is not an existing folder: give "
                          "the folder that holds the .npz files, or leave --data-root out to "
                          "use $MEDMNIST_ROOT, then ~/.medmnist")


def save_config(config: Any, path: str | Path) -> None:
    from zodarts.utils.io import atomic_write_text
    atomic_write_text(path, yaml.safe_dump(asdict(config), sort_keys=False))


def read_yaml(path: Path) -> Any:
    """A YAML file's content; a syntax error names the line and column where it is."""
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path} is not valid YAML{where}: {what}") from None


def load_config(cls: type, path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    values = read_yaml(path)
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping of settings")
    return _apply(cls(), values, f"{path}: ").validate()


def resume_conflicts(given: dict, saved: Any, spell: Callable[[str, Any], str]) -> list[str]:
    """Each setting in ``given`` (None: not given) that differs from ``saved``'s, as
    ``spell(name, value)`` followed by what the folder holds: a resumed run continues its own
    settings, so a contradicting one must be refused rather than silently ignored."""
    conflicts = []
    for name, value in given.items():
        if value is None:
            continue
        held = getattr(saved, name)
        if not _same(name, value, held):
            conflicts.append(f"{spell(name, value)} (the folder holds {held})")
    return conflicts


def _same(name: str, value: Any, held: Any) -> bool:
    if name in ("dataset", "data_root") and isinstance(value, str) and isinstance(held, str):
        if value == held:
            return True
        a, b = Path(value).expanduser(), Path(held).expanduser()
        return a.exists() and b.exists() and a.resolve() == b.resolve()
    return value == held


def training_difference(ours: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    """Why a retraining with settings ``theirs`` cannot be compared with one with ``ours``
    (both TrainConfig dicts), or None: every setting but the seed, the data's location, the
    device and the width agrees."""
    for key in sorted(set(ours) | set(theirs)):
        if key in ("seed", "data_root", "dataset", "device", "C"):
            continue
        if ours.get(key) != theirs.get(key):
            return (f"retrained with other settings ({key}: {theirs.get(key)!r}, the "
                    f"landscape's {ours.get(key)!r})")
    return None


def replace(config: Any, **changes: Any):
    return dataclasses.replace(config, **changes)


@dataclass
class TrainConfig:
    """Retraining a genotype from scratch (``zodarts train``); see zodarts.train.retrain."""

    dataset: str | None = None          # None: the search's dataset, from RUN_DIR/config.yaml
    data_root: str | None = None
    preset: str | None = None
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    precision: str = "fp32"             # fp32 | bf16 (autocast for forward and backward)

    epochs: int = 300                   # the ZO-DARTS++ authors' retrain script
    batch_size: int | None = 128        # None: the authors' batch for the dataset
    steps_per_epoch: int | None = None  # cap on steps per epoch (None: the whole train split)
    eval_batches: int | None = None     # cap on validation batches per epoch (None: all)
    C: int | None = None                # first-stage channels (None: the genotype's own C)

    # SGD with momentum; per-step linear warm-up from warmup_start × lr, then cosine to lr_min.
    lr: float = 0.1
    lr_min: float = 0.0
    warmup_epochs: float = 5.0
    warmup_start: float = 0.01
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

    # The ZO-DARTS++ authors' protocol, each a switch (zodarts.train.retrain):
    test_every_epoch: bool = False      # test metrics every epoch (eval.json's max over epochs)
    bn_batch_stats: bool = False        # BatchNorm without running statistics, train and test
    restart_epoch: int | None = None    # at this epoch (from 1), restart a run that has not
    restart_below: float = 0.3          #   reached this val ACC, or has gained less than
    restart_min_gain: float = 0.01      #   this since epoch 1 while below
    restart_flat_below: float = 0.8     #   this; with a new draw for a drawn architecture
    max_restarts: int = 5

    def validate(self) -> "TrainConfig":
        problems = seed_problems(self.seed)
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        for name in ("batch_size", "steps_per_epoch", "eval_batches", "C"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be >= 1 or unset (got {value})")
        if not self.lr > 0 or not 0 <= self.lr_min <= self.lr:
            problems.append(f"need lr > 0 and 0 <= lr_min <= lr (got {self.lr}, {self.lr_min})")
        if self.warmup_epochs < 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0:
            problems.append("warmup_epochs and weight_decay must be >= 0, momentum in [0, 1)")
        if not 0 < self.warmup_start <= 1:
            problems.append(f"warmup_start must be in (0, 1] (got {self.warmup_start})")
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
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)} "
                            f"(got {self.precision!r})")
        if self.restart_epoch is not None and self.restart_epoch < 2:
            problems.append(f"restart_epoch must be >= 2 or unset (got {self.restart_epoch})")
        if self.max_restarts < 0:
            problems.append(f"max_restarts must be >= 0 (got {self.max_restarts})")
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
    # The authors' retrain script (retrain/retrain_sampling.py): 300 epochs, SGD 0.1 (momentum
    # 0.9, no Nesterov), 10 warm-up epochs from 0.01× then cosine to 0, label smoothing 0.1,
    # mixup 0.1 and cutmix 0.1, their batch per dataset (PAPER_TRAIN_BATCH), and no weight
    # decay: their `optim.SGD(params, lr, momentum, weight_decay)` passes 3e-4 positionally,
    # where SGD takes dampening. Test metrics every epoch (read_percentile.py reports the
    # maximum), BatchNorm on batch statistics (their net is never put in eval mode), and the
    # restart at epoch 20 (decided here on validation, theirs on test).
    "paper": dict(epochs=300, batch_size=None, lr=0.1, lr_min=0.0, momentum=0.9,
                  nesterov=False, weight_decay=0.0, warmup_epochs=10, warmup_start=0.01,
                  label_smoothing=0.1, mixup_alpha=0.1, cutmix_alpha=0.1,
                  test_every_epoch=True, bn_batch_stats=True, restart_epoch=20),
}

DEFAULT_PRESET = "quick"  # what `search`, `train` and `run` use when no --preset is given

# How the `paper` preset follows the ZO-DARTS++ authors' evaluation (github HikariX/ZO-DARTS_PP):
# (what, zodarts's setting, the authors' file it comes from). `zodarts methods` lists it.
PAPER_PROTOCOL: tuple[tuple[str, str, str], ...] = (
    ("search: 50 epochs, size phase from epoch 20, T = 1.5 × 0.75 every 5 epochs, the batch "
     "of their script per dataset", "search preset `paper`",
     "exps/NAS-Bench-201-algos/ZO-DARTS_SAMVR.py, experiment_ZO+.sh"),
    ("the architecture drawn from the distributions their log holds for epoch 39 of 0-49 (op "
     "per edge, kernel per convolution, depth per stage), three draws per search",
     "--derive sample --draws 3 --draw-epoch 39", "StructureSampler.py (read_prob, "
     "structure_generator), retrain/experiment_noLimit.sh"),
    ("a draw whose cell ignores its input is drawn again", "always, with --derive sample",
     "retrain/checkNone.py (in retrain_sampling_others.py)"),
    ("under a budget, drawn again until the size is in the band", "--budget with "
     "--derive sample (zodarts's band: percentiles of uniform genotypes; theirs: of draws from "
     "the unconstrained search)", "StructureSampler.py (structure_filter, budget_generate)"),
    ("300 epochs, SGD 0.1 momentum 0.9, 10 warm-up epochs from 0.01×, cosine to 0, label "
     "smoothing 0.1, mixup 0.1 / cutmix 0.1 on every batch, their batch per dataset",
     "train preset `paper`", "retrain/retrain_sampling.py, retrain/cutmix_transforms.py"),
    ("no weight decay: their SGD call passes 3e-4 where SGD takes dampening",
     "weight_decay 0 in the train preset `paper`", "retrain/retrain_sampling.py"),
    ("a run whose accuracy at epoch 20 is below 0.3, or has gained less than 0.01 since epoch "
     "1 while below 0.8, starts again with a new draw (theirs: test accuracy, unbounded)",
     "--restart-epoch 20 (on validation accuracy, at most 5 restarts)",
     "retrain/retrain_sampling.py"),
    ("BatchNorm normalises by the batch's own statistics at test too (the network is never "
     "put in eval mode), the test loader using the training batch",
     "--bn-batch-stats", "retrain/retrain_sampling.py, xautodl cell_operations.py"),
    ("the number reported is each network's maximum test accuracy over its epochs, mean ± std "
     "over 3 search seeds × 3 draws", "--test-every-epoch: eval.json's test_max_over_epochs, "
     "labelled selected on test", "retrain/read_percentile.py, retrain/read_noLimit.py"),
)
