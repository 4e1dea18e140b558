"""A `zodarts run` interrupted at any stage and resumed with no flags trains with the settings it
was started with (it used to fall back to the preset's retraining: 40 epochs instead of 3)."""

import pytest

from zodarts import api
from zodarts.cli import main
from zodarts.config import TrainConfig, load_config
from zodarts.errors import ConfigError
from zodarts.rundir import RunPaths

START = ["run", "--preset", "tiny", "--quiet", "--train-epochs", "3", "--train-lr", "0.07",
         "--train-augment", "none"]


def interrupt_at(monkeypatch, target, name, after: int = 0):
    """Make ``target.name`` raise KeyboardInterrupt on its ``after + 1``-th call."""
    original = getattr(target, name)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)


def boundaries():
    from zodarts import pipeline
    from zodarts.search.zo_darts import ZODartsPP
    from zodarts.train import evaluate, retrain

    return {
        "during the search": (ZODartsPP, "step", 5),
        "between search and training": (pipeline, "train_derived", 0),
        "during the training": (retrain.Trainer, "_train_epoch", 1),
        "before the evaluation": (evaluate, "evaluate_run", 0),
    }


@pytest.mark.parametrize("stage", ["during the search", "between search and training",
                                   "during the training", "before the evaluation"])
def test_a_resume_that_names_nothing_keeps_the_training_settings(tmp_path, monkeypatch, capsys,
                                                                 stage):
    out = tmp_path / "run"
    interrupt_at(monkeypatch, *boundaries()[stage])
    assert main([*START, "--out", str(out)]) == 130
    monkeypatch.undo()
    assert main(["run", "--out", str(out), "--resume", "--quiet"]) == 0
    trained = load_config(TrainConfig, RunPaths(out).train_config)
    assert (trained.epochs, trained.lr, trained.augment) == (3, 0.07, "none")
    assert "training: batch 32, 3 epochs" in capsys.readouterr().out


def test_a_resume_refuses_training_flags_that_contradict_the_plan(tmp_path, monkeypatch,
                                                                  capsys):
    from zodarts.search.zo_darts import ZODartsPP

    out = tmp_path / "run"
    interrupt_at(monkeypatch, ZODartsPP, "step", 3)
    assert main([*START, "--out", str(out)]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["run", "--out", str(out), "--resume", "--train-epochs", "5"]) == 1
    err = capsys.readouterr().err
    assert "--train-epochs 5 (the folder holds 3)" in err and err.count("\n") == 1
    # The same through the Python API, and a contradiction-free resume goes through.
    with pytest.raises(ConfigError, match="train_epochs=5"):
        api.run(out=out, resume=True, train_epochs=5)
    result = api.run(out=out, resume=True, train_epochs=3)
    assert load_config(TrainConfig, RunPaths(out).train_config).lr == 0.07
    assert result.evaluation["test"]["acc"] >= 0


def test_a_refused_request_records_no_training_plan(tmp_path, capsys):
    """The plan is written once the search's own settings are (a budget nothing can meet is
    refused when the data are known: no plan may be left behind for a run that never was)."""
    out = tmp_path / "run"
    assert main([*START, "--out", str(out), "--size-search", "--params-max", "10"]) == 1
    assert "zodarts run: error" in capsys.readouterr().err
    assert not (out / "train_plan.yaml").exists() and not (out / "config.yaml").exists()
