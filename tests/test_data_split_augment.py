"""Search split, normalisation, batched crop/flip and exactly replayable batches."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zodarts.data import (BatchIterator, CropFlip, ImageDataset, Normalizer, Split,
                          default_padding, search_split, stratified_indices)
from zodarts.errors import DataError


def toy_dataset(n_train=90, n_val=30, classes=3, size=8, channels=1, seed=0) -> ImageDataset:
    gen = torch.Generator().manual_seed(seed)

    def split(n):
        labels = torch.arange(n) % classes
        images = torch.randint(0, 256, (n, channels, size, size), generator=gen,
                               dtype=torch.uint8)
        return Split(images, labels)

    return ImageDataset(name="toy", task="multi-class", channels=channels, classes=classes,
                        image_size=size, splits={"train": split(n_train), "val": split(n_val),
                                                 "test": split(12)})


# --- splits ---------------------------------------------------------------------------------------

def test_stratified_indices_exact_sizes_disjoint_covering():
    labels = np.repeat([0, 1, 2], [500, 300, 197])
    parts = stratified_indices(labels, (0.7, 0.1, 0.2), seed=3)
    assert [len(p) for p in parts] == [698, 100, 199]
    joined = np.concatenate(parts)
    assert len(np.unique(joined)) == len(labels) == len(joined)
    for part, fraction in zip(parts, (0.7, 0.1, 0.2), strict=True):
        counts = np.bincount(labels[part], minlength=3)
        assert np.all(np.abs(counts - fraction * np.array([500, 300, 197])) <= 1.5)


def test_stratified_indices_seeded():
    labels = np.arange(100) % 4
    a = stratified_indices(labels, (0.5, 0.5), seed=1)
    b = stratified_indices(labels, (0.5, 0.5), seed=1)
    c = stratified_indices(labels, (0.5, 0.5), seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_search_split():
    ds = toy_dataset()
    weights, arch = search_split(ds, seed=0)
    assert len(weights) + len(arch) == 120 and len(weights) == 60
    assert torch.bincount(weights.labels).tolist() == [20, 20, 20]
    assert torch.bincount(arch.labels).tolist() == [20, 20, 20]
    # Disjoint and covering: every train+val image lands in exactly one half.
    merged = torch.cat([ds.splits["train"].images, ds.splits["val"].images]).flatten(1)
    halves = torch.cat([weights.images, arch.images]).flatten(1)
    key = lambda t: sorted(map(bytes, t.numpy()))  # noqa: E731
    assert key(merged) == key(halves)
    again_w, _ = search_split(ds, seed=0)
    other_w, _ = search_split(ds, seed=1)
    assert torch.equal(again_w.images, weights.images)
    assert not torch.equal(other_w.images, weights.images)


def test_search_split_fraction_and_multilabel():
    ds = toy_dataset()
    weights, arch = search_split(ds, seed=0, fraction=0.75)
    assert (len(weights), len(arch)) == (90, 30)
    ml = toy_dataset()
    for split in ml.splits.values():
        split.labels = torch.stack([split.labels % 2, split.labels // 2], dim=1)
    w, a = search_split(ml, seed=0)
    assert w.labels.shape[1] == 2 and len(w) + len(a) == 120
    with pytest.raises(DataError):
        search_split(ds, seed=0, fraction=1.0)


# --- normalisation --------------------------------------------------------------------------------

def test_normalizer_statistics_and_call():
    ds = toy_dataset(channels=3)
    split = ds.splits["train"]
    norm = Normalizer.from_split(split, chunk=7)  # chunking must not change the result
    data = split.images.double().numpy() / 255
    assert np.allclose(norm.mean, data.mean(axis=(0, 2, 3)))
    assert np.allclose(norm.std, data.std(axis=(0, 2, 3)))
    x = norm(split.images)
    assert x.dtype == torch.float32
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4)
    assert torch.allclose(norm(split.images.float() / 255), x, atol=1e-6)
    assert Normalizer.from_dict(norm.to_dict()) == norm


def test_normalizer_constant_channel():
    split = Split(torch.full((4, 1, 5, 5), 7, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
    norm = Normalizer.from_split(split)
    assert norm.std == (1.0,) and torch.isfinite(norm(split.images)).all()


# --- crop and flip --------------------------------------------------------------------------------

def reference_cropflip(x, generator, padding, flip=True):
    """Per-image loop, drawing the same numbers in the same order as CropFlip."""
    n, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flips = torch.randint(0, 2, (n,), generator=generator).bool() if flip else torch.zeros(n)
    padded = F.pad(x, (padding,) * 4)
    out = []
    for i in range(n):
        crop = padded[i, :, offsets[0, i]:offsets[0, i] + h, offsets[1, i]:offsets[1, i] + w]
        out.append(crop.flip(-1) if flips[i] else crop)
    return torch.stack(out)


@pytest.mark.parametrize("padding,flip", [(4, True), (1, False), (0, True)])
def test_cropflip_matches_pad_then_crop(padding, flip):
    x = torch.rand(32, 3, 10, 10)
    out = CropFlip(padding, flip)(x, torch.Generator().manual_seed(5))
    expected = reference_cropflip(x, torch.Generator().manual_seed(5), padding, flip)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.equal(out, expected)


def test_cropflip_deterministic_under_a_seed():
    x = torch.rand(16, 1, 28, 28)
    aug = CropFlip(4)
    a = aug(x, torch.Generator().manual_seed(0))
    b = aug(x, torch.Generator().manual_seed(0))
    c = aug(x, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_cropflip_zero_padding_only_at_borders():
    x = torch.ones(64, 2, 28, 28)
    out = CropFlip(4)(x, torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    zeros = out == 0
    # The interior (more than 4 pixels from every edge) is never padding.
    assert not zeros[:, :, 4:-4, 4:-4].any()
    # Zeros form whole rows/columns touching an edge: each image is a 1s rectangle.
    for img in out[:, 0]:
        rows = img.any(dim=1).nonzero().flatten()
        cols = img.any(dim=0).nonzero().flatten()
        assert img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
        assert img.sum() == len(rows) * len(cols)
        assert len(rows) >= 24 and len(cols) >= 24
    assert zeros.any()  # with 64 images some shift happened


def test_default_padding():
    assert default_padding(28) == 4 and default_padding(8) == 1 and default_padding(64) == 8
    assert CropFlip.for_size(28).padding == 4


def test_cropflip_rejects_uint8():
    with pytest.raises(TypeError):
        CropFlip(4)(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), torch.Generator())


# --- batches --------------------------------------------------------------------------------------

def labelled_split(n=50):
    """Image i is filled with value i, so a batch can be checked against its labels."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 8, 8).clone()
    return Split(images, torch.arange(n) % 5)


def make_iterator(augment=True, **kwargs):
    split = labelled_split()
    norm = Normalizer((0.0,), (1.0,))
    return BatchIterator(split, batch_size=16, device="cpu", normalizer=norm,
                         augment=CropFlip(1) if augment else None, **kwargs)


def test_epoch_covers_split_once_and_keeps_labels_aligned():
    it = make_iterator(augment=False)
    batches = list(it.epoch(0))
    assert len(it) == len(batches) == 4 and [len(y) for _, y in batches] == [16, 16, 16, 2]
    ids = torch.cat([torch.round(x[:, 0, 0, 0] * 255).long() for x, _ in batches])
    assert sorted(ids.tolist()) == list(range(50))
    labels = torch.cat([y for _, y in batches])
    assert torch.equal(labels, ids % 5)
    assert len(make_iterator(drop_last=True)) == 3


def test_epoch_replay_is_identical():
    first = list(make_iterator(seed=7).epoch(3))
    second = list(make_iterator(seed=7).epoch(3))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
               for a, b in zip(first, second, strict=True))
    other = list(make_iterator(seed=7).epoch(4))
    assert not torch.equal(first[0][1], other[0][1])
    # Resuming mid-epoch gives exactly the remaining batches.
    resumed = list(make_iterator(seed=7).epoch(3, start_batch=2))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first[2:], resumed, strict=True))


def test_no_shuffle_keeps_order():
    it = make_iterator(augment=False, shuffle=False)
    _, y = next(iter(it.epoch(5)))
    assert torch.equal(y, torch.arange(16) % 5)


def test_infinite_resume_is_identical():
    it = make_iterator(seed=1)
    stream = it.infinite()
    reference = [next(stream) for _ in range(11)]  # crosses two epoch boundaries

    stream = make_iterator(seed=1).infinite()
    for _ in range(6):
        next(stream)
    state = stream.state()
    assert state == {"start_epoch": 1, "start_batch": 2}
    resumed = make_iterator(seed=1).infinite(**state)
    for expected in reference[6:]:
        x, y = next(resumed)
        assert torch.equal(x, expected[0]) and torch.equal(y, expected[1])
    # Epoch batches of the infinite stream are the epoch() batches.
    epoch1 = list(make_iterator(seed=1).epoch(1))
    assert torch.equal(reference[4][0], epoch1[0][0])


def test_infinite_needs_a_batch():
    split = labelled_split(10)
    it = BatchIterator(split, 16, "cpu", Normalizer((0.0,), (1.0,)), drop_last=True)
    with pytest.raises(DataError):
        it.infinite()
