"""The report of a run folder: every figure and report.md, from hand-written logs (no search or
training needed), for a finished run and for a search-only one."""

import json

import numpy as np
import pytest

from zodarts.config import SearchConfig, save_config
from zodarts.errors import ConfigError
from zodarts.report import make_report
from zodarts.report.plots import _chosen_rows, uniform_deviation_range
from zodarts.space import (KERNEL_SIZES, OP_NAMES, count_params, count_params_all_ops,
                           sample_genotype)
from zodarts.train.evaluate import json_safe, split_details, write_predictions
from zodarts.train.metrics import task_metrics
from zodarts.utils.io import write_jsonl

FIGURES = ("search.png", "temperature.png", "budget.png", "alpha_stage0.png",
           "alpha_stage1.png", "alpha_stage2.png", "cells.png")
EVAL_FIGURES = ("training.png", "confusion.png", "roc.png")


def distributions(rng, rows, width):
    p = rng.random((rows, width)) ** 3
    return (p / p.sum(1, keepdims=True)).tolist()


def fake_search(root, epochs=4, size_start=2):
    rng = np.random.default_rng(0)
    genotype = sample_genotype(0, 1, 10, C=4, cells_per_stage=2, image_size=8)
    save_config(SearchConfig(dataset="digits", epochs=epochs, C=4, cells_per_stage=2,
                             budget="small", size_search_start=size_start), root / "config.yaml")
    genotype.save(root / "genotype.json")
    write_jsonl(root / "search/log.jsonl", [
        {"epoch": e, "phase": 2 if e >= size_start else 1, "temperature": 1.5 * 0.75 ** e,
         "train_loss": 2 - 0.3 * e, "train_acc": 0.2 + 0.1 * e, "val_loss": 2.1 - 0.3 * e,
         "val_acc": 0.15 + 0.1 * e, "expected_params": 60000 - 8000 * e, "seconds": 1.5}
        for e in range(epochs)])
    write_jsonl(root / "search/alphas.jsonl", [
        {"epoch": e, "temperature": 1.5 * 0.75 ** e, "op": distributions(rng, 18, 5),
         "kernel": distributions(rng, 18, 3) if e >= size_start else None,
         "depth": distributions(rng, 3, 2) if e >= size_start else None,
         "genotype": genotype.to_dict()} for e in range(epochs)])
    return genotype


def fake_predictions(task, n, classes, seed=0):
    """Labels and scores that are right more often than not."""
    rng = np.random.default_rng(seed)
    if task == "multi-label":
        labels = rng.integers(0, 2, (n, classes))
        return labels, 1 / (1 + np.exp(-(rng.normal(size=(n, classes)) + 2 * labels - 1)))
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes)) + 2 * np.eye(classes)[labels]
    return labels, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)


def fake_training(root, genotype, epochs=5, task="multi-class", classes=10, test=None):
    """train/log.jsonl, eval.json and predictions.npz as a retraining and evaluation write them;
    ``test`` overrides test-split entries of eval.json."""
    write_jsonl(root / "train/log.jsonl", [
        {"epoch": e, "train_loss": 1.5 - 0.2 * e, "train_acc": 0.5 + 0.08 * e, "lr": 0.1 / (e + 1),
         "val_loss": 1.2 - 0.2 * e, "val_acc": 0.6 + 0.07 * e, "val_auc": 0.9 + 0.01 * e,
         "best": True, "seconds": 2.0} for e in range(epochs)])
    names = [f"name{k}" for k in range(classes)]
    splits, arrays = {}, {}
    for seed, (split, n) in enumerate((("test", 60), ("val", 30))):
        labels, scores = fake_predictions(task, n, classes, seed)
        train_labels, _ = fake_predictions(task, 100, classes, seed + 10)
        metrics = task_metrics(task, labels, scores)
        splits[split] = {"acc": metrics.acc, "auc": metrics.auc,
                         **split_details(task, labels, scores, train_labels, names)}
        arrays.update({f"{split}_labels": labels, f"{split}_scores": scores})
    splits["test"].update(loss=0.3, **(test or {}))
    write_predictions(root / "predictions.npz", arrays)
    (root / "eval.json").write_text(json.dumps(json_safe({
        "dataset": "digits", "task": task, "method": "zo-darts++",
        "genotype": genotype.pruned().to_dict(), "params": count_params(genotype),
        "params_all_ops": count_params_all_ops(genotype), "flops": 1234567,
        "checkpoint": {"which": "best", "epoch": epochs - 1},
        "seeds": {"search": 3, "train": 4},
        "environment": {"torch": "9.9.9", "git_revision": "abc123", "device": "cpu"},
        **splits})))


def test_full_report_has_every_figure_and_the_numbers(tmp_path):
    genotype = fake_search(tmp_path)
    fake_training(tmp_path, genotype, test={"acc": 0.931, "auc": float("nan"),
                                            "note": "AUC undefined: class 3"})
    md = make_report(tmp_path)
    assert md == tmp_path / "report" / "report.md"
    for name in FIGURES + EVAL_FIGURES:
        path = tmp_path / "report" / name
        assert path.is_file() and path.stat().st_size > 5000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md.read_text()
    text = md.read_text()
    assert "0.9310" in text and f"{count_params(genotype):,}" in text
    assert "n/a" in text and "AUC undefined" in text          # a null AUC is shown, not a crash
    assert "budget small" in text
    assert_live_architecture(text, genotype)
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    majority = evaluation["test"]["majority"]
    assert f"| 0.9310 | {majority['acc']:.4f} |" in text      # the baseline beside test ACC
    assert f"predicting 'name{majority['prediction']}'" in text
    assert "does not beat" not in text
    assert "### Per class (test split)" in text and "| name9 |" in text
    assert "Seeds: search 3, train 4." in text and "| git_revision | abc123 |" in text
    assert "Size search (kernels, depths) from epoch 3." in text   # size_search_start=2


def assert_live_architecture(text, genotype):
    """The architecture shown is the network as built; the dead ops and the all-ops count are
    named apart."""
    assert genotype.dead_ops()
    assert genotype.pruned().describe() in text and genotype.describe() not in text
    assert genotype.describe_dead_ops() in text
    assert f"(params_all_ops, dead ops too: {count_params_all_ops(genotype):,})" in text


@pytest.mark.parametrize("task, classes", [("binary", 2), ("multi-label", 4)])
def test_a_model_no_better_than_the_majority_is_called_out(tmp_path, task, classes):
    genotype = fake_search(tmp_path, epochs=1)
    fake_training(tmp_path, genotype, task=task, classes=classes)
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    evaluation["test"]["acc"] = evaluation["test"]["majority"]["acc"]
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    text = make_report(tmp_path).read_text()
    assert f"Test ACC {evaluation['test']['acc']:.4f} does not beat the majority-class " \
           "baseline" in text
    for name in EVAL_FIGURES:
        assert (tmp_path / "report" / name).is_file() and f"]({name})" in text


def test_alpha_colour_range_follows_the_data_not_zero_to_one():
    op = np.full((3, 6, 5), 0.2)
    op[1, 2] = [0.17, 0.23, 0.2, 0.2, 0.2]                   # a short search: all near 1/5
    assert uniform_deviation_range([(op, 5)]) == pytest.approx((-0.03, 0.03))
    kernel = np.full((3, 6, 3), np.nan)                      # phase 1 only: nothing to scale
    assert uniform_deviation_range([(kernel, 3)]) == pytest.approx((-1e-3, 1e-3))
    kernel[2] = [0.5, 0.25, 0.25]
    depth = np.array([[[0.4, 0.6]]] * 3)
    assert uniform_deviation_range([(kernel, 3), (depth, 2)]) == pytest.approx((-1 / 6, 1 / 6))


def test_the_derived_genotype_is_marked_on_its_rows():
    chosen = {"stages": [{"depth": 2, "edges": ["none", "conv_5x5", "skip_connect", "conv_1x1",
                                                 "avg_pool_3x3", "conv_7x7"]}] * 3}
    alphas = [{"genotype": chosen, "kernel": None, "depth": None},     # phase 1
              {"genotype": chosen, "kernel": [[1 / 3] * 3] * 18, "depth": [[0.5, 0.5]] * 3}]
    op, kernel, depth = _chosen_rows(alphas, 1)
    conv = OP_NAMES.index("conv_kxk")
    assert op[0].tolist() == [0, conv, 1, 2, 4, conv]
    assert np.isnan(kernel[0]).all() and np.isnan(depth[0])          # not searched yet
    assert np.isnan(kernel[1]).tolist() == [True, False, True, True, True, False]
    assert kernel[1][[1, 5]].tolist() == [KERNEL_SIZES.index(5), KERNEL_SIZES.index(7)]
    assert depth[1] == 2


def test_search_only_run_gets_a_partial_report(tmp_path):
    genotype = fake_search(tmp_path)
    text = make_report(tmp_path).read_text()
    assert "Not evaluated yet" in text
    assert f"derived genotype {count_params(genotype):,} parameters" in text
    assert_live_architecture(text, genotype)
    for name in EVAL_FIGURES:
        assert not (tmp_path / "report" / name).exists(), name
    for name in FIGURES:
        assert (tmp_path / "report" / name).is_file(), name


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing|no search"):
        make_report(tmp_path)


@pytest.mark.parametrize("preset", ["paper", "quick"])
def test_the_retraining_sentence_is_the_config_it_describes(tmp_path, preset):
    """The paper preset trains without Nesterov and without weight decay: the report must not
    claim otherwise (it used to say "SGD (Nesterov)" whatever the config)."""
    from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config

    genotype = fake_search(tmp_path)
    fake_training(tmp_path, genotype)
    from zodarts.report import read_run
    from zodarts.report.markdown import write_markdown

    config = make_config(TrainConfig, TRAIN_PRESETS, preset, batch_size=16)
    save_config(config, tmp_path / "train/config.yaml")
    text = write_markdown(read_run(tmp_path), {}, tmp_path / "report.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith("5 of "))
    assert ("Nesterov" in line) == config.nesterov
    assert f"with momentum {config.momentum}" in line
    assert f"weight decay {config.weight_decay:g}," in line
    assert f"cosine to {config.lr_min:g}" in line
    assert f"over {config.warmup_epochs:g} epochs" in line
    assert ("mixup α=0.1" in line) == (preset == "paper")
    assert ("each batch's own statistics" in line) == config.bn_batch_stats
    assert "random crop," not in line or "flip" not in line    # digits: no flip by default
    assert "`train/best.pt`" not in text                        # no checkpoint file here


@pytest.mark.parametrize("epochs", [2, 20])
def test_epoch_ticks_of_the_alpha_heatmaps_never_run_together(tmp_path, monkeypatch, epochs):
    """The narrow panels got matplotlib's full-width tick count: after a 20-epoch search (the
    quick preset on digits) their labels touched."""
    from zodarts.report import plots, read_run

    figures = []
    original = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, path: (figures.append(fig),
                                                          original(fig, path))[1])
    fake_search(tmp_path, epochs=epochs, size_start=2)
    plots.alpha_heatmaps(read_run(tmp_path), 0, tmp_path / "alpha.png")
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_xlabel() == "epoch"]
    assert len(axes) == 7
    for ax in axes:
        low, high = ax.get_xlim()
        labels = [label for tick, label in zip(ax.get_xticks(), ax.get_xticklabels())
                  if low <= tick <= high and label.get_text()]
        assert labels, "an epoch axis without a label"
        boxes = sorted((label.get_window_extent(renderer) for label in labels),
                       key=lambda box: box.x0)
        for left, right in zip(boxes, boxes[1:]):
            assert right.x0 - left.x1 >= left.height, (epochs, [l.get_text() for l in labels])
