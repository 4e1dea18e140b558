"""The default a flag takes, read from the presets and the config dataclasses, for --help.

A default written by hand in a help string goes stale the day a preset changes; these are
computed from the same tables the commands use, so `--help` cannot disagree with a run.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from zodarts.config import DEFAULT_PRESET


def _show(value: Any, unset: str) -> str:
    if value is None:
        return unset
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def preset_default(cls: type, presets: dict[str, dict], name: str, unset: str = "unset") -> str:
    """``default X``: the default preset's value of field ``name``, and the presets that differ
    (``default 40 (paper preset: 300, tiny preset: 2)``). ``unset`` says what None means for
    this field."""
    base = {f.name: (f.default if f.default is not dataclasses.MISSING else None)
            for f in dataclasses.fields(cls)}[name]
    value = presets[DEFAULT_PRESET].get(name, base)
    others = [f"{p} preset: {_show(presets[p].get(name, base), unset)}" for p in sorted(presets)
              if repr(presets[p].get(name, base)) != repr(value)]
    return f"default {_show(value, unset)}" + (f" ({', '.join(others)})" if others else "")


def add_defaults(parser: argparse.ArgumentParser, cls: type, presets: dict[str, dict],
                 unset: dict[str, str], dest_prefix: str = "") -> None:
    """Append its default to the help of every option of ``parser`` that sets a field of
    ``cls`` (its dest, less ``dest_prefix``), and name its value after the field, not after
    the internal dest (``--epochs EPOCHS``, not ``TRAIN_EPOCHS``)."""
    names = {f.name for f in dataclasses.fields(cls)}
    for action in parser._actions:   # argparse's only list of a parser's options
        name = action.dest[len(dest_prefix):] if action.dest.startswith(dest_prefix) else None
        if name not in names or not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        if action.nargs != 0 and action.metavar is None and action.choices is None:
            action.metavar = name.upper()
        if "default" in (action.help or ""):
            continue   # its help says its default already
        default = preset_default(cls, presets, name, unset.get(name, "unset"))
        action.help = f"{action.help}; {default}" if action.help else default
