"""One writer per folder: a second process on a run, sweep or landscape folder is refused in
one line before any work, and a killed holder leaves no stale lock."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from zodarts.cli import main
from zodarts.utils.lock import LOCK_FILE, folder_lock

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX only")

HOLD = textwrap.dedent("""
    import sys, time
    from zodarts.utils.lock import folder_lock
    with folder_lock(sys.argv[1], "zodarts sweep --out elsewhere"):
        print("held", flush=True)
        time.sleep(600)
""")


@pytest.fixture
def held_by_another_process(tmp_path):
    """A folder whose lock another process holds, as a running sweep would."""
    folder = tmp_path / "busy"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    yield folder, holder
    holder.kill()
    holder.wait()


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


@pytest.mark.parametrize("argv", [
    ["sweep", "--datasets", "digits", "--methods", "random", "--seeds", "0", "--preset", "tiny"],
    ["landscape", "--archs", "1", "--seeds", "1", "--preset", "tiny"],
    ["search", "--preset", "tiny", "--method", "random"],
], ids=["sweep", "landscape", "search"])
def test_a_second_writer_of_a_folder_is_refused_in_one_line(held_by_another_process, argv,
                                                            capsys, monkeypatch):
    from zodarts.sweep import runner

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray must not start for a refused command")

    monkeypatch.setattr(runner, "ray_cluster", no_ray)
    folder, holder = held_by_another_process
    before = sorted(p.name for p in folder.iterdir())
    assert main([*argv, "--out", str(folder)]) == 1
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1, lines
    assert f"{folder} is in use by `zodarts sweep --out elsewhere` (pid {holder.pid})" in lines[0]
    assert "choose another --out" in lines[0]
    assert holder.poll() is None
    # Nothing of the refused command's was written (search writes its config only after the
    # lock; sweep and landscape write nothing before it).
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_killed_holder_leaves_no_stale_lock(held_by_another_process):
    folder, holder = held_by_another_process
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with folder_lock(folder, "zodarts train"):
        assert (folder / LOCK_FILE).read_text() == f"`zodarts train` (pid {os.getpid()})"


def test_the_lock_is_released_when_the_block_ends(tmp_path):
    with folder_lock(tmp_path, "first"):
        pass
    with folder_lock(tmp_path, "second"):
        pass
