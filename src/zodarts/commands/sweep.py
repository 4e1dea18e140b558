"""`zodarts sweep`: a grid of `zodarts run` trials on Ray, on this machine or a cluster.

Every `zodarts run` option is accepted and given to every trial as typed: the sweep lists them
from the `run` command's own parser, so the two stay in step.
"""

from __future__ import annotations

import argparse

from zodarts.sweep.grid import MANAGED_FLAGS


class RunOption(argparse.Action):
    """A `zodarts run` option, kept as typed and in order: each trial's own `run` parser reads
    it (types, choices and all), so it means exactly what it means to `zodarts run`."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = [] if values is None else [values] if isinstance(values, str) else list(values)
        namespace.run_options = [*(namespace.run_options or []), option_string, *given]


def _run_parser() -> argparse.ArgumentParser:
    from zodarts.commands import run as run_command

    holder = argparse.ArgumentParser(add_help=False).add_subparsers()
    run_command.register(holder)
    return holder.choices["run"]


def add_run_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("`zodarts run` options, given to every trial (see `zodarts run "
                                 "--help`)")
    # argparse has no public list of a parser's options; _actions is the one every
    # completion tool reads, and mirroring it keeps `sweep --help` in step with `run`.
    for action in _run_parser()._actions:
        flags = action.option_strings
        # --threads: a trial's threads are its Ray CPUs (--cpus-per-trial).
        if not flags or {"--help", "--out", "--quiet", "--track", "--threads"} & set(flags):
            continue
        managed = any(flag in MANAGED_FLAGS for flag in flags)
        metavar = action.metavar or (f"{{{','.join(map(str, action.choices))}}}"
                                     if action.choices else action.dest.upper())
        # A managed flag is still taken, to be refused with a pointer to the sweep's own axis.
        group.add_argument(*flags, action=RunOption, dest="run_options", nargs=action.nargs,
                           default=None, metavar=None if action.nargs == 0 else metavar,
                           help=argparse.SUPPRESS if managed else action.help)


def add_ray_arguments(p: argparse.ArgumentParser, unit: str) -> None:
    """Where the work runs (shared by `sweep` and the landscape commands); ``unit`` names what
    one Ray task is (a trial, a job)."""
    r = p.add_argument_group("Ray")
    r.add_argument("--address", help="an existing cluster: HOST:PORT, ray://HOST:PORT or auto "
                   "(default: start a local Ray on this machine)")
    r.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    r.add_argument("--cpus-per-trial", type=float, help=f"default: the CPUs shared out among "
                   f"the {unit}s that run at once; also each {unit}'s torch threads")
    r.add_argument("--gpus-per-trial", type=float,
                   help="default: 1 where Ray sees GPUs, else 0")
    r.add_argument("--max-retries", type=int, default=3, help=f"re-runs of a {unit} whose "
                   "worker died (killed, out of memory, lost node); each resumes from its "
                   "checkpoints (default 3)")


def ray_options(args: argparse.Namespace):
    from zodarts.errors import ConfigError
    from zodarts.sweep.driver import SweepOptions

    if args.max_retries < 0:
        raise ConfigError(f"--max-retries must be >= 0 (got {args.max_retries})")
    return SweepOptions(args.address, args.num_cpus, args.cpus_per_trial, args.gpus_per_trial,
                        args.max_retries, args.quiet)


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", allow_abbrev=False,
        help="a grid of runs (datasets × methods × budgets × seeds) on Ray",
        description="Run `zodarts run` for every cell of a grid of datasets, methods, budgets "
        "and seeds, on an embedded local Ray or an existing Ray cluster (--address), each trial "
        "in its own run folder SWEEP_DIR/DATASET/METHOD/BUDGET/seedN. Running the same command "
        "again skips finished trials and resumes unfinished ones; a grown grid adds its new "
        "cells. The combined report (`zodarts sweep-report`) is written at the end.")
    p.add_argument("--out", required=True, metavar="SWEEP_DIR",
                   help="the sweep folder (on a cluster: shared storage, the same path on "
                        "every node)")
    g = p.add_argument_group("the grid (comma-separated; a flag replaces the grid file's axis)")
    g.add_argument("--grid", metavar="GRID.yaml", help="a YAML file with keys datasets, "
                   "methods, budgets, seeds (lists) and run (`zodarts run` options: a list of "
                   "arguments or a mapping option: value)")
    g.add_argument("--datasets", help="registry names or paths (default digits)")
    g.add_argument("--methods", help="search methods (default zo-darts++)")
    g.add_argument("--budgets", help="none, small, medium, large (default none)")
    g.add_argument("--seeds", help="integers (default 0)")
    add_ray_arguments(p, "trial")
    p.add_argument("--quiet", action="store_true",
                   help="one log line per trial start, finish and failure instead of the live "
                        "progress line")
    from zodarts.commands.common import add_track_argument
    add_track_argument(p)
    add_run_options(p)
    p.set_defaults(func=run, run_options=None)


def run(args) -> int:
    import sys

    from zodarts.sweep.driver import run_sweep
    from zodarts.sweep.grid import AXES, make_grid

    from zodarts.commands.common import tracking_uri

    options = ray_options(args)
    track = tracking_uri(args, args.out)
    grid = make_grid({axis: getattr(args, axis) for axis in AXES}, args.run_options or [],
                     args.grid)
    result = run_sweep(grid, args.out, options, track)
    for outcome in result.failed:
        print(f"failed {outcome.cell}: {outcome.error}", file=sys.stderr)
    done = len(result.outcomes) - len(result.failed)
    print(f"sweep: {done} trial(s) finished now, {len(result.plan.finished)} before, "
          f"{len(result.failed)} failed; report: {result.report}")
    return 1 if result.failed else 0
