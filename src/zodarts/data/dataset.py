"""Datasets in memory: uint8 image tensors plus labels, from any of the four sources a user has
(a MedMNIST name, a MedMNIST-layout ``.npz``, a folder of images, or the bundled digits)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from zodarts.data.registry import REGISTRY, SPLITS, get_info, search_dirs
from zodarts.data.validate import (DatasetWarning, ValidArrays, md5_status, read_npz,
                                   validate_arrays)
from zodarts.errors import DataError

# Sources without their own split (image folders, digits) get this one, stratified, seed 0.
DEFAULT_FRACTIONS = {"train": 0.7, "val": 0.1, "test": 0.2}
DEFAULT_SPLIT_SEED = 0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class Split:
    """One split: ``images`` uint8 (n, C, H, W); ``labels`` int64 (n,), or (n, L) multi-label."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor) -> "Split":
        return Split(self.images[index], self.labels[index])

    def concat(self, other: "Split") -> "Split":
        return Split(torch.cat([self.images, other.images]), torch.cat([self.labels, other.labels]))


@dataclass
class ImageDataset:
    name: str
    task: str  # "multi-class" | "multi-label" | "binary" | "ordinal"
    channels: int
    classes: int  # multi-label: number of labels
    image_size: int
    splits: dict[str, Split]
    path: Path | None = None
    md5_status: str | None = None  # "official" | "modified" | None (nothing to compare with)
    label_names: tuple[str, ...] = field(default_factory=tuple)

    def class_names(self) -> tuple[str, ...]:
        """One name per class (multi-label: per label); ``class K`` where the source has none."""
        if len(self.label_names) == self.classes:
            return tuple(self.label_names)
        return tuple(f"class {k}" for k in range(self.classes))

    def class_counts(self) -> dict[str, list[int]]:
        """Images per class in each split (multi-label: positives per label)."""
        counts = {}
        for name, split in self.splits.items():
            if split.labels.ndim == 2:
                counts[name] = split.labels.sum(dim=0).tolist()
            else:
                counts[name] = torch.bincount(split.labels, minlength=self.classes).tolist()
        return counts


def load_dataset(name_or_path: str | os.PathLike, data_root: str | os.PathLike | None = None,
                 size: int = 28, *, check_md5: bool = True,
                 download: bool = False) -> ImageDataset:
    """Load and validate a dataset.

    ``name_or_path``: a registry name (``breastmnist``, ``digits``, ...; found along
    ``data_root``, ``$MEDMNIST_ROOT``, ``~/.medmnist``; a control such as
    ``control-closure`` is generated and cached), a MedMNIST-layout ``.npz`` file, or a
    folder with one sub-folder of images per class. Any of them with ``:shuffled`` appended is
    its negative control: train and val labels permuted (``data.controls.shuffle_labels``). A registry name wins over a same-named
    folder in the working directory; write ``./digits`` to mean the folder.
    ``check_md5=False`` skips hashing the file (``md5_status`` is then None), for large files.
    ``download=True`` fetches a missing MedMNIST file first (into ``data_root``, else the
    default root); without it a missing file is an error that says how to fetch it.
    """
    from zodarts.data.controls import CONTROLS, control_file, shuffle_labels, split_variant

    if isinstance(name_or_path, str):
        base, shuffled = split_variant(name_or_path)
        if shuffled:   # the negative control of any dataset
            return shuffle_labels(load_dataset(base, data_root, size, check_md5=check_md5,
                                               download=download))
    if isinstance(name_or_path, str) and name_or_path.lower() in REGISTRY:
        name = name_or_path.lower()
        if name == "digits":
            return load_digits()
        if name in CONTROLS:
            dataset = load_npz(control_file(name), name=name, check_md5=False)
            dataset.label_names = CONTROLS[name].label_names
            return dataset
        try:
            path = _locate(name, data_root, size)
        except DataError:
            if not download:
                raise
            from zodarts.data.download import fetch

            path = fetch(name, root=data_root, size=size)
        return load_npz(path, name=name, size=size, check_md5=check_md5)
    path = Path(name_or_path).expanduser()
    path = path.resolve() if path.exists() else path  # absolute: run configs stay valid anywhere
    if path.is_dir():
        return load_image_folder(path)
    if path.is_file():
        return load_npz(path, check_md5=check_md5)
    raise DataError(f"{str(name_or_path)!r} is neither a known dataset ({', '.join(REGISTRY)}) "
                    "nor an existing .npz file or image folder")


def _locate(name: str, data_root: str | os.PathLike | None, size: int) -> Path:
    info = get_info(name)
    if size not in info.sizes():
        raise DataError(f"{name} comes in sizes {', '.join(map(str, info.sizes()))}, not {size}")
    filename = info.filename(size)
    dirs = search_dirs(data_root)
    if data_root is not None and not dirs[0][0].is_dir():
        size_flag = f" --size {size}" if size != info.image_size else ""
        raise DataError(f"the data root {data_root} (--data-root) is not an existing folder: "
                        f"give the folder that holds {filename}, fetch it there with `zodarts "
                        f"fetch {name} --root {data_root}{size_flag}`, or leave --data-root out "
                        "to use $MEDMNIST_ROOT, then ~/.medmnist")
    for k, (folder, origin) in enumerate(dirs):
        if (folder / filename).is_file():
            if k and data_root is not None:   # the look-up order went past the given root
                warnings.warn(f"{filename} is not in --data-root {data_root}: using "
                              f"{folder / filename} ({origin})", DatasetWarning, stacklevel=3)
            return folder / filename
    looked = "; ".join(f"{folder / filename} ({origin})" for folder, origin in dirs)
    size_flag = f" --size {size}" if size != info.image_size else ""
    raise DataError(f"{filename} not found. Looked in: {looked}. Download it with: "
                    f"zodarts fetch {name} --root {dirs[0][0]}{size_flag} "
                    "(or point --data-root / $MEDMNIST_ROOT at a folder that has it)")


def load_npz(path: str | os.PathLike, name: str | None = None, size: int | None = None,
             check_md5: bool = True) -> ImageDataset:
    """A MedMNIST-layout file. Its stem names it; a registry stem (``breastmnist``,
    ``breastmnist_64``) brings the registry's task, classes and label names and an md5 check."""
    path = Path(path)
    if name is None:
        name, size = _name_from_stem(path.stem)
    info = REGISTRY.get(name)
    if info is not None and not info.is_medmnist:
        info = None  # a user file that happens to be called digits.npz
    arrays = read_npz(path, name if info else None, size or 28)
    valid = validate_arrays(arrays, str(path), info, size if info else None)
    status = md5_status(path, name, size or 28) if info and check_md5 else None
    labels = info.label_names if info else tuple(f"class {i}" for i in range(valid.classes))
    return _to_dataset(valid, name, path, status, labels)


def _name_from_stem(stem: str) -> tuple[str, int | None]:
    base, _, suffix = stem.rpartition("_")
    if base.lower() in REGISTRY and suffix.isdigit():
        return base.lower(), int(suffix)
    if stem.lower() in REGISTRY:
        return stem.lower(), REGISTRY[stem.lower()].image_size
    return stem, None


def _to_dataset(valid: ValidArrays, name: str, path: Path | None, status: str | None,
                label_names: tuple[str, ...]) -> ImageDataset:
    splits = {s: Split(torch.from_numpy(np.ascontiguousarray(valid.images[s])),
                       torch.from_numpy(np.ascontiguousarray(valid.labels[s])))
              for s in SPLITS}
    return ImageDataset(name=name, task=valid.task, channels=valid.channels,
                        classes=valid.classes, image_size=valid.image_size, splits=splits,
                        path=path, md5_status=status, label_names=label_names)


def _split_arrays(images: np.ndarray, labels: np.ndarray, source: str) -> dict[str, np.ndarray]:
    """The default stratified 70/10/20 split, in MedMNIST array layout."""
    from zodarts.data.split import stratified_indices  # split.py builds on this module

    parts = stratified_indices(labels, tuple(DEFAULT_FRACTIONS.values()), DEFAULT_SPLIT_SEED)
    arrays = {}
    for split, index in zip(SPLITS, parts):
        if len(index) == 0:
            raise DataError(f"{source}: {len(labels)} images are too few for a 70/10/20 "
                            f"train/val/test split (the {split} split would be empty)")
        arrays[f"{split}_images"] = images[index]
        arrays[f"{split}_labels"] = labels[index]
    return arrays


def load_digits() -> ImageDataset:
    """scikit-learn's bundled 8×8 digits, rescaled 0..16 → 0..255: real data with no download."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    valid = validate_arrays(_split_arrays(images, labels, "digits"), "digits (scikit-learn)")
    return _to_dataset(valid, "digits", None, None, REGISTRY["digits"].label_names)


def load_image_folder(root: str | os.PathLike) -> ImageDataset:
    """A folder of images, one sub-folder per class (sorted names = class indices).

    Either ``root/CLASS/*.png`` (split here: stratified 70/10/20, seed 0) or, when ``root`` has
    ``train`` and ``test`` sub-folders, ``root/{train,val,test}/CLASS/*.png`` with the user's own
    split (no ``val``: 1/8 of train, stratified, seed 0). All images must share one size. Grey
    images stay one channel unless some image is in colour; then all are converted to RGB.
    """
    root = Path(root)
    if (root / "train").is_dir() and (root / "test").is_dir():
        split_dirs = {s: root / s for s in SPLITS if (root / s).is_dir()}
        class_names = sorted({p.name for d in split_dirs.values() for p in _class_dirs(d)})
    else:
        split_dirs = {"all": root}
        class_names = [p.name for p in _class_dirs(root)]
    if len(class_names) < 2:
        raise DataError(f"{root}: an image folder needs one sub-folder per class (at least two); "
                        f"found {len(class_names)}")

    files = {split: _list_images(folder, class_names) for split, folder in split_dirs.items()}
    paths = [path for listed in files.values() for path, _ in listed]
    pictures = _read_images(root, paths)
    colour = any(img.mode not in GREY_MODES for img in pictures.values())
    loaded = {split: (np.stack([image_to_uint8(pictures[p], colour) for p, _ in listed]),
                      np.array([label for _, label in listed], dtype=np.int64))
              for split, listed in files.items()}

    if "all" in loaded:
        arrays = _split_arrays(*loaded["all"], str(root))
    else:
        if "val" not in loaded:
            from zodarts.data.split import stratified_indices

            images, labels = loaded.pop("train")
            train, val = stratified_indices(labels, (7 / 8, 1 / 8), DEFAULT_SPLIT_SEED)
            loaded["train"] = images[train], labels[train]
            loaded["val"] = images[val], labels[val]
        arrays = {f"{s}_{kind}": loaded[s][i] for s in SPLITS
                  for i, kind in enumerate(("images", "labels"))}
    valid = validate_arrays(arrays, str(root))
    # Inference saw only the labels present; the folders say how many classes there are.
    valid.classes = len(class_names)
    valid.task = "binary" if len(class_names) == 2 else "multi-class"
    return _to_dataset(valid, root.name, root, None, tuple(class_names))


GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list_images(folder: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    listed: list[tuple[Path, int]] = []
    for index, name in enumerate(class_names):
        class_dir = folder / name
        found = sorted(p for p in class_dir.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) \
            if class_dir.is_dir() else []
        if not found and folder.name not in ("val", "test"):
            raise DataError(f"{class_dir}: class folder has no images "
                            f"({', '.join(IMAGE_SUFFIXES)}); remove it or add images")
        listed.extend((p, index) for p in found)
    return listed


def _read_images(root: Path, paths: list[Path]) -> dict:
    from PIL import Image, UnidentifiedImageError

    pictures = {}
    for path in paths:
        try:
            with Image.open(path) as img:
                img.load()
                pictures[path] = img.copy()
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{path}: cannot read image ({err}); remove or replace it") from None
        if pictures[path].size != pictures[paths[0]].size:
            (w0, h0), (w, h) = pictures[paths[0]].size, pictures[path].size
            raise DataError(f"{root}: images differ in size: {paths[0]} is {w0}×{h0} but {path} "
                            f"is {w}×{h}; all images must share one size (resize them first, "
                            "e.g. to 28×28)")
    return pictures


def image_to_uint8(img, colour: bool) -> np.ndarray:
    """A PIL image as uint8 pixels: (H, W, 3) RGB with ``colour``, else (H, W) grey."""
    if colour:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if img.mode in ("I", "I;16", "F"):  # 16-bit or float grey: rescale to the 8-bit range
        array = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" and array.max() <= 1 else 65535.0
        return np.clip(np.round(array * 255.0 / top), 0, 255).astype(np.uint8)
    return np.asarray(img.convert("L"), dtype=np.uint8)
