"""How decided a search is: margins on constructed distributions, the α-step schedule, and
--until-decided on problems that decide fast and that do not."""

import math

import numpy as np
import pytest
import torch

from conftest import make_npz
from zodarts.config import make_search_config
from zodarts.search.loop import SearchLoop, run_search
from zodarts.search.protocol import batches_in_epoch, resolve_schedule
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
