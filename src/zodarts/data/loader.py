"""Batches made on the device from uint8 tensors that are moved there once.

No DataLoader workers, no per-sample PIL transforms: for 28×28 images the whole split fits on
the device, and indexing + normalising + augmenting a batch there is far cheaper than feeding it.
Every batch is a pure function of (seed, epoch, batch index), so a resumed run replays exactly
the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import torch

from zodarts.data.augment import Augment, Normalizer
from zodarts.data.dataset import Split
from zodarts.errors import DataError
from zodarts.utils.runtime import to_device

Batch = tuple[torch.Tensor, torch.Tensor]


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (stable across runs and Python versions, unlike
    hash() of a tuple, and nearby inputs give unrelated streams)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class BatchIterator:
    """Batches of one split: ``x`` float32 (N, C, H, W) normalised (and augmented), ``y`` int64
    labels ((N,), or (N, L) for multi-label), both on ``device``."""

    def __init__(self, split: Split, batch_size: int, device: torch.device | str,
                 normalizer: Normalizer, augment: Augment | None = None, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0) -> None:
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        if len(split) == 0:
            raise DataError("cannot iterate over an empty split")
        self.device = torch.device(device)
        self.images = split.images.to(self.device)
        self.labels = split.labels.to(self.device)
        self.batch_size = batch_size
        self.normalizer = normalizer
        self.augment = augment
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed

    def __len__(self) -> int:
        n = len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> torch.Tensor:
        """The sample order of an epoch, drawn on CPU so it is the same on every device, and
        moved to the data's device once per epoch (not once per batch)."""
        n = len(self.images)
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch))
        return to_device(torch.randperm(n, generator=generator), self.device)

    def batch(self, epoch: int, index: int, order: torch.Tensor | None = None) -> Batch:
        """Batch ``index`` of ``epoch`` (pass ``order`` to avoid recomputing the permutation)."""
        if order is None:
            order = self.order(epoch)
        picked = order[index * self.batch_size:(index + 1) * self.batch_size]
        x, y = self.images[picked], self.labels[picked]
        if self.augment is None:
            return self.normalizer(x), y
        # One generator per batch, so batch b can be rebuilt without replaying batches < b.
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch, index, 1))
        x = x.to(torch.float32).div_(255.0)  # pad with black, as PIL-based crops do
        return self.normalizer(self.augment(x, generator)), y

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[Batch]:
        """The batches of ``epoch``, from ``start_batch`` on (to resume mid-epoch)."""
        order = self.order(epoch)
        for index in range(start_batch, len(self)):
            yield self.batch(epoch, index, order)

    def __iter__(self) -> Iterator[Batch]:
        return self.epoch(0)

    def infinite(self, start_epoch: int = 0, start_batch: int = 0) -> "InfiniteBatches":
        """Batches forever, epoch after epoch; ``state()`` of the result restarts it exactly:
        ``it.infinite(**saved_state)``."""
        if len(self) == 0:
            raise DataError(f"split of {len(self.images)} images gives no full batch of "
                            f"{self.batch_size} (drop_last=True); lower the batch size")
        return InfiniteBatches(self, start_epoch, start_batch)


class InfiniteBatches:
    """Endless batches (e.g. architecture batches, drawn at their own pace) with a position that
    a checkpoint can save: ``state()`` is where the *next* batch comes from."""

    def __init__(self, source: BatchIterator, epoch: int = 0, batch: int = 0) -> None:
        if not 0 <= batch < len(source):
            raise DataError(f"batch index {batch} out of range for {len(source)} batches per "
                            "epoch")
        self.source = source
        self.epoch = epoch
        self.index = batch
        self._order: torch.Tensor | None = None
        self._order_epoch: int | None = None

    def state(self) -> dict[str, int]:
        return {"start_epoch": self.epoch, "start_batch": self.index}

    def __iter__(self) -> "InfiniteBatches":
        return self

    def __next__(self) -> Batch:
        if self._order_epoch != self.epoch:
            self._order, self._order_epoch = self.source.order(self.epoch), self.epoch
        out = self.source.batch(self.epoch, self.index, self._order)
        self.index += 1
        if self.index == len(self.source):
            self.epoch, self.index = self.epoch + 1, 0
        return out
