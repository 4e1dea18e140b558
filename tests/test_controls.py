"""The control datasets: generated deterministically, cached, loaded by name like any dataset,
and the label-shuffled negative control of any dataset."""

import numpy as np
import pytest
import torch

from zodarts.data import load_dataset
from zodarts.data.controls import CONTROLS, SPLIT_SIZES, control_file, generate


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the control is generated once (a few seconds)."""
    folder = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZODARTS_CACHE", str(folder))
        yield folder


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_every_generator_is_the_same_from_the_same_seed(name):
    draw = CONTROLS[name].generate
    (a, la), (b, lb) = (draw(np.random.default_rng(7), 60) for _ in range(2))
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert a.shape == (60, 28, 28) and a.dtype == np.uint8 and a.std() > 10
    assert set(np.unique(la)) == {0, 1}


def test_a_control_is_generated_once_with_its_splits_then_read_from_the_cache(cache):
    path = control_file("control-closure")
    assert path.parent == cache / "controls"
    stamp = path.stat().st_mtime_ns
    dataset = load_dataset("control-closure")
    assert path.stat().st_mtime_ns == stamp
    assert dataset.name == "control-closure" and dataset.task == "binary"
    assert dataset.label_names == ("outside", "inside") and dataset.image_size == 28
    assert {k: len(v) for k, v in dataset.splits.items()} == SPLIT_SIZES
    with np.load(path) as arrays:
        assert all(np.array_equal(arrays[k], v)
                   for k, v in generate(CONTROLS["control-closure"]).items())
    for split, n in SPLIT_SIZES.items():
        # Labels are fair coin flips: within three standard errors of one half.
        labels = dataset.splits[split].labels.float()
        assert abs(labels.mean().item() - 0.5) < 3 * np.sqrt(0.25 / n)


@pytest.mark.parametrize("name", ["digits", "control-closure"])
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


def test_shuffling_twice_is_refused_in_one_line(tmp_path):
    from zodarts.cli import main
    from zodarts.errors import DataError

    with pytest.raises(DataError, match=r"shuffled twice.*\(digits:shuffled\)"):
        load_dataset("digits:shuffled:shuffled")
    assert main(["search", "--dataset", "digits:shuffled:shuffled", "--preset", "tiny",
                 "--out", str(tmp_path / "run")]) == 1
    assert not (tmp_path / "run").exists()


def test_a_control_runs_wherever_a_dataset_does(cache, tmp_path):
    from zodarts.cli import main

    assert main(["search", "--dataset", "control-closure:shuffled", "--preset", "tiny",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert "control-closure:shuffled" in (tmp_path / "run/config.yaml").read_text()


# ---- the instrument checked both ways, on every commit ----------------------------------------

# Two architectures of the quick space from the control's pilot landscape: one whose first stage
# only average-pools (the 1-px outline is blurred away at full resolution before anything can
# follow it: 0.58 test ACC at 8 epochs), one with convolutions there (0.95).
BLURRING = {"format": 1, "stages": [
    {"depth": 1, "edges": ["none", "none", "conv_3x3", "avg_pool_3x3", "conv_3x3", "avg_pool_3x3"]},
    {"depth": 1, "edges": ["none", "avg_pool_3x3", "none", "avg_pool_3x3", "avg_pool_3x3",
                           "avg_pool_3x3"]},
    {"depth": 2, "edges": ["none", "conv_1x1", "avg_pool_3x3", "skip_connect", "avg_pool_3x3",
                           "skip_connect"]}],
    "in_channels": 1, "num_classes": 2, "C": 8, "image_size": 28}
FOLLOWING = {"format": 1, "stages": [
    {"depth": 1, "edges": ["conv_1x1", "avg_pool_3x3", "conv_5x5", "avg_pool_3x3", "conv_3x3",
                           "none"]},
    {"depth": 2, "edges": ["avg_pool_3x3", "conv_5x5", "conv_1x1", "conv_1x1", "conv_1x1",
                           "skip_connect"]},
    {"depth": 1, "edges": ["none", "conv_1x1", "skip_connect", "conv_3x3", "conv_3x3",
                           "avg_pool_3x3"]}],
    "in_channels": 1, "num_classes": 2, "C": 8, "image_size": 28}


@pytest.mark.slow
@pytest.mark.usefixtures("shared_ray")
def test_the_landscape_says_structured_on_the_control_and_flat_on_its_shuffled_twin(tmp_path,
                                                                                   capsys):
    """`zodarts landscape` itself on the positive control (two architectures, two seeds, 8
    epochs: the verdict must be structured) and on its label-shuffled twin (one epoch: nothing
    can be learnt, the verdict must be flat). The landscape had only ever said "flat"."""
    import json

    from zodarts.cli import main
    from zodarts.landscape.table import LandscapeSettings, save_genotypes
    from zodarts.space import Genotype

    source = tmp_path / "picked"
    source.mkdir()
    LandscapeSettings("control-closure", None, "quick", 8, 2, "none", None, 0, None, 2, 1
                      ).save(source)
    save_genotypes(source, [Genotype.from_dict(BLURRING), Genotype.from_dict(FOLLOWING)])

    def verdict(dataset: str, epochs: str) -> dict:
        out = tmp_path / dataset.replace(":", "-")
        assert main(["landscape", "--dataset", dataset, "--genotypes-from", str(source),
                     "--archs", "2", "--seeds", "2", "--preset", "quick", "--train-epochs",
                     epochs, "--num-cpus", "2", "--quiet", "--out", str(out)]) == 0
        return json.loads((out / "report" / "summary.json").read_text())["verdict"]

    positive = verdict("control-closure", "8")
    assert positive["word"] == "structured" and positive["low"] >= 0.3
    assert "Verdict: structured" in capsys.readouterr().out
    negative = verdict("control-closure:shuffled", "1")
    assert negative["word"] == "flat" and negative["no_skill"]
