"""Changing how a search hands on its architectures, on --resume.

`derive`, `draws` and `draw_epoch` act only once the search is done, so unlike every other
setting a resumed run may change them: a draw that cannot meet the band ends with the advice to
derive by argmax, and that advice must work on the folder as it is (``--resume --derive
argmax``). A change that would orphan a trained architecture, or redraw one that is trained, is
refused instead.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from zodarts.config import (DERIVATION_FIELDS, SearchConfig, fit_derivation, load_config,
                            save_config)
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths
from zodarts.search.derive import derived_folders
from zodarts.utils.lock import folder_lock


def change_derivation(out: str | Path, given: dict) -> str | None:
    """Apply the derivation settings in ``given`` (None: not given) to the run in ``out``;
    returns a line that says what changed (None: nothing did)."""
    paths = RunPaths(out)
    wanted = {k: v for k, v in given.items() if k in DERIVATION_FIELDS and v is not None}
    if not wanted or not paths.config.is_file():
        return None
    saved = load_config(SearchConfig, paths.config)
    new = dataclasses.replace(saved, **wanted)
    fit_derivation(new, set(wanted), saved.preset)
    if all(getattr(new, k) == getattr(saved, k) for k in DERIVATION_FIELDS):
        return None
    new.validate()
    with folder_lock(paths.root, "zodarts search (derivation)"):
        kept = {f.root for f in derived_folders(paths.root, new)}
        redrawn = new.draw_epoch != saved.draw_epoch
        for folder in derived_folders(paths.root, saved):
            dropped = folder.root not in kept or (redrawn and folder.root != paths.root)
            if dropped and folder.train_dir.exists():
                asked = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in wanted.items())
                raise ConfigError(
                    f"{folder.root} is trained already, and {asked} would "
                    f"{'redraw' if folder.root in kept else 'drop'} it: start a new run in "
                    "another --out, or leave the folder's derivation as it is")
        if paths.draws_dir.is_dir():   # untrained draws the new derivation does not make
            for folder in paths.draws_dir.iterdir():
                if not (folder / "train").exists() and (redrawn or folder not in kept):
                    shutil.rmtree(folder)
        save_config(new, paths.config)
    before = ", ".join(f"{k} {getattr(saved, k)}" for k in DERIVATION_FIELDS)
    after = ", ".join(f"{k} {getattr(new, k)}" for k in DERIVATION_FIELDS)
    return f"{paths.root}: the architectures are now derived with {after} (was {before}); " \
           "the search itself is not repeated"
