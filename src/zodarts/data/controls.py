"""Control datasets: generated tasks whose truth about the search space is known in advance.

A landscape (``zodarts landscape``) that has only ever said "flat" cannot be told from a broken
one. These tasks are made so that an architecture of the space can matter — each needs what only
some cells provide (a long reach at full resolution, several nonlinear layers, comparing two
distant places) — and the label-shuffled variant of any dataset (``NAME:shuffled``) is one where
no architecture can do better than chance. Each is generated deterministically from its seed at
28×28 (grey), with MedMNIST-like split sizes, in seconds, and cached as a MedMNIST-layout .npz
(``$ZODARTS_CACHE``, else ``~/.cache/zodarts``), so every command takes it by name.

Which of them the landscape accepts as positive controls is measured, not assumed: see
docs/results.md ("Controls").
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from dataclasses import dataclass
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


def _draw_curve(img: np.ndarray, points: np.ndarray, dash: tuple[int, int] = (3, 1)) -> None:
    on, off = dash
    for i, (y, x) in enumerate(points):
        if i % (on + off) < on:
            _stamp(img, y, x)


# ---- the tasks ----------------------------------------------------------------------------

def pathfinder(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 2×2 markers at the ends of one dashed curve (1) or of two different curves (0), among
    a distractor curve; the markers' distance has the same range in both classes, so only
    following the curve tells them apart (Linsley et al. 2018)."""
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    labels = rng.integers(0, 2, n)
    for i in range(n):
        while True:
            curves = [_curve(rng, int(rng.integers(16, 26)), 0.35) for _ in range(3)]
            if any(c is None for c in curves):
                continue
            a = curves[0][0]
            b = curves[0][-1] if labels[i] else curves[1][-1]
            if 8 <= np.hypot(*(a - b)) <= 18:
                break
        img = images[i]
        for c in curves:
            _draw_curve(img, c)
        for y, x in (a, b):
            _stamp(img, y - 0.5, x - 0.5, size=2)
    return images, labels.astype(np.int64)


def closure(rng: np.random.Generator, n: int, gap: tuple[float, float] = (2.0, 4.0),
            dash: tuple[int, int] = (1, 0), arcs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A dot inside (1) or outside (0) a random closed outline, ``gap`` px from it either way,
    beside ``arcs`` open distractor arcs: local contrast is the same, the answer needs the whole
    outline. A dashed outline (``dash``: on, off) has to be followed across its gaps."""
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
            offset = rng.uniform(*gap) * (-1 if labels[i] else 1)
            r = radius[j] + offset
            dy, dx = cy + r * np.sin(theta[j]), cx + r * np.cos(theta[j])
            if 1 <= dy <= SIZE - 3 and 1 <= dx <= SIZE - 3:
                break
        img = images[i]
        _draw_curve(img, np.stack([ys, xs], axis=1), dash=dash)
        for _ in range(arcs):
            arc = _curve(rng, int(rng.integers(6, 12)), 0.25, margin=1)
            if arc is not None:
                _draw_curve(img, arc, dash=(1, 0))
        _stamp(img, dy - 0.5, dx - 0.5, size=2)
    return images, labels.astype(np.int64)


SHAPES = 6
SHAPE_SIZE = 5


def same_different(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two of six 5×5 binary shapes at two places at least 9 px apart: the same shape (1) or two
    different ones (0) (the same/different relation of Kim, Ricci & Serre 2018): each shape
    alone says nothing; the answer needs both places compared."""
    vocabulary = rng.random((SHAPES, SHAPE_SIZE, SHAPE_SIZE)) < 0.5
    images = np.zeros((n, SIZE, SIZE), np.uint8)
    labels = rng.integers(0, 2, n)
    high = SIZE - SHAPE_SIZE
    for i in range(n):
        first = int(rng.integers(0, SHAPES))
        second = first if labels[i] else int((first + rng.integers(1, SHAPES)) % SHAPES)
        while True:
            p, q = rng.integers(0, high + 1, size=(2, 2))
            if np.abs(p - q).max() >= 9:
                break
        for shape, (y, x) in ((first, p), (second, q)):
            images[i, y:y + SHAPE_SIZE, x:x + SHAPE_SIZE] = vocabulary[shape] * 255
    return images, labels.astype(np.int64)


def spacing(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Parallel stripes 4 px (0) or 6 px (1) apart at a random angle and phase, under strong
    pixel noise: one stripe says nothing, the spacing shows only over a wide window, so the
    kernel sizes and the depth decide how much noise a network can average away."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    labels = rng.integers(0, 2, n)
    period = np.where(labels == 1, 6.0, 4.0)[:, None, None]
    angle = rng.uniform(0, np.pi, n)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    along = yy[None] * np.sin(angle) + xx[None] * np.cos(angle)
    signal = np.cos(2 * np.pi * along / period + phase)
    noisy = 0.45 * signal + rng.normal(0.0, 1.0, size=signal.shape)
    images = np.clip(128 + 50 * noisy, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


CONTROLS: dict[str, Control] = {c.name: c for c in (
    Control("control-pathfinder",
            "are the two markers the two ends of one dashed curve? (among distractor curves)",
            "the path must be followed across the image at full resolution: large kernels and "
            "several cells in the first stage reach along it, parameter-free cells do not",
            ("different curves", "one curve"), pathfinder),
    Control("control-closure",
            "is the dot inside or outside the closed outline?",
            "inside/outside is a property of the whole outline, not of the dot's surroundings: "
            "only a long reach (large kernels, depth) integrates it",
            ("outside", "inside"), closure),
    Control("control-closure-near",
            "is the dot inside or outside the closed outline, only 1–2.5 px from it, among two "
            "distractor arcs?",
            "as control-closure, but with the dot this close to the outline its surroundings "
            "look alike on both sides: only following the whole outline tells them apart",
            ("outside", "inside"), functools.partial(closure, gap=(1.0, 2.5), arcs=2)),
    Control("control-samediff",
            "are the two shapes the same or different?",
            "the relation needs both places compared: several nonlinear layers with a wide "
            "reach, beyond the fixed stem and reductions",
            ("different", "same"), same_different),
    Control("control-spacing",
            "are the noisy stripes 4 or 6 px apart?",
            "the spacing emerges only when a wide window averages the pixel noise away: kernel "
            "size and depth set that window",
            ("4 px", "6 px"), spacing),
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
    """``NAME:shuffled`` → (NAME, True); any other name → (name, False)."""
    if name.lower().endswith(SHUFFLED):
        return name[:-len(SHUFFLED)], True
    return name, False


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
