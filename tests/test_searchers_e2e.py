"""Every registered method through the real loop: one tiny epoch on digits, a valid genotype.

The options are set per method so that at least one architecture step (or, for random search,
one scored candidate) happens inside the epoch's four batches; ZARTS's warm-up is off for that.
"""

import math

import pytest
import torch

from zodarts.config import make_search_config
from zodarts.search.loop import run_search
from zodarts.search.random_search import RandomSearch
from zodarts.search.registry import SEARCHERS
from zodarts.space import Genotype, count_params
from zodarts.utils.io import read_jsonl

TINY_OPTIONS = {
    "zo-darts++": {"zo_steps": 2},
    "zo-darts": {"zo_steps": 2},
    "darts-1st": {},
    "darts-2nd": {},
    "zarts-rs": {"zarts_every": 2, "zarts_steps": 1, "zarts_samples": 2, "zarts_warmup": 0.0},
    "zarts-mgs": {"zarts_every": 2, "zarts_steps": 1, "zarts_samples": 2, "zarts_warmup": 0.0},
    "zarts-gld": {"zarts_every": 2, "zarts_steps": 1, "gld_R": 0.2, "gld_r": 0.1,
                  "zarts_warmup": 0.0},
    "random": {"random_steps_per_candidate": 2, "random_eval_batches": 1},
}
# What each method logs besides the loop's own keys: proof that its α step ran.
ARCH_KEYS = {"darts-1st": "val_objective", "darts-2nd": "val_objective",
             "zarts-rs": "zo_grad_norm", "zarts-mgs": "ess", "zarts-gld": "gld_accept",
             "random": "candidates", "zo-darts": "zo_D", "zo-darts++": "zo_D"}


def tiny(method, **overrides):
    overrides = {"epochs": 1, **overrides}
    config = make_search_config("tiny", dataset="digits", method=method, **overrides)
    config.options = dict(TINY_OPTIONS[method])
    return config


def test_every_method_is_covered():
    assert set(TINY_OPTIONS) == set(SEARCHERS)


@pytest.mark.parametrize("method", sorted(SEARCHERS))
def test_method_runs_one_tiny_epoch(method, tmp_path):
    result = run_search(tiny(method), tmp_path, progress=False, log=None)
    genotype = Genotype.load(tmp_path / "genotype.json")
    assert genotype == result.genotype
    assert (genotype.in_channels, genotype.num_classes, genotype.C) == (1, 10, 4)
    log = read_jsonl(tmp_path / "search/log.jsonl")
    assert len(log) == 1 and math.isfinite(log[0]["train_loss"])
    assert ARCH_KEYS[method] in log[0]


def test_budget_holds_for_the_peers(tmp_path):
    """The penalty is part of every gradient/zeroth-order objective; random search samples
    inside the band."""
    config = tiny("random", budget="small")
    result = run_search(config, tmp_path / "random", progress=False, log=None)
    assert result.budget is not None
    assert result.budget[0] <= count_params(result.genotype) <= result.budget[1]
    log = read_jsonl(tmp_path / "random/search/log.jsonl")
    assert result.budget[0] <= log[0]["expected_params"] <= result.budget[1]


def test_mgs_logs_effective_sample_size(tmp_path):
    run_search(tiny("zarts-mgs"), tmp_path, progress=False, log=None)
    ess = read_jsonl(tmp_path / "search/log.jsonl")[0]["ess"]
    # Per architecture step, with its place in the run, beside the epoch mean; and whether the
    # largest weight went to the lowest loss (the diagnostic that weights follow the loss).
    steps = [r for r in read_jsonl(tmp_path / "search/steps.jsonl") if r["epoch"] == 0]
    assert steps and all({"ess", "step", "best_weight_on_best_loss"} <= set(r) for r in steps)
    assert sum(r["ess"] for r in steps) / len(steps) == pytest.approx(ess)


def test_resume_of_a_finished_run_is_a_no_op(tmp_path):
    first = run_search(tiny("darts-2nd"), tmp_path, progress=False, log=None)
    text = (tmp_path / "genotype.json").read_text()
    log = (tmp_path / "search/log.jsonl").read_text()
    again = run_search(None, tmp_path, resume=True, progress=False, log=None)
    assert again.genotype == first.genotype
    assert (tmp_path / "genotype.json").read_text() == text
    assert (tmp_path / "search/log.jsonl").read_text() == log


def test_random_search_killed_mid_run_resumes_exactly(tmp_path, monkeypatch):
    """Random search carries the most state between epochs (a candidate half-trained)."""
    options = {"random_steps_per_candidate": 3, "random_eval_batches": 1}

    def config():
        c = tiny("random", epochs=2)
        c.options = dict(options)
        return c

    full = run_search(config(), tmp_path / "full", progress=False, log=None)
    calls = {"n": 0}
    original = RandomSearch.step

    def dying_step(self, train_batch, val_batch):
        calls["n"] += 1
        if calls["n"] == 6:  # epoch 2, step 2: a candidate is in flight across the boundary
            raise KeyboardInterrupt
        return original(self, train_batch, val_batch)

    monkeypatch.setattr(RandomSearch, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        run_search(config(), tmp_path / "cut", progress=False, log=None)
    monkeypatch.setattr(RandomSearch, "step", original)
    resumed = run_search(None, tmp_path / "cut", resume=True, progress=False, log=None)
    assert resumed.genotype == full.genotype
    a = read_jsonl(tmp_path / "full/search/log.jsonl")
    b = read_jsonl(tmp_path / "cut/search/log.jsonl")
    for ra, rb in zip(a, b):
        ra.pop("seconds"), rb.pop("seconds")
        assert ra == rb
    assert len(a) == len(b) == 2
    torch.testing.assert_close(
        torch.load(tmp_path / "full/search/checkpoint.pt", weights_only=False)["searcher"]
        ["best_score"],
        torch.load(tmp_path / "cut/search/checkpoint.pt", weights_only=False)["searcher"]
        ["best_score"])
