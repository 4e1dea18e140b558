"""How decided a search is: margins on constructed distributions, the α-step schedule, and
--until-decided on problems that decide fast and that do not."""

import math

import numpy as np
import pytest
import torch

from conftest import make_npz
from zodarts.config import make_search_config
from zodarts.search.loop import SearchLoop, run_search
from zodarts.errors import ConfigError
from zodarts.search.protocol import batches_in_epoch, batches_per_step, resolve_schedule
from zodarts.search.schedule import temperature_at
from zodarts.space.decision import is_decided, margins, top2_margin
from zodarts.space.operations import OP_NAMES
from zodarts.utils.io import read_jsonl

CONV = OP_NAMES.index("conv_kxk")


def test_top2_margin():
    p = torch.tensor([[0.5, 0.2, 0.3], [0.25, 0.25, 0.5], [1.0, 0.0, 0.0]])
    assert top2_margin(p).tolist() == pytest.approx([0.2, 0.25, 1.0])
    assert top2_margin(torch.ones(3, 1)).tolist() == [1.0, 1.0, 1.0]  # one choice: decided


SKIP, NONE = OP_NAMES.index("skip_connect"), OP_NAMES.index("none")


def _relaxed(op_margin=0.5, kernel=None, depth=None):
    """Every edge chooses skip_connect (every edge live) over none by ``op_margin``."""
    op = torch.full((18, 5), 0.1)
    op[:, SKIP] = 0.1 + op_margin / 2
    op[:, NONE] = 0.1 - op_margin / 2 + 0.1
    op = op / op.sum(1, keepdim=True)
    return {"op": op, "kernel": kernel, "depth": depth}


def test_margins_take_every_choice_that_shapes_the_network():
    relaxed = _relaxed()
    relaxed["op"][7] = torch.tensor([0.1, 0.1, 0.1, 0.36, 0.34])  # edge 7 (stage 1): conv, close
    relaxed["kernel"] = torch.tensor([[0.6, 0.3, 0.1]] * 18)
    relaxed["kernel"][7] = torch.tensor([0.2, 0.75, 0.05])
    relaxed["kernel"][3] = torch.tensor([0.34, 0.33, 0.33])  # edge 3 is not a conv: not counted
    relaxed["depth"] = torch.tensor([[0.9, 0.1, 0.0], [0.5, 0.45, 0.05], [0.2, 0.2, 0.6]])
    m = margins(relaxed)
    assert m.kernel[3] is None and m.kernel[7] == pytest.approx(0.55)
    assert m.depth == pytest.approx([0.8, 0.05, 0.4])
    assert m.minimum() == pytest.approx(0.02)
    assert m.weakest() == "stage 1, edge 2←0 (operation)"  # row 7: stage 1's edge 1 (2←0)
    relaxed["op"][7] = torch.tensor([0.1, 0.1, 0.1, 0.6, 0.1])
    m = margins(relaxed)
    assert m.minimum() == pytest.approx(0.05) and m.weakest() == "stage 1 (depth)"
    assert not is_decided(m, 0.1, size_search=True) and is_decided(m, 0.04, size_search=True)


def test_an_edge_the_other_choices_leave_dead_does_not_count():
    """Stage 0's node 1 feeds nothing once edges 2←1 and 3←1 choose none, so edge 1←0 (row 0)
    is dead whatever it chooses: a near-tie there does not make the search undecided. Edge 2←1
    (row 2), which chose none, still counts: an operation there would be live."""
    relaxed = _relaxed(op_margin=0.5)
    for row in (2, 4):  # 2←1 and 3←1 choose none
        relaxed["op"][row] = torch.tensor([0.7, 0.1, 0.1, 0.05, 0.05])
    relaxed["op"][0] = torch.tensor([0.19, 0.21, 0.2, 0.2, 0.2])  # a near-tie on the dead edge
    m = margins(relaxed)
    assert m.op[0] is None
    assert m.op[2] == pytest.approx(0.6) and m.op[4] == pytest.approx(0.6)
    assert m.minimum() == pytest.approx(m.op[1]) and is_decided(m, 0.1, size_search=False)
    relaxed["op"][4] = torch.tensor([0.1, 0.7, 0.1, 0.05, 0.05])  # 3←1 live again: 1←0 counts
    m = margins(relaxed)
    assert m.op[0] == pytest.approx(0.01) and not is_decided(m, 0.1, size_search=False)
    assert m.weakest() == "stage 0, edge 1←0 (operation)"


def test_a_size_search_is_not_decided_before_its_size_phase():
    m = margins(_relaxed(op_margin=0.9))
    assert m.kernel is None and m.depth is None
    assert is_decided(m, 0.1, size_search=False)
    assert not is_decided(m, 0.1, size_search=True)


# ---- the α-step schedule --------------------------------------------------------------------
@pytest.mark.parametrize("method,per_step", [("zo-darts++", 10), ("zarts-mgs", 10),
                                             ("darts-1st", 10), ("random", 10)])
def test_arch_steps_give_the_same_alpha_steps_whatever_the_dataset_size(method, per_step):
    steps = []
    for images in (273, 8000, 120_000):  # BreastMNIST's half, a mid-size and a large set
        c = resolve_schedule(make_search_config("quick", method=method, arch_steps=120,
                                                batch_size=32), "custom", images, images)
        total = sum(batches_in_epoch(c, e, c.steps_per_epoch) for e in range(c.epochs))
        assert c.steps_per_epoch <= images // 32
        assert total == 120 * per_step  # and so exactly 120 α steps
        steps.append(total // per_step)
        # The size phase and the temperature decays sit at fixed fractions of the search.
        assert c.size_search_start == round(0.4 * c.epochs)
        # T × 0.75 at each tenth of the search, at epoch granularity: ten or more epochs end
        # at the paper's last temperature, 1.5 · 0.75⁹, however many epochs that is.
        last = temperature_at(c.epochs - 1, c, anneal=True)
        assert last == pytest.approx(1.5 * 0.75 ** 9) or c.epochs < 10
        assert all(temperature_at(e + 1, c, True) <= temperature_at(e, c, True)
                   for e in range(c.epochs - 1))
    assert steps == [120, 120, 120]


@pytest.mark.parametrize("epochs, decays", [(6, [0, 1, 3, 5, 6, 8]), (45, None), (50, None)])
def test_the_temperature_follows_the_fraction_of_the_search_done(epochs, decays):
    c = make_search_config("quick", arch_steps=40)
    c.epochs = epochs
    got = [round(math.log(temperature_at(e, c, True) / 1.5, 0.75)) for e in range(epochs)]
    # Epoch e starts ⌊10·e/epochs⌋ tenths into the search; 45 and 50 epochs both end after 9
    # decays (a period rounded to whole epochs gave 45 epochs 11 and 6 epochs only 5).
    assert got == (decays or [10 * e // epochs for e in range(epochs)])
    assert got[-1] == (8 if epochs < 10 else 9)
    # An explicit period (the paper preset's every 5 epochs) is kept as given.
    c.temp_decay_every = 5
    assert temperature_at(epochs - 1, c, True) == pytest.approx(1.5 * 0.75 ** ((epochs - 1) // 5))


def test_the_loop_takes_the_alpha_steps_it_was_given(tmp_path):
    counts = []
    for n, name in ((60, "small"), (240, "large")):
        data = make_npz(tmp_path / f"{name}.npz", (n, n // 4, 8), image_size=8)
        config = make_search_config("tiny", dataset=str(data), arch_steps=5, batch_size=8,
                                    epochs=None, options={"zo_steps": 2})
        config.steps_per_epoch = None
        run_search(config, tmp_path / name, progress=False, log=None)
        steps = read_jsonl(tmp_path / name / "search/steps.jsonl")
        counts.append(len(steps))
    assert counts == [5, 5]


# ---- a length given by the user replaces the preset's (issue: --epochs past quick's length) ---
LENGTHS = [dict(epochs=30), dict(epochs=3), dict(arch_steps=7), dict(epochs=30, arch_steps=40),
           dict(epochs=12, arch_steps=5), dict(epochs=60, arch_steps=5),
           dict(epochs=2, arch_steps=400), dict(epochs=30, steps_per_epoch=2),
           dict(arch_steps=40, steps_per_epoch=3), dict(epochs=5, arch_steps=9, steps_per_epoch=2),
           dict(steps_per_epoch=5)]


@pytest.mark.parametrize("preset", ["tiny", "quick", "paper"])
@pytest.mark.parametrize("length", LENGTHS, ids=lambda d: ",".join(f"{k}={v}" for k, v in
                                                                  d.items()))
def test_every_length_runs_every_epoch_or_is_refused_in_one_line(preset, length):
    """Each preset with each combination of --epochs, --arch-steps and --steps-per-epoch: either
    every epoch trains and the α steps asked for are exactly what runs, or a ConfigError says
    which settings conflict and what would work (before any work: this is the resolution)."""
    config = make_search_config(preset, **length)
    try:
        c = resolve_schedule(config, "digits", 719, 719)   # digits' search halves, batch 32
    except ConfigError as err:
        message = str(err)
        assert "--epochs" in message and "--arch-steps" in message and "\n" not in message
        assert "use at" in message
        return
    batches = min(719 // c.batch_size, c.steps_per_epoch or 719)
    per_epoch = [batches_in_epoch(c, e, batches) for e in range(c.epochs)]
    assert min(per_epoch) >= 1
    if "epochs" in length and "arch_steps" not in length:
        assert c.epochs == length["epochs"] and c.arch_steps is None
    if "arch_steps" in length:
        assert c.arch_steps == length["arch_steps"] and sum(per_epoch) == c.arch_steps * batches_per_step(c)
    # Resolving the resolved config again (what a resume does) changes nothing.
    again = resolve_schedule(c, "digits", 719, 719)
    assert [batches_in_epoch(again, e, batches) for e in range(again.epochs)] == per_epoch


def test_quick_with_more_epochs_than_alpha_steps_runs_to_the_end_and_resumes(tmp_path,
                                                                             monkeypatch):
    """The crash of `zodarts search --epochs 30` (quick preset): 12 epochs cut to 5 batches each
    (α steps of 10 batches, so half the epochs hold none) run to the end; every record has its
    training numbers and its α-step count; a run killed mid-way and resumed ends the same."""
    from conftest import assert_same_search, search_killed_mid_run

    config = make_search_config("quick", dataset="digits", epochs=12, steps_per_epoch=5, C=4,
                                cells_per_stage=1)
    lines = []
    run_search(config, tmp_path / "full", progress=False, log=lines.append)
    log = read_jsonl(tmp_path / "full/search/log.jsonl")
    assert [r["epoch"] for r in log] == list(range(12))
    assert all(r["train_steps"] == 5 and "train_loss" in r for r in log)
    # 60 batches: 6 rounds of 10, less the one the size phase cuts (it starts after 25
    # batches, at epoch 5, and begins a round of its own); half the epochs close no round.
    assert sum(r["arch_steps"] for r in log) == 5 and min(r["arch_steps"] for r in log) == 0
    assert sum(line.startswith("epoch ") for line in lines) == 12
    search_killed_mid_run(config, tmp_path / "resumed", 23, monkeypatch)
    run_search(None, tmp_path / "resumed", resume=True, progress=False, log=None)
    assert_same_search(tmp_path / "full", tmp_path / "resumed", 12)


def test_both_lengths_spread_the_alpha_steps_over_the_epochs(tmp_path):
    config = make_search_config("quick", dataset="digits", epochs=12, arch_steps=5, C=4,
                                cells_per_stage=1)
    run_search(config, tmp_path / "run", progress=False, log=None)
    log = read_jsonl(tmp_path / "run/search/log.jsonl")
    # Fewer α steps than epochs: the 50 batches themselves are spread, rounds straddle epochs.
    assert [r["train_steps"] for r in log] == [4, 4, 4, 4, 4, 5] * 2
    assert sum(r["arch_steps"] for r in log) == 5
    # As many α steps as epochs or more: whole rounds per epoch, none cut by the size phase.
    config = make_search_config("quick", dataset="digits", epochs=3, arch_steps=5, C=4,
                                cells_per_stage=1)
    run_search(config, tmp_path / "rounds", progress=False, log=None)
    log = read_jsonl(tmp_path / "rounds/search/log.jsonl")
    assert [r["train_steps"] for r in log] == [10, 20, 20]
    assert [r["arch_steps"] for r in log] == [1, 2, 2]


def test_an_epoch_line_never_assumes_a_key():
    from zodarts.search.loop import _epoch_line
    line = _epoch_line({"epoch": 3, "phase": 1}, 10, None)
    assert line.startswith("epoch 4/10 phase 1") and "train loss -" in line


# ---- --until-decided ------------------------------------------------------------------------
def _search(tmp_path, name, **settings):
    config = make_search_config("tiny", dataset="digits", **settings)
    run_search(config, tmp_path / name, progress=False, log=None)
    return read_jsonl(tmp_path / name / "search/log.jsonl")


def test_until_decided_stops_a_search_that_decides_fast(tmp_path):
    # Sparsemax at a low temperature turns α's small differences into one-hot choices at once;
    # the size phase starts at epoch 2, so epochs 2 and 3 are the first two decided ones.
    log = _search(tmp_path, "fast", epochs=10, temperature=0.002, temp_decay=1.0,
                  until_decided=True, decided_epochs=2)
    assert [r["decided"] for r in log] == [False, True, True]
    assert log[-1]["decided_epochs"] == 2 and log[-1]["margin_min"] >= 0.1
    # A resumed, already stopped search does not start again.
    run_search(None, tmp_path / "fast", resume=True, progress=False, log=None)
    assert len(read_jsonl(tmp_path / "fast/search/log.jsonl")) == 3


def test_until_decided_runs_to_the_maximum_when_undecided(tmp_path):
    log = _search(tmp_path, "slow", method="darts-1st", epochs=4, until_decided=True)
    assert len(log) == 4 and not any(r["decided"] for r in log)
    assert log[-1]["margin_min"] < 0.1


def test_random_search_has_no_margins(tmp_path):
    log = _search(tmp_path, "random", method="random", epochs=1)
    assert "decided" not in log[-1] and "margin_min" not in log[-1]
