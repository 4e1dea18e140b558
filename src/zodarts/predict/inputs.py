"""The images to predict: image files, folders of them (recursively) and MedMNIST-layout .npz
files, brought to what the model was trained on.

Everything is listed first (paths, array lengths: cheap, and a missing file or an empty folder
fails before any work), then read batch by batch, so a folder of any size never sits in memory
whole. Each image is brought to the model's channels (grey ↔ RGB only) and size (resized), and
what was done is counted for one note per kind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zodarts.data.dataset import GREY_MODES, IMAGE_SUFFIXES, image_to_uint8
from zodarts.errors import DataError
from zodarts.predict.record import RESIZE, Preprocessing

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    file: Path
    index: int | None = None          # the row of an .npz split; None for an image file


@dataclass
class Inputs:
    items: list[Item]
    split: str
    arrays: dict[Path, np.ndarray] = field(default_factory=dict)   # each .npz's split

    def __len__(self) -> int:
        return len(self.items)


def list_inputs(paths: Sequence[str | Path], split: str = "test") -> Inputs:
    """Every image the ``paths`` name, in order (a folder's files sorted); an .npz gives the
    rows of its ``split``."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use {', '.join(SPLITS)}")
    if not paths:
        raise DataError("nothing to predict: give image files, folders or .npz files")
    inputs = Inputs([], split)
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found = _images_below(path)
            if not found:
                raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder "
                                "or below; give a folder that holds some")
            inputs.items.extend(Item(f) for f in found)
        elif not path.exists():
            raise DataError(f"{path}: no such file or folder")
        elif path.suffix.lower() == ".npz":
            array = _npz_split(path, split)
            if not len(array):
                raise DataError(f"{path}: its {split} split holds no images; choose another "
                                "--split")
            inputs.arrays[path] = array
            inputs.items.extend(Item(path, i) for i in range(len(array)))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            inputs.items.append(Item(path))
        else:
            raise DataError(f"{path}: neither an image ({', '.join(IMAGE_SUFFIXES)}) nor an .npz "
                            "in the MedMNIST layout")
    return inputs


def _images_below(folder: Path) -> list[Path]:
    # Hidden files are skipped: macOS's ._name.png companions are not images.
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _npz_split(path: Path, split: str) -> np.ndarray:
    """``{split}_images`` of a MedMNIST-layout file as uint8 (n, C, H, W)."""
    key = f"{split}_images"
    try:
        with np.load(path) as npz:
            names = list(npz.files)
            if key not in names:
                held = sorted(n[:-len("_images")] for n in names if n.endswith("_images"))
                raise DataError(f"{path}: no {key} array (it holds "
                                f"{', '.join(held) or 'no *_images array'}); choose another "
                                "--split, or give a file in the MedMNIST layout")
            images = npz[key]
    except DataError:
        raise
    except Exception as err:   # not a zip, truncated, pickled objects...
        raise DataError(f"{path}: cannot read the .npz file ({err}); it may be damaged") from None
    if images.dtype != np.uint8:
        raise DataError(f"{path}: {key} holds {images.dtype} values; the MedMNIST layout holds "
                        "uint8 pixels (0-255)")
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4:
        images = images.transpose(0, 3, 1, 2)
    else:
        raise DataError(f"{path}: {key} has shape {images.shape}; the MedMNIST layout is "
                        "(n, H, W) grey or (n, H, W, 3) RGB")
    if images.shape[1] not in (1, 3):
        raise DataError(f"{path}: {key} has {images.shape[1]} channels per image; only grey "
                        "(1) and RGB (3) images can be predicted (converted to the model's)")
    return images


@dataclass
class Notes:
    """What was done to the images, counted per kind with a first example."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        self.examples.setdefault(kind, example)

    def lines(self, record: Preprocessing) -> list[str]:
        size = record.image_size
        text = {
            "resized": f"resized to {size}×{size}, the size the model was trained at ({RESIZE})",
            "to_grey": "RGB converted to grey (ITU-R 601 luma, as PIL's convert('L')): the "
                       "model takes one channel",
            "to_rgb": "grey converted to RGB (the grey copied to each channel): the model "
                      "takes three",
        }
        return [f"{n} image{'s' if n > 1 else ''} {text[kind]}; e.g. {self.examples[kind]}"
                for kind, n in self.counts.items()]


def read_batches(inputs: Inputs, record: Preprocessing, batch_size: int, notes: Notes
                 ) -> Iterator[torch.Tensor]:
    """uint8 (B, C, S, S) batches of the model's channels and size, in ``inputs``' order."""
    for start in range(0, len(inputs), batch_size):
        chunk = inputs.items[start:start + batch_size]
        yield torch.cat([_read(item, inputs, record, notes) for item in chunk])


def _read(item: Item, inputs: Inputs, record: Preprocessing, notes: Notes) -> torch.Tensor:
    if item.index is not None:
        image = torch.from_numpy(inputs.arrays[item.file][item.index:item.index + 1])
        name = f"{item.file}[{inputs.split} {item.index}]"
    else:
        image = _read_file(item.file)
        name = str(item.file)
    return fit(image, record, notes, name)


def _read_file(path: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            pixels = image_to_uint8(img, colour=img.mode not in GREY_MODES)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read image ({err}); remove it or replace it") from None
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return torch.from_numpy(pixels.copy())[None]   # PIL's arrays are read-only


def fit(image: torch.Tensor, record: Preprocessing, notes: Notes, name: str) -> torch.Tensor:
    """A uint8 (1, C, H, W) image with the model's channels and size."""
    channels, size = image.shape[1], record.image_size
    if channels != record.channels:
        if record.channels == 1:
            notes.add("to_grey", name)
            image = to_grey(image)
        else:
            notes.add("to_rgb", name)
            image = image.expand(-1, 3, -1, -1)
    if image.shape[2:] != (size, size):
        notes.add("resized", f"{name} ({image.shape[3]}×{image.shape[2]})")
        image = resize(image, size)
    return image.contiguous()


def to_grey(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 RGB → grey by PIL's own integer formula (ITU-R 601-2 luma, rounded), so an image
    converted here equals one converted with PIL before."""
    r, g, b = rgb.to(torch.int64).unbind(1)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).to(torch.uint8)[:, None]


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True,
                      align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8)
