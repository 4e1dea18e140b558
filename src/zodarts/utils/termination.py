"""SIGTERM stops a command the way Ctrl-C does.

Batch schedulers (SLURM, Kubernetes, systemd) and ``kill`` stop a job with SIGTERM, then SIGKILL
after a grace period. Python's default for SIGTERM is to die on the spot: no "interrupted" line,
no resume hint, a tracked MLflow run left RUNNING. Raised as :class:`Terminated` (a
KeyboardInterrupt) instead, it takes the path every command already has for Ctrl-C: the sweep
and landscape drivers cancel their trials and mark them interrupted, the tracker ends the run
KILLED, and the CLI prints how to resume. Checkpoints were written at the last epoch end either
way, so nothing is lost that SIGKILL would not also lose.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def _on_main_thread() -> bool:
    # signal.signal may only be called there; elsewhere (a thread running the API) the
    # process's own handler stays.
    return threading.current_thread() is threading.main_thread()


class SigtermRaises:
    """While inside, SIGTERM raises :class:`Terminated`; the previous handler is put back on
    the way out (the CLI's ``main`` is also called in-process, by tests and notebooks).

    ``received`` says whether SIGTERM came, because the exception's type does not always
    survive: inside ``ray.wait`` Ray turns any exception of a signal handler into a plain
    KeyboardInterrupt."""

    def __init__(self):
        self.received = False
        self._installed = False
        self._previous = None

    def _raise(self, signum, frame):
        self.received = True
        raise Terminated

    def __enter__(self) -> "SigtermRaises":
        if _on_main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._raise)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            # None: the handler before was set outside Python; the default is the closest.
            signal.signal(signal.SIGTERM,
                          signal.SIG_DFL if self._previous is None else self._previous)
            self._installed = False


@contextlib.contextmanager
def sigterm_handler_kept() -> Iterator[None]:
    """Undo a library's takeover of SIGTERM: ``ray.init`` installs ``sys.exit(15)`` (and a C++
    handler that prints a stack dump), which would skip the "interrupted" line and the resume
    hint. The handler found on entry is put back on the way out."""
    previous = signal.getsignal(signal.SIGTERM) if _on_main_thread() else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
