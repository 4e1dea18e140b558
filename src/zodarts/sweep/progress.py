"""What a sweep shows while it runs: one line redrawn in place on a terminal (done / running /
failed / queued, elapsed, time left), or, with --quiet or when stderr is not a terminal, one log
line per trial start, retry, finish and failure."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


@dataclass
class Counts:
    total: int
    done: int = 0          # includes trials finished by an earlier sweep
    running: int = 0
    failed: int = 0
    earlier: int = 0       # of ``done``: finished before this sweep started

    @property
    def queued(self) -> int:
        return self.total - self.done - self.running - self.failed


class Progress:
    def __init__(self, total: int, earlier: int, quiet: bool = False,
                 stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.live = not quiet and self.stream.isatty()
        self.counts = Counts(total, done=earlier, earlier=earlier)
        self.began = time.monotonic()
        self._width = 0

    # ---- events -----------------------------------------------------------------------------
    def started(self, cell: str, attempt: int, where: str) -> None:
        self.counts.running += 1
        self._event(f"started {cell} (attempt {attempt}, {where})")

    def retried(self, cell: str, attempt: int, where: str) -> None:
        self._event(f"retrying {cell}: its worker died; attempt {attempt} ({where}) resumes "
                    "from the trial's checkpoints", keep=True)

    def finished(self, cell: str, seconds: float, was_running: bool) -> None:
        self.counts.running -= was_running
        self.counts.done += 1
        self._event(f"finished {cell} in {fmt_duration(seconds)}")

    def failed(self, cell: str, message: str, was_running: bool) -> None:
        self.counts.running -= was_running
        self.counts.failed += 1
        self._event(f"failed {cell}: {message}", keep=True)

    # ---- the line ---------------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds left at this sweep's own pace (trials finished by earlier sweeps excluded)."""
        c = self.counts
        finished_here = c.done - c.earlier + c.failed
        left = c.running + c.queued
        if not finished_here or not left:
            return None
        return (time.monotonic() - self.began) / finished_here * left

    def line(self) -> str:
        c = self.counts
        eta = self.eta()
        return (f"sweep: {c.done}/{c.total} done, {c.running} running, {c.failed} failed, "
                f"{c.queued} queued | {fmt_duration(time.monotonic() - self.began)} elapsed"
                + (f", ~{fmt_duration(eta)} left" if eta is not None else ""))

    def refresh(self) -> None:
        if self.live:
            text = self.line()
            self.stream.write("\r" + text.ljust(self._width))
            self.stream.flush()
            self._width = len(text)

    def _event(self, message: str, keep: bool = False) -> None:
        """``keep``: on a terminal too, the message stays on its own line above the live one."""
        if self.live:
            if keep:
                self.stream.write("\r" + message.ljust(self._width) + "\n")
                self._width = 0
            self.refresh()
        else:
            print(f"[{fmt_duration(time.monotonic() - self.began)}] {message}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self.live:
            self.refresh()
            self.stream.write("\n")
        else:
            print(self.line(), file=self.stream, flush=True)
        self.stream.flush()
