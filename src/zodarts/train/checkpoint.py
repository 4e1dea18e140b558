"""The trained model on disk: what ``train`` writes and ``evaluate``/``export``/``report`` read.

``best.pt`` and ``last.pt`` both carry the trained genotype, the input normaliser and the class
names, so a checkpoint alone rebuilds the network, feeds it exactly as training did and names its
outputs (``zodarts predict`` needs nothing else). An ensemble folder (``train --seeds``) loads as
one model too: :func:`load_trained` is where the two meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from zodarts.data import Normalizer
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.space import Genotype, Network, build_network

CHECKPOINT_VERSION = 1


@dataclass
class Trained:
    model: Network
    genotype: Genotype
    normalizer: Normalizer
    task: str
    epoch: int | None                # None for an ensemble: each member has its own
    val: dict
    path: Path
    bn_batch_stats: bool = False
    eval_batch: int | None = None    # the batch a batch-statistics network is evaluated in
    classes: tuple[str, ...] | None = None   # None in checkpoints written before they held it
    members: int = 1                 # an ensemble's networks (its model averages them)


def model_record(model: Network, genotype: Genotype, normalizer: Normalizer, task: str,
                 epoch: int, val: dict, bn_batch_stats: bool = False,
                 eval_batch: int | None = None, classes: tuple[str, ...] | None = None) -> dict:
    """What best.pt holds (last.pt adds the optimizer, RNG and progress)."""
    return {"version": CHECKPOINT_VERSION, "model": model.state_dict(),
            "genotype": genotype.to_dict(), "normalizer": normalizer.to_dict(), "task": task,
            "epoch": epoch, "val": val, "bn_batch_stats": bn_batch_stats,
            "eval_batch": eval_batch, "classes": list(classes) if classes else None}


def read_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict:
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # truncated or foreign file
        raise ConfigError(f"cannot read checkpoint {path}: {err}; it may be damaged — train "
                          "again") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        version = state.get("version") if isinstance(state, dict) else None
        raise ConfigError(f"checkpoint {path} has version {version}, this zodarts reads "
                          f"{CHECKPOINT_VERSION}")
    return state


def load_model_state(model: Network, state: dict, path: Path) -> None:
    """Load a checkpoint's weights into ``model``, built from the checkpoint's genotype."""
    try:
        model.load_state_dict(state)
    except RuntimeError:
        # Networks used to build dead ops too; their weights fit no live-only network, and
        # dropping them would change the function (a dead conv's BN adds a constant).
        raise ConfigError(f"checkpoint {path} does not fit the network its genotype builds: "
                          "checkpoints written before zodarts stopped building dead ops (ops "
                          "whose output never reaches the cell's output, or whose input is "
                          "always zero) hold their weights too; train again") from None


def load_trained(run_dir: str | Path, which: str = "best",
                 device: torch.device | str = "cpu") -> Trained:
    """The trained network of a run folder (``which``: best or last), in eval mode; of an
    ensemble folder, the network that averages its members' probabilities."""
    paths = RunPaths(run_dir)
    if paths.is_ensemble:
        from zodarts.train.ensemble import load_ensemble
        return load_ensemble(paths, which, device)
    path = {"best": paths.train_best, "last": paths.train_last}[which]
    if not path.is_file():
        if paths.ensemble.is_ensemble and not paths.train_dir.exists():
            raise ConfigError(f"{paths.root} holds an ensemble, not a single trained network: "
                              f"give its folder, {paths.ensemble_dir}")
        raise ConfigError(f"no trained model in {paths.root}: {path} does not exist; train it "
                          f"first with `zodarts train {paths.root}`")
    state = read_checkpoint(path, device)
    genotype = Genotype.from_dict(state["genotype"])
    batch_stats = state.get("bn_batch_stats", False)   # absent from older checkpoints
    model = build_network(genotype, batch_stats).to(device)
    load_model_state(model, state["model"], path)
    return Trained(model.eval(), genotype, Normalizer.from_dict(state["normalizer"]),
                   state["task"], state["epoch"], state["val"], path, batch_stats,
                   state.get("eval_batch"), _names(state.get("classes")))


def _names(classes: list[str] | None) -> tuple[str, ...] | None:
    return tuple(classes) if classes else None
