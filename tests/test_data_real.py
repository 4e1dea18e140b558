"""Real MedMNIST files. The official ones come through $MEDMNIST_ROOT (CI points it at
../shared/data/medmnist); the non-official copies, which only tests of how such files are
treated may read, through $MEDMNIST_MODIFIED_ROOT or ../shared/data/medmnist-modified beside the
repository. Each test skips, saying why, where its file is absent."""

import os
from pathlib import Path

import pytest
import torch

from zodarts.data import DatasetWarning, load_dataset


def official(name: str) -> Path:
    root = os.environ.get("MEDMNIST_ROOT")
    if not root or not (Path(root) / f"{name}.npz").is_file():
        pytest.skip(f"{name}.npz not in $MEDMNIST_ROOT ({root or 'unset'}): the official "
                    "MedMNIST files are unavailable")
    return Path(root)


def modified(name: str) -> Path:
    root = Path(os.environ.get("MEDMNIST_MODIFIED_ROOT") or
                Path(__file__).resolve().parents[2] / "shared" / "data" / "medmnist-modified")
    if not (root / f"{name}.npz").is_file():
        pytest.skip(f"{name}.npz not in {root} (set $MEDMNIST_MODIFIED_ROOT): the modified "
                    "MedMNIST copies are unavailable")
    return root


def test_official_breastmnist():
    ds = load_dataset("breastmnist", official("breastmnist"))
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 546, "val": 78, "test": 156}
    assert ds.md5_status == "official"
    labels = ds.splits["train"].labels
    assert labels.shape == (546,) and labels.dtype == torch.int64  # (n, 1) labels flattened
    assert ds.splits["train"].images.shape == (546, 1, 28, 28)
    assert ds.class_counts()["train"] == [147, 399]


def test_official_pneumoniamnist_is_whole_and_silent(recwarn):
    ds = load_dataset("pneumoniamnist", official("pneumoniamnist"))
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 4708, "val": 524, "test": 624}
    assert ds.md5_status == "official"
    assert ds.class_counts()["train"] == [1214, 3494]
    assert not [w for w in recwarn if issubclass(w.category, DatasetWarning)]


def test_modified_breastmnist_with_flat_labels_loads_as_modified():
    ds = load_dataset("breastmnist", modified("breastmnist"))
    assert ds.md5_status == "modified"
    assert ds.splits["train"].labels.shape == (546,)  # flat (n,) labels accepted
    assert ds.class_counts()["train"] == [147, 399]


def test_pneumoniamnist_subset_warns_once():
    with pytest.warns(DatasetWarning, match="train split has 3882 images.*4708") as caught:
        ds = load_dataset("pneumoniamnist", modified("pneumoniamnist"))
    assert len([w for w in caught if issubclass(w.category, DatasetWarning)]) == 1
    assert len(ds.splits["train"]) == 3882 and ds.md5_status == "modified"
    assert ds.class_counts()["train"] == [388, 3494]
