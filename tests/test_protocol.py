"""Every method runs at its own paper's settings, and the protocol refuses what cannot be meant.

The cited values are spelled out here on purpose: a change of a default must change this file.
"""

import json

import pytest
import torch
import yaml

from zodarts.cli import main
from zodarts.config import (PAPER_SEARCH_BATCH, PAPER_TRAIN_BATCH, SearchConfig,
                            make_search_config, paper_batch)
from zodarts.errors import ConfigError
from zodarts.search.loop import SearchLoop, run_search
from zodarts.search.protocol import resolve_method, resolve_schedule
from zodarts.search.registry import SEARCHERS
from zodarts.utils.io import read_jsonl

DARTS_ADAM = dict(a_optimizer="adam", a_lr=3e-4, a_beta1=0.5, a_beta2=0.999, a_weight_decay=1e-3)
ZO_ADAM = dict(a_optimizer="adam", a_lr=1.5e-2, a_beta1=0.5, a_beta2=0.999, a_weight_decay=1e-3)
NO_OPTIMIZER = dict(a_optimizer="none", a_lr=None, a_beta1=None, a_beta2=None,
                    a_weight_decay=None)
ZARTS_SCHEDULE = dict(zarts_steps=10, zarts_every=10, zarts_warmup=0.2)

CITED = {
    "zo-darts++": dict(relax="sparsemax", anneal=True, size_search=True, **ZO_ADAM,
                       options=dict(zo_steps=10, zo_mu=0.005)),
    "zo-darts": dict(relax="softmax", anneal=False, size_search=False, **ZO_ADAM,
                     options=dict(zo_steps=10, zo_mu=0.005)),
    "darts-1st": dict(relax="softmax", anneal=False, size_search=False, **DARTS_ADAM,
                      options={}),
    "darts-2nd": dict(relax="softmax", anneal=False, size_search=False, **DARTS_ADAM,
                      options=dict(xi=0.0, hvp_eps=0.01)),
    "zarts-rs": dict(relax="softmax", anneal=False, size_search=False, a_optimizer="sgd",
                     a_lr=1.0, options=dict(zarts_samples=4, rs_mu=0.025, **ZARTS_SCHEDULE)),
    "zarts-mgs": dict(relax="softmax", anneal=False, size_search=False, **NO_OPTIMIZER,
                      options=dict(zarts_samples=4, mgs_sigma=0.025, mgs_sigma_decay=True,
                                   mgs_tau=0.01, mgs_lambda=1e-3, mgs_floor=1e-4,
                                   **ZARTS_SCHEDULE)),
    "zarts-gld": dict(relax="softmax", anneal=False, size_search=False, **NO_OPTIMIZER,
                      options=dict(gld_R=0.25, gld_r=0.03125, **ZARTS_SCHEDULE)),
    "random": dict(a_optimizer="none", options=dict(random_candidates=10)),
}


def test_every_method_has_cited_settings():
    assert set(CITED) == set(SEARCHERS)


@pytest.mark.parametrize("method", sorted(SEARCHERS))
def test_resolved_settings_equal_the_cited_ones(method):
    resolved = resolve_method(SearchConfig(method=method))
    expected = dict(CITED[method])
    options = expected.pop("options")
    for key, value in expected.items():
        assert getattr(resolved, key) == value, key
    for key, value in options.items():
        assert resolved.options[key] == value, key


@pytest.mark.parametrize("method", ["darts-1st", "darts-2nd", "zo-darts", "zarts-rs"])
def test_the_searcher_builds_the_cited_optimizer(method, tmp_path):
    loop = SearchLoop(make_search_config("tiny", method=method), tmp_path, progress=False,
                      log=None)
    loop.build()
    optimizer = loop.searcher.arch_optimizer
    group = optimizer.param_groups[0]
    cited = CITED[method]
    assert type(optimizer).__name__.lower() == cited["a_optimizer"]
    assert group["lr"] == cited["a_lr"]
    if cited["a_optimizer"] == "adam":
        assert group["betas"] == (cited["a_beta1"], cited["a_beta2"])
        assert group["weight_decay"] == cited["a_weight_decay"]


def test_user_settings_win_over_the_method_defaults():
    c = resolve_method(SearchConfig(method="darts-2nd", a_lr=0.01, relax="sparsemax",
                                    anneal=True, size_search=True))
    assert (c.a_lr, c.relax, c.anneal, c.size_search) == (0.01, "sparsemax", True, True)
    assert c.a_beta1 == 0.5  # the rest stays the method's own


def test_config_yaml_records_the_resolved_settings(tmp_path):
    run_search(make_search_config("tiny", method="darts-2nd", epochs=1), tmp_path,
               progress=False, log=None)
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    for key, value in CITED["darts-2nd"].items():
        if key != "options":
            assert saved[key] == value, key
    assert saved["options"] == {"xi": 0.0, "unroll_momentum": True, "hvp_eps": 0.01}
    assert saved["batch_size"] == 32 and saved["epochs"] == 1 and saved["preset"] == "tiny"


def test_methods_command_shows_the_settings(capsys):
    assert main(["methods", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == set(SEARCHERS) | {"paper_protocol"}
    assert doc["darts-2nd"]["a_lr"] == 3e-4 and "ICLR 2019" in doc["darts-2nd"]["source"]
    assert doc["zarts-mgs"]["options"]["mgs_tau"] == 0.01
    assert main(["methods", "zarts-rs"]) == 0
    assert "SGD lr 1" in capsys.readouterr().out


# ---- budgets need the size-variable space ---------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["--method", "darts-2nd", "--budget", "small"],
    ["--method", "zo-darts", "--params-max", "50000"],
    ["--method", "zo-darts++", "--no-size-search", "--budget", "small"],
    ["--method", "zarts-mgs", "--budget", "medium"],
])
def test_a_budget_without_size_search_is_refused_before_any_work(argv, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["search", "--preset", "tiny", "--out", str(out), *argv]) == 1
    err = capsys.readouterr().err
    assert "needs the size-variable space" in err and "--size-search" in err
    assert "--method random" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_random_search_takes_a_budget_and_rejects_alpha_switches():
    resolve_method(SearchConfig(method="random", budget="small"))
    with pytest.raises(ConfigError, match="no architecture parameters"):
        resolve_method(SearchConfig(method="random", size_search=True))


@pytest.mark.parametrize("method", ["zo-darts", "zo-darts++", "darts-1st", "darts-2nd"])
def test_size_search_brings_every_gradient_method_into_the_band(method, tmp_path):
    """The ablation `METHOD --size-search --budget`: every gradient method's expected
    parameters start above a band 10% below the supernet's expected size at the switch and end
    inside it. For all four alike the α lr is raised and the penalty's unit scaled to this tiny
    supernet (1e2 parameters rather than the 1e6 of paper-size ones), so a short run has room
    to move. (That the penalty is part of each estimate is checked against brute force:
    test_zo_estimator.py and test_searchers_correctness.py.) A single random direction per
    step moves ZO-DARTS along the penalty's gradient about √d times slower than DARTS, hence
    the epochs."""
    common = dict(dataset="digits", method=method, epochs=16, size_search_start=1,
                  size_search=True, a_lr=0.05, a_weight_decay=0.0, penalty_unit=1e2)
    probe = SearchLoop(make_search_config("tiny", **common), tmp_path / "probe", progress=False,
                       log=None)
    probe.build()
    probe.supernet.enable_size_search(torch.Generator().manual_seed(0))
    band_top = 0.9 * probe.supernet.expected_params().item()
    run_search(make_search_config("tiny", params_max=band_top, **common), tmp_path / "run",
               progress=False, log=None)
    expected = [r["expected_params"] for r in read_jsonl(tmp_path / "run/search/log.jsonl")]
    assert expected[0] > band_top >= expected[-1]


# ---- the paper protocol ---------------------------------------------------------------------
def test_paper_preset_uses_the_authors_batch_per_dataset():
    for name, batch in PAPER_SEARCH_BATCH.items():
        c = resolve_schedule(make_search_config("paper", dataset=name), name, 50_000, 50_000)
        assert c.batch_size == batch
    assert PAPER_SEARCH_BATCH["breastmnist"] == 16 and PAPER_TRAIN_BATCH["breastmnist"] == 64
    # Anything else: the largest power of two in [16, 512] giving >= 15 batches per epoch.
    assert paper_batch("retinamnist", 600, PAPER_SEARCH_BATCH) == 32
    assert paper_batch("chestmnist", 44_000, PAPER_SEARCH_BATCH) == 512
    assert paper_batch("tiny-custom", 100, PAPER_SEARCH_BATCH) == 16


def test_paper_preset_protocol():
    from zodarts.config import TRAIN_PRESETS, TrainConfig, make_config

    search = make_search_config("paper", dataset="breastmnist")
    assert (search.epochs, search.size_search_start, search.temp_decay_every) == (50, 20, 5)
    train = make_config(TrainConfig, TRAIN_PRESETS, "paper")
    # No weight decay: the authors' SGD call passes 3e-4 in the position of dampening.
    assert (train.epochs, train.lr, train.momentum, train.weight_decay) == (300, 0.1, 0.9, 0.0)
    assert (train.warmup_epochs, train.warmup_start, train.lr_min) == (10, 0.01, 0.0)
    assert (train.label_smoothing, train.mixup_alpha, train.cutmix_alpha) == (0.1, 0.1, 0.1)
    assert train.batch_size is None  # the authors' table, resolved per dataset
