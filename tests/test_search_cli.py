"""`zodarts search` from the outside: exit codes, messages, a real kill and resume, real data."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zodarts.cli import main
from zodarts.utils.io import read_jsonl

from conftest import assert_same_search

ZODARTS = [sys.executable, "-m", "zodarts.cli"]
TINY = ["--preset", "tiny", "--dataset", "digits", "--quiet"]


def test_search_cli_tiny_run(tmp_path, capsys):
    assert main(["search", *TINY, "--epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "genotype.json" in out and "stage 0" in out
    assert (tmp_path / "genotype.json").is_file()


@pytest.mark.parametrize("args,expected", [
    (["--method", "nope"], "unknown method"),
    (["--opt", "zo_steps"], "KEY=VALUE"),
    (["--opt", "zo_steps=abc"], "zo_steps"),
    (["--epochs", "0"], "epochs must be >= 1"),
    (["--dataset", "nosuchset"], "nosuchset"),
    (["--params-min", "5e8", "--params-max", "6e8"], "impossible budget"),
])
def test_search_cli_user_errors_exit_1_with_one_line(tmp_path, capsys, args, expected):
    assert main(["search", *TINY, "--out", str(tmp_path / "r"), *args]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err


def test_resume_without_checkpoint_is_a_user_error(tmp_path, capsys):
    assert main(["search", "--resume", "--out", str(tmp_path)]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def _cli(args, **kw):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([*ZODARTS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kw)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_then_resumed_gives_the_uninterrupted_result(tmp_path, stop):
    """SIGKILL loses at most the epoch in progress; SIGTERM (a scheduler's stop) is handled as
    Ctrl-C is: one line with the resume command, exit 143, and the same resumed result."""
    args = ["search", *TINY, "--epochs", "3"]
    full = _cli([*args, "--out", str(tmp_path / "full")])
    cut = _cli([*args, "--out", str(tmp_path / "cut")])
    log = tmp_path / "cut" / "search" / "log.jsonl"
    deadline = time.time() + 120
    while not (log.exists() and read_jsonl(log)) and time.time() < deadline:
        time.sleep(0.05)
    cut.send_signal(stop)  # somewhere in epoch 2 or 3, or while writing
    code = cut.wait()
    assert full.wait() == 0, full.stderr.read()
    assert not (tmp_path / "cut" / "genotype.json").exists(), "killed too late to test anything"
    if stop == signal.SIGTERM:
        assert code == 143
        assert cut.stderr.read().strip().splitlines()[-1] == (
            f"zodarts search: interrupted by SIGTERM; `zodarts search --out {tmp_path / 'cut'} "
            "--resume` continues from the last checkpoint")

    resumed = _cli(["search", "--resume", "--out", str(tmp_path / "cut"), "--quiet"])
    assert resumed.wait() == 0, resumed.stderr.read()
    assert_same_search(tmp_path / "full", tmp_path / "cut", epochs=3)


def test_tiny_search_on_breastmnist(tmp_path, medmnist_root):
    assert main(["search", "--preset", "tiny", "--dataset", "breastmnist", "--data-root",
                 str(medmnist_root), "--budget", "small", "--epochs", "2", "--quiet",
                 "--out", str(tmp_path)]) == 0
    log = read_jsonl(tmp_path / "search/log.jsonl")
    assert len(log) == 2 and log[-1]["phase"] == 2
    genotype = (tmp_path / "genotype.json").read_text()
    assert '"num_classes": 2' in genotype and '"in_channels": 1' in genotype
