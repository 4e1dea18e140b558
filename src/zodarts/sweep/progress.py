"""What a sweep shows while it runs: one line redrawn in place on a terminal (done / running /
failed / queued, elapsed, time left), or, with --quiet or when stderr is not a terminal, one log
line per trial start, retry, finish and failure."""

from __future__ import annotations

import statistics
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

    @property
    def queued(self) -> int:
        return self.total - self.done - self.running - self.failed


class Progress:
    def __init__(self, total: int, earlier: int, quiet: bool = False,
                 stream: TextIO | None = None, noun: str = "sweep"):
        self.stream, self.noun = stream or sys.stderr, noun
        self.live = not quiet and self.stream.isatty()
        self.counts = Counts(total, done=earlier)
        self.began = time.monotonic()
        self._width = 0
        self._running_since: dict[str, float] = {}   # cell → when its attempt was seen starting
        self._durations: list[float] = []            # of this sweep's finished trials
        self._slots = 1                              # the most trials seen running at once

    # ---- events -----------------------------------------------------------------------------
    def started(self, cell: str, attempt: int, where: str) -> None:
        self.counts.running += 1
        self._running_since[cell] = time.monotonic()
        self._slots = max(self._slots, self.counts.running)
        self._event(f"started {cell} (attempt {attempt}, {where})")

    def retried(self, cell: str, attempt: int, where: str) -> None:
        self._running_since[cell] = time.monotonic()
        self._event(f"retrying {cell}: its worker died; attempt {attempt} ({where}) resumes "
                    "from the trial's checkpoints", keep=True)

    def finished(self, cell: str, seconds: float, was_running: bool) -> None:
        self.counts.running -= was_running
        self._running_since.pop(cell, None)
        self._durations.append(seconds)
        self.counts.done += 1
        self._event(f"finished {cell} in {fmt_duration(seconds)}")

    def failed(self, cell: str, message: str, was_running: bool) -> None:
        self.counts.running -= was_running
        self._running_since.pop(cell, None)
        self.counts.failed += 1
        self._event(f"failed {cell}: {message}", keep=True)

    # ---- the line ---------------------------------------------------------------------------
    def eta(self) -> float | None:
        """Seconds left, from the mean length of the trials this sweep finished: what the
        running trials still need and the queued ones will take, spread over as many trials
        as have run at once."""
        if not self._durations or not (self.counts.running or self.counts.queued):
            return None
        mean = statistics.fmean(self._durations)
        now = time.monotonic()
        work = self.counts.queued * mean + sum(max(0.0, mean - (now - since))
                                               for since in self._running_since.values())
        return work / self._slots

    def line(self) -> str:
        c = self.counts
        eta = self.eta()
        return (f"{self.noun}: {c.done}/{c.total} done, {c.running} running, {c.failed} failed, "
                f"{c.queued} queued | {fmt_duration(time.monotonic() - self.began)} elapsed"
                + (f", ~{fmt_duration(eta)} left" if eta is not None else "")
                + self.running_names())

    def running_names(self, shown: int = 3) -> str:
        """`` | running: a, b (+2 more)``: which trials, longest-running first."""
        names = sorted(self._running_since, key=self._running_since.get)
        if not names:
            return ""
        more = f" (+{len(names) - shown} more)" if len(names) > shown else ""
        return f" | running: {', '.join(names[:shown])}{more}"

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
