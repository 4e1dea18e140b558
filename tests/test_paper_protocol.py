"""The ZO-DARTS++ authors' protocol, switch by switch: architectures drawn from the final
distributions, restarts decided on validation, the test maximum over epochs (labelled as
selected on test), BatchNorm on batch statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zodarts.errors import ConfigError
from zodarts.space import count_params
from zodarts.space.genotype import EDGES
from zodarts.space.operations import OP_NAMES
from zodarts.space.sampling import Distributions, draw_genotype, draw_once

ROWS = 3 * len(EDGES)
NET = dict(in_channels=1, num_classes=2, C=4, cells_per_stage=3, image_size=8)


def distributions(op_row, kernel_row=None, depth_row=None) -> Distributions:
    return Distributions(np.tile(op_row, (ROWS, 1)),
                         None if kernel_row is None else np.tile(kernel_row, (ROWS, 1)),
                         None if depth_row is None else np.tile(depth_row, (3, 1)))


def test_draws_follow_the_distributions_and_never_draw_a_zero():
    op = np.array([0.0, 0.2, 0.0, 0.5, 0.3])         # sparsemax-like: two exact zeros
    kernel, depth = np.array([0.6, 0.0, 0.4]), np.array([0.25, 0.0, 0.75])
    d = distributions(op, kernel, depth)
    rng = np.random.default_rng(0)
    ops, kernels, depths = [], [], []
    for _ in range(1500):
        g = draw_once(d, rng, **NET)
        for stage in g.stages:
            depths.append(stage.depth)
            for name in stage.edges:
                ops.append("conv_kxk" if name.startswith("conv_") and name != "conv_1x1"
                           else name)
                if ops[-1] == "conv_kxk":
                    kernels.append(int(name[-1]))
    n = len(ops)
    for name, p in zip(OP_NAMES, op):
        share = ops.count(name) / n
        if p == 0:
            assert share == 0, name                      # never drawn
        else:  # 27,000 draws: 4 standard errors is under 0.013
            assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9, (name, share)
    assert 5 not in kernels and abs(kernels.count(7) / len(kernels) - 0.6) < 0.02
    assert 2 not in depths and abs(depths.count(3) / len(depths) - 0.75) < 0.03


def test_before_the_size_phase_a_draw_has_7x7_kernels_and_full_depth():
    g = draw_once(distributions(np.array([0, 0, 0, 1.0, 0])), np.random.default_rng(1), **NET)
    assert all(s.depth == 3 and set(s.edges) == {"conv_7x7"} for s in g.stages)


def test_disconnected_draws_are_redrawn_and_a_draw_is_reproducible():
    d = distributions(np.array([0.8, 0.1, 0.05, 0.0, 0.05]))  # mostly `none`: often cut
    tries = []
    for seed in range(20):
        g, t = draw_genotype(d, [seed, 0], **NET)
        assert not g.disconnected_stages()
        tries.append(t)
        assert draw_genotype(d, [seed, 0], **NET) == (g, t)        # same seed, same draw
    assert max(tries) > 1                                          # some were redrawn


def test_a_band_is_respected_and_an_impossible_one_is_one_clear_error():
    d = distributions(np.full(5, 0.2), np.full(3, 1 / 3), np.full(3, 1 / 3))
    sizes = sorted(count_params(draw_genotype(d, [s, 0], **NET)[0]) for s in range(40))
    band = (sizes[10], sizes[20])
    for seed in range(10):
        g, _ = draw_genotype(d, [seed, 1], band=band, **NET)
        assert band[0] <= count_params(g) <= band[1]
    with pytest.raises(ConfigError, match=r"500 draws .* no connected genotype with between "
                                          r"1 and 2 parameters"):
        draw_genotype(d, 0, band=(1, 2), max_tries=500, **NET)


def test_test_max_over_epochs_reads_the_log_and_says_how_it_was_chosen():
    from zodarts.train.evaluate import SELECTED_ON_TEST, max_over_epochs

    log = [{"epoch": 0, "test_acc": 0.70, "test_auc": 0.80, "val_acc": 0.9},
           {"epoch": 1, "test_acc": 0.85, "test_auc": 0.79, "val_acc": 0.8},
           {"epoch": 2, "test_acc": 0.85, "test_auc": 0.91, "val_acc": 0.7},
           {"epoch": 3, "test_acc": 0.60, "test_auc": float("nan"), "val_acc": 0.95}]
    best = max_over_epochs(log, "test")
    assert best == {"selection": SELECTED_ON_TEST, "epochs": 4, "acc": 0.85, "acc_epoch": 1,
                    "auc": 0.91, "auc_epoch": 2}
    assert "selected on test" in SELECTED_ON_TEST and "optimistic" in SELECTED_ON_TEST
    assert max_over_epochs([{"epoch": 0, "val_acc": 0.5}], "test") is None


def _trainer(tmp_path, **settings):
    from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config
    from zodarts.space import sample_genotype
    from zodarts.train.retrain import Trainer

    config = make_config(TrainConfig, TRAIN_PRESETS, "tiny", dataset="digits", **settings)
    genotype = sample_genotype(2, 1, 10, C=4, cells_per_stage=1, image_size=8)
    return Trainer(config, tmp_path / "run", genotype, progress=False, log=None)


@pytest.mark.parametrize("val_acc,first,restart", [
    (0.25, 0.20, True),      # below 0.3
    (0.50, 0.495, True),     # flat since epoch 1 while below 0.8
    (0.50, 0.40, False),     # learning
    (0.85, 0.85, False),     # flat but above 0.8
])
def test_the_restart_rule(tmp_path, val_acc, first, restart):
    trainer = _trainer(tmp_path, restart_epoch=20)
    assert (trainer.restart_reason(19, val_acc, first) is not None) == restart
    assert trainer.restart_reason(18, 0.0, 0.0) is None             # only at epoch 20
    trainer.attempt = trainer.config.max_restarts
    assert trainer.restart_reason(19, 0.0, 0.0) is None             # bounded


def test_a_flat_validation_curve_restarts_and_the_test_split_never_does(tmp_path,
                                                                          monkeypatch):
    """The test metrics are measured every epoch (test_every_epoch) but only validation decides:
    a run whose validation is flat restarts even with a perfect test score, and a run whose
    validation learns does not, even with a test score of 0."""
    from zodarts.train.retrain import Trainer

    def fake(val_accs, test_acc):
        calls = {"n": 0}

        def evaluate(self):
            calls["n"] += 1
            val = val_accs[min(calls["n"], len(val_accs)) - 1]
            return {"val": {"loss": 1.0, "acc": val, "auc": 0.5},
                    "test": {"loss": 1.0, "acc": test_acc, "auc": 0.5}}
        return evaluate

    trainer = _trainer(tmp_path / "flat", restart_epoch=2, max_restarts=1, epochs=3,
                       test_every_epoch=True)
    monkeypatch.setattr(Trainer, "_evaluate", fake([0.5, 0.5, 0.9, 0.9, 0.9], 1.0))
    trainer.run()
    events = [json.loads(line) for line in trainer.paths.restarts.read_text().splitlines()]
    assert len(events) == 1 and "since epoch 1" in events[0]["reason"]
    assert events[0]["seed"] != trainer.config.seed                  # a new attempt's seed
    log = [json.loads(line) for line in trainer.paths.train_log.read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2] and log[0]["test_acc"] == 1.0

    trainer = _trainer(tmp_path / "learning", restart_epoch=2, epochs=3, test_every_epoch=True)
    monkeypatch.setattr(Trainer, "_evaluate", fake([0.5, 0.7, 0.9], 0.0))
    trainer.run()
    assert not trainer.paths.restarts.exists()


def test_a_drawn_run_end_to_end_records_its_draws_restarts_and_test_maximum(tmp_path):
    """`zodarts run --derive both --draws 2` on digits (tiny): the argmax and two draws
    trained, each with its eval.json; the draws repeat from their recorded seed."""
    from zodarts.cli import main
    from zodarts.config import SearchConfig, load_config
    from zodarts.search.derive import redraw, write_draws
    from zodarts.space import Genotype

    out = tmp_path / "run"
    assert main(["run", "--preset", "tiny", "--derive", "both", "--draws", "2",
                 "--train-test-every-epoch", "--train-bn-batch-stats", "--out", str(out),
                 "--quiet"]) == 0
    evaluations = [json.loads((out / p / "eval.json").read_text())
                   for p in (".", "draws/d0", "draws/d1")]
    assert [e["derivation"]["kind"] for e in evaluations] == ["argmax", "draw", "draw"]
    assert [e["derivation"].get("index") for e in evaluations[1:]] == [0, 1]
    for e in evaluations:
        assert e["method"] == "zo-darts++" and e["bn_batch_stats"] is True
        # The best-validation epoch is one of the epochs the maximum is taken over.
        assert e["test_max_over_epochs"]["acc"] >= e["test"]["acc"] - 1e-9
        assert e["test_max_over_epochs"]["selection"].startswith("selected on test")
    assert len({e["seeds"]["train"] for e in evaluations}) == 3      # each draw its own seed
    drawn = Genotype.load(out / "draws/d1/genotype.json")
    (out / "draws/d1/genotype.json").unlink()
    config = load_config(SearchConfig, out / "config.yaml")
    write_draws(out, config, None, Genotype.load(out / "genotype.json"))
    assert Genotype.load(out / "draws/d1/genotype.json") == drawn     # repeatable
    from zodarts.rundir import RunPaths
    assert redraw(RunPaths(out / "draws/d1"), 1) == redraw(RunPaths(out / "draws/d1"), 1)


def test_batch_statistics_networks_have_no_running_statistics_and_are_evaluated_in_batches(
        tmp_path):
    import torch

    from zodarts.space import build_network, sample_genotype

    genotype = sample_genotype(2, 1, 10, C=4, cells_per_stage=1, image_size=8)
    net = build_network(genotype, bn_batch_stats=True).eval()
    assert not any("running" in k for k in net.state_dict())
    x = torch.randn(8, 1, 8, 8)
    with torch.no_grad():
        alone = net(x[:4])
        together = net(x)[:4]
    assert not torch.allclose(alone, together)        # the batch an image is in matters
    trainer = _trainer(tmp_path, bn_batch_stats=True)
    trainer.run()
    from zodarts.train.checkpoint import load_trained
    trained = load_trained(tmp_path / "run")
    assert trained.bn_batch_stats and trained.eval_batch == trainer.config.batch_size


def test_the_paper_preset_is_the_authors_protocol():
    from zodarts.config import SEARCH_PRESETS, TRAIN_PRESETS

    search, train = SEARCH_PRESETS["paper"], TRAIN_PRESETS["paper"]
    assert (search["derive"], search["draws"], search["draw_epoch"]) == ("sample", 3, 39)
    assert train["test_every_epoch"] and train["bn_batch_stats"]
    assert train["restart_epoch"] == 20 and train["weight_decay"] == 0.0
    assert (train["epochs"], train["warmup_epochs"], train["mixup_alpha"]) == (300, 10, 0.1)


def test_zodarts_methods_lists_each_point_of_the_protocol_with_the_authors_file(capsys):
    from zodarts.cli import main
    from zodarts.config import PAPER_PROTOCOL

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for _, setting, source in PAPER_PROTOCOL:
        assert setting in out and source in out
    for name in ("StructureSampler.py", "retrain/retrain_sampling.py", "read_percentile.py"):
        assert name in out
