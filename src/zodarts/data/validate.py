"""Structural validation of MedMNIST-layout ``.npz`` files.

Like the ``medmnist`` package, loading checks structure, not bytes: users keep subsets and
re-saved copies, so a different md5 is reported (``official``/``modified``), never refused.
What must hold is what training relies on — the six arrays, uint8 images of one shape, integer
labels in range — and any failure is a :class:`DataError` that names the file, the array, the
problem and the fix, so nothing breaks later deep inside a training loop.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from zodarts.data.registry import REGISTRY, SPLITS, DatasetInfo
from zodarts.errors import DataError, ZodartsWarning

ARRAYS = tuple(f"{split}_{kind}" for split in SPLITS for kind in ("images", "labels"))


class DatasetWarning(ZodartsWarning):
    """Data that loads but differs from the official release (e.g. a subset)."""


def md5_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_status(path: str | os.PathLike, name: str, size: int = 28) -> str | None:
    """``"official"`` if the file is byte-identical to the release, ``"modified"`` if not,
    ``None`` when there is nothing to compare with (unknown name or size)."""
    info = REGISTRY.get(name.lower())
    expected = info.md5_for(size) if info else None
    if expected is None:
        return None
    return "official" if md5_of(path) == expected else "modified"


def refetch_hint(path: Path, name: str | None, size: int = 28) -> str:
    """How to replace a bad file: the exact fetch command for registry datasets."""
    info = REGISTRY.get(name.lower()) if name else None
    if info is None or not info.is_medmnist:
        return (f"re-create it with numpy.savez holding the six arrays {', '.join(ARRAYS)}, "
                "or copy it again")
    size_flag = f" --size {size}" if size != info.image_size else ""
    return (f"delete it and download it again: rm '{path}' && "
            f"zodarts fetch {info.name} --root '{path.parent}'{size_flag}")


def read_npz(path: str | os.PathLike, name: str | None = None,
             size: int = 28) -> dict[str, np.ndarray]:
    """The six arrays of a MedMNIST-layout file, decompressed; corrupt files become DataError."""
    path = Path(path)
    hint = refetch_hint(path, name, size)
    # np.load falls back to unpickling for anything that is not a zip: refuse it up front, and
    # a truncated zip (no central directory) fails here too.
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} is not a valid .npz archive (truncated, corrupt or not an npz "
                        f"file); {hint}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            present = set(npz.files)
            missing = [key for key in ARRAYS if key not in present]
            if missing:
                raise DataError(
                    f"{path}: missing array(s) {', '.join(missing)} (found: "
                    f"{', '.join(sorted(present)) or 'none'}); a MedMNIST-layout file holds "
                    f"{', '.join(ARRAYS)}; {hint}")
            return {key: npz[key] for key in ARRAYS}
    except DataError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise DataError(f"{path} is corrupt or truncated ({type(err).__name__}: {err}); "
                        f"{hint}") from None


@dataclass
class ValidArrays:
    """Arrays after validation: images (n, C, H, W) uint8, labels int64 (n,) or (n, L)."""

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    channels: int
    classes: int
    task: str
    image_size: int


def _images(source: str, key: str, array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise DataError(f"{source}: {key} has dtype {array.dtype}, expected uint8 (0..255); "
                        "convert it, e.g. np.clip(x * 255, 0, 255).astype(np.uint8) for [0, 1] "
                        "floats")
    if array.ndim == 3:
        return array[:, None]
    if array.ndim == 4 and array.shape[-1] in (1, 3):
        return array.transpose(0, 3, 1, 2)
    raise DataError(f"{source}: {key} has shape {array.shape}, expected (n, H, W) for grey or "
                    "(n, H, W, 3) for RGB images (channels last, as in MedMNIST)")


def _labels(source: str, key: str, array: np.ndarray) -> np.ndarray:
    if array.dtype == np.bool_:
        array = array.astype(np.int64)
    elif np.issubdtype(array.dtype, np.floating):
        # Some tools save labels as float; accept them only when no information is lost.
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise DataError(f"{source}: {key} holds non-integer values (dtype {array.dtype}); "
                            "labels must be integer class indices (multi-label: 0/1)")
        array = array.astype(np.int64)
    elif not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{source}: {key} has dtype {array.dtype}, expected integer class "
                        "indices")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2):
        raise DataError(f"{source}: {key} has shape {array.shape}, expected (n,) or (n, 1) "
                        "class indices, or (n, L) 0/1 multi-label targets")
    return array.astype(np.int64, copy=False)


def validate_arrays(arrays: Mapping[str, np.ndarray], source: str,
                    info: DatasetInfo | None = None, size: int | None = None) -> ValidArrays:
    """Check the six arrays and normalise their layout.

    ``source`` names the file in messages. With ``info`` (a registry dataset) the channels,
    classes, task and ``size`` must match it and split sizes are compared (a difference is a
    :class:`DatasetWarning`); without it they are inferred from the data.
    """
    images = {s: _images(source, f"{s}_images", np.asarray(arrays[f"{s}_images"]))
              for s in SPLITS}
    labels = {s: _labels(source, f"{s}_labels", np.asarray(arrays[f"{s}_labels"]))
              for s in SPLITS}

    shape = images["train"].shape[1:]
    for s in SPLITS:
        if images[s].shape[1:] != shape:
            raise DataError(f"{source}: {s}_images are {_describe(images[s].shape[1:])} but "
                            f"train_images are {_describe(shape)}; all splits must share one "
                            "image size and channel count")
        if len(images[s]) != len(labels[s]):
            raise DataError(f"{source}: {s}_images has {len(images[s])} images but "
                            f"{s}_labels has {len(labels[s])} labels; they must match one to one")
        if len(images[s]) == 0:
            raise DataError(f"{source}: the {s} split is empty; every split needs images")
    channels, height, width = shape
    if height != width:
        raise DataError(f"{source}: images are {height}×{width}; zodarts needs square images "
                        "(crop or pad them first)")
    ndims = {labels[s].ndim for s in SPLITS}
    widths = {labels[s].shape[1] for s in SPLITS if labels[s].ndim == 2}
    if len(ndims) > 1 or len(widths) > 1:
        raise DataError(f"{source}: label shapes differ between splits "
                        f"({', '.join(f'{s}_labels {labels[s].shape}' for s in SPLITS)})")
    multi_label = ndims == {2}

    if info is not None:
        task, classes = info.task, info.classes
        if channels != info.channels:
            raise DataError(f"{source}: images have {channels} channel(s), but {info.name} has "
                            f"{info.channels}; is this the right file?")
        if size is not None and height != size:
            raise DataError(f"{source}: images are {height}×{width}, expected {size}×{size} for "
                            f"this file; for other sizes load {info.name} with --size {height}")
        if multi_label != (task == "multi-label"):
            expected = "(n, L) 0/1 targets" if task == "multi-label" else "(n,) or (n, 1) indices"
            raise DataError(f"{source}: labels have shape {labels['train'].shape}, but "
                            f"{info.name} is {task} and needs {expected}")
        if multi_label and labels["train"].shape[1] != classes:
            raise DataError(f"{source}: labels have {labels['train'].shape[1]} columns, "
                            f"{info.name} has {classes} labels")
    elif multi_label:
        task, classes = "multi-label", labels["train"].shape[1]
    else:
        classes = int(max(labels[s].max() for s in SPLITS)) + 1
        if classes < 2:
            raise DataError(f"{source}: every label is 0; classification needs at least two "
                            "classes")
        task = "binary" if classes == 2 else "multi-class"

    for s in SPLITS:
        y = labels[s]
        if multi_label:
            bad = (y != 0) & (y != 1)
            allowed = "0 or 1 (multi-label targets)"
        else:
            bad = (y < 0) | (y >= classes)
            allowed = f"in [0, {classes})"
        if bad.any():
            first = int(np.flatnonzero(bad.reshape(len(y), -1).any(axis=1))[0])
            raise DataError(f"{source}: {s}_labels has {int(bad.sum())} value(s) outside "
                            f"{allowed}, first at index {first} (value "
                            f"{y[first].tolist()}); fix or remove those samples")

    if not multi_label:
        counts = sum(np.bincount(labels[s].reshape(-1), minlength=classes) for s in SPLITS)
        empty = [int(k) for k in np.flatnonzero(counts == 0)]
        if empty:
            many = len(empty) > 1
            warnings.warn(f"{source}: the labels make {classes} classes (0 to {classes - 1}), but "
                          f"class{'es' if many else ''} {', '.join(map(str, empty))} "
                          f"{'have' if many else 'has'} no image in any split; the model still "
                          f"gets {classes} outputs — renumber the labels 0..K-1 if that is not "
                          "meant", DatasetWarning, stacklevel=3)
    if info is not None:
        for s in SPLITS:
            if len(images[s]) != info.splits[s]:
                warnings.warn(f"{source}: {s} split has {len(images[s])} images, the official "
                              f"{info.name} has {info.splits[s]} (a subset or a modified file; "
                              "continuing with what is there)", DatasetWarning, stacklevel=3)
    return ValidArrays(images=images, labels=labels, channels=channels, classes=classes,
                       task=task, image_size=height)


def _describe(shape: tuple[int, ...]) -> str:
    channels, height, width = shape
    return f"{height}×{width} with {channels} channel(s)"
