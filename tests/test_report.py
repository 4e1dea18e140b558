"""The report of a run folder: every figure and report.md, from hand-written logs (no search or
training needed), for a finished run and for a search-only one."""

import json

import numpy as np
import pytest

from zodarts.config import SearchConfig, save_config
from zodarts.errors import ConfigError
from zodarts.report import make_report
from zodarts.space import count_params, count_params_all_ops, sample_genotype
from zodarts.utils.io import write_jsonl

FIGURES = ("search.png", "temperature.png", "budget.png", "alpha_stage0.png",
           "alpha_stage1.png", "alpha_stage2.png", "cells.png")


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


def fake_training(root, genotype, epochs=5):
    write_jsonl(root / "train/log.jsonl", [
        {"epoch": e, "train_loss": 1.5 - 0.2 * e, "train_acc": 0.5 + 0.08 * e, "lr": 0.1 / (e + 1),
         "val_loss": 1.2 - 0.2 * e, "val_acc": 0.6 + 0.07 * e, "val_auc": 0.9 + 0.01 * e,
         "best": True, "seconds": 2.0} for e in range(epochs)])
    (root / "eval.json").write_text(json.dumps({
        "dataset": "digits", "task": "multi-class", "method": "zo-darts++",
        "genotype": genotype.pruned().to_dict(), "params": count_params(genotype),
        "params_all_ops": count_params_all_ops(genotype), "flops": 1234567,
        "checkpoint": {"which": "best", "epoch": epochs - 1},
        "test": {"acc": 0.931, "auc": None, "loss": 0.3, "note": "AUC undefined: class 3"},
        "val": {"acc": 0.95, "auc": 0.998}}))


def test_full_report_has_every_figure_and_the_numbers(tmp_path):
    genotype = fake_search(tmp_path)
    fake_training(tmp_path, genotype)
    md = make_report(tmp_path)
    assert md == tmp_path / "report" / "report.md"
    for name in FIGURES + ("training.png",):
        path = tmp_path / "report" / name
        assert path.is_file() and path.stat().st_size > 5000, name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md.read_text()
    text = md.read_text()
    assert "0.9310" in text and f"{count_params(genotype):,}" in text
    assert "n/a" in text and "AUC undefined" in text          # a null AUC is shown, not a crash
    assert "budget small" in text
    assert_live_architecture(text, genotype)


def assert_live_architecture(text, genotype):
    """The architecture shown is the network as built; the dead ops and the all-ops count are
    named apart."""
    assert genotype.dead_ops()
    assert genotype.pruned().describe() in text and genotype.describe() not in text
    assert genotype.describe_dead_ops() in text
    assert f"(params_all_ops, dead ops too: {count_params_all_ops(genotype):,})" in text


def test_search_only_run_gets_a_partial_report(tmp_path):
    genotype = fake_search(tmp_path)
    text = make_report(tmp_path).read_text()
    assert "Not evaluated yet" in text
    assert f"derived genotype {count_params(genotype):,} parameters" in text
    assert_live_architecture(text, genotype)
    assert not (tmp_path / "report" / "training.png").exists()
    for name in FIGURES:
        assert (tmp_path / "report" / name).is_file(), name


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nothing|no search"):
        make_report(tmp_path)
