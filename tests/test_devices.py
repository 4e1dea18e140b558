"""The GPU path, tested on every available device (CPU here; CPU and CUDA on a GPU machine,
where benchmarks/gpu_check.sh runs `pytest -m devices`)."""

import contextlib

import pytest
import torch

from conftest import assert_same_search, search_killed_mid_run
from zodarts.config import make_search_config
from zodarts.search.base import SearchContext
from zodarts.search.loop import SearchLoop, run_search
from zodarts.utils.io import read_jsonl

pytestmark = pytest.mark.devices


def tiny(device, **settings):
    return make_search_config("tiny", dataset="digits", device=device, **settings)


def test_a_resumed_search_equals_the_uninterrupted_one(device, tmp_path, monkeypatch):
    config = tiny(device, epochs=3)
    run_search(config, tmp_path / "full", progress=False, log=None)
    # Killed mid-epoch 2 and mid-round.
    search_killed_mid_run(config, tmp_path / "cut", config.steps_per_epoch + 3, monkeypatch)
    assert len(read_jsonl(tmp_path / "cut/search/log.jsonl")) == 1  # epoch 1 only survived
    run_search(None, tmp_path / "cut", resume=True, progress=False, log=None)
    assert_same_search(tmp_path / "full", tmp_path / "cut", 3)


def _round(device, overlap: bool):
    """One ZO round from a fixed start: α's estimate and the twins' weights."""
    loop = SearchLoop(tiny(device, options={"zo_steps": 3, "zo_directions": 2,
                                            "zo_overlap": overlap}),
                      "unused", progress=False, log=None)
    loop.build()
    for batch in list(loop.train_batches.epoch(0))[:3]:
        loop.searcher.step(batch, next(loop.arch_stream))
    searcher = loop.searcher
    return ([e.cpu() for e in searcher.last_estimate],
            [p.detach().cpu() for t in searcher.twins for p in t.net.weight_parameters()])


def test_the_overlapped_round_equals_the_sequential_one(device):
    """On CUDA the twins step on their own streams; the result is that of the sequential
    order, bit for bit (on CPU both are the sequential path)."""
    estimate_a, twins_a = _round(device, overlap=True)
    estimate_b, twins_b = _round(device, overlap=False)
    assert all(torch.equal(a, b) for a, b in zip(estimate_a, estimate_b))
    assert all(torch.equal(a, b) for a, b in zip(twins_a, twins_b))


def test_bf16_off_is_the_plain_float32_path(device, tmp_path, monkeypatch):
    """precision fp32 changes nothing: the same run with the precision machinery replaced by
    no-ops gives bit-identical logs and genotype."""
    run_search(tiny(device), tmp_path / "fp32", progress=False, log=None)
    import zodarts.search.base as base
    monkeypatch.setattr(base, "precision_context", lambda *a: contextlib.nullcontext())
    run_search(tiny(device), tmp_path / "plain", progress=False, log=None)
    assert_same_search(tmp_path / "fp32", tmp_path / "plain", 2)


def test_bf16_trains_with_alpha_and_its_estimate_in_float32(device, tmp_path):
    loop = SearchLoop(tiny(device, precision="bf16"), tmp_path, progress=False, log=None)
    result = loop.run()
    log = read_jsonl(tmp_path / "search/log.jsonl")
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in log)
    assert all(a.dtype == torch.float32 for a in loop.supernet.all_arch_parameters())
    assert all(e.dtype == torch.float32 for e in loop.searcher.last_estimate)
    assert loop.supernet.relaxed()["op"].dtype == torch.float32
    assert result.genotype is not None


def test_weight_steps_never_wait_for_the_device(device, monkeypatch):
    """Within a ZO round (no α step), a step reads nothing back to the host: no .item(),
    .tolist(), float() or bool() of a tensor. On CUDA, sync debug mode also checks it."""
    loop = SearchLoop(tiny(device, options={"zo_steps": 5}), "unused", progress=False, log=None)
    loop.build()
    batches = list(loop.train_batches.epoch(0))[:4]
    loop.searcher.step(batches[0], next(loop.arch_stream))  # starts the round (draws z)
    loop.supernet(batches[0][0])  # the active-op masks of this α, read once per α
    reads = []
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, _name=name):
            reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counting)
    guard = contextlib.nullcontext()
    if device == "cuda":
        torch.cuda.set_sync_debug_mode("error")
        guard = contextlib.ExitStack()
        guard.callback(torch.cuda.set_sync_debug_mode, "default")
    with guard:
        for batch in batches[1:]:
            loop.searcher.step(batch, next(loop.arch_stream))
    assert reads == []
    assert loop.searcher.round_step == 4  # still inside the round: no α step was taken


def test_the_active_op_masks_are_read_once_per_alpha(device, monkeypatch):
    from zodarts.space import SuperNet

    net = SuperNet(1, 3, C=4, cells_per_stage=1, relax="sparsemax").to(device)
    x = torch.randn(2, 1, 8, 8, device=device)
    calls = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist",
                        lambda self: calls.append(1) or original(self))
    net(x)
    net(x)
    assert len(calls) == 1  # one read (op masks) for two forwards at the same α
    with torch.no_grad():
        net.alpha_op.add_(0.1)
    net(x)
    assert len(calls) == 2
