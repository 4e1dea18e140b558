"""Shared test helpers: small synthetic datasets in MedMNIST layout, whole or deliberately broken.

``make_arrays`` builds the six arrays; ``make_npz`` writes them (after ``drop``/``replace``
edits) to a file. Both are plain functions so any test module can import them
(``from conftest import make_npz``) and are also offered as fixtures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pytest

import zodarts  # noqa: F401  (before torch: its OpenMP threads sleep while they wait)

# The suite's networks are tiny: one thread is as fast as two and immune to the huge slow-downs
# of oversubscribed OpenMP threads when the machine is busy. The commands run in-process set
# their threads from $OMP_NUM_THREADS (utils.threads): one unless the caller asks for more.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

SPLIT_NAMES = ("train", "val", "test")


def make_arrays(sizes: Sequence[int] = (40, 8, 16), *, channels: int = 1, image_size: int = 28,
                classes: int = 2, multi_label: int | None = None, flat_labels: bool = False,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Six arrays in MedMNIST layout: uint8 images (n, H, W) or (n, H, W, 3); labels (n, 1)
    (``flat_labels``: (n,)), or (n, L) 0/1 with ``multi_label=L``. Every class appears in every
    split (labels cycle through the classes), so class counts are predictable."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(SPLIT_NAMES, sizes):
        shape = (n, image_size, image_size) + ((3,) if channels == 3 else ())
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if multi_label:
            labels = rng.integers(0, 2, (n, multi_label), dtype=np.uint8)
        else:
            labels = (np.arange(n) % classes).astype(np.uint8)
            labels = labels if flat_labels else labels[:, None]
        arrays[f"{split}_labels"] = labels
    return arrays


def make_npz(path: str | Path, sizes: Sequence[int] = (40, 8, 16), *,
             drop: Sequence[str] = (), replace: Mapping[str, np.ndarray] | None = None,
             compressed: bool = False, **kwargs) -> Path:
    """Write a synthetic MedMNIST-layout file (see :func:`make_arrays` for ``kwargs``).

    ``drop`` removes arrays by name; ``replace`` swaps in arrays (wrong dtype, shape, ...).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = make_arrays(sizes, **kwargs)
    arrays.update(replace or {})
    for key in drop:
        arrays.pop(key)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


@pytest.fixture
def npz_factory(tmp_path):
    """``npz_factory(name="toy", **make_npz_kwargs)`` → path of a new file under tmp_path."""
    def factory(name: str = "toy", **kwargs) -> Path:
        return make_npz(tmp_path / f"{name}.npz", **kwargs)
    return factory


@pytest.fixture
def isolated_roots(tmp_path, monkeypatch):
    """No real data leaks in: $MEDMNIST_ROOT unset and ~ pointed at an empty folder."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv("MEDMNIST_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def medmnist_root() -> Path:
    """The folder of real MedMNIST files ($MEDMNIST_ROOT); the test is skipped without it."""
    import os

    root = os.environ.get("MEDMNIST_ROOT")
    if not root or not (Path(root) / "breastmnist.npz").is_file():
        pytest.skip("MEDMNIST_ROOT not set (or without breastmnist.npz): real MedMNIST files "
                    "unavailable")
    return Path(root)


def assert_same_search(full: Path, resumed: Path, epochs: int) -> None:
    """A resumed search equals the uninterrupted one: every epoch once, the same per-epoch log
    values (but wall time) and the same genotype file."""
    from zodarts.utils.io import read_jsonl

    a = read_jsonl(full / "search/log.jsonl")
    b = read_jsonl(resumed / "search/log.jsonl")
    assert [r["epoch"] for r in b] == list(range(epochs))
    for ra, rb in zip(a, b):
        ra.pop("seconds"), rb.pop("seconds")
        assert ra == rb
    assert (full / "genotype.json").read_text() == (resumed / "genotype.json").read_text()


def search_killed_mid_run(config, out, kill_at_step: int, monkeypatch, searcher_cls=None):
    """Run a search into ``out`` and stop it as a kill would at its ``kill_at_step``-th training
    batch (counted from 1): whatever was in flight is lost, the last checkpoint stays."""
    from zodarts.search.loop import run_search
    from zodarts.search.zo_darts import ZODartsPP

    cls = searcher_cls or ZODartsPP
    calls = {"n": 0}
    original = cls.step

    def dying(self, train_batch, val_batch):
        calls["n"] += 1
        if calls["n"] == kill_at_step:
            raise KeyboardInterrupt
        return original(self, train_batch, val_batch)

    monkeypatch.setattr(cls, "step", dying)
    with pytest.raises(KeyboardInterrupt):
        run_search(config, out, progress=False, log=None)
    monkeypatch.setattr(cls, "step", original)


def available_devices() -> list[str]:
    """CPU always; CUDA where torch sees a GPU (the same tests then run on both)."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=available_devices())
def device(request) -> str:
    """A device-parametrised test runs once per available device (`pytest -m devices` picks
    them all, as benchmarks/gpu_check.sh does on a GPU machine)."""
    return request.param


def fake_landscape(root: Path, dataset: str, test_accs: Sequence[Sequence[float]],
                   train: dict | None = None) -> Path:
    """A landscape folder with made-up records (no training): one architecture per entry of
    ``test_accs``, one retraining per value; its retraining settings ``train``."""
    import json as _json

    from zodarts.landscape.table import (ARCHS, RECORD, LandscapeSettings, arch_id,
                                         save_genotypes, seed_folder)
    from zodarts.space import sample_genotype

    seeds = max(len(a) for a in test_accs)
    root.mkdir(parents=True, exist_ok=True)
    LandscapeSettings(dataset, None, "tiny", 4, 1, "none", None, 0, None, len(test_accs), seeds,
                      train or {}).save(root)
    save_genotypes(root, [sample_genotype(i, 1, 2, C=4, cells_per_stage=1)
                          for i in range(len(test_accs))])
    for i, accs in enumerate(test_accs):
        for s, acc in enumerate(accs):
            folder = seed_folder(root / ARCHS / arch_id(i), s)
            folder.mkdir(parents=True)
            (folder / RECORD).write_text(_json.dumps({
                "seed": s, "val_acc": acc, "val_auc": 0.5, "val_loss": 1.0, "test_acc": acc,
                "test_auc": 0.5, "test_loss": 1.0, "train_seconds": 1.0, "seconds": 1.0}))
    return root


@pytest.fixture(scope="session")
def shared_ray():
    """One local Ray for the test session: sweeps and landscapes run in-process use the Ray
    that is already up (sweep/runner.ray_cluster) instead of starting and stopping their own,
    seconds each. Two CPUs, as on the machines the suite is sized for; `--num-cpus 1` caps a
    command at one of them."""
    try:
        import ray
    except ImportError:   # the tests that need Ray skip by themselves, saying so
        yield None
        return
    import logging

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()
