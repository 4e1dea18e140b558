"""A landscape folder: its settings, its architectures and the records of their retrainings, and
the tabular benchmark they make (``landscape.json`` and ``landscape.csv``).

    DIR/landscape.yaml            the settings (a rerun with other settings is refused)
    DIR/genotypes.json            the sampled architectures, in order (ids a0000, a0001, ...)
    DIR/archs/a0042/              one architecture: trial.json and trial.log (the Ray job),
        arch.json                 parameters, FLOPs and zero-cost proxies at initialisation
        seed1/record.json         one retraining: val and test ACC/AUC/loss, epochs, seconds
        seed1/probabilities.npz   its val and test class probabilities (float16)
    DIR/placed/LABEL/             a searched genotype retrained with the landscape's seeds
    DIR/supernet/LABEL.json       a trained supernet's ranking of the landscape's genotypes
    DIR/verdict.jsonl             a landscape grown until decided: each look's verdict
    DIR/landscape.json, .csv      everything above in one table
    DIR/report/                   landscape-report's Markdown and plots

Every file is written atomically by the job that owns it, so a killed landscape loses at most
the retrainings in flight, and a rerun continues from what is there.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zodarts.config import read_yaml
from zodarts.errors import ConfigError
from zodarts.space import Genotype
from zodarts.utils.io import atomic_write_text

SETTINGS = "landscape.yaml"
GENOTYPES = "genotypes.json"
ARCHS = "archs"
PLACED = "placed"
SUPERNET = "supernet"
ARCH_INFO = "arch.json"
RECORD = "record.json"
PROBABILITIES = "probabilities.npz"  # a retraining's val and test class probabilities
LOOKS = "verdict.jsonl"
TABLE_JSON = "landscape.json"
TABLE_CSV = "landscape.csv"

METRICS = ("val_acc", "val_auc", "val_loss", "test_acc", "test_auc", "test_loss")


@dataclass
class LandscapeSettings:
    """What a landscape was made with; ``archs`` and ``seeds`` may grow on a rerun, nothing else
    may change (the table would mix two protocols)."""

    dataset: str                         # registry name, or an absolute path
    data_root: str | None
    preset: str
    C: int
    cells_per_stage: int
    budget: str                          # none | small | medium | large | custom
    band: list[float] | None             # the parameter band sampled in (None: the space)
    sample_seed: int
    genotypes_from: str | None           # another landscape whose genotypes these are
    archs: int
    seeds: int
    train: dict[str, Any] = field(default_factory=dict)   # the TrainConfig of every retraining
    # Grown until its verdict is decided (--until-verdict): the planned looks, fixed at the
    # start so that stopping at the first decided one keeps the verdict's error rate
    # (zodarts.stats.sequential); None: a landscape of a fixed size.
    sequential: dict[str, Any] | None = None

    FIXED = ("dataset", "data_root", "preset", "C", "cells_per_stage", "budget", "band",
             "sample_seed", "genotypes_from", "train", "sequential")

    def difference(self, other: "LandscapeSettings") -> str | None:
        """The first fixed setting in which ``other`` differs, as `key: ours -> theirs`."""
        for key in self.FIXED:
            ours, theirs = getattr(self, key), getattr(other, key)
            if key == "train":
                for name in sorted(set(ours) | set(theirs)):
                    if name != "seed" and ours.get(name) != theirs.get(name):
                        return f"train {name}: {ours.get(name)!r} -> {theirs.get(name)!r}"
            elif ours != theirs:
                return f"{key}: {ours!r} -> {theirs!r}"
        return None

    def save(self, root: Path) -> None:
        import yaml
        atomic_write_text(root / SETTINGS, yaml.safe_dump(dataclasses.asdict(self),
                                                          sort_keys=False))

    @classmethod
    def load(cls, root: Path) -> "LandscapeSettings":
        path = root / SETTINGS
        if not path.is_file():
            raise ConfigError(f"{root} is not a landscape folder (no {SETTINGS}): make one with "
                              f"`zodarts landscape --out {root}`")
        values = read_yaml(path)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def arch_id(index: int) -> str:
    return f"a{index:04d}"


def label_folder(label: str) -> str:
    """A placed run's label as one folder name (``breastmnist/zo-darts++/none/seed0`` →
    ``breastmnist__zo-darts++__none__seed0``)."""
    return re.sub(r"[^A-Za-z0-9+_.-]", "_", label.strip("/").replace("/", "__"))


# ---- genotypes --------------------------------------------------------------------------------

def save_genotypes(root: Path, genotypes: list[Genotype]) -> None:
    atomic_write_text(root / GENOTYPES, json.dumps(
        [{"id": arch_id(i), "genotype": g.to_dict()} for i, g in enumerate(genotypes)],
        indent=1) + "\n")


def load_genotypes(root: Path) -> list[Genotype]:
    path = root / GENOTYPES
    if not path.is_file():
        raise ConfigError(f"{root} holds no {GENOTYPES}: is it a landscape folder?")
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err}") from None
    return [Genotype.from_dict(e["genotype"]) for e in entries]


# ---- records ----------------------------------------------------------------------------------

def read_json(path: Path) -> dict | None:
    """A record written atomically, or None where there is none (yet)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def seed_folder(arch_folder: Path, seed: int) -> Path:
    return arch_folder / f"seed{seed}"


@dataclass
class ArchRows:
    """One architecture's information and its finished retrainings."""

    id: str
    genotype: Genotype
    info: dict[str, Any] | None          # arch.json: params, flops, proxies
    records: list[dict[str, Any]]        # record.json of each finished seed, by seed

    def values(self, metric: str) -> np.ndarray:
        return np.array([r[metric] for r in self.records if r.get(metric) is not None],
                        dtype=float)


def read_arch(folder: Path, id: str, genotype: Genotype, seeds: int | None = None) -> ArchRows:
    """The rows of ``folder`` (an architecture's or a placed genotype's): seeds 0..seeds-1, or
    every seed found."""
    if seeds is None:
        found = sorted(int(p.name[4:]) for p in folder.glob("seed*") if p.name[4:].isdigit())
    else:
        found = list(range(seeds))
    records = [r for s in found if (r := read_json(seed_folder(folder, s) / RECORD))]
    return ArchRows(id, genotype, read_json(folder / ARCH_INFO), records)


@dataclass
class Table:
    """The landscape as a table: one entry per architecture, with its finished seeds."""

    root: Path
    settings: LandscapeSettings
    archs: list[ArchRows]

    def complete(self, min_seeds: int = 1) -> list[ArchRows]:
        """The architectures with at least ``min_seeds`` finished retrainings."""
        return [a for a in self.archs if len(a.records) >= min_seeds]

    def groups(self, metric: str, min_seeds: int = 1) -> list[np.ndarray]:
        return [a.values(metric) for a in self.complete(min_seeds)]

    def means(self, metric: str, min_seeds: int = 1) -> np.ndarray:
        return np.array([g.mean() for g in self.groups(metric, min_seeds)])

    def info(self, key: str, min_seeds: int = 1) -> np.ndarray:
        """params, flops or a proxy (``proxies.NAME``) per architecture, NaN where missing."""
        values = []
        for a in self.complete(min_seeds):
            value: Any = a.info or {}
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            values.append(np.nan if value is None else float(value))
        return np.array(values)

    @property
    def pairs(self) -> int:
        return sum(len(a.records) for a in self.archs)


def read_table(root: str | Path) -> Table:
    root = Path(root)
    settings = LandscapeSettings.load(root)
    genotypes = load_genotypes(root)[:settings.archs]
    archs = [read_arch(root / ARCHS / arch_id(i), arch_id(i), g, settings.seeds)
             for i, g in enumerate(genotypes)]
    return Table(root, settings, archs)


def single_runs(root: str | Path):
    """A landscape as the sweep report places networks in it: its single retrainings' test ACC
    and its retraining settings."""
    from zodarts.sweep.summary import SingleRuns

    table = read_table(root)
    values = np.concatenate(table.groups("test_acc")) if table.complete() else np.array([])
    return SingleRuns(Path(table.settings.dataset).stem, str(table.root), values,
                      dict(table.settings.train))


def proxy_names(table: Table) -> list[str]:
    names: dict[str, None] = {}
    for a in table.archs:
        for name in ((a.info or {}).get("proxies") or {}):
            if name != "seconds":
                names[name] = None
    return list(names)


CSV_COLUMNS = ("arch", "seed", *METRICS, "best_epoch", "epochs", "train_seconds", "seconds")


def write_table(table: Table, extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """landscape.json (settings, architectures with their information, every record) and
    landscape.csv (one row per retraining, with its architecture's params, FLOPs and
    proxies)."""
    proxies = proxy_names(table)
    archs = [{"id": a.id, "genotype": a.genotype.to_dict(), **(a.info or {}),
              "records": a.records} for a in table.archs]
    document = {"settings": dataclasses.asdict(table.settings), "archs": archs,
                "pairs": table.pairs, **(extra or {})}
    json_path = table.root / TABLE_JSON
    atomic_write_text(json_path, json.dumps(document, indent=1) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*CSV_COLUMNS, "params", "flops", *proxies])
    for a in table.archs:
        info = a.info or {}
        for r in a.records:
            writer.writerow([a.id if c == "arch" else r.get(c) for c in CSV_COLUMNS]
                            + [info.get("params"), info.get("flops")]
                            + [(info.get("proxies") or {}).get(p) for p in proxies])
    csv_path = table.root / TABLE_CSV
    atomic_write_text(csv_path, buffer.getvalue())
    return json_path, csv_path
