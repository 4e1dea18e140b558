"""SIGTERM raises Terminated (a KeyboardInterrupt) inside a command, and only there."""

import os
import signal

import pytest

from zodarts.utils.termination import SigtermRaises, Terminated, sigterm_handler_kept


def test_sigterm_raises_terminated_inside_and_the_old_handler_returns_after():
    before = signal.getsignal(signal.SIGTERM)
    sigterm = SigtermRaises()
    with pytest.raises(Terminated) as stopped:
        with sigterm:
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000):  # Python runs the handler between bytecodes: soon
                pass
    assert isinstance(stopped.value, KeyboardInterrupt) and sigterm.received
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_library_taking_sigterm_over_is_undone():
    def libraries_own(signum, frame):
        raise AssertionError("not this one")

    with SigtermRaises():
        ours = signal.getsignal(signal.SIGTERM)
        with sigterm_handler_kept():
            signal.signal(signal.SIGTERM, libraries_own)  # as ray.init does
        assert signal.getsignal(signal.SIGTERM) is ours
