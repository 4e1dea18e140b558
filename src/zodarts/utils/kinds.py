"""What kind of zodarts folder a path is: a run, a sweep or a landscape.

Each kind is told by a file it writes before any work (a run its config.yaml or train_plan.yaml,
a genotype trained from a file its train/config.yaml, a draw its genotype.json; a sweep its
grid.yaml; a landscape its landscape.yaml), so folders made by any version of zodarts are
recognised. A command given a folder of another kind refuses it in one line, instead of
writing a run into a landscape or reading a run as one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from zodarts.errors import ConfigError

RUN, SWEEP, LANDSCAPE = "run", "sweep", "landscape"

# (kind, the file that marks it), the more specific first: a run never holds grid.yaml or
# landscape.yaml at its top.
_MARKS = ((LANDSCAPE, "landscape.yaml"), (SWEEP, "grid.yaml"), (RUN, "config.yaml"),
          (RUN, "train_plan.yaml"), (RUN, "train/config.yaml"), (RUN, "genotype.json"))
_READ_BY = {RUN: "`zodarts report`, `evaluate` or `train` read it",
            SWEEP: "`zodarts sweep-report` reads it",
            LANDSCAPE: "`zodarts landscape-report` reads it"}


def folder_kind(folder: str | Path) -> tuple[str, str] | None:
    """(kind, the file that says so) of ``folder``; None for a folder no zodarts command has
    written into (or that does not exist)."""
    folder = Path(folder)
    for kind, mark in _MARKS:
        if (folder / mark).is_file():
            return kind, mark
    return None


def require_kind(folder: str | Path, wanted: str | Iterable[str], todo: str) -> None:
    """Refuse ``folder`` where it is a zodarts folder of a kind other than ``wanted``: one line
    that says what it is and ``todo``, what to do instead."""
    wanted = {wanted} if isinstance(wanted, str) else set(wanted)
    found = folder_kind(folder)
    if found is None or found[0] in wanted:
        return
    kind, mark = found
    expected = " or ".join(sorted(wanted))
    raise ConfigError(f"{folder} is a {kind} folder (it holds {mark}; {_READ_BY[kind]}), not a "
                      f"{expected} folder: {todo}")
