"""The retraining augmentation: crop/flip, then TrivialAugment, then optional mixup/cutmix.

Everything follows the :class:`zodarts.data.Augment` protocol (``augment(x, generator)`` on a
float (N, C, H, W) batch in [0, 1]), so a batch stays a pure function of (seed, epoch, index) and
``--resume`` replays training exactly.

Why our own TrivialAugment rather than ``kornia.augmentation.auto.TrivialAugment`` (which does run
on 1-channel and 8×8 images; checked with kornia 0.9): kornia picks *one* operation per call, so a
whole batch gets the same transform, where the paper (Müller & Hutter, ICCV 2021) picks one per
image; it draws from torch's global RNG, which breaks exact replay after a resume; and its
magnitudes are absolute (translate up to half the image, shear up to 0.3·180°), which wipes out
an 8×8 digit. ``augment: kornia`` in the train config still selects kornia's, wrapped in a forked
RNG seeded from the batch generator so that it is deterministic too.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from zodarts.data import Augment, CropFlip, default_padding
from zodarts.utils.runtime import to_device

AUGMENTS = ("none", "trivialaugment", "kornia")

# Largest magnitude of each operation, TrivialAugment's "standard" (RandAugment) ranges, with the
# translation relative to the image side (0.45 of 331 px there; a quarter keeps a small lesion or
# an 8×8 digit in the frame). A magnitude m ~ U[0, 1] per image scales these; signed operations
# also draw a sign.
MAX_ROTATE_DEG = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.25     # of the image side
MAX_ENHANCE = 0.9        # brightness / colour / contrast / sharpness factor 1 ± 0.9
MIN_POSTERIZE_BITS = 4

GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
PHOTOMETRIC = ("identity", "auto_contrast", "equalize", "posterize", "solarize", "brightness",
               "color", "contrast", "sharpness")
TA_OPS = PHOTOMETRIC + GEOMETRIC


class Compose:
    def __init__(self, *steps: Augment) -> None:
        self.steps = steps

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for step in self.steps:
            x = step(x, generator)
        return x

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.steps))})"


class TrivialAugment:
    """One operation per image, drawn uniformly, with a magnitude drawn uniformly: batched.

    Photometric operations act on their images' subset; all geometric ones share one
    ``grid_sample`` (zero fill: black, as the crop padding). ``color`` only exists for RGB; grey
    images draw from the other operations.
    """

    def __init__(self, ops: Sequence[str] = TA_OPS) -> None:
        unknown = set(ops) - set(TA_OPS)
        if unknown:
            raise ValueError(f"unknown TrivialAugment operation(s) {sorted(unknown)}")
        self.ops = tuple(ops)

    def __repr__(self) -> str:
        return "TrivialAugment()"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, c = x.shape[:2]
        ops = [op for op in self.ops if op != "color" or c == 3]
        draw = {"device": generator.device}
        choice = to_device(torch.randint(len(ops), (n,), generator=generator, **draw), x.device)
        magnitude = to_device(torch.rand(n, generator=generator, **draw), x.device).to(x.dtype)
        sign = to_device(torch.randint(0, 2, (n,), generator=generator, **draw),
                         x.device).to(x.dtype)
        signed = magnitude * (2 * sign - 1)

        out = x.clone()
        geometric = torch.zeros(n, dtype=torch.bool, device=x.device)
        theta = torch.eye(2, 3, dtype=x.dtype, device=x.device).repeat(n, 1, 1)
        for k, op in enumerate(ops):
            picked = choice == k
            if op in GEOMETRIC:
                _set_affine(theta, op, picked, signed)
                geometric |= picked
                continue
            index = picked.nonzero().squeeze(1)
            if op != "identity" and len(index):
                out[index] = PHOTOMETRIC_FNS[op](x[index], magnitude[index], signed[index])
        index = geometric.nonzero().squeeze(1)
        if len(index):
            grid = F.affine_grid(theta[index], list(x[index].shape), align_corners=False)
            out[index] = F.grid_sample(x[index], grid, mode="bilinear", padding_mode="zeros",
                                       align_corners=False)
        return out


def _set_affine(theta: torch.Tensor, op: str, picked: torch.Tensor, signed: torch.Tensor) -> None:
    """Write ``op``'s matrix into ``theta`` (output → input, normalised coordinates) where
    ``picked``."""
    if op == "rotate":
        angle = signed * math.radians(MAX_ROTATE_DEG)
        cos, sin = torch.cos(angle), torch.sin(angle)
        rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
        theta[:, :, :2] = torch.where(picked.view(-1, 1, 1), rotation, theta[:, :, :2])
    elif op in ("shear_x", "shear_y"):
        row, col = (0, 1) if op == "shear_x" else (1, 0)
        theta[:, row, col] = torch.where(picked, signed * MAX_SHEAR, theta[:, row, col])
    else:  # translate: the normalised side is 2 long
        row = 0 if op == "translate_x" else 1
        theta[:, row, 2] = torch.where(picked, 2 * signed * MAX_TRANSLATE, theta[:, row, 2])


def _grey(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
    return (x * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: b + factor·(a − b), clipped."""
    return (b + factor.view(-1, 1, 1, 1) * (a - b)).clamp_(0, 1)


def _brightness(x, m, s):
    return _blend(x, torch.zeros_like(x), 1 + MAX_ENHANCE * s)


def _color(x, m, s):
    return _blend(x, _grey(x).expand_as(x), 1 + MAX_ENHANCE * s)


def _contrast(x, m, s):
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), 1 + MAX_ENHANCE * s)


def _sharpness(x, m, s):
    # PIL's SMOOTH kernel on the interior; the border is left as it was.
    c = x.shape[1]
    kernel = torch.tensor([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]], dtype=x.dtype,
                          device=x.device) / 13
    smooth = x.clone()
    if x.shape[-1] > 2 and x.shape[-2] > 2:
        inner = F.conv2d(x, kernel.expand(c, 1, 3, 3).contiguous(), groups=c)
        smooth[..., 1:-1, 1:-1] = inner
    return _blend(x, smooth, 1 + MAX_ENHANCE * s)


def _posterize(x, m, s):
    bits = 8 - torch.round(m * (8 - MIN_POSTERIZE_BITS))
    step = (2 ** (8 - bits)).view(-1, 1, 1, 1)
    return torch.floor(torch.round(x * 255) / step) * step / 255


def _solarize(x, m, s):
    threshold = (1 - m).view(-1, 1, 1, 1)  # m = 0: nothing is inverted
    return torch.where(x >= threshold, 1 - x, x)


def _auto_contrast(x, m, s):
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    return torch.where(span > 0, (x - lo) / span.clamp_min(1e-12), x)


def _equalize(x, m, s):
    """PIL's ImageOps.equalize per image and channel, as one batched histogram."""
    n, c, h, w = x.shape
    values = torch.round(x * 255).long().view(n, c, h * w)
    hist = torch.zeros(n, c, 256, dtype=torch.long, device=x.device)
    hist.scatter_add_(2, values, torch.ones_like(values))
    last = hist.gather(2, values.amax(2, keepdim=True))  # count of the brightest level
    step = (h * w - last) // 255
    cdf = hist.cumsum(2) - hist                           # pixels strictly below each level
    lut = ((cdf + step // 2) // step.clamp_min(1)).clamp_(max=255)
    out = lut.gather(2, values).view(n, c, h, w).to(x.dtype) / 255
    return torch.where((step > 0).view(n, c, 1, 1), out, x)


PHOTOMETRIC_FNS: dict[str, Callable] = {
    "auto_contrast": _auto_contrast, "equalize": _equalize, "posterize": _posterize,
    "solarize": _solarize, "brightness": _brightness, "color": _color, "contrast": _contrast,
    "sharpness": _sharpness,
}


class KorniaTrivialAugment:
    """kornia's TrivialAugment made replayable: its global-RNG draws run in a forked RNG seeded
    from the batch generator."""

    def __init__(self) -> None:
        from kornia.augmentation.auto import TrivialAugment as _Kornia
        self.augment = _Kornia()

    def __repr__(self) -> str:
        return "KorniaTrivialAugment()"

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        seed = int(torch.randint(2 ** 62, (1,), generator=generator,
                                 device=generator.device).item())
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return self.augment(x).clamp_(0, 1)


# Datasets whose images change meaning when mirrored (a mirrored handwritten 2 is no 2); the
# flip is off for them unless asked for. Medical images carry no such handedness.
NOT_MIRROR_SYMMETRIC = frozenset({"digits"})


def default_flip(dataset_name: str) -> bool:
    return dataset_name not in NOT_MIRROR_SYMMETRIC


def train_augment(policy: str, image_size: int, crop_flip: bool = True, flip: bool = True,
                  padding: int | None = None) -> Augment | None:
    """The augmentation of retraining batches: crop (+flip), then ``policy``."""
    if policy not in AUGMENTS:
        raise ValueError(f"unknown augmentation {policy!r}: use one of {', '.join(AUGMENTS)}")
    steps: list[Augment] = []
    if crop_flip:
        steps.append(CropFlip(default_padding(image_size) if padding is None else padding, flip))
    if policy == "trivialaugment":
        steps.append(TrivialAugment())
    elif policy == "kornia":
        steps.append(KorniaTrivialAugment())
    return Compose(*steps) if steps else None


class MixBatch:
    """Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on a normalised batch.

    Returns ``(x, y_a, y_b, lam)``; the loss is ``lam·L(y_a) + (1 − lam)·L(y_b)``, which works
    for cross-entropy (with label smoothing) and per-label BCE alike. With both enabled, each batch
    uses one of the two at random (as timm does).
    """

    def __init__(self, mixup_alpha: float = 0.0, cutmix_alpha: float = 0.0, prob: float = 1.0):
        self.mixup_alpha, self.cutmix_alpha, self.prob = mixup_alpha, cutmix_alpha, prob

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        # numpy draws the Beta variate (torch's Beta takes no generator), seeded from the batch's.
        seed = int(torch.randint(2 ** 62, (1,), generator=generator,
                                 device=generator.device).item())
        rng = np.random.default_rng(seed)
        if not self.enabled or rng.random() >= self.prob:
            return x, y, y, 1.0
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha <= 0 or rng.random() < 0.5)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(rng.beta(alpha, alpha))
        perm = to_device(torch.from_numpy(rng.permutation(len(x))), x.device)
        if use_cutmix:
            x, lam = _cutmix(x, perm, lam, rng)
        else:
            x = lam * x + (1 - lam) * x[perm]
        return x, y, y[perm], lam


def _cutmix(x: torch.Tensor, perm: torch.Tensor, lam: float, rng: np.random.Generator):
    h, w = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    x = x.clone()
    x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    # The box is clipped at the border: λ is the share of the image actually kept.
    return x, 1 - (y1 - y0) * (x1 - x0) / (h * w)
