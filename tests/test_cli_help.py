"""What `--help` and `--version` tell a user, and that the exit codes are the documented ones."""

import argparse
import re
from pathlib import Path

import pytest

from zodarts.cli import build_parser, main

DOCS = Path(__file__).resolve().parents[1] / "docs" / "usage.md"


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_flag_of_every_command_has_help_and_a_readable_value_name():
    """`train --help` showed `--dataset TRAIN_DATASET` (the internal dest) and `--seed`,
    `--a-lr`, `--train-batch-size` had no help at all."""
    for name, parser in _commands().items():
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            assert action.help, (name, action.option_strings)
            metavar = action.metavar or ""
            assert not str(metavar).startswith("TRAIN_"), (name, action.option_strings)


@pytest.mark.parametrize("command,flag,default", [
    ("train", "--seed", "default 0"),
    ("train", "--epochs", "default 40 (paper preset: 300, tiny preset: 2)"),
    ("train", "--nesterov", "default on (paper preset: off)"),
    ("run", "--train-batch-size", "default 64 (paper preset: the authors' batch"),
    ("run", "--a-lr", "default the method's own"),
    ("search", "--seed", "default 0"),
    ("search", "--C", "default 8 (paper preset: 16, tiny preset: 4)"),
    ("sweep", "--train-lr", "default 0.1"),
])
def test_a_settings_flag_gives_its_default_from_the_presets(command, flag, default):
    parser = _commands()[command]
    action = next(a for a in parser._actions if flag in a.option_strings)
    assert default in " ".join(action.help.split()).replace("%%", "%")


def test_version(capsys):
    from zodarts import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"zodarts {__version__}"


def _documented(code: int) -> str:
    row = next(line for line in DOCS.read_text().splitlines() if line.startswith(f"| {code} |"))
    return row


def test_exit_codes_are_the_documented_ones(tmp_path, capsys):
    """usage.md said 2 for "a bad value", and `--epochs 0` exits 1: the table now says which
    is which (2: argparse cannot parse it; 1: zodarts checks it, wherever it came from)."""
    assert "out of range" in _documented(1) and "bad value" not in _documented(2)
    assert "not of the flag's type" in _documented(2)
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--epochs", "many"])
    assert exit_.value.code == 2
    assert main(["search", "--preset", "tiny", "--epochs", "0", "--out", str(tmp_path / "r")]) == 1
    assert "epochs must be >= 1" in capsys.readouterr().err


def test_the_landscape_cost_line_is_words_not_a_percentage():
    from zodarts.commands.landscape import overhead_line

    line = overhead_line({"train_seconds": 12.0, "job_seconds": 83.3, "wall_seconds": 60.0,
                          "slots": 2.0, "in_jobs": 83.3 / 12 - 1, "end_to_end": 120 / 12 - 1})
    assert "%" not in line and "594" not in line
    assert "took 12 s" in line and "6.9× that (83 s" in line
    assert "10.0× (60 s × 2 parallel" in line


def test_an_undefined_supernet_ranking_says_why():
    """Every sub-network predicting one class gives one accuracy for all: τ is NaN, printed
    as "+nan" before."""
    from zodarts.commands.landscape_supernet import undefined_reason

    nan = float("nan")
    result = {"scores": [{"supernet_acc": 0.625}] * 5,
              "against_test_acc": {"n": 5, "kendall": nan}}
    assert "same val ACC (0.6250)" in undefined_reason(result, "test_acc")
    result["scores"] = [{"supernet_acc": a} for a in (0.1, 0.2, 0.3, 0.4, 0.5)]
    assert "flat landscape" in undefined_reason(result, "test_acc")
    result["against_test_acc"]["kendall"] = 0.4
    assert undefined_reason(result, "test_acc") is None
