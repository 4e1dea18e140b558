"""Control datasets: generated tasks whose truth about the search space is known in advance.

A landscape (``zodarts landscape``) that has only ever said "flat" cannot be told from a broken
one. A positive control is a task where an architecture of the space provably matters — it
needs what only some cells provide — and the label-shuffled variant of any dataset
(``NAME:shuffled``) is a negative one, where no architecture can do better than chance. A
control is generated deterministically from its seed at 28×28 (grey), with MedMNIST-like split
sizes, in seconds, and cached as a MedMNIST-layout .npz (``$ZODARTS_CACHE``, else
``~/.cache/zodarts``), so every command takes it by name.

Only candidates the landscape accepted are shipped (docs/results.md, "Controls"): the closure
task, whose landscape says structured but puts most architectures on one plateau near its
ceiling, and two nearer-dot twins. With the dot 1.5–3 px away (``-tight``) the 15-epoch
landscape spreads the architectures from chance to solved, but at 40 epochs most reach the
plateau again; with the dot 1–2 px away (``-nearer``) the spread holds at the quick preset's
40 epochs (structured, the best 3 points above the median). A long-range path, a same/different
relation, a noisy spacing and three other closures were flat or at the plateau in their pilots
and are described, not shipped.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

SIZE = 28
SPLIT_SIZES = {"train": 1500, "val": 300, "test": 1000}
VERSION = 1           # bump when a generator changes: the cache key includes it
SHUFFLED = ":shuffled"
SHUFFLE_SEED = 20261206


@dataclass(frozen=True)
class Control:
    name: str
    tests: str            # what the task asks of a network
    why: str              # why the architecture should matter
    label_names: tuple[str, ...]
    generate: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]

    @property
    def chance(self) -> float:
        return 1.0 / len(self.label_names)


# ---- drawing ------------------------------------------------------------------------------

def _stamp(img: np.ndarray, y: float, x: float, value: int = 255, size: int = 1) -> None:
    r, c = int(round(y)), int(round(x))
    img[max(0, r):min(SIZE, r + size), max(0, c):min(SIZE, c + size)] = value


def _curve(rng: np.random.Generator, length: int, curvature: float, margin: int = 2,
           tries: int = 200) -> np.ndarray | None:
    """Points (length + 1, 2) of a smooth random walk of unit steps inside the frame."""
    for _ in range(tries):
        y, x = rng.uniform(margin, SIZE - 1 - margin, size=2)
        angle = rng.uniform(0, 2 * np.pi)
        turns = np.cumsum(rng.normal(0.0, curvature, size=length))
        angles = angle + turns
        steps = np.stack([np.sin(angles), np.cos(angles)], axis=1)
        points = np.concatenate([[[y, x]], [y, x] + np.cumsum(steps, axis=0)])
        if points.min() >= margin and points.max() <= SIZE - 1 - margin:
            return points
    return None


def _draw_curve(img: np.ndarray, points: np.ndarray) -> None:
    for y, x in points:
        _stamp(img, y, x)


# ---- the tasks ----------------------------------------------------------------------------

def closure(rng: np.random.Generator, n: int, near: float = 2.0,
            far: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """A dot inside (1) or outside (0) a random closed outline, ``near``–``far`` px from it either
    way, beside an open distractor arc: local contrast is the same, the answer needs the whole
    outline. The nearer the dot, the less a blurred or coarse view of the image can tell."""
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    labels = rng.integers(0, 2, n)
    theta = np.linspace(0, 2 * np.pi, 160, endpoint=False)
    for i in range(n):
        while True:
            cy, cx = rng.uniform(11, 17, size=2)
            base = rng.uniform(6.0, 9.0)
            harmonics = rng.normal(0.0, 0.12, size=(3, 2))
            radius = base * (1 + sum(a * np.cos((k + 2) * theta) + b * np.sin((k + 2) * theta)
                                     for k, (a, b) in enumerate(harmonics)))
            ys, xs = cy + radius * np.sin(theta), cx + radius * np.cos(theta)
            if ys.min() < 1 or xs.min() < 1 or ys.max() > SIZE - 2 or xs.max() > SIZE - 2:
                continue
            j = int(rng.integers(0, theta.size))
            offset = rng.uniform(near, far) * (-1 if labels[i] else 1)
            r = radius[j] + offset
            dy, dx = cy + r * np.sin(theta[j]), cx + r * np.cos(theta[j])
            if 1 <= dy <= SIZE - 3 and 1 <= dx <= SIZE - 3:
                break
        img = images[i]
        _draw_curve(img, np.stack([ys, xs], axis=1))
        arc = _curve(rng, int(rng.integers(6, 12)), 0.25, margin=1)
        if arc is not None:
            _draw_curve(img, arc)
        _stamp(img, dy - 0.5, dx - 0.5, size=2)
    return images, labels.astype(np.int64)


CONTROLS: dict[str, Control] = {c.name: c for c in (
    Control("control-closure",
            "is the dot inside or outside the closed outline?",
            "inside/outside is a property of the whole outline, not of the dot's surroundings: "
            "only a long reach (large kernels, depth) integrates it, and a first stage that "
            "average-pools blurs the 1-px outline away before anything can follow it",
            ("outside", "inside"), closure),
    Control("control-closure-tight",
            "is the dot (1.5–3 px from the outline) inside or outside it?",
            "as control-closure, with the dot nearer the outline: a network must keep the 1-px "
            "gap between them through its first layers and still reach the whole outline; at a "
            "15-epoch retraining the architectures spread from chance to solved (how fast they "
            "learn it), at 40 most reach the same plateau",
            ("outside", "inside"), partial(closure, near=1.5, far=3.0)),
    Control("control-closure-nearer",
            "is the dot (1–2 px from the outline) inside or outside it?",
            "as control-closure, with the dot nearer still: at the quick preset's 40-epoch "
            "retraining the architectures spread from chance to a plateau near 0.95 (those "
            "with convolutions, 3×3 above all, in the first stage reach it); the best trained "
            "again is 3 points above the median architecture",
            ("outside", "inside"), partial(closure, near=1.0, far=2.0)),
)}


# ---- generation, cache, loading -------------------------------------------------------------

def cache_dir() -> Path:
    env = os.environ.get("ZODARTS_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "zodarts") / "controls"


def control_seed(name: str) -> int:
    """Each control's own seed, stable across Python runs (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(f"{name}/v{VERSION}".encode()).digest()[:4], "little")


def generate(control: Control) -> dict[str, np.ndarray]:
    """The control's six arrays in the MedMNIST layout; splits drawn independently."""
    rng = np.random.default_rng(control_seed(control.name))
    arrays: dict[str, np.ndarray] = {}
    for split, n in SPLIT_SIZES.items():
        images, labels = control.generate(rng, n)
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels.reshape(-1, 1)
    return arrays


def control_file(name: str) -> Path:
    """The cached .npz of the control ``name``, generated on first use (atomically: two
    processes generating at once both write the same bytes, and the rename is atomic)."""
    control = CONTROLS[name]
    path = cache_dir() / f"{name}-v{VERSION}.npz"
    if path.is_file():
        return path
    from zodarts.utils.io import atomic_write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **generate(control))
    atomic_write_bytes(path, buffer.getvalue())
    return path


def split_variant(name: str) -> tuple[str, bool]:
    """``NAME:shuffled`` → (NAME, True); any other name → (name, False). Shuffling twice is
    refused: a permutation of a permutation is another negative control under a name that
    hides which."""
    if not name.lower().endswith(SHUFFLED):
        return name, False
    base = name[:-len(SHUFFLED)]
    if base.lower().endswith(SHUFFLED):
        from zodarts.errors import DataError
        raise DataError(f"dataset {name!r} is shuffled twice: write {SHUFFLED!r} once "
                        f"({split_variant(base)[0]}{SHUFFLED})")
    return base, True


def shuffle_labels(dataset):
    """The negative control: ``dataset`` with its train and val labels permuted (a fixed seed),
    so that nothing a network learns relates an image to its label; the test labels stay true,
    so every network is measured against the truth and can only be at chance."""
    import dataclasses

    import torch

    generator = torch.Generator().manual_seed(SHUFFLE_SEED)
    splits = dict(dataset.splits)
    for split in ("train", "val"):
        s = splits[split]
        order = torch.randperm(len(s), generator=generator)
        splits[split] = type(s)(s.images, s.labels[order])
    return dataclasses.replace(dataset, name=dataset.name + SHUFFLED, splits=splits,
                               md5_status=None)
