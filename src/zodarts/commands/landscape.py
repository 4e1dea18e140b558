"""`zodarts landscape`: a ground truth of the search space on one dataset.

N architectures sampled as random search samples them (inside a parameter band when one is
given), each retrained from scratch with S seeds at a preset's retraining settings, on Ray; the
result is a table (landscape.json, landscape.csv) and a report (`zodarts landscape-report`).
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from zodarts.commands.sweep import add_ray_arguments
    from zodarts.commands.train import add_train_arguments
    from zodarts.config import SEARCH_PRESETS

    p = sub.add_parser(
        "landscape", help="retrain N sampled architectures × S seeds: how much does the "
        "architecture matter on this data?",
        description="Sample --archs architectures of the search space (random search's "
        "sampler; inside the band of --budget or --params-min/--params-max when given; or the "
        "same ones as another landscape with --genotypes-from) and retrain each with seeds "
        "0..S-1 at the preset's retraining settings (--train-* flags override them), on an "
        "embedded local Ray or a cluster. Each retraining records val and test ACC/AUC/loss, "
        "each architecture its parameters, FLOPs and zero-cost proxies. Running the same "
        "command again skips what is recorded and resumes the rest; a larger --archs or --seeds "
        "grows the landscape. The report (`zodarts landscape-report`) is written at the end.")
    p.add_argument("--dataset", default="digits", help="registry name, .npz or image folder "
                   "(default digits)")
    p.add_argument("--data-root", metavar="DIR", help="folder holding MedMNIST .npz files "
                   "(default: $MEDMNIST_ROOT, then ~/.medmnist)")
    p.add_argument("--out", required=True, metavar="DIR", help="the landscape folder")
    p.add_argument("--archs", type=int, default=20, help="architectures (default 20)")
    p.add_argument("--seeds", type=int, default=2, help="retraining seeds per architecture "
                   "(default 2)")
    p.add_argument("--preset", choices=sorted(SEARCH_PRESETS), default="quick",
                   help="the space (C, cells per stage) of this preset's search and its "
                        "retraining settings (default quick)")
    p.add_argument("--C", type=int, dest="C", help="channels of the first stage (default: the "
                   "preset's)")
    p.add_argument("--cells-per-stage", type=int, help="maximum cells per stage (default: the "
                   "preset's)")
    p.add_argument("--budget", choices=["small", "medium", "large", "none"], default="none",
                   help="sample inside this parameter band (default none: the whole space)")
    p.add_argument("--params-min", type=float, help="explicit lower parameter bound")
    p.add_argument("--params-max", type=float, help="explicit upper parameter bound")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the sampling "
                   "(default 0)")
    p.add_argument("--genotypes-from", metavar="LANDSCAPE", help="the first --archs genotypes "
                   "of another landscape (their cells, built for this data)")
    p.add_argument("--device", help="auto (CUDA when present), cpu or cuda (default: the "
                   "preset's, auto)")
    p.add_argument("--keep-models", action="store_true", help="keep every retraining's "
                   "checkpoints (default: deleted once its record is written)")
    g = p.add_argument_group("growing until the verdict is decided")
    g.add_argument("--until-verdict", action="store_true",
                   help="grow the landscape in rounds of --round-archs architectures and stop "
                        "at the first round whose verdict (flat / structured) is decided; "
                        "--archs is then the most it grows to. Each look reads the ICC "
                        "interval at its own planned level, so stopping early keeps the "
                        "verdict's error rate (docs/methods.md)")
    g.add_argument("--round-archs", type=int, default=10,
                   help="architectures added per round (default 10)")
    g.add_argument("--max-hours", type=float, metavar="H",
                   help="with --until-verdict: no round that would end past H hours of this "
                        "invocation (the verdict then stays undetermined)")
    add_train_arguments(p, prefix="train-")
    add_ray_arguments(p, "job")
    p.add_argument("--quiet", action="store_true", help="one log line per architecture "
                   "instead of the live progress line")
    from zodarts.commands.common import add_track_argument
    add_track_argument(p)
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace):
    """The landscape's settings, checked (dataset, band, retraining) before any work."""
    from pathlib import Path

    from zodarts.commands.train import explicit_train_settings
    from zodarts.config import SEARCH_PRESETS
    from zodarts.data import load_dataset
    from zodarts.errors import ConfigError
    from zodarts.landscape.driver import make_train_config
    from zodarts.landscape.table import LandscapeSettings
    from zodarts.space import resolve_budget
    from zodarts.sweep.grid import resolve_dataset

    if args.archs < 1 or args.seeds < 1:
        raise ConfigError(f"--archs and --seeds must be >= 1 (got {args.archs}, {args.seeds})")
    preset = SEARCH_PRESETS[args.preset]
    dataset = resolve_dataset(args.dataset)
    data_root = str(Path(args.data_root).expanduser().resolve()) if args.data_root else None
    C = args.C or preset.get("C", 16)
    cells = args.cells_per_stage or preset.get("cells_per_stage", 3)
    if C < 1 or cells < 1:
        raise ConfigError("--C and --cells-per-stage must be >= 1")
    genotypes_from = None
    if args.genotypes_from:
        source = Path(args.genotypes_from).expanduser().resolve()
        other = LandscapeSettings.load(source)
        genotypes_from = str(source)
        C, cells = other.C, other.cells_per_stage  # the same networks, built for this data
    loaded = load_dataset(dataset, data_root)
    band = resolve_budget(args.budget, args.params_min, args.params_max, loaded.channels,
                          loaded.classes, C, cells)
    custom = args.params_min is not None or args.params_max is not None
    overrides = {k: v for k, v in explicit_train_settings(args).items()
                 if v is not None and k not in ("dataset", "data_root", "seed")}
    if args.device:
        overrides["device"] = args.device
    train = make_train_config(args.preset, dataset, data_root, overrides)
    if train.batch_size is None:  # the paper preset's per-dataset batch, as trials record it
        from zodarts.config import PAPER_TRAIN_BATCH, paper_batch
        train.batch_size = min(paper_batch(loaded.name, len(loaded.splits["train"]),
                                           PAPER_TRAIN_BATCH), len(loaded.splits["train"]))
    from dataclasses import asdict
    sequential = None
    archs = args.archs
    if args.until_verdict:
        from zodarts.stats.sequential import ALPHA
        if args.seeds < 2:
            raise ConfigError("--until-verdict needs --seeds 2 or more: the verdict compares "
                              "architectures with seed noise")
        if not 2 <= args.round_archs <= args.archs:
            raise ConfigError(f"--round-archs {args.round_archs} with --archs {args.archs}: "
                              "each round adds 2 or more architectures, and --archs (the most "
                              "the landscape grows to) is at least one round")
        sequential = {"round_archs": args.round_archs, "max_archs": args.archs,
                      "alpha": ALPHA}
        archs = args.round_archs
    elif args.max_hours is not None:
        raise ConfigError("--max-hours applies to --until-verdict only")
    return LandscapeSettings(dataset, data_root, args.preset, C, cells,
                             "custom" if custom else args.budget,
                             None if band is None else [float(band[0]), float(band[1])],
                             args.sample_seed, genotypes_from, archs, args.seeds,
                             asdict(train), sequential)


def overhead_line(o: dict) -> str:
    """Where this invocation's time went, in words: the retrainings' epochs, the jobs around
    them, the whole command (landscape.driver.overhead's ratios, as multiples of the
    training)."""
    slots = f" × {o['slots']:g} parallel slots" if o["slots"] != 1 else ""
    return (f"landscape: the retrainings' epochs took {o['train_seconds']:.0f} s; the jobs "
            f"took {1 + o['in_jobs']:.1f}× that ({o['job_seconds']:.0f} s, with data loading, "
            f"zero-cost proxies, evaluation and start-up), the whole command "
            f"{1 + o['end_to_end']:.1f}× ({o['wall_seconds']:.0f} s{slots}, with Ray's "
            "start and idle slots)")


def run(args) -> int:
    import sys

    from zodarts.commands.common import tracking_uri
    from zodarts.commands.sweep import ray_options
    from zodarts.landscape.driver import run_landscape
    from zodarts.utils.kinds import LANDSCAPE, require_kind

    require_kind(args.out, LANDSCAPE, "choose another --out for the landscape")
    options = ray_options(args)
    track = tracking_uri(args, args.out)
    result = run_landscape(settings_from_args(args), args.out, options, args.keep_models,
                           track, args.max_hours)
    for outcome in result.failed:
        print(f"failed {outcome.cell}: {outcome.error}", file=sys.stderr)
    if result.overhead:
        print(overhead_line(result.overhead), file=sys.stderr)
    print(f"landscape: {len(result.outcomes) - len(result.failed)} architecture(s) trained now, "
          f"{len(result.failed)} failed; report: {result.report}")
    print(verdict_text(result.report))
    return 1 if result.failed else 0


def verdict_text(report) -> str:
    """The report's verdict paragraph as plain text (the command's last lines)."""
    import json
    import textwrap

    from zodarts.landscape.verdict import verdict_lines

    summary = json.loads((report.parent / "summary.json").read_text())
    text = " ".join(verdict_lines(summary, str(report.parent.parent))).replace("**", "")
    return textwrap.fill(text.replace("`", ""), width=100)
