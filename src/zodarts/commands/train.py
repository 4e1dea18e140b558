"""`zodarts train`: retrain a searched genotype from scratch (writes train/best.pt)."""

from __future__ import annotations

import argparse

from zodarts.config import DEFAULT_PRESET, TRAIN_PRESETS, TrainConfig, make_config
from zodarts.errors import ConfigError

# (flag, TrainConfig field, argparse keywords). `zodarts run` adds them with a "train-" prefix
# beside the search's flags; the dataset, seed and device are then the search's own.
_SHARED = ("dataset", "data_root", "seed", "device", "deterministic", "precision")
_OPTIONS: list[tuple[str, str, dict]] = [
    ("dataset", "dataset", dict(help="dataset to train on (default: the search's, from "
                                     "RUN_DIR/config.yaml)")),
    ("data-root", "data_root", dict(help="folder holding MedMNIST .npz files (default: the "
                                         "search's, else $MEDMNIST_ROOT, then ~/.medmnist)")),
    ("seed", "seed", dict(type=int, help="seed of the initialisation and the batches")),
    ("device", "device", dict(help="auto (CUDA when present), cpu or cuda")),
    ("deterministic", "deterministic", dict(action="store_true", default=None,
                                            help="deterministic kernels (slower on GPU)")),
    ("precision", "precision", dict(choices=["fp32", "bf16"],
                                    help="fp32 or bf16 autocast")),
    ("epochs", "epochs", dict(type=int, help="training epochs")),
    ("batch-size", "batch_size", dict(type=int, help="training batch")),
    ("steps-per-epoch", "steps_per_epoch", dict(type=int, help="cap on steps per epoch")),
    ("C", "C", dict(type=int, help="first-stage channels (default: the genotype's)")),
    ("lr", "lr", dict(type=float, help="peak learning rate of SGD")),
    ("momentum", "momentum", dict(type=float, help="SGD momentum")),
    ("nesterov", "nesterov", dict(action=argparse.BooleanOptionalAction, default=None,
                                  help="Nesterov momentum")),
    ("lr-min", "lr_min", dict(type=float, help="learning rate at the end of the cosine")),
    ("warmup-epochs", "warmup_epochs", dict(type=float, help="linear warm-up length")),
    ("warmup-start", "warmup_start", dict(type=float, help="warm-up's first learning rate, "
                                                          "as a fraction of the peak")),
    ("weight-decay", "weight_decay", dict(type=float, help="SGD weight decay")),
    ("label-smoothing", "label_smoothing", dict(type=float, help="label smoothing of the "
                                                               "cross-entropy")),
    ("grad-clip", "grad_clip", dict(type=float, help="gradient-norm clip")),
    ("augment", "augment", dict(choices=["none", "trivialaugment", "kornia"],
                                help="policy after crop/flip")),
    ("no-crop-flip", "crop_flip", dict(action="store_const", const=False, default=None,
                                       help="no random crop and flip (default: crop, "
                                            "and flip where --flip says)")),
    ("flip", "flip", dict(action="store_const", const=True, default=None,
                          help="horizontal flips even for digits")),
    ("no-flip", "flip", dict(action="store_const", const=False, default=None,
                             help="crop without horizontal flip")),
    ("mixup", "mixup_alpha", dict(type=float, metavar="ALPHA", help="mixup Beta(α, α); 0: off")),
    ("cutmix", "cutmix_alpha", dict(type=float, metavar="ALPHA",
                                    help="cutmix Beta(α, α); 0: off")),
    ("mix-prob", "mix_prob", dict(type=float, help="share of batches mixed")),
    ("padding", "padding", dict(type=int, help="padding of the random crop, in pixels")),
    ("select", "select", dict(choices=["acc", "auc", "loss"],
                              help="validation metric that picks best.pt")),
    ("test-every-epoch", "test_every_epoch", dict(
        action=argparse.BooleanOptionalAction, default=None,
        help="measure the test split every epoch, for eval.json's test_max_over_epochs (the "
             "paper's way, selected on test; the paper preset does)")),
    ("bn-batch-stats", "bn_batch_stats", dict(
        action=argparse.BooleanOptionalAction, default=None,
        help="BatchNorm without running statistics: every batch, at test too, normalised by "
             "its own statistics, as the authors' networks (the paper preset does)")),
    ("restart-epoch", "restart_epoch", dict(
        type=int, metavar="E", help="restart a run whose val ACC at epoch E is below 0.3, or "
                                    "has gained less than 0.01 since epoch 1 while below 0.8 "
                                    "(a drawn architecture is drawn again)")),
    ("max-restarts", "max_restarts", dict(type=int, help="restarts allowed")),
]


# What an unset training setting means, for --help's defaults.
TRAIN_UNSET = {"dataset": "the search's", "batch_size": "the authors' batch for the dataset",
               "steps_per_epoch": "the whole train split", "C": "the genotype's",
               "grad_clip": "none", "flip": "on, except for digits",
               "padding": "image size / 8", "restart_epoch": "never"}


def add_train_arguments(p: argparse.ArgumentParser, prefix: str = "") -> None:
    from zodarts.commands.defaults import add_defaults

    g = p.add_argument_group("training")
    for flag, name, kwargs in _OPTIONS:
        if prefix and name in _SHARED:
            continue
        g.add_argument(f"--{prefix}{flag}", dest=f"train_{name}", **kwargs)
    add_defaults(p, TrainConfig, TRAIN_PRESETS, TRAIN_UNSET, dest_prefix="train_")


def explicit_train_settings(args: argparse.Namespace) -> dict:
    """The training settings given on the command line (None: not given)."""
    return {name: getattr(args, f"train_{name}", None) for _, name, _ in _OPTIONS}


def check_train_resume(args: argparse.Namespace, out, prefix: str = "") -> None:
    """Training flags on --resume must agree with the folder's training settings
    (train/config.yaml, or before the training started the plan `run` recorded)."""
    from zodarts.commands.common import raise_conflicts, spell_flag
    from zodarts.config import load_config, resume_conflicts
    from zodarts.rundir import RunPaths

    path = RunPaths(out).train_settings
    if not path.is_file():
        return
    given = explicit_train_settings(args)
    if prefix:  # `run` shares dataset, seed and device with its search
        given = {k: v for k, v in given.items() if k not in _SHARED}
    flags = {name: f"--{prefix}{flag}" for flag, name, _ in _OPTIONS}
    raise_conflicts(out, resume_conflicts(given, load_config(TrainConfig, path),
                                          lambda name, value: spell_flag(flags[name], value)))


def train_config_from_args(args: argparse.Namespace, preset: str | None,
                           **shared) -> TrainConfig:
    values = explicit_train_settings(args)
    values.update({k: v for k, v in shared.items() if v is not None})
    return make_config(TrainConfig, TRAIN_PRESETS, preset, **values)


def search_preset(run_dir) -> str | None:
    """The preset of the search in ``run_dir`` (None: no search there, or none recorded)."""
    from zodarts.config import SearchConfig, load_config
    from zodarts.rundir import RunPaths

    path = RunPaths(run_dir).config
    return load_config(SearchConfig, path).preset if path.is_file() else None


def register(sub) -> None:
    p = sub.add_parser("train", help="retrain a genotype from scratch (writes train/best.pt)",
                       description="Train the network a genotype describes from scratch on the "
                       "train split, validating on val: `zodarts train RUN_DIR` trains the "
                       "run's genotype.json on its dataset; `zodarts train --genotype FILE "
                       "--dataset NAME --out DIR` trains any genotype file.")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="run folder of a search")
    p.add_argument("--genotype", metavar="FILE", help="genotype JSON to train (with --out)")
    p.add_argument("--out", metavar="DIR", help="run folder to write (default: RUN_DIR)")
    p.add_argument("--preset", choices=sorted(TRAIN_PRESETS),
                   help=f"settings preset (default: the search's preset for RUN_DIR, else "
                        f"{DEFAULT_PRESET})")
    add_train_arguments(p)
    p.add_argument("--seeds", metavar="S,S,...",
                   help="train an ensemble instead: the genotype once per seed (e.g. 0,1,2) into "
                        "RUN_DIR/ensemble/mS/; evaluate, report, export and predict take "
                        "RUN_DIR/ensemble as one model (the mean of the members' "
                        "probabilities)")
    p.add_argument("--resume", action="store_true",
                   help="continue from train/last.pt (with --seeds: the ensemble's members)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, log lines only")
    from zodarts.commands.common import add_threads_argument, add_track_argument
    add_track_argument(p)
    add_threads_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from zodarts.commands.common import show_progress, tracking_uri
    from zodarts.pipeline import derived, train_epoch_logger
    from zodarts.space import Genotype
    from zodarts.tracking import log_settings, open_run
    from zodarts.train.retrain import run_train

    if args.run_dir and args.out and args.run_dir != args.out:
        raise ConfigError("give the run folder once: RUN_DIR or --out DIR")
    out = args.out or args.run_dir
    if out is None:
        raise ConfigError("nothing to train: give RUN_DIR (a search's folder), or "
                          "--genotype FILE --dataset NAME --out DIR")
    genotype = Genotype.load(args.genotype) if args.genotype else None
    preset = args.preset or search_preset(out) or DEFAULT_PRESET
    check_ensemble_request(args, out, genotype)
    tracker = open_run(tracking_uri(args, out), out, Path(out).name)
    with tracker.ending_on_error():
        if args.seeds is not None:
            return _train_ensemble(args, out, genotype, preset, tracker)
        if genotype is None and derives_draws(out):
            from zodarts.pipeline import train_derived
            if args.resume:
                for folder in derived(out):
                    if folder.train_config.is_file():
                        check_train_resume(args, folder.root)
            results = train_derived(out, train_config_from_args(args, preset), args.resume,
                                    show_progress(args), tracker=tracker)
            if not results:
                raise ConfigError(all_trained(out))
        else:
            if args.resume:
                check_train_resume(args, out)
            else:
                tracker.fresh("train")
            config = None if args.resume else train_config_from_args(args, preset)
            results = [run_train(config, out, genotype, resume=args.resume,
                                 progress=show_progress(args),
                                 on_epoch=train_epoch_logger(tracker))]
    log_settings(tracker, Path(out))
    tracker.finish()
    for result in results:
        val = result.best["val"]
        print(f"best val acc {val['acc']:.4f} (epoch {result.best['epoch'] + 1}); "
              f"model: {result.out / 'train' / 'best.pt'}")
    return 0


def all_trained(run_dir) -> str:
    """What to do when every architecture a search derives is trained: evaluate them."""
    from zodarts.pipeline import derived

    folders = ", ".join(str(f.root) for f in derived(run_dir))
    return (f"every architecture {run_dir} derives is trained already ({folders}): evaluate "
            f"them with `zodarts evaluate {run_dir}`, or delete a folder's train/ to train it "
            "again")


def derives_draws(run_dir) -> bool:
    """Whether the search in ``run_dir`` hands on drawn architectures (--derive sample/both):
    `zodarts train RUN_DIR` then trains every one of them."""
    from zodarts.config import SearchConfig, load_config
    from zodarts.rundir import RunPaths

    path = RunPaths(run_dir).config
    return path.is_file() and load_config(SearchConfig, path).derive != "argmax"


def check_ensemble_request(args: argparse.Namespace, out, genotype) -> None:
    """Refuse what would mix an ensemble up with a single training, before any work."""
    from zodarts.rundir import RunPaths

    paths = RunPaths(out)
    if paths.is_ensemble:
        parent = paths.root.parent
        raise ConfigError(f"{out} is an ensemble's folder: its members are trained from the run "
                          f"folder, `zodarts train {parent} --seeds ... [--resume]`")
    if args.seeds is None:
        if args.resume and not paths.train_last.is_file() and paths.ensemble.is_ensemble:
            from zodarts.train.ensemble import ensemble_seeds
            raise ConfigError(f"{out} holds an ensemble and no single training to resume: "
                              f"`zodarts train {out} --seeds "
                              f"{','.join(map(str, ensemble_seeds(paths.ensemble)))} --resume` "
                              "continues the ensemble")
        return
    if args.train_seed is not None:
        raise ConfigError("give --seeds (an ensemble, one member per seed) or --seed (one "
                          "network), not both")
    if genotype is None and derives_draws(out):
        raise ConfigError(f"the search in {out} draws several architectures: train an ensemble "
                          f"of one of them, e.g. `zodarts train {paths.draw(0).root} --seeds "
                          f"{args.seeds}`")


def _train_ensemble(args: argparse.Namespace, out, genotype, preset: str, tracker) -> int:
    from pathlib import Path

    from zodarts.commands.common import show_progress
    from zodarts.rundir import RunPaths
    from zodarts.tracking import log_settings
    from zodarts.train.ensemble import parse_seeds, train_ensemble

    seeds = parse_seeds(args.seeds)
    if args.resume:
        check_train_resume(args, RunPaths(out).ensemble_dir)
    config = None if args.resume else train_config_from_args(args, preset)
    result = train_ensemble(out, config, seeds, genotype, args.resume, show_progress(args),
                            tracker=tracker)
    log_settings(tracker, Path(out))
    tracker.finish()
    for member in result.trained:
        val = member.best["val"]
        print(f"{member.out.name}: best val acc {val['acc']:.4f} (epoch "
              f"{member.best['epoch'] + 1})")
    print(f"ensemble of {len(result.seeds)} (seeds {','.join(map(str, result.seeds))}): "
          f"{result.out}; evaluate, report, export and predict take this folder")
    return 0
