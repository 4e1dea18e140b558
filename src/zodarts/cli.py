"""The `zodarts` command line.

Each subcommand lives in its own module under :mod:`zodarts.commands` and exposes
``register(subparsers)`` (adds its parser and sets ``func``); adding a command is one new module
and one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
import traceback
import warnings

from zodarts.errors import ZodartsError, ZodartsWarning
from zodarts.utils.termination import SigtermRaises

COMMANDS = (
    "datasets",
    "info",
    "fetch",
    "budgets",
    "describe",
    "methods",
    "search",
    "train",
    "evaluate",
    "report",
    "export",
    "predict",
    "run",
    "sweep",
    "sweep_report",  # registers `sweep-report`
    "landscape",
    "landscape_report",  # registers `landscape-report`
    "landscape_place",
    "landscape_supernet",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and a pointer to --help, exit code 2 (not argparse's usage
    block): the same one-line convention as every other error of zodarts."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# Exit codes (README "Command line"): the convention of Unix tools.
EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TERMINATED = 128 + 15  # SIGTERM, as a shell reports a process it killed
# Storage failures are the user's to fix (space, permissions), not bugs in zodarts.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="zodarts",
        description="Zeroth-order differentiable neural architecture search for medical images.",
    )
    from zodarts import __version__
    parser.add_argument("--version", action="version", version=f"zodarts {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"zodarts.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"zodarts.commands.{name}":
                raise
            continue  # command not built yet
        module.register(sub)
    return parser


def resume_hint(args: argparse.Namespace) -> str:
    """The command that continues this run, where the command has a run folder to resume."""
    out = getattr(args, "out", None) or getattr(args, "run_dir", None)
    if args.command in ("search", "run", "train") and out:
        seeds = getattr(args, "seeds", None)   # an ensemble's members
        return (f"`zodarts {args.command} --out {out}{f' --seeds {seeds}' if seeds else ''} "
                "--resume` continues from the last checkpoint")
    return ""


def _plain_warnings(command: str):
    """zodarts's own warnings (data, settings) as one line each, as soon as they happen, and
    each message once: a run loads its data for every stage."""
    original = warnings.showwarning
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, ZodartsWarning):
            original(message, category, filename, lineno, file, line)
        elif str(message) not in shown:
            shown.add(str(message))
            print(f"zodarts {command}: warning: {message}", file=sys.stderr, flush=True)

    return show


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Like parse_args, but an unknown flag is reported by the subcommand it was given to."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        target = commands.choices.get(args.command, parser) if args.command else parser
        target.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_OK
    sigterm = SigtermRaises()
    if hasattr(args, "threads"):   # a command that computes here: its threads, before any work
        from zodarts.utils.threads import configure_threads, resumed_threads
        threads = args.threads
        if threads is None and getattr(args, "resume", False):
            # The count the run started with: sums in another order give another search.
            threads = resumed_threads(getattr(args, "out", None) or getattr(args, "run_dir", None))
        configure_threads(threads, lambda line: print(f"zodarts {args.command}: {line}",
                                                      file=sys.stderr, flush=True))
    try:
        with warnings.catch_warnings(), sigterm:
            warnings.showwarning = _plain_warnings(args.command)
            result = args.func(args)
    except ZodartsError as err:
        print(f"zodarts {args.command}: error: {err}", file=sys.stderr)
        return EXIT_INPUT
    except BrokenPipeError:  # e.g. `zodarts datasets --json | head`: the reader left early
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        hint = resume_hint(args)
        how = " by SIGTERM" if sigterm.received else ""
        print(f"zodarts {args.command}: interrupted{how}" + (f"; {hint}" if hint else ""),
              file=sys.stderr)
        return EXIT_TERMINATED if sigterm.received else EXIT_INTERRUPTED
    except OSError as err:
        if err.errno not in STORAGE_ERRNOS:
            return _bug(args)
        where = f" {err.filename}" if err.filename else ""
        hint = resume_hint(args)
        print(f"zodarts {args.command}: error: cannot write{where}: {err.strerror}; free some "
              f"space or fix the permissions" + (f", then {hint}" if hint else ""),
              file=sys.stderr)
        return EXIT_INPUT
    except Exception:
        return _bug(args)
    return int(result or 0)


def _bug(args: argparse.Namespace) -> int:
    """A bug in zodarts, not in the user's input: the traceback, and how to report it."""
    traceback.print_exc()
    print(f"zodarts {args.command}: internal error (please report it with the traceback above)",
          file=sys.stderr)
    return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
