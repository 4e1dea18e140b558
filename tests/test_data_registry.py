"""The dataset registry: the 12 MedMNIST 2D entries of DESIGN.md §1 plus the bundled digits."""

import re

import pytest

from zodarts.data import REGISTRY, TASKS, get_info
from zodarts.data.registry import default_root, find_local, search_dirs
from zodarts.errors import DataError

MEDMNIST = ["pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist",
            "retinamnist", "breastmnist", "bloodmnist", "tissuemnist", "organamnist",
            "organcmnist", "organsmnist"]


def test_names():
    assert list(REGISTRY) == MEDMNIST + ["digits", "control-closure", "control-closure-tight",
                                         "control-closure-nearer"]


@pytest.mark.parametrize("name", MEDMNIST)
def test_medmnist_entries_are_complete(name):
    info = REGISTRY[name]
    assert info.name == name and info.task in TASKS and info.channels in (1, 3)
    assert set(info.splits) == {"train", "val", "test"} and min(info.splits.values()) > 0
    assert re.fullmatch(r"[0-9a-f]{32}", info.md5)
    assert len(info.label_names) == info.classes
    assert info.url == f"https://zenodo.org/records/10519652/files/{name}.npz?download=1"
    assert info.url_for(64) == f"https://zenodo.org/records/10519652/files/{name}_64.npz?download=1"
    assert info.filename() == f"{name}.npz" and info.filename(128) == f"{name}_128.npz"
    assert info.sizes() == (28, 64, 128, 224)
    assert all(re.fullmatch(r"[0-9a-f]{32}", info.md5_for(s)) for s in info.sizes())


def test_design_table_values():
    # Spot checks against DESIGN.md §1.
    assert REGISTRY["breastmnist"].splits == {"train": 546, "val": 78, "test": 156}
    assert REGISTRY["breastmnist"].md5 == "750601b1f35ba3300ea97c75c52ff8f6"
    assert REGISTRY["pneumoniamnist"].md5 == "28209eda62fecd6e6a2d98b1501bb15f"
    assert REGISTRY["organamnist"].splits == {"train": 34561, "val": 6491, "test": 17778}
    chest = REGISTRY["chestmnist"]
    assert (chest.task, chest.classes, chest.channels) == ("multi-label", 14, 1)
    assert REGISTRY["retinamnist"].task == "ordinal"
    assert REGISTRY["pathmnist"].channels == 3 and REGISTRY["pathmnist"].classes == 9
    assert REGISTRY["breastmnist"].label_names == ("malignant", "normal, benign")


def test_digits_entry():
    info = get_info("digits")
    assert (info.md5, info.url, info.url_for(28)) == (None, None, None)
    assert (info.channels, info.classes, info.image_size) == (1, 10, 8)
    assert sum(info.splits.values()) == 1797


def test_get_info_is_case_insensitive_and_lists_names_when_unknown():
    assert get_info("BreastMNIST") is REGISTRY["breastmnist"]
    with pytest.raises(DataError) as err:
        get_info("cifar10")
    assert "cifar10" in str(err.value)
    assert all(name in str(err.value) for name in REGISTRY)


def test_info_is_frozen():
    with pytest.raises(AttributeError):
        REGISTRY["digits"].classes = 3


def test_search_order(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "env"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    dirs = [d for d, _ in search_dirs(tmp_path / "cli")]
    assert dirs == [tmp_path / "cli", tmp_path / "env", tmp_path / "home" / ".medmnist"]
    assert default_root() == tmp_path / "env"
    monkeypatch.delenv("MEDMNIST_ROOT")
    assert default_root() == tmp_path / "home" / ".medmnist"


def test_find_local_prefers_earlier_roots(tmp_path, monkeypatch):
    for d in ("cli", "env"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "breastmnist.npz").write_bytes(b"x")
    monkeypatch.setenv("MEDMNIST_ROOT", str(tmp_path / "env"))
    assert find_local("breastmnist", tmp_path / "cli") == tmp_path / "cli" / "breastmnist.npz"
    assert find_local("breastmnist") == tmp_path / "env" / "breastmnist.npz"
    assert find_local("breastmnist", size=64) is None
