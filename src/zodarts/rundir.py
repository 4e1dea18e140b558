"""The layout of a run directory, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    config = property(lambda self: self.root / "config.yaml")
    environment = property(lambda self: self.root / "environment.json")
    genotype = property(lambda self: self.root / "genotype.json")
    genotype_best = property(lambda self: self.root / "genotype_best.json")
    search_dir = property(lambda self: self.root / "search")
    search_log = property(lambda self: self.root / "search" / "log.jsonl")
    alphas = property(lambda self: self.root / "search" / "alphas.jsonl")
    arch_steps = property(lambda self: self.root / "search" / "steps.jsonl")
    search_checkpoint = property(lambda self: self.root / "search" / "checkpoint.pt")
    # The retraining settings `zodarts run` was started with: its training stage trains with
    # them, also after a resume that names none (train/config.yaml: a training that started).
    train_plan = property(lambda self: self.root / "train_plan.yaml")
    train_dir = property(lambda self: self.root / "train")
    train_config = property(lambda self: self.root / "train" / "config.yaml")
    train_log = property(lambda self: self.root / "train" / "log.jsonl")
    train_best = property(lambda self: self.root / "train" / "best.pt")
    train_last = property(lambda self: self.root / "train" / "last.pt")
    eval = property(lambda self: self.root / "eval.json")
    predictions = property(lambda self: self.root / "predictions.npz")
    report_dir = property(lambda self: self.root / "report")
    export_dir = property(lambda self: self.root / "export")
    restarts = property(lambda self: self.root / "train" / "restarts.jsonl")
    # A drawn architecture (--derive sample) is a run folder of its own under draws/.
    draws_dir = property(lambda self: self.root / "draws")
    draw_info = property(lambda self: self.root / "draw.json")
    # Several trainings of the run's genotype, one seed each, as one model (train --seeds): a
    # folder of its own, RUN/ensemble/, holding ensemble.json and a training folder per member.
    ensemble_dir = property(lambda self: self.root / "ensemble")
    ensemble_info = property(lambda self: self.root / "ensemble.json")

    @property
    def train_settings(self) -> Path:
        """Where the folder's retraining settings are: the training's own once it started,
        else the plan `zodarts run` recorded (either may be missing)."""
        return self.train_config if self.train_config.is_file() else self.train_plan

    def draw(self, index: int) -> "RunPaths":
        return RunPaths(self.root / "draws" / f"d{index}")

    @property
    def ensemble(self) -> "RunPaths":
        return RunPaths(self.ensemble_dir)

    def member(self, seed: int) -> "RunPaths":
        """Member ``seed`` of the ensemble whose folder this is."""
        return RunPaths(self.root / f"m{seed}")

    @property
    def is_ensemble(self) -> bool:
        return self.ensemble_info.is_file()

    @property
    def is_member(self) -> bool:
        return RunPaths(self.root.parent).is_ensemble
