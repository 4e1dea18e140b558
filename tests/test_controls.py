"""The control datasets: generated deterministically, cached, loaded by name like any dataset,
and the label-shuffled negative control of any dataset."""

import numpy as np
import pytest
import torch

from zodarts.data import load_dataset
from zodarts.data.controls import CONTROLS, SPLIT_SIZES, control_file, generate


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZODARTS_CACHE", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_every_generator_is_the_same_from_the_same_seed(name):
    draw = CONTROLS[name].generate
    (a, la), (b, lb) = (draw(np.random.default_rng(7), 60) for _ in range(2))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert a.shape == (60, 28, 28) and a.dtype == np.uint8 and a.std() > 10
    assert set(np.unique(la)) == {0, 1}


def test_a_control_has_its_splits_and_chance_at_one_half():
    arrays = generate(CONTROLS["control-spacing"])
    for split, n in SPLIT_SIZES.items():
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        assert images.shape == (n, 28, 28) and labels.shape == (n, 1)
        # Labels are fair coin flips: within three standard errors of one half.
        assert abs(labels.mean() - 0.5) < 3 * np.sqrt(0.25 / n)


def test_a_control_is_generated_once_then_read_from_the_cache(cache):
    path = control_file("control-samediff")
    assert path.parent == cache / "controls"
    stamp = path.stat().st_mtime_ns
    dataset = load_dataset("control-samediff")
    assert path.stat().st_mtime_ns == stamp
    assert dataset.name == "control-samediff" and dataset.task == "binary"
    assert dataset.label_names == ("different", "same") and dataset.image_size == 28
    assert {k: len(v) for k, v in dataset.splits.items()} == SPLIT_SIZES


@pytest.mark.parametrize("name", ["digits", "control-samediff"])
def test_shuffled_permutes_what_a_network_learns_from_and_keeps_the_truth(cache, name):
    true, shuffled = load_dataset(name), load_dataset(f"{name}:shuffled")
    assert shuffled.name == f"{name}:shuffled"
    assert torch.equal(shuffled.splits["test"].labels, true.splits["test"].labels)
    for split in ("train", "val"):
        a, b = true.splits[split], shuffled.splits[split]
        assert torch.equal(a.images, b.images)
        assert sorted(a.labels.tolist()) == sorted(b.labels.tolist())   # the same classes
        assert (a.labels != b.labels).float().mean() > 0.3              # not the same labels
    again = load_dataset(f"{name}:shuffled")
    assert torch.equal(again.splits["train"].labels, shuffled.splits["train"].labels)


def test_a_control_runs_wherever_a_dataset_does(cache, tmp_path):
    from zodarts.cli import main

    assert main(["search", "--dataset", "control-samediff:shuffled", "--preset", "tiny",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "control-samediff:shuffled" in (tmp_path / "run/config.yaml").read_text()
