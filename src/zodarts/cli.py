"""The `zodarts` command line.

Each subcommand lives in its own module under :mod:`zodarts.commands` and exposes
``register(subparsers)`` (adds its parser and sets ``func``); adding a command is one new module
and one line in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from zodarts.errors import ZodartsError

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
    "run",
    "sweep",
    "sweep_report",  # registers `sweep-report`
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zodarts",
        description="Zeroth-order differentiable neural architecture search for medical images.",
    )
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except ZodartsError as err:
        print(f"zodarts {args.command}: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `zodarts datasets --json | head`: the reader left early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"zodarts {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug in zodarts, not in the user's input
        traceback.print_exc()
        print(f"zodarts {args.command}: internal error (please report it with the traceback above)",
              file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
