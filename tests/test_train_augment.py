"""The retraining augmentation: shapes and ranges on 1-channel 8×8 and RGB 28×28, replay from
the generator, PIL-exact photometric operations, and mixup/cutmix."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from zodarts.train.augment import (
    TA_OPS,
    KorniaTrivialAugment,
    MixBatch,
    TrivialAugment,
    _equalize,
    train_augment,
)


@pytest.mark.parametrize("shape", [(64, 1, 8, 8), (32, 3, 28, 28)])
@pytest.mark.parametrize("policy", ["trivialaugment", "kornia"])
def test_policy_runs_on_grey_8x8_and_rgb_28x28_and_replays(shape, policy):
    augment = train_augment(policy, shape[-1])
    x = torch.rand(shape)
    a = augment(x, torch.Generator().manual_seed(7))
    b = augment(x, torch.Generator().manual_seed(7))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)                       # a pure function of the generator
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(8)))


def test_each_image_draws_its_own_operation():
    # Every image of a constant grey batch: identity-like ops leave it, others change it, so a
    # batch with one op for all (kornia's way) would be all-equal or all-different.
    x = torch.full((200, 1, 8, 8), 0.4)
    x[:, :, 2:6, 2:6] = 0.8
    out = TrivialAugment()(x, torch.Generator().manual_seed(0))
    changed = (out - x).abs().flatten(1).amax(1) > 1e-6
    assert 0.2 < changed.float().mean() < 0.95
    assert len(TA_OPS) == 14


def test_equalize_matches_pil():
    rng = np.random.default_rng(0)
    img = (rng.beta(2, 5, (28, 28, 3)) * 255).astype(np.uint8)
    expected = np.asarray(ImageOps.equalize(Image.fromarray(img)))
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    got = (_equalize(x, None, None)[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert np.array_equal(got, expected)


def test_kornia_wrapper_does_not_touch_the_global_rng():
    x = torch.rand(4, 1, 8, 8)
    before = torch.get_rng_state()
    KorniaTrivialAugment()(x, torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), before)


def test_mixup_and_cutmix():
    x, y = torch.randn(16, 1, 8, 8), torch.arange(16)
    assert MixBatch()(x, y, torch.Generator())[3] == 1.0          # off by default
    mixed, y_a, y_b, lam = MixBatch(mixup_alpha=0.4)(x, y, torch.Generator().manual_seed(0))
    assert 0 <= lam <= 1 and torch.equal(y_a, y)
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[y_b])  # labels 0..15: y_b is the perm
    cut, _, y_b, lam = MixBatch(cutmix_alpha=1.0)(x, y, torch.Generator().manual_seed(3))
    kept = (cut == x).flatten(1).float().mean(1)
    assert torch.allclose(kept, torch.full_like(kept, lam), atol=1e-6)
