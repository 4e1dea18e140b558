"""Everything a report shows, read once from a run folder; absent parts are None or empty, so a
search-only run (no training yet) still gets a report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zodarts.config import SearchConfig, TrainConfig, load_config
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.space import Genotype, count_params, count_params_all_ops, resolve_budget
from zodarts.utils.io import read_jsonl
from zodarts.utils.kinds import RUN, require_kind


@dataclass
class RunRecords:
    paths: RunPaths
    search_config: SearchConfig | None = None
    train_config: TrainConfig | None = None
    search_log: list[dict] = field(default_factory=list)
    alphas: list[dict] = field(default_factory=list)
    train_log: list[dict] = field(default_factory=list)
    genotype: Genotype | None = None
    evaluation: dict | None = None
    predictions: dict[str, np.ndarray] | None = None   # predictions.npz: per-split labels, scores
    environment: dict | None = None
    budget: tuple[float, float] | None = None

    @property
    def search_seconds(self) -> float:
        return sum(r.get("seconds", 0.0) for r in self.search_log)

    @property
    def train_seconds(self) -> float:
        """The retraining's seconds, attempts ended by a restart included (their epochs are no
        longer in the log: train/restarts.jsonl keeps their seconds)."""
        earlier = sum(r.get("seconds", 0.0) for r in read_jsonl(self.paths.restarts))
        return earlier + sum(r.get("seconds", 0.0) for r in self.train_log)

    @property
    def trained_genotype(self) -> Genotype | None:
        """The architecture as retrained and built: live ops only (its C may differ from the
        searched one)."""
        g = Genotype.from_dict(self.evaluation["genotype"]) if self.evaluation else self.genotype
        return g.pruned() if g else None

    @property
    def genotype_params(self) -> int | None:
        return count_params(self.genotype) if self.genotype else None

    @property
    def genotype_params_all_ops(self) -> int | None:
        return count_params_all_ops(self.genotype) if self.genotype else None


def read_run(run_dir: str | Path) -> RunRecords:
    paths = RunPaths(run_dir)
    if not paths.root.is_dir():
        raise ConfigError(f"run folder {paths.root} does not exist")
    require_kind(paths.root, RUN, "give `zodarts report` a run folder")
    records = RunRecords(paths)
    if paths.config.is_file():
        records.search_config = load_config(SearchConfig, paths.config)
    if paths.train_config.is_file():
        records.train_config = load_config(TrainConfig, paths.train_config)
    records.search_log = read_jsonl(paths.search_log)
    records.alphas = read_jsonl(paths.alphas)
    records.train_log = read_jsonl(paths.train_log)
    if paths.genotype.is_file():
        records.genotype = Genotype.load(paths.genotype)
    if paths.eval.is_file():
        records.evaluation = json.loads(paths.eval.read_text())
    if paths.predictions.is_file():
        with np.load(paths.predictions) as arrays:
            records.predictions = {name: arrays[name] for name in arrays.files}
    if paths.environment.is_file():
        records.environment = json.loads(paths.environment.read_text())
    if not (records.search_log or records.train_log or records.genotype):
        raise ConfigError(f"{paths.root} holds no search, genotype or training to report on; "
                          "run `zodarts search` or `zodarts run` first")
    c, g = records.search_config, records.genotype
    if c is not None and g is not None:
        # The band is a pure function of the config and the space: recomputed, not stored.
        records.budget = resolve_budget(c.budget, c.params_min, c.params_max, g.in_channels,
                                        g.num_classes, c.C, c.cells_per_stage)
    return records
