"""The architectures a finished search hands on: the argmax (genotype.json, written by the
loop) and, with ``derive`` sample or both, ``draws`` architectures drawn from the distributions
of ``draw_epoch`` (the last by default), each in a run folder of its own, draws/dK/, with its
genotype.json and draw.json (the distributions, the seed and the band it was drawn with, so the
draw can be repeated, and redrawn after a restart)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from zodarts.config import SearchConfig
from zodarts.errors import ConfigError, SettingWarning
from zodarts.rundir import RunPaths
from zodarts.space import Genotype
from zodarts.space.sampling import Distributions, draw_genotype
from zodarts.utils.io import atomic_write_text, read_jsonl


def derived_folders(root: str | Path, config: SearchConfig) -> list[RunPaths]:
    """The run folders a search's architectures are trained in: the run's own for the argmax,
    draws/dK/ for each draw."""
    paths = RunPaths(root)
    folders = [paths] if config.derive in ("argmax", "both") else []
    if config.derive in ("sample", "both"):
        folders += [paths.draw(k) for k in range(config.draws)]
    return folders


def _record(paths: RunPaths, epoch: int | None) -> dict[str, Any]:
    alphas = read_jsonl(paths.alphas)
    if not alphas:
        raise ConfigError(f"{paths.alphas} holds no distributions to draw from: has the search "
                          "run?")
    if epoch is None:
        return alphas[-1]
    matching = [r for r in alphas if r["epoch"] == epoch]
    if matching:
        return matching[0]
    last = alphas[-1]["epoch"]   # the search stopped before (--until-decided): say so
    warnings.warn(f"the search stopped at epoch {last + 1}, before its draw epoch {epoch + 1} "
                  f"(--draw-epoch {epoch}): drawing from epoch {last + 1}'s distributions "
                  "(draw.json records the epoch)", SettingWarning, stacklevel=3)
    return alphas[-1]


def draw_seed(search_seed: int, index: int) -> list[int]:
    return [search_seed, index]


def write_draws(root: str | Path, config: SearchConfig, band: tuple[float, float] | None,
                genotype: Genotype) -> list[RunPaths]:
    """Draw the search's architectures into draws/dK/ (those already drawn are kept: a draw is
    repeatable, and a retraining may have redrawn it after a restart)."""
    paths = RunPaths(root)
    folders = [paths.draw(k) for k in range(config.draws)]
    if all(folder.genotype.is_file() for folder in folders):
        return folders
    record = _record(paths, config.draw_epoch)
    distributions = Distributions.from_record(record)
    network = {"in_channels": genotype.in_channels, "num_classes": genotype.num_classes,
               "C": genotype.C, "cells_per_stage": config.cells_per_stage,
               "image_size": genotype.image_size}
    for k, folder in enumerate(folders):
        if folder.genotype.is_file():
            continue
        seed = draw_seed(config.seed, k)
        drawn, tries = draw_genotype(distributions, seed, band=band, **network)
        folder.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder.draw_info, json.dumps({
            "index": k, "seed": seed, "epoch": record["epoch"], "tries": tries,
            "band": None if band is None else list(band), "network": network,
            "distributions": distributions.to_dict()}, indent=1) + "\n")
        drawn.save(folder.genotype)
    return folders


def redraw(folder: RunPaths, attempt: int) -> tuple[Genotype, int]:
    """Attempt ``attempt``'s architecture of a drawn folder: a new draw from the same
    distributions (seed: the draw's, then the attempt)."""
    info = json.loads(folder.draw_info.read_text())
    band = tuple(info["band"]) if info["band"] else None
    return draw_genotype(Distributions.from_record(info["distributions"]),
                         [*info["seed"], attempt], band=band, **info["network"])
