"""Retraining and evaluation on the tiny preset: outputs, exact resume, multi-label, errors."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from zodarts.cli import main
from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config
from zodarts.data import load_dataset
from zodarts.errors import ConfigError
from zodarts.space import (Genotype, StageGenotype, count_flops, count_params,
                           count_params_all_ops, sample_genotype)
from zodarts.train.checkpoint import load_trained
from zodarts.train.evaluate import evaluate_run
from zodarts.train.retrain import Trainer, run_train
from zodarts.utils.io import read_jsonl

EVAL_KEYS = {"dataset", "method", "genotype", "params", "params_all_ops", "flops", "test", "val"}


def tiny(**overrides) -> TrainConfig:
    return make_config(TrainConfig, TRAIN_PRESETS, "tiny", **overrides)


def digits_genotype(channels=1, classes=10) -> Genotype:
    return sample_genotype(0, channels, classes, C=4, cells_per_stage=1, image_size=8)


def train_digits(out, **overrides):
    return run_train(tiny(dataset="digits", **overrides), out, digits_genotype(),
                     progress=False, log=None)


def test_train_then_evaluate_writes_checkpoints_log_and_eval_json(tmp_path):
    result = train_digits(tmp_path, mixup_alpha=0.2, cutmix_alpha=1.0)
    for name in ("genotype.json", "train/config.yaml", "train/log.jsonl", "train/best.pt",
                 "train/last.pt"):
        assert (tmp_path / name).is_file(), name
    log = read_jsonl(tmp_path / "train/log.jsonl")
    assert [r["epoch"] for r in log] == [0, 1]
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "lr"} <= set(log[0])
    assert all(math.isfinite(r["train_loss"]) for r in log)
    assert result.params == count_params(digits_genotype())

    report = evaluate_run(tmp_path)
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert EVAL_KEYS <= set(saved) and saved["dataset"] == "digits"
    assert saved["method"] is None                    # trained from a genotype, no search
    # The network as built: live ops only; the genotype's dead ops only in params_all_ops.
    g = digits_genotype()
    assert g.dead_ops()
    model = load_trained(tmp_path).model
    assert saved["params"] == count_params(g) == sum(p.numel() for p in model.parameters())
    assert saved["params_all_ops"] == count_params_all_ops(g) > saved["params"]
    assert Genotype.from_dict(saved["genotype"]) == g.pruned()
    assert saved["flops"] == count_flops(g) > 0
    assert {"acc", "auc", "loss"} <= set(saved["test"]) and {"acc", "auc"} <= set(saved["val"])
    # The numbers are those of the saved model on the test split, computed here independently.
    from sklearn.metrics import roc_auc_score
    trained = load_trained(tmp_path)
    test = load_dataset("digits").splits["test"]
    with torch.no_grad():
        probs = torch.softmax(trained.model(trained.normalizer(test.images)), -1).numpy()
    labels = test.labels.numpy()
    assert report["test"]["acc"] == pytest.approx((probs.argmax(1) == labels).mean())
    assert report["test"]["auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr"))
    assert_details(tmp_path, load_dataset("digits"))
    assert saved["seeds"] == {"search": None, "train": 0}     # trained from a genotype file
    assert {"torch", "git_revision", "device"} <= set(saved["environment"])


def test_a_trained_digits_network_is_far_better_than_chance(tmp_path):
    """Training works, not only runs: a small fixed network on digits reaches 90% test ACC
    (chance: 10%) in a few seconds."""
    genotype = Genotype((StageGenotype(1, ("conv_3x3", "skip_connect", "conv_3x3", "none",
                                            "none", "skip_connect")),) * 3, 1, 10, C=8,
                        image_size=8)
    run_train(make_config(TrainConfig, TRAIN_PRESETS, "quick", dataset="digits", epochs=8),
              tmp_path, genotype, progress=False, log=None)
    assert evaluate_run(tmp_path)["test"]["acc"] > 0.9


def assert_details(run_dir: Path, dataset) -> None:
    """eval.json's majority baseline, confusion matrix and per-class numbers have the shapes of
    the data, and predictions.npz the labels and scores they come from."""
    classes = dataset.classes
    multilabel = dataset.task == "multi-label"
    saved = json.loads((run_dir / "eval.json").read_text())
    predictions = np.load(run_dir / "predictions.npz")
    for split in ("test", "val"):
        n = len(dataset.splits[split])
        details = saved[split]
        assert details["n"] == n
        assert 0 <= details["majority"]["acc"] <= 1
        counts = np.array(details["confusion_matrix"])
        if multilabel:
            assert counts.shape == (classes, 2, 2) and (counts.sum((1, 2)) == n).all()
            assert len(details["majority"]["prediction"]) == classes
        else:
            assert counts.shape == (classes, classes) and counts.sum() == n
            assert counts.sum(1).tolist() == details["per_class"]["support"]
            assert 0 <= details["majority"]["prediction"] < classes
        per_class = details["per_class"]
        expected = {"name", "support", "precision", "recall", "auc"} | ({"acc"} if multilabel
                                                                        else set())
        assert set(per_class) == expected
        assert all(len(v) == classes for v in per_class.values())
        assert predictions[f"{split}_scores"].shape == (n, classes)
        assert len(predictions[f"{split}_labels"]) == n


def test_resume_continues_exactly(tmp_path):
    """Killed after epoch 2 of 3 and resumed: the same weights and log as never interrupted."""
    train_digits(tmp_path / "straight", epochs=3)

    class Killed(Exception):
        pass

    killed = tmp_path / "killed"
    trainer = Trainer(tiny(dataset="digits", epochs=3), killed, digits_genotype(),
                      progress=False, log=None)
    save_last = trainer._save_last

    def save_then_die(next_epoch, val, best):
        save_last(next_epoch, val, best)
        if next_epoch == 2:
            raise Killed
    trainer._save_last = save_then_die
    with pytest.raises(Killed):
        trainer.run()
    run_train(None, killed, resume=True, progress=False, log=None)

    a = torch.load(tmp_path / "straight/train/last.pt", weights_only=False)["model"]
    b = torch.load(killed / "train/last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in read_jsonl(killed / "train/log.jsonl")] == [0, 1, 2]


def test_a_checkpoint_with_dead_op_weights_is_a_clear_error(tmp_path):
    """What a checkpoint from before live-only networks looks like: weights for ops the
    genotype's network no longer builds (then numbered among every op that is not `none`)."""
    train_digits(tmp_path)
    edges = digits_genotype().stages[0].edges
    assert (0, (0, 2), "conv_5x5") in digits_genotype().dead_ops()
    old_index = [op for op in edges if op != "none"].index("conv_5x5")
    for name in ("best.pt", "last.pt"):
        path = tmp_path / "train" / name
        state = torch.load(path, weights_only=False)
        state["model"][f"layers.0.ops.{old_index}.1.weight"] = torch.zeros(4, 4, 5, 5)
        torch.save(state, path)
    with pytest.raises(ConfigError, match="does not fit the network .* dead ops.*train again"):
        evaluate_run(tmp_path)
    with pytest.raises(ConfigError, match="does not fit the network"):
        run_train(None, tmp_path, resume=True, progress=False, log=None)


def test_multilabel_trains_with_bce_and_evaluates(tmp_path):
    from conftest import make_npz

    data = make_npz(tmp_path / "toy.npz", (48, 16, 16), multi_label=3, image_size=8)
    genotype = sample_genotype(1, 1, 3, C=4, cells_per_stage=1, image_size=8)
    run_train(tiny(dataset=str(data), augment="none"), tmp_path / "run", genotype,
              progress=False, log=None)
    report = evaluate_run(tmp_path / "run")
    assert report["task"] == "multi-label"
    trained = load_trained(tmp_path / "run")
    test = load_dataset(str(data)).splits["test"]
    with torch.no_grad():
        logits = trained.model(trained.normalizer(test.images))
    per_label = ((logits > 0) == test.labels.bool()).float().mean(0)  # MedMNIST's multi-label ACC
    assert report["test"]["acc"] == pytest.approx(per_label.mean().item())
    assert report["test"]["auc"] is not None
    assert_details(tmp_path / "run", load_dataset(str(data)))


def test_api_errors(tmp_path):
    with pytest.raises(ConfigError, match="no genotype to train"):
        run_train(tiny(dataset="digits"), tmp_path / "empty", progress=False, log=None)
    with pytest.raises(ConfigError, match="no trained model"):
        evaluate_run(tmp_path / "empty")


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_errors_are_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", str(tmp_path), "--preset", "tiny", "--quiet")
    assert code == 1 and "no genotype to train" in err and len(err.strip().splitlines()) == 1
    for command in ("evaluate", "export"):
        code, _, err = run_cli(capsys, command, str(tmp_path))
        assert code == 1 and "no trained model" in err and "zodarts train" in err
        assert len(err.strip().splitlines()) == 1


def test_a_genotype_from_another_dataset_is_transferred(tmp_path, capsys):
    """DARTS-style transfer: the cells of a genotype searched on 3-channel, 7-class, 28×28 data
    train on digits (1 channel, 10 classes, 8×8) with stem and classifier rebuilt, said in one
    line."""
    elsewhere = tmp_path / "derma.json"
    source = dataclasses.replace(digits_genotype(channels=3, classes=7), image_size=28)
    source.save(elsewhere)
    out = tmp_path / "t"
    code, _, err = run_cli(capsys, "train", "--genotype", str(elsewhere), "--dataset", "digits",
                           "--out", str(out), "--preset", "tiny", "--quiet")
    assert code == 0
    notes = [line for line in err.splitlines() if "transferring" in line]
    assert len(notes) == 1 and "channels 3 → 1" in notes[0] and "classes 7 → 10" in notes[0]
    report = evaluate_run(out)
    trained = Genotype.from_dict(report["genotype"])
    assert (trained.in_channels, trained.num_classes, trained.image_size) == (1, 10, 8)
    assert [s.edges for s in trained.stages] == [s.edges for s in source.pruned().stages]
    assert report["params"] == count_params(trained)


def test_cli_refuses_a_disconnected_genotype_before_any_work(tmp_path, capsys):
    g = digits_genotype()
    # Stages 0 and 2: only 1←0 and 2←1 (a path that never reaches node 3).
    broken = ("conv_3x3", "none", "skip_connect", "none", "none", "none")
    stages = tuple(StageGenotype(s.depth, broken) if i in (0, 2) else s
                   for i, s in enumerate(g.stages))
    path = tmp_path / "broken.json"
    dataclasses.replace(g, stages=stages).save(path)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--genotype", str(path), "--dataset", "digits",
                           "--out", str(out), "--preset", "tiny", "--quiet")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "cells in stages 0, 2 are disconnected" in err and "output a constant" in err
    assert "3←0" in err  # what to do
    assert not out.exists()


def test_cli_train_and_evaluate_json(tmp_path, capsys):
    geno = tmp_path / "g.json"
    digits_genotype().save(geno)
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "train", "--genotype", str(geno), "--dataset", "digits",
                              "--out", str(out), "--preset", "tiny", "--quiet")
    assert code == 0 and "best val acc" in stdout
    code, _, err = run_cli(capsys, "train", str(out), "--preset", "tiny", "--quiet")
    assert code == 1 and "--resume" in err                    # no silent overwrite
    code, stdout, _ = run_cli(capsys, "evaluate", str(out), "--json")
    assert code == 0 and json.loads(stdout)["params"] == count_params(digits_genotype())
    code, stdout, _ = run_cli(capsys, "evaluate", str(out))
    g = digits_genotype()
    assert code == 0 and (f"params {count_params(g):,} (params_all_ops, dead ops too: "
                          f"{count_params_all_ops(g):,})") in stdout
