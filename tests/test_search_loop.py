"""The shared search loop with ZO-DARTS++: outputs, schedules, budget penalty, resume, NaN guard."""

import math

import pytest
import torch
from torch import nn

from zodarts.config import SearchConfig, make_search_config
from zodarts.errors import ConfigError, SearchDiverged
from zodarts.search.base import Searcher
from zodarts.search.loop import run_search
from zodarts.search.schedule import size_phase_at, temperature_at
from zodarts.search.zo_darts import ZODartsPP
from zodarts.space import Genotype, SuperNet, budget_bands
from zodarts.utils.io import read_jsonl

from conftest import assert_same_search

LOG_KEYS = {"epoch", "phase", "temperature", "train_loss", "train_acc", "val_loss", "val_acc",
            "expected_params", "seconds", "share_none", "share_skip"}


def tiny(**overrides):
    return make_search_config("tiny", **overrides)


def test_tiny_search_on_digits_writes_the_run_folder(tmp_path):
    result = run_search(tiny(dataset="digits", epochs=2), tmp_path / "run", progress=False,
                        log=None)
    out = tmp_path / "run"
    for name in ("config.yaml", "environment.json", "genotype.json", "genotype_best.json",
                 "search/log.jsonl", "search/alphas.jsonl", "search/checkpoint.pt"):
        assert (out / name).is_file(), name
    log = read_jsonl(out / "search/log.jsonl")
    assert [r["epoch"] for r in log] == [0, 1]
    assert LOG_KEYS <= set(log[0])
    assert [r["phase"] for r in log] == [1, 2]  # tiny preset: size search from epoch 1
    assert all(math.isfinite(r["train_loss"]) for r in log)
    assert Genotype.load(out / "genotype.json") == result.genotype
    assert result.genotype.in_channels == 1 and result.genotype.num_classes == 10
    alphas = read_jsonl(out / "search/alphas.jsonl")
    assert alphas[0]["kernel"] is None and alphas[1]["kernel"] is not None
    assert len(alphas[1]["op"]) == 18 and len(alphas[1]["op"][0]) == 5


def test_temperature_and_phase_schedule():
    c = SearchConfig(temperature=1.5, temp_decay=0.75, temp_decay_every=5, size_search_start=20)
    assert temperature_at(0, c, True) == 1.5
    assert temperature_at(4, c, True) == 1.5
    assert temperature_at(5, c, True) == pytest.approx(1.125)
    assert temperature_at(12, c, True) == pytest.approx(1.5 * 0.75 ** 2)
    assert temperature_at(12, c, False) == 1.0
    assert not size_phase_at(19, c, True) and size_phase_at(20, c, True)
    assert not size_phase_at(30, c, False)


def test_log_follows_the_temperature_schedule(tmp_path):
    run_search(tiny(epochs=3, temp_decay_every=2), tmp_path, progress=False, log=None)
    temps = [r["temperature"] for r in read_jsonl(tmp_path / "search/log.jsonl")]
    assert temps == pytest.approx([1.5, 1.5, 1.125])


def test_budget_penalty_pushes_expected_params_into_the_band():
    torch.manual_seed(0)
    net = SuperNet(1, 10, C=8, cells_per_stage=2, relax="sparsemax", temperature=1.0)
    net.enable_size_search(torch.Generator().manual_seed(0))
    lo, hi = budget_bands(1, 10, C=8, cells_per_stage=2)["small"]
    start = net.expected_params().item()
    assert start > hi  # the uniform supernet is bigger than the small band
    config = SearchConfig(C=8, cells_per_stage=2, a_lr=0.05, a_weight_decay=0.0)
    arch_opt = torch.optim.Adam(net.arch_parameters(), lr=0.05)
    penalty = Searcher.budget_penalty.__get__(_PenaltyOnly(net, config, (lo, hi)))
    for _ in range(300):
        arch_opt.zero_grad()
        penalty().backward()
        arch_opt.step()
    end = net.expected_params().item()
    assert lo <= end <= hi * 1.01, (start, end, (lo, hi))


class _PenaltyOnly:
    """Just enough of a searcher for ``Searcher.budget_penalty``."""

    def __init__(self, net, config, budget):
        self.net = net
        self.ctx = type("Ctx", (), {"budget": budget, "config": config})()


def test_resume_needs_a_checkpoint_and_refuses_to_overwrite(tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume"):
        run_search(None, tmp_path / "empty", resume=True, progress=False, log=None)
    run_search(tiny(epochs=1), tmp_path / "done", progress=False, log=None)
    with pytest.raises(ConfigError, match="--resume"):
        run_search(tiny(epochs=1), tmp_path / "done", progress=False, log=None)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    config = tiny(epochs=3)
    calls = {"n": 0}
    original = ZODartsPP.step

    def poisoning_step(self, train_batch, val_batch):
        calls["n"] += 1
        if calls["n"] == config.steps_per_epoch + 2:  # epoch 2, step 2
            with torch.no_grad():
                self.net.head.classifier.weight.fill_(float("nan"))
        return original(self, train_batch, val_batch)

    monkeypatch.setattr(ZODartsPP, "step", poisoning_step)
    with pytest.raises(SearchDiverged) as err:
        run_search(config, tmp_path, progress=False, log=None)
    message = str(err.value)
    assert "epoch 2, step 2" in message and "nan" in message
    assert "checkpoint" in message and "kept" in message
    assert [r["epoch"] for r in read_jsonl(tmp_path / "search/log.jsonl")] == [0]
    state = torch.load(tmp_path / "search/checkpoint.pt", weights_only=False)
    assert state["next_epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["supernet"].values() if v.is_floating_point())


def test_unknown_method_and_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown method"):
        run_search(tiny(method="nope"), tmp_path / "a", progress=False, log=None)
    with pytest.raises(ConfigError, match="no option"):
        run_search(tiny(options={"bogus": 1}), tmp_path / "b", progress=False, log=None)
    with pytest.raises(ConfigError, match="impossible budget"):
        run_search(tiny(params_min=1e9, params_max=2e9), tmp_path / "c", progress=False, log=None)
