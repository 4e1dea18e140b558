"""The real MedMNIST files of ../shared/data/medmnist (via $MEDMNIST_ROOT): a re-saved
BreastMNIST with flat labels and a PneumoniaMNIST subset — both must load, neither is official."""

import os
from pathlib import Path

import pytest
import torch

from zodarts.data import DatasetWarning, load_dataset

ROOT = os.environ.get("MEDMNIST_ROOT")
pytestmark = pytest.mark.skipif(not ROOT, reason="MEDMNIST_ROOT not set: real MedMNIST files "
                                                 "unavailable")


def need(name: str) -> None:
    if not (Path(ROOT) / f"{name}.npz").is_file():
        pytest.skip(f"{name}.npz not in MEDMNIST_ROOT={ROOT}")


def test_breastmnist():
    need("breastmnist")
    ds = load_dataset("breastmnist")
    assert {s: len(v) for s, v in ds.splits.items()} == {"train": 546, "val": 78, "test": 156}
    assert ds.md5_status == "modified"
    labels = ds.splits["train"].labels
    assert labels.shape == (546,) and labels.dtype == torch.int64  # flat (n,) labels accepted
    assert ds.splits["train"].images.shape == (546, 1, 28, 28)
    assert ds.class_counts()["train"] == [147, 399]


def test_pneumoniamnist_subset_warns():
    need("pneumoniamnist")
    with pytest.warns(DatasetWarning, match="train split has 3882 images.*4708"):
        ds = load_dataset("pneumoniamnist")
    assert len(ds.splits["train"]) == 3882 and ds.md5_status == "modified"
    assert ds.class_counts()["train"] == [388, 3494]
