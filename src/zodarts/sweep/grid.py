"""A sweep's grid (datasets × methods × budgets × seeds, plus `zodarts run` options) and the
trials it makes.

Each trial is an ordinary `zodarts run`: its configs are built by parsing the `run`
subcommand's own arguments with the real parser, exactly as `commands/run.py` does, so every
`run` option works in a sweep and stays in step with the `run` command. Every trial is built and
checked (``resolve_method``: unknown methods, options, budgets without size search...) before
any work starts.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from zodarts.config import SearchConfig, TrainConfig, read_yaml
from zodarts.errors import ConfigError

AXES = ("datasets", "methods", "budgets", "seeds")
# An axis left out of both the flags and the grid file: what `zodarts run` does by default.
AXIS_DEFAULTS: dict[str, tuple] = {"datasets": ("digits",), "methods": ("zo-darts++",),
                                   "budgets": ("none",), "seeds": (0,)}
# `zodarts run` flags that the sweep sets for each trial itself, and what to use instead.
MANAGED_FLAGS = {"--dataset": "--datasets", "--method": "--methods", "--budget": "--budgets",
                 "--seed": "--seeds", "--out": "the sweep's --out",
                 "--resume": "nothing (a sweep always continues its unfinished trials)",
                 "--quiet": "the sweep's --quiet"}
GRID_KEYS = (*AXES, "run")


@dataclass(frozen=True)
class Grid:
    """The axes and the options every trial's `zodarts run` gets."""

    datasets: tuple[str, ...]      # registry names, or absolute paths (workers' cwd may differ)
    methods: tuple[str, ...]
    budgets: tuple[str, ...]
    seeds: tuple[int, ...]
    run_options: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"datasets": list(self.datasets), "methods": list(self.methods),
                "budgets": list(self.budgets), "seeds": list(self.seeds),
                "run": list(self.run_options)}

    def save(self, path: str | Path) -> None:
        from zodarts.utils.io import atomic_write_text
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @property
    def size(self) -> int:
        return len(self.datasets) * len(self.methods) * len(self.budgets) * len(self.seeds)


@dataclass(frozen=True)
class Cell:
    """Where a trial sits in the grid; also its folder under the sweep folder."""

    dataset: str                   # the dataset's short name (a path's file stem)
    method: str
    budget: str
    seed: int

    @property
    def path(self) -> str:
        return f"{self.dataset}/{self.method}/{self.budget}/seed{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrialSpec:
    """One trial, validated: what a worker needs to run it."""

    cell: Cell
    out: Path                      # the trial's run folder (absolute)
    arguments: tuple[str, ...]     # `zodarts run` arguments that build the configs below
    search_config: SearchConfig
    train_config: TrainConfig
    track: str | None = None       # the MLflow tracker of the sweep (zodarts.tracking)
    parent_run: str | None = None  # the sweep's MLflow run, which the trial's nests under


# ---- reading the grid -------------------------------------------------------------------------

def _split(value: Any, where: str) -> list:
    """An axis as given: a comma-separated string, a list, or one scalar; an empty value in a
    list (``0,,1``) is an error, not silently dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        empty = [i + 1 for i, part in enumerate(parts) if not part]
        if empty and len(empty) < len(parts):
            raise ConfigError(f"{where} {value!r} has an empty value at position "
                              f"{', '.join(map(str, empty))}: remove the extra comma")
        return [part for part in parts if part]
    if isinstance(value, (list, tuple)):
        return [item.strip() if isinstance(item, str) else item for item in value
                if not (isinstance(item, str) and not item.strip())]
    return [value]


def _unique(values: Iterable) -> tuple:
    return tuple(dict.fromkeys(values))


def _seeds(values: list, where: str) -> tuple[int, ...]:
    seeds = []
    for value in values:
        try:
            seeds.append(int(value))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: seed {value!r} is not an integer") from None
    return _unique(seeds)


def resolve_dataset(name: str) -> str:
    """A registry name (lower case) or an existing file/folder (made absolute); either with
    ``:shuffled`` (its negative control) kept."""
    from zodarts.data import REGISTRY, get_info
    from zodarts.data.controls import SHUFFLED, split_variant

    base, shuffled = split_variant(name)
    if shuffled:
        return resolve_dataset(base) + SHUFFLED
    path = Path(name).expanduser()
    if name.lower() not in REGISTRY and path.exists():  # a registry name wins, as in loading
        return str(path.resolve())
    return get_info(name).name  # an unknown name raises, listing the known ones


def run_options_from_mapping(options: dict[str, Any]) -> list[str]:
    """`{preset: tiny, size-search: true, opt: [zo_steps=2]}` → `--preset tiny --size-search
    --opt zo_steps=2`: True is the bare flag, False its `--no-` form, a list repeats the flag."""
    tokens: list[str] = []
    for key, value in options.items():
        flag = "--" + str(key).lstrip("-").replace("_", "-")
        if value is None:
            continue
        if value is True:
            tokens.append(flag)
        elif value is False:
            tokens.append("--no-" + flag[2:])
        else:
            for item in value if isinstance(value, list) else [value]:
                tokens += [flag, str(item)]
    return tokens


def read_grid_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file not found: {path}")
    values = read_yaml(path)
    if not isinstance(values, dict):
        raise ConfigError(f"{path} must hold a mapping with keys {', '.join(GRID_KEYS)}")
    unknown = sorted(set(values) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; known: "
                          f"{', '.join(GRID_KEYS)}")
    run = values.get("run") or []
    if isinstance(run, dict):
        values["run"] = run_options_from_mapping(run)
    elif isinstance(run, str):
        values["run"] = run.split()
    elif isinstance(run, list):
        values["run"] = [str(token) for token in run]
    else:
        raise ConfigError(f"{path}: run must be a list of `zodarts run` arguments or a mapping "
                          "of option to value")
    return values


def check_run_options(tokens: Iterable[str]) -> None:
    for token in tokens:
        flag = token.split("=", 1)[0]
        if flag in MANAGED_FLAGS:
            raise ConfigError(f"{flag} is set by the sweep for each trial: use "
                              f"{MANAGED_FLAGS[flag]}")


def make_grid(flags: dict[str, str | None], run_options: list[str],
              grid_file: str | Path | None = None) -> Grid:
    """The grid from a grid file and the flags (a flag replaces the file's axis; the flags' run
    options come after the file's, so they win)."""
    from_file = read_grid_file(grid_file) if grid_file else {}
    axes: dict[str, tuple] = {}
    for axis in AXES:
        given = flags.get(axis)
        where = f"--{axis}" if given is not None else f"{grid_file}: {axis}"
        raw = given if given is not None else from_file.get(axis)
        if raw is None:
            axes[axis] = AXIS_DEFAULTS[axis]
            continue
        values = _split(raw, where)
        if not values:
            raise ConfigError(f"{where} is empty: give at least one value")
        axes[axis] = _seeds(values, where) if axis == "seeds" else _unique(map(str, values))
    options = [*from_file.get("run", []), *run_options]
    check_run_options(options)
    datasets = _unique(resolve_dataset(d) for d in axes["datasets"])
    return Grid(datasets, axes["methods"], axes["budgets"], axes["seeds"], tuple(options))


# ---- trials -----------------------------------------------------------------------------------

def dataset_label(dataset: str) -> str:
    return Path(dataset).stem if "/" in dataset else dataset


def cells(grid: Grid) -> list[Cell]:
    labels = {d: dataset_label(d) for d in grid.datasets}
    clash = [label for label in set(labels.values()) if list(labels.values()).count(label) > 1]
    if clash:
        raise ConfigError(f"two datasets would share the trial folder {clash[0]!r}: rename one "
                          "of the files")
    return [Cell(labels[d], m, b, s) for d in grid.datasets for m in grid.methods
            for b in grid.budgets for s in grid.seeds]


@lru_cache(maxsize=1)
def _cli_parser() -> argparse.ArgumentParser:
    from zodarts.cli import build_parser
    return build_parser()


def parse_run_arguments(arguments: list[str]) -> argparse.Namespace:
    """``arguments`` ("run", ...) parsed by the real `zodarts` parser; a usage error becomes a
    ConfigError (one line) instead of argparse's exit."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return _cli_parser().parse_args(arguments)
    except SystemExit:
        lines = err.getvalue().strip().splitlines() or ["error: invalid arguments"]
        raise ConfigError(f"`zodarts run` rejects its arguments: "
                          f"{lines[-1].partition('error: ')[2]}") from None


def build_trial(grid: Grid, cell: Cell, dataset: str, root: Path) -> TrialSpec:
    """The trial of ``cell`` with its configs built by `zodarts run`'s own parser and checked
    as the search would check them (``resolve_method``), so a bad trial fails before any work."""
    from zodarts.commands.common import search_config_from_args
    from zodarts.commands.train import train_config_from_args
    from zodarts.search.protocol import resolve_method

    out = root / cell.path
    arguments = ("run", *grid.run_options, "--dataset", dataset, "--method", cell.method,
                 "--budget", cell.budget, "--seed", str(cell.seed), "--out", str(out))
    try:
        args = parse_run_arguments(list(arguments))
        search_config = search_config_from_args(args)
        train_config = train_config_from_args(args, search_config.preset,
                                              seed=search_config.seed,
                                              device=search_config.device,
                                              deterministic=search_config.deterministic)
        resolve_method(search_config)
    except ConfigError as err:
        raise ConfigError(f"trial {cell.path}: {err}") from None
    # Relative data roots would be read from each worker's own working directory.
    for config in (search_config, train_config):
        if config.data_root:
            config.data_root = str(Path(config.data_root).expanduser().resolve())
    return TrialSpec(cell, out, arguments, search_config, train_config)


def build_trials(grid: Grid, root: str | Path) -> list[TrialSpec]:
    root = Path(root).expanduser().resolve()
    by_label = {dataset_label(d): d for d in grid.datasets}
    return [build_trial(grid, cell, by_label[cell.dataset], root) for cell in cells(grid)]
