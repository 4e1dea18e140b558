"""One writer per folder.

Two zodarts processes writing one run, sweep or landscape folder would interleave its records
(two sweeps of one folder each run the same trial, and each marks the other's trials as
interrupted), so each command that writes a folder holds an exclusive lock on it. The operating
system releases the lock when the process ends, however it ends, so a killed run never leaves a
stale lock behind.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".zodarts.lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str,
                elsewhere: str = "; or choose another --out") -> Iterator[None]:
    """Hold ``folder``'s lock for the block; ``what`` (the command) is written into the lock
    file so that a second process can say who holds it. Raises ConfigError at once, without
    waiting, when another process holds it; ``elsewhere`` ends its message (the other way
    out, for a command that has one)."""
    try:
        import fcntl
    except ImportError:   # Windows has no flock: there, one writer per folder is the user's care
        yield
        return
    from zodarts.errors import ConfigError

    folder = Path(folder)
    fresh = not _holds_anything(folder)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 300).decode(errors="replace").strip() or "another process"
            raise ConfigError(f"{folder} is in use by {holder}: wait for it to end (or stop "
                              f"it), then run this again{elsewhere}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"`{what}` (pid {os.getpid()})".encode())
        try:
            yield
        except BaseException:
            # A command refused before it wrote anything (a bad dataset name, say) leaves no
            # folder behind that looks like a started run.
            if fresh and not _holds_anything(folder):
                with contextlib.suppress(OSError):
                    (folder / LOCK_FILE).unlink()
                    folder.rmdir()
            raise
    finally:
        os.close(fd)


def _holds_anything(folder: Path) -> bool:
    """Whether ``folder`` holds anything besides its lock file."""
    return any(p.name != LOCK_FILE for p in folder.iterdir())
