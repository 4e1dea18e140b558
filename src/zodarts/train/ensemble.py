"""An ensemble: a run's genotype trained with several seeds and used as one model.

``zodarts train RUN --seeds 0,1,2`` writes RUN/ensemble/: ``ensemble.json`` (the seeds),
``genotype.json`` (the members' architecture), ``train_plan.yaml`` (the settings every member
trains with, its seed aside) and one ordinary training folder per member, ``m<seed>/``, so a
member that fails or is interrupted continues as any training does (``--resume``). The folder
is then a model like a run folder: ``evaluate``, ``report``, ``export`` and ``predict`` take it.

The ensemble predicts the mean of its members' probabilities (softmax; sigmoid per label for
multi-label tasks): averaging probabilities rather than logits is what deep ensembles do
(Lakshminarayanan et al., 2017), and keeps the members' calibration. The combined network
returns the log of that mean (multi-label: its logit), computed with logsumexp so that it stays
finite: logits whose softmax (sigmoid) is exactly the mean, so everything that reads one
network's logits reads the ensemble's, and its loss is the cross-entropy of the mean. Its size,
parameters and FLOPs, is the members' sum.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Sequence

import torch
from torch import nn

from zodarts.config import MAX_SEED, TrainConfig, load_config, save_config
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.space import Genotype
from zodarts.tracking import NO_TRACKER, Tracker, log_settings
from zodarts.train.checkpoint import Trained, load_trained
from zodarts.train.metrics import is_multilabel
from zodarts.train.retrain import TrainResult
from zodarts.utils.io import atomic_write_text, ensure_writable
from zodarts.utils.lock import folder_lock

RECORD_VERSION = 1
COMBINE = "mean of the members' probabilities"


class EnsembleNetwork(nn.Module):
    """Members' networks → the log of their mean probability (multi-label: its logit)."""

    def __init__(self, members: Sequence[nn.Module], multilabel: bool):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.multilabel = multilabel
        self.log_count = math.log(len(members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positive: List[torch.Tensor] = []
        negative: List[torch.Tensor] = []
        for member in self.members:
            z = member(x).float()
            if self.multilabel:
                positive.append(nn.functional.logsigmoid(z))
                negative.append(nn.functional.logsigmoid(-z))
            else:
                positive.append(torch.log_softmax(z, dim=-1))
        log_mean = torch.logsumexp(torch.stack(positive), dim=0) - self.log_count
        if not self.multilabel:
            return log_mean
        # log p̄ − log(1 − p̄), each side a mean of its own: no 1 − p̄ that rounds to 0.
        return log_mean - (torch.logsumexp(torch.stack(negative), dim=0) - self.log_count)


@dataclass
class EnsembleResult:
    out: Path                     # the ensemble's folder (RUN/ensemble)
    seeds: list[int]
    trained: list[TrainResult] = field(default_factory=list)   # the members trained now


def parse_seeds(text: str) -> list[int]:
    """``0,1,2`` → [0, 1, 2]: at least two distinct seeds in 0..MAX_SEED."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers such as 0,1,2, got "
                          f"{text!r}") from None
    check_seeds(seeds)
    return seeds


def check_seeds(seeds: Sequence[int]) -> None:
    if len(seeds) < 2:
        raise ConfigError(f"an ensemble needs at least two seeds (got {len(seeds)}), e.g. "
                          "--seeds 0,1,2; one network trains with --seed")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {_fmt(seeds)} repeats a seed: each member needs its own")
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise ConfigError(f"--seeds {_fmt(seeds)}: seeds must lie in 0..{MAX_SEED}")


def _fmt(seeds: Sequence[int]) -> str:
    return ",".join(map(str, seeds))


def ensemble_seeds(paths: RunPaths) -> list[int]:
    """The seeds an ensemble folder records (its ensemble.json)."""
    try:
        record = json.loads(paths.ensemble_info.read_text())
        return [int(s) for s in record["seeds"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(f"cannot read {paths.ensemble_info} ({err}); delete {paths.root} and "
                          "train the ensemble again") from None


def member_folders(paths: RunPaths) -> list[RunPaths]:
    return [paths.member(seed) for seed in ensemble_seeds(paths)]


def resume_command(paths: RunPaths) -> str:
    """The command that trains an ensemble's missing members."""
    run = paths.root.parent
    return f"`zodarts train {run} --seeds {_fmt(ensemble_seeds(paths))} --resume`"


def load_ensemble(paths: RunPaths, which: str = "best",
                  device: torch.device | str = "cpu") -> Trained:
    """An ensemble folder's members as one network (``which`` checkpoint of each)."""
    members = []
    for folder in member_folders(paths):
        if not (folder.train_best if which == "best" else folder.train_last).is_file():
            raise ConfigError(f"ensemble member {folder.root.name} of {paths.root} is not "
                              f"trained yet; {resume_command(paths)} trains it")
        members.append(load_trained(folder.root, which, device))
    first = members[0]
    for m in members[1:]:
        # The same run's genotype on the same data: anything else is not one model.
        if (m.genotype, m.normalizer, m.task, m.bn_batch_stats) != \
                (first.genotype, first.normalizer, first.task, first.bn_batch_stats):
            raise ConfigError(f"the members of {paths.root} differ in architecture, data or "
                              f"BatchNorm mode ({first.path} and {m.path}); delete "
                              f"{paths.root} and train the ensemble again")
    model = EnsembleNetwork([m.model for m in members], is_multilabel(first.task))
    return Trained(model.to(device).eval(), first.genotype, first.normalizer, first.task,
                   None, {}, paths.ensemble_info, first.bn_batch_stats, first.eval_batch,
                   first.classes, len(members))


def ensemble_section(members: list[RunPaths], reports: list[dict]) -> dict:
    """eval.json's ``ensemble`` entry: how it combines, and each member's own numbers (its
    eval.json holds the rest)."""
    def numbers(split: dict) -> dict:
        return {k: split.get(k) for k in ("acc", "auc", "loss") if k in split}

    return {"members": len(members), "combine": COMBINE,
            "params_per_member": reports[0]["params"], "flops_per_member": reports[0]["flops"],
            "member_results": [{"folder": m.root.name, "seed": r["seeds"]["train"],
                                "epoch": r["checkpoint"]["epoch"], "test": numbers(r["test"]),
                                "val": numbers(r["val"])}
                               for m, r in zip(members, reports)]}


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train_ensemble(run_dir: str | Path, config: TrainConfig | None, seeds: Sequence[int] | None,
                   genotype: Genotype | None = None, resume: bool = False,
                   progress: bool = True, log: Callable[[str], None] | None = _stderr,
                   tracker: Tracker = NO_TRACKER) -> EnsembleResult:
    """Train the genotype of run folder ``run_dir`` (or ``genotype``, saved into it) once per
    seed into RUN/ensemble/; with ``resume``, train the members not finished yet (continuing
    an interrupted one) under the ensemble's recorded settings."""
    from zodarts.data import load_dataset
    from zodarts.pipeline import train_epoch_logger
    from zodarts.train.retrain import (resolve_dataset, resolve_genotype, run_train,
                                       training_finished)

    log = log or (lambda message: None)
    run = RunPaths(run_dir)
    paths = run.ensemble
    if resume:
        if not paths.is_ensemble:
            raise ConfigError(f"nothing to resume: {run.root} holds no ensemble "
                              f"({paths.ensemble_info} does not exist); train one with "
                              f"`zodarts train {run.root} --seeds 0,1,2`")
        recorded = ensemble_seeds(paths)
        if seeds is not None and list(seeds) != recorded:
            raise ConfigError(f"{paths.root} is an ensemble of seeds {_fmt(recorded)}, and "
                              f"--resume continues it as it is: drop --seeds {_fmt(seeds)}, or "
                              f"delete {paths.root} to train another")
        seeds, plan = recorded, load_config(TrainConfig, paths.train_plan)
        genotype = Genotype.load(paths.genotype)
    else:
        if seeds is None:
            raise ConfigError("which seeds? give --seeds, e.g. 0,1,2")
        check_seeds(seeds)
        if paths.is_ensemble:
            raise ConfigError(f"{run.root} already holds an ensemble (seeds "
                              f"{_fmt(ensemble_seeds(paths))}); continue it with --resume, or "
                              f"delete {paths.root} to train another")
        genotype = resolve_genotype(genotype, run)
        # The seed of the plan is each member's own; the rest is shared.
        plan = dataclasses.replace(resolve_dataset(config or TrainConfig(), run),
                                   seed=seeds[0])
        ensure_writable(paths.root)
    with folder_lock(paths.root, "zodarts train"):
        if not resume:
            if not run.genotype.is_file():   # a genotype given by file: keep the run whole
                genotype.save(run.genotype)
            genotype.save(paths.genotype)
            save_config(plan, paths.train_plan)
            # Written last: its presence is what makes the folder an ensemble.
            atomic_write_text(paths.ensemble_info, json.dumps(
                {"version": RECORD_VERSION, "seeds": list(seeds), "combine": COMBINE},
                indent=2) + "\n")
        dataset = load_dataset(plan.dataset, plan.data_root)   # once for every member
        results = []
        for k, seed in enumerate(seeds):
            member = paths.member(seed)
            if training_finished(member):
                continue
            again = member.train_last.is_file()
            log(f"ensemble member {k + 1}/{len(seeds)} (seed {seed}): {member.root}")
            member_tracker = tracker.child(member.root, f"{run.root.name} seed {seed}")
            if not again:
                member_tracker.fresh("train")
            results.append(run_train(None if again else dataclasses.replace(plan, seed=seed),
                                     member.root, None if again else genotype, resume=again,
                                     progress=progress, log=log, dataset=dataset,
                                     on_epoch=train_epoch_logger(member_tracker)))
            log_settings(member_tracker, member.root)
            if member_tracker is not tracker:
                member_tracker.finish()
    return EnsembleResult(paths.root, list(seeds), results)
