"""Arguments shared by several subcommands (search and run)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from zodarts.config import SEARCH_PRESETS, SearchConfig, make_config
from zodarts.errors import ConfigError


def add_search_arguments(p: argparse.ArgumentParser, default_preset: str | None) -> None:
    g = p.add_argument_group("search")
    g.add_argument("--dataset", help="registry name (e.g. breastmnist, digits), an .npz file in "
                   "MedMNIST layout or an image folder (default: digits)")
    g.add_argument("--data-root", help="folder holding MedMNIST .npz files (else $MEDMNIST_ROOT, "
                   "then ~/.medmnist)")
    g.add_argument("--method", help="search method (default zo-darts++)")
    g.add_argument("--preset", choices=sorted(SEARCH_PRESETS), default=default_preset,
                   help=f"settings preset (default: {default_preset or 'none: paper defaults'})")
    g.add_argument("--epochs", type=int)
    g.add_argument("--budget", choices=["small", "medium", "large", "none"],
                   help="parameter budget band (default none)")
    g.add_argument("--params-min", type=float, help="explicit lower parameter bound")
    g.add_argument("--params-max", type=float, help="explicit upper parameter bound")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="auto (CUDA when present), cpu or cuda")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--steps-per-epoch", type=int, help="cap on weight steps per epoch")
    g.add_argument("--C", type=int, dest="C", help="channels of the first stage")
    g.add_argument("--cells-per-stage", type=int, help="maximum cells per stage")
    g.add_argument("--relax", choices=["sparsemax", "softmax", "entmax15"],
                   help="relaxation (default: the method's own)")
    g.add_argument("--size-search-start", type=int, metavar="N",
                   help="phase-1 epochs before the size-variable phase (kernels and depths are "
                        "searched from epoch N+1)")
    g.add_argument("--temp-decay-every", type=int, help="epochs between temperature decays")
    g.add_argument("--zo-directions", type=int, help="ZO directions averaged per α step")
    g.add_argument("--twin-fresh-optimizer", action="store_true", default=None,
                   help="give the ZO twin a fresh optimizer (the reference code's behaviour)")
    g.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a method-specific option (repeatable), e.g. --opt zo_steps=5")
    g.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic kernels (slower on GPU)")


def search_config_from_args(args: argparse.Namespace) -> SearchConfig:
    options = {}
    for item in args.opt:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--opt expects KEY=VALUE, got {item!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    if args.zo_directions is not None:
        options["zo_directions"] = args.zo_directions
    if args.twin_fresh_optimizer:
        options["twin_fresh_optimizer"] = True
    return make_config(
        SearchConfig, SEARCH_PRESETS, args.preset,
        dataset=args.dataset, data_root=args.data_root, method=args.method, epochs=args.epochs,
        budget=args.budget, params_min=args.params_min, params_max=args.params_max,
        seed=args.seed, device=args.device, batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch, C=args.C, cells_per_stage=args.cells_per_stage,
        relax=args.relax, size_search_start=args.size_search_start,
        temp_decay_every=args.temp_decay_every, deterministic=args.deterministic,
        options=options or None)


def default_out(config: SearchConfig) -> Path:
    name = Path(config.dataset).stem if "/" in config.dataset else config.dataset
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{config.method}"
