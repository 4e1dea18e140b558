"""Every mistake ends in one clear line, at the level a user sees it: the exit code and stderr.

Exit codes: 0 success, 1 a problem with the input (data, settings, storage), 2 a usage error,
3 a bug in zodarts, 130 interrupted, 143 stopped by SIGTERM.
"""

import errno
import re
import os
import stat
import sys

import numpy as np
import pytest

from zodarts.cli import main
from zodarts.search.loop import SearchLoop
from zodarts.search.registry import SEARCHERS

sys.path.insert(0, os.path.dirname(__file__))
from conftest import make_npz  # noqa: E402


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("zodarts")]
    assert len(lines) == 1, err
    return lines[0]


# ---- usage errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv,prog", [(["search", "--bogus"], "zodarts search"),
                                       (["nosuchcommand"], "zodarts"),
                                       (["search", "--epochs", "many"], "zodarts search")])
def test_usage_errors_exit_2_with_one_line_and_a_help_hint(argv, prog, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"{prog}: error:") and f"`{prog} --help`" in err


def test_a_bug_exits_3_with_the_traceback(capsys, monkeypatch):
    import zodarts.commands.methods as methods

    monkeypatch.setattr(methods, "compute", lambda method=None: 1 / 0)
    code, _, err = run_cli(capsys, "methods")
    assert code == 3 and "ZeroDivisionError" in err and "internal error" in err


# ---- presets --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(SEARCHERS))
def test_tiny_preset_works_with_every_method(method, tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", "--preset", "tiny", "--method", method, "--epochs",
                           1, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err


def test_a_users_own_option_stays_strict(tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", "--preset", "tiny", "--method", "darts-1st",
                           "--opt", "zo_steps=3", "--out", tmp_path / "run", "--quiet")
    assert code == 1 and "has no option(s) zo_steps" in one_line(err)


def test_train_after_a_search_defaults_to_its_preset(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(capsys, "search", "--preset", "tiny", "--epochs", 1, "--out", out,
                   "--quiet")[0] == 0
    assert run_cli(capsys, "train", out, "--quiet")[0] == 0
    import yaml
    assert yaml.safe_load((out / "train/config.yaml").read_text())["preset"] == "tiny"


# ---- --resume with contradicting flags ------------------------------------------------------
@pytest.fixture
def finished_search(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "search", "--preset", "tiny", "--epochs", 2, "--out", out,
                           "--quiet")
    assert code == 0, err
    return out


@pytest.mark.parametrize("flags,named", [
    (["--epochs", "4"], "--epochs 4 (the folder holds 2)"),
    (["--dataset", "breastmnist"], "--dataset breastmnist (the folder holds digits)"),
    (["--method", "darts-2nd"], "--method darts-2nd (the folder holds zo-darts++)"),
    (["--preset", "quick"], "--preset quick (the folder holds tiny)"),
    (["--data-root", "/elsewhere"], "--data-root /elsewhere (the folder holds None)"),
    (["--opt", "zo_steps=5"], "--opt zo_steps=5 (the folder holds 2)"),
])
def test_resume_with_a_contradicting_flag_is_refused(finished_search, flags, named, capsys):
    log = (finished_search / "search/log.jsonl").read_text()
    code, _, err = run_cli(capsys, "search", "--out", finished_search, "--resume", *flags)
    assert code == 1
    line = one_line(err)
    assert named in line and "--resume continues them" in line
    assert (finished_search / "search/log.jsonl").read_text() == log  # nothing happened


def test_resume_with_agreeing_flags_goes_on(finished_search, capsys):
    code, _, err = run_cli(capsys, "search", "--out", finished_search, "--resume", "--epochs",
                           2, "--dataset", "digits", "--preset", "tiny", "--quiet")
    assert code == 0, err


def test_run_resume_on_a_folder_of_another_dataset_names_every_conflict(finished_search, capsys):
    code, _, err = run_cli(capsys, "run", "--out", finished_search, "--resume", "--dataset",
                           "breastmnist", "--method", "darts-1st")
    line = one_line(err)
    assert code == 1
    assert "--dataset breastmnist (the folder holds digits)" in line
    assert "--method darts-1st (the folder holds zo-darts++)" in line


# ---- storage --------------------------------------------------------------------------------
def test_an_unwritable_output_folder_fails_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "run", "--preset", "tiny", "--out", blocker / "run")
    assert code == 1 and "cannot write to" in one_line(err)


def test_a_full_disk_mid_run_is_one_line_and_resume_continues(tmp_path, capsys, monkeypatch):
    import zodarts.utils.io as io

    out = tmp_path / "run"
    real = io.atomic_write_bytes
    writes = {"checkpoints": 0}

    def full_disk(path, data):
        if str(path).endswith("checkpoint.pt"):
            writes["checkpoints"] += 1
            if writes["checkpoints"] == 2:  # epoch 2's checkpoint: the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, data)

    monkeypatch.setattr(io, "atomic_write_bytes", full_disk)
    code, _, err = run_cli(capsys, "search", "--preset", "tiny", "--epochs", 3, "--out", out,
                           "--quiet")
    line = one_line(err)
    assert code == 1 and "No space left on device" in line and "checkpoint.pt" in line
    assert f"zodarts search --out {out} --resume" in line
    monkeypatch.setattr(io, "atomic_write_bytes", real)
    code, _, err = run_cli(capsys, "search", "--out", out, "--resume", "--quiet")
    assert code == 0 and "resuming" in err and "epoch 2/3" in err


def test_files_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert run_cli(capsys, "run", "--preset", "tiny", "--out", out, "--quiet")[0] == 0
    finally:
        os.umask(old)
    for name in ("config.yaml", "genotype.json", "eval.json", "train/best.pt",
                 "search/checkpoint.pt"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


# ---- run: where it writes, and how to continue ----------------------------------------------
def test_run_names_its_folder_first_and_an_interrupt_says_how_to_resume(tmp_path, capsys,
                                                                       monkeypatch):
    def interrupted(self, epoch):
        raise KeyboardInterrupt

    monkeypatch.setattr(SearchLoop, "_train_epoch", interrupted)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", "--preset", "tiny", "--out", out)
    assert code == 130
    lines = err.strip().splitlines()
    assert lines[0] == f"run folder: {out}"
    assert lines[-1] == (f"zodarts run: interrupted; `zodarts run --out {out} --resume` "
                         "continues from the last checkpoint")


# ---- data -----------------------------------------------------------------------------------
def test_labels_that_leave_classes_empty_are_named(tmp_path, capsys):
    path = make_npz(tmp_path / "mine.npz", classes=2)
    arrays = dict(np.load(path))
    arrays["train_labels"][0] = 7  # a binary set with one stray label: 8 classes, 5 empty
    np.savez(path, **arrays)
    code, _, err = run_cli(capsys, "info", path)
    assert code == 0
    warning = one_line(err)
    assert "warning" in warning and "8 classes" in warning
    assert "classes 2, 3, 4, 5, 6 have no image" in warning


def test_a_warning_is_said_once_even_when_every_stage_loads_the_data(tmp_path, capsys):
    path = make_npz(tmp_path / "mine.npz", classes=2)
    arrays = dict(np.load(path))
    arrays["train_labels"][0] = 3  # class 2 has no image
    np.savez(path, **arrays)
    code, _, err = run_cli(capsys, "run", "--preset", "tiny", "--dataset", path, "--out",
                           tmp_path / "run", "--quiet")
    assert code == 0, err
    assert err.count("have no image") + err.count("has no image") == 1, err


# ---- settings -------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["search", "run"])
def test_a_negative_seed_is_one_line(command, tmp_path, capsys):
    code, _, err = run_cli(capsys, command, "--preset", "tiny", "--seed", -1, "--out",
                           tmp_path / "run")
    assert code == 1 and "seed must be an integer from 0" in one_line(err)
    assert not (tmp_path / "run").exists()


def test_a_batch_larger_than_the_data_is_said_not_silently_capped(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "--preset", "tiny", "--batch-size", 100000,
                           "--train-batch-size", 100000, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 2, err
    assert "search batch 100000 is larger than each half of digits's search split" in warnings[0]
    assert "training batch 100000 is larger than digits's train split" in warnings[1]


def test_a_yaml_error_names_its_line_and_column(finished_search, capsys):
    config = finished_search / "config.yaml"
    config.write_text(config.read_text() + "broken: [unclosed\n")
    code, _, err = run_cli(capsys, "search", "--out", finished_search, "--resume")
    line = one_line(err)
    assert code == 1 and re.search(r"config\.yaml is not valid YAML at line \d+, column \d+",
                                   line), line


def test_progress_bars_stay_out_of_a_redirected_log(tmp_path, capsys):
    # capsys's stderr is not a terminal, as a log file is not: epoch lines, no redrawn bars.
    code, _, err = run_cli(capsys, "run", "--preset", "tiny", "--out", tmp_path / "run")
    assert code == 0, err
    assert "\r" not in err and "it/s" not in err and "s/it" not in err
    assert "epoch 1/2" in err and "train epoch 1/2" in err


def test_every_commands_help_reads_as_written():
    """argparse %-formats an option's help but not a description (unless it names %(prog)):
    a `%%` written for the one shows as `%%` in the other."""
    import argparse

    from zodarts.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        assert "%%" not in command.format_help(), name


@pytest.fixture
def saved_config(tmp_path):
    """A run folder's config.yaml as a search writes it (no search needed: it is read first)."""
    from zodarts.config import make_search_config, save_config

    out = tmp_path / "run"
    out.mkdir()
    save_config(make_search_config("tiny"), out / "config.yaml")
    return out


@pytest.mark.parametrize("line,named", [
    ("epochs: two", "setting epochs must be an integer or unset, got 'two' (a string)"),
    ("deterministic: 3", "setting deterministic must be true or false, got 3 (an integer)"),
    ("budget: [1, 2]", "setting budget must be a string, got [1, 2] (a list)"),
])
def test_a_wrongly_typed_setting_in_config_yaml_is_one_line(saved_config, line, named, capsys):
    """It used to end in exit 3 and a traceback, deep inside the resumed search."""
    config = saved_config / "config.yaml"
    key = line.split(":")[0]
    config.write_text("".join(l if not l.startswith(f"{key}:") else line + "\n"
                              for l in config.read_text().splitlines(keepends=True)))
    code, _, err = run_cli(capsys, "search", "--out", saved_config, "--resume")
    text = one_line(err)
    assert code == 1 and f"config.yaml: {named}" in text, text


def test_a_number_yaml_reads_as_a_string_is_taken_as_a_number(saved_config):
    from zodarts.config import SearchConfig, load_config

    config = saved_config / "config.yaml"
    config.write_text(config.read_text().replace("w_lr: 0.1", "w_lr: 1e-1"))
    assert load_config(SearchConfig, config).w_lr == 0.1       # YAML 1.1 reads 1e-1 as a str
