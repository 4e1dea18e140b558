"""`zodarts run` end to end on digits with the tiny presets: every stage's files and the summary;
`--resume` of a finished run redoes nothing."""

import json

import numpy as np

from zodarts.cli import main
from zodarts.data import load_dataset

RUN_FILES = ("config.yaml", "genotype.json", "search/log.jsonl", "search/alphas.jsonl",
             "train/config.yaml", "train/log.jsonl", "train/best.pt", "train/last.pt",
             "eval.json", "predictions.npz", "environment.json", "report/report.md",
             "report/cells.png", "report/training.png", "report/alpha_stage0.png",
             "report/budget.png", "report/confusion.png", "report/roc.png")


def test_run_end_to_end_then_resume_and_export(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--out", str(out), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    for column in ("dataset", "method", "params", "FLOPs", "test ACC", "majority", "test AUC",
                   "search", "train"):
        assert column in stdout
    assert "digits" in stdout and "zo-darts++" in stdout and str(out) in stdout
    for name in RUN_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["method"] == "zo-darts++" and evaluation["params"] > 0
    test_size = len(load_dataset("digits").splits["test"])
    assert evaluation["test"]["n"] == test_size
    assert np.array(evaluation["test"]["confusion_matrix"]).shape == (10, 10)
    assert sum(map(sum, evaluation["test"]["confusion_matrix"])) == test_size
    assert f"{evaluation['test']['majority']['acc']:.4f}" in stdout
    assert evaluation["seeds"] == {"search": 0, "train": 0}
    assert evaluation["environment"]["device"] == "cpu"
    report = (out / "report/report.md").read_text()
    assert "](confusion.png)" in report and "](roc.png)" in report
    assert "majority-class baseline" in report

    stamp = (out / "train/best.pt").stat().st_mtime_ns
    assert main(["run", "--out", str(out), "--resume", "--quiet"]) == 0
    assert (out / "train/best.pt").stat().st_mtime_ns == stamp     # nothing retrained
    assert "zo-darts++" in capsys.readouterr().out

    assert main(["export", str(out)]) == 0
    assert (out / "export/model.pt").is_file()


def test_run_train_flags_reach_the_training(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--out", str(out), "--quiet", "--epochs", "1",
                 "--train-epochs", "1", "--train-augment", "none", "--train-lr", "0.05"]) == 0
    text = (out / "train/config.yaml").read_text()
    assert "epochs: 1" in text and "augment: none" in text and "lr: 0.05" in text
    assert "dataset: digits" in text


def test_a_genotype_outside_its_band_is_flagged_everywhere(tmp_path, capsys):
    """Two tiny epochs cannot pull α down to the space's smallest network: the search log, the
    summary, eval.json and the report must all say the result misses the band."""
    from zodarts.space.resources import _space_extremes

    smallest, _ = _space_extremes(1, 10, 4, 1)           # digits, the tiny preset's C and depth
    out = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--out", str(out), "--quiet",
                 "--params-max", str(smallest + 1)]) == 0
    captured = capsys.readouterr()
    assert "outside the budget band" in captured.err          # the search's warning
    assert "outside the budget band" in captured.out          # the summary's note
    evaluation = json.loads((out / "eval.json").read_text())
    assert evaluation["budget"] == {"band": [0.0, smallest + 1.0], "within": False}
    assert "outside the budget band" in (out / "report/report.md").read_text()


def test_one_epoch_without_budget_is_epoch_1_of_1_everywhere(tmp_path, capsys, monkeypatch):
    """Progress bars (on a terminal, here a captured stderr that says it is one) and log lines
    count epochs from 1 (the logs' "epoch" fields from 0); and no budget means no budget
    entry."""
    import sys

    out = tmp_path / "run"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", "--preset", "tiny", "--epochs", "1", "--train-epochs", "1",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    lines = err.replace("\r", "\n").splitlines()          # progress bars redraw with \r
    assert any(line.startswith("search epoch 1/1:") for line in lines)
    assert any(line.startswith("train epoch 1/1:") for line in lines)
    assert any(line.startswith("epoch 1/1 phase 1") for line in lines)       # the log lines
    assert any(line.startswith("train epoch 1/1 lr") for line in lines)
    assert "epoch 0/" not in err
    assert json.loads((out / "eval.json").read_text())["budget"] is None
