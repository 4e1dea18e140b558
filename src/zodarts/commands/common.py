"""Arguments shared by several subcommands (search and run)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from zodarts.commands.defaults import add_defaults
from zodarts.config import (ARCH_OPTIMIZERS, DEFAULT_PRESET, DERIVATION_FIELDS, RELAXATIONS,
                            SEARCH_PRESETS, SearchConfig, make_search_config)
from zodarts.errors import ConfigError


# What an unset search setting means, for --help's defaults.
SEARCH_UNSET = {
    "dataset": "digits", "epochs": "from --arch-steps and the data", "arch_steps": "from "
    "--epochs", "batch_size": "the authors' batch for the dataset", "steps_per_epoch": "the "
    "whole half", "relax": "the method's own", "anneal": "the method's own", "size_search":
    "the method's own", "a_optimizer": "the method's own", "a_lr": "the method's own",
    "a_weight_decay": "the method's own", "size_search_start": "at 40%% of the epochs",
    "temp_decay_every": "a tenth of the search", "params_min": "the band's",
    "params_max": "the band's", "draw_epoch": "the last",
}


def add_search_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("search")
    g.add_argument("--dataset", help="registry name (e.g. breastmnist, digits), an .npz file in "
                   "MedMNIST layout or an image folder (default: digits)")
    g.add_argument("--data-root", metavar="DIR", help="folder holding MedMNIST .npz files "
                   "(default: $MEDMNIST_ROOT, then ~/.medmnist)")
    g.add_argument("--method", help="search method (`zodarts methods` lists them with their "
                   "settings)")
    g.add_argument("--preset", choices=sorted(SEARCH_PRESETS),
                   help=f"settings preset (default: {DEFAULT_PRESET})")
    g.add_argument("--epochs", type=int, help="search epochs")
    g.add_argument("--arch-steps", type=int, help="search length in architecture steps; the "
                   "epochs then follow from the dataset's size")
    g.add_argument("--until-decided", action="store_true", default=None,
                   help="stop once every choice's margin has stayed above --decided-margin "
                        "for --decided-epochs epochs (the epochs are then a maximum)")
    g.add_argument("--decided-margin", type=float,
                   help="p(top 1) − p(top 2) that makes a choice decided")
    g.add_argument("--decided-epochs", type=int, help="epochs in a row that make the "
                   "architecture decided")
    g.add_argument("--budget", choices=["small", "medium", "large", "none"],
                   help="parameter budget band (needs size search)")
    g.add_argument("--params-min", type=float, help="explicit lower parameter bound (replaces "
                   "--budget's)")
    g.add_argument("--params-max", type=float, help="explicit upper parameter bound (replaces "
                   "--budget's)")
    g.add_argument("--seed", type=int, help="seed of the split, the initialisation, the batches "
                   "and the architecture steps")
    g.add_argument("--device", help="auto (CUDA when present), cpu or cuda")
    g.add_argument("--precision", choices=["fp32", "bf16"],
                   help="fp32 or bf16 autocast for forward and backward (α and its estimate "
                        "stay float32)")
    g.add_argument("--batch-size", type=int, help="search batch")
    g.add_argument("--steps-per-epoch", type=int, help="cap on weight steps per epoch")
    g.add_argument("--C", type=int, dest="C", help="channels of the first stage")
    g.add_argument("--cells-per-stage", type=int, help="maximum cells per stage")
    a = p.add_argument_group("ZO-DARTS++'s components, for any method with architecture "
                             "parameters (default: the method's own)")
    a.add_argument("--relax", choices=list(RELAXATIONS),
                   help="relaxation of the architecture weights")
    a.add_argument("--anneal", action=argparse.BooleanOptionalAction, default=None,
                   help="temperature annealing")
    a.add_argument("--size-search", action=argparse.BooleanOptionalAction, default=None,
                   help="search kernel sizes and depths too (needed for a budget)")
    a.add_argument("--size-search-start", type=int, metavar="N",
                   help="phase-1 epochs before the size-variable phase (kernels and depths are "
                        "searched from epoch N+1)")
    a.add_argument("--temp-decay-every", type=int,
                   help="epochs between temperature decays")
    o = p.add_argument_group("the architecture optimizer (default: the method's own)")
    o.add_argument("--a-optimizer", choices=list(ARCH_OPTIMIZERS),
                   help="optimizer of the architecture parameters")
    o.add_argument("--a-lr", type=float, help="learning rate of the architecture parameters")
    o.add_argument("--a-weight-decay", type=float,
                   help="weight decay of the architecture parameters")
    m = p.add_argument_group("method options")
    m.add_argument("--zo-directions", type=int, help="ZO directions averaged per α step "
                   "(default: the method's own, `zodarts methods`)")
    m.add_argument("--twin-fresh-optimizer", action="store_true", default=None,
                   help="give the ZO twin a fresh optimizer (the reference code's behaviour; "
                        "default: a copy of the main network's optimizer state)")
    m.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE",
                   help="a method-specific option (repeatable), e.g. --opt zo_steps=5 "
                        "(default: the method's own, `zodarts methods METHOD` lists them)")
    g.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic kernels (slower on GPU)")
    d = p.add_argument_group("deriving the architecture")
    d.add_argument("--derive", choices=["argmax", "sample", "both"],
                   help="argmax of every distribution, draws from them as the ZO-DARTS++ "
                        "authors do, or both; each draw is trained in RUN_DIR/draws/dK/")
    d.add_argument("--draws", type=int, help="architectures drawn (with --derive sample or "
                   "both)")
    d.add_argument("--draw-epoch", type=int, metavar="E",
                   help="draw from epoch E's distributions, counted from 0 (the paper "
                        "preset's is where the authors' sampler reads their log)")
    add_defaults(p, SearchConfig, SEARCH_PRESETS, SEARCH_UNSET)


# Flags that map one-to-one onto SearchConfig fields.
SEARCH_FIELDS = ("dataset", "data_root", "method", "epochs", "arch_steps", "budget",
                 "params_min", "params_max", "seed", "device", "precision", "batch_size",
                 "steps_per_epoch",
                 "C", "cells_per_stage", "relax", "anneal", "size_search", "size_search_start",
                 "temp_decay_every", "a_optimizer", "a_lr", "a_weight_decay", "deterministic",
                 "until_decided", "decided_margin", "decided_epochs", "derive", "draws",
                 "draw_epoch")


def option_args(args: argparse.Namespace) -> dict:
    """The method options given on the command line (--opt and the shortcuts)."""
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
    return options


def explicit_search_settings(args: argparse.Namespace) -> dict:
    """What the user set on the command line (None: not given), as SearchConfig fields."""
    return {name: getattr(args, name) for name in SEARCH_FIELDS}


def search_config_from_args(args: argparse.Namespace) -> SearchConfig:
    return make_search_config(args.preset or DEFAULT_PRESET, **explicit_search_settings(args),
                              options=option_args(args))


def flag_name(field: str, value=None) -> str:
    """The command-line spelling of a config field (booleans by their value)."""
    flag = "--" + field.replace("_", "-")
    if field in ("anneal", "size_search") and value is False:
        flag = "--no-" + field.replace("_", "-")
    return flag


def spell_flag(flag: str, value) -> str:
    """``--flag value`` as typed (a boolean flag alone)."""
    return flag if isinstance(value, bool) else f"{flag} {value}"


def check_search_resume(args: argparse.Namespace, out: str | Path) -> None:
    """--resume continues the folder's own settings: flags that contradict them are an error
    rather than silently ignored."""
    from zodarts.config import load_config, resume_conflicts
    from zodarts.rundir import RunPaths
    from zodarts.search.registry import get_searcher

    path = RunPaths(out).config
    if not path.is_file():
        return  # run_search says there is nothing to resume
    saved = load_config(SearchConfig, path)
    given = {k: v for k, v in explicit_search_settings(args).items()
             if k not in DERIVATION_FIELDS}   # a resume may change them: search.rederive
    conflicts = resume_conflicts(given, saved,
                                 lambda name, value: spell_flag(flag_name(name, value), value))
    if args.preset and args.preset != saved.preset:
        conflicts.append(f"--preset {args.preset} (the folder holds {saved.preset})")
    given = option_args(args)
    if given:
        parsed = vars(get_searcher(saved.method).parse_options(given))
        conflicts += [f"--opt {k}={given[k]} (the folder holds {saved.options.get(k)})"
                      for k in given if saved.options.get(k) != parsed[k]]
    raise_conflicts(out, conflicts)


def resume_derivation(args: argparse.Namespace, out: str | Path) -> None:
    """Apply --derive, --draws and --draw-epoch given with --resume (search.rederive), saying
    what changed."""
    from zodarts.search.rederive import change_derivation

    changed = change_derivation(out, explicit_search_settings(args))
    if changed:
        print(changed, file=sys.stderr, flush=True)


def raise_conflicts(out, conflicts: list[str]) -> None:
    if conflicts:
        raise ConfigError(f"{out} was started with other settings, and --resume continues them "
                          f"as they are: {'; '.join(conflicts)}. Drop those flags, or start a "
                          "new run in another --out")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    """--threads for a command that computes in this process (cli.main applies it)."""
    p.add_argument("--threads", type=_positive_int, metavar="N",
                   help="torch's CPU threads (default: $OMP_NUM_THREADS, else the CPUs this "
                        "process may use, its affinity mask capped by a container's quota, less "
                        "those other processes are busy on at the start)")


def add_track_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--track", nargs="?", const="", default=None, metavar="URI",
                   help="log to an MLflow tracker: a tracking URI (http://host:5000, "
                        "sqlite:///path.db, a folder), or alone a SQLite store beside the "
                        "folder the command writes (--out runs/x: runs/mlflow.db); default: "
                        "$ZODARTS_TRACK, else no tracking. The command prints the URI and how "
                        "to open it")


def tracking_uri(args: argparse.Namespace, out: str | Path) -> str | None:
    """The tracker asked for (``--track`` alone: beside ``out``, the folder the command
    writes), reached now (one line and exit 1 if it cannot be), or None; where it is and how to
    open it go to stderr."""
    from zodarts.tracking import check, how_to_open, resolve_uri, source

    given = getattr(args, "track", None)
    uri = resolve_uri(given, out)
    if uri is not None:
        check(uri, source(given))
        origin = "" if given is not None else f" (from {source(given)})"
        print(f"tracking: {uri}{origin}; to see it: {how_to_open(uri)}", file=sys.stderr,
              flush=True)
    return uri


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal: redirected to a file they would fill it with redrawn
    lines, and the epoch log lines say the same once per epoch."""
    return not args.quiet and sys.stderr.isatty()


def default_out(config: SearchConfig) -> Path:
    name = Path(config.dataset).stem if "/" in config.dataset else config.dataset
    return Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{config.method}"
