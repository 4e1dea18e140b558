"""A search that draws its architectures (--derive sample|both) leads its user to numbers: the
run's report summarises every draw side by side (validation-selected and test maximum, the
latter labelled optimistic, and their means), `zodarts evaluate RUN` evaluates the draws, and
`zodarts train RUN` on trained draws says to evaluate them. It used to send the user in a
circle: report -> "run train and evaluate", evaluate -> "train it first", train -> "already
trained"."""

import json
import os
import sys

import pytest

from zodarts.cli import main
from zodarts.config import SearchConfig, save_config
from zodarts.report import make_report

sys.path.insert(0, os.path.dirname(__file__))
from test_report import fake_search, fake_training  # noqa: E402


@pytest.fixture
def no_figures(monkeypatch):
    """report.md without its PNGs (seconds each): these tests read the text."""
    from zodarts.report import cells, plots

    for module in (plots, cells):
        for name in ("search_curves", "temperature", "budget", "training_curves", "confusion",
                     "roc", "alpha_heatmaps", "cells"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lambda *args, **kwargs: None)


def test_the_run_report_summarises_every_draw_side_by_side(tmp_path, no_figures):
    genotype = fake_search(tmp_path)
    config = SearchConfig(dataset="digits", epochs=4, C=4, cells_per_stage=2, budget="small",
                          size_search_start=2, derive="sample", draws=3)
    save_config(config, tmp_path / "config.yaml")
    for k, acc, best in ((0, 0.81, 0.85), (1, 0.79, 0.86)):
        folder = tmp_path / "draws" / f"d{k}"
        folder.mkdir(parents=True)
        genotype.save(folder / "genotype.json")
        fake_training(folder, genotype, test={"acc": acc})
        evaluation = json.loads((folder / "eval.json").read_text())
        evaluation["test_max_over_epochs"] = {"selection": "selected on test (optimistic)",
                                              "epochs": 5, "acc": best, "acc_epoch": 3}
        (folder / "eval.json").write_text(json.dumps(evaluation))
        make_report(folder)
    text = make_report(tmp_path).read_text()
    assert "Not evaluated yet" not in text
    assert "| draw 0 |" in text and "| 0.8100 |" in text and "0.8500 (epoch 4)" in text
    assert "[draws/d1](../draws/d1/report/report.md)" in text
    assert f"| draw 2 | not trained yet: run `zodarts train {tmp_path}` |" in text
    assert "mean ± std of 2 of 3 draws" in text
    assert "| 0.8000 ± 0.0141 |" in text and "| 0.8550 ± 0.0071 |" in text
    assert "optimistic" in text and "max over epochs (optimistic)" in text
    own = (tmp_path / "draws/d0/report/report.md").read_text()
    assert "Test ACC, max over the training's 5 epochs: 0.8500 (epoch 4)" in own


def test_evaluate_and_train_on_a_drawing_run_lead_to_the_draws_numbers(tmp_path, capsys,
                                                                      no_figures):
    out = tmp_path / "run"
    assert main(["search", "--preset", "tiny", "--epochs", "1", "--derive", "sample",
                 "--draws", "2", "--out", str(out), "--quiet"]) == 0
    assert main(["evaluate", str(out)]) == 1              # nothing trained yet: what to run
    err = capsys.readouterr().err
    assert f"run `zodarts train {out}` first" in err and "draws/d1" in err
    assert main(["train", str(out), "--test-every-epoch", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", str(out), "--quiet"]) == 1       # trained: not a loop back
    assert f"evaluate them with `zodarts evaluate {out}`" in capsys.readouterr().err
    from zodarts import api
    from zodarts.errors import ConfigError
    with pytest.raises(ConfigError, match=r"draws its architectures.*evaluate one of those"):
        api.evaluate(out)                                  # one folder: the draws' are named
    assert main(["evaluate", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "== draw 0" in printed and "== draw 1" in printed
    assert "test ACC max over epochs" in printed and "selected on test" in printed
    assert "mean ± std over 2 draw(s): test ACC" in printed
    assert (out / "draws/d0/eval.json").is_file() and (out / "draws/d1/eval.json").is_file()
    assert main(["report", str(out)]) == 0
    text = (out / "report/report.md").read_text()
    assert "## The derived architectures" in text and "mean ± std of the 2 draws" in text
    assert (out / "draws/d1/report/report.md").is_file()
