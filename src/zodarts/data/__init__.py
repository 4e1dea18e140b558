"""Data: the dataset registry, loading and validation, downloads, the search split, and
on-device batches with augmentation.

The torch-based parts are imported on first use (PEP 562), so that `zodarts datasets` and
`zodarts fetch`, which need only the registry, start without importing torch; the light modules
are imported eagerly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zodarts.data.download import fetch
from zodarts.data.registry import (REGISTRY, TASKS, DatasetInfo, default_root, find_local,
                                   get_info, search_dirs)
from zodarts.data.validate import DatasetWarning, md5_of, md5_status

_LAZY = {
    "augment": ("Augment", "CropFlip", "Normalizer", "default_padding"),
    "dataset": ("ImageDataset", "Split", "load_dataset"),
    "loader": ("BatchIterator", "InfiniteBatches", "derive_seed"),
    "split": ("search_split", "stratified_indices"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}
__all__ = ["fetch", "REGISTRY", "TASKS", "DatasetInfo", "default_root", "find_local", "get_info",
           "search_dirs", "DatasetWarning", "md5_of", "md5_status",
           "Augment", "CropFlip", "Normalizer", "default_padding",
           "ImageDataset", "Split", "load_dataset",
           "BatchIterator", "InfiniteBatches", "derive_seed",
           "search_split", "stratified_indices"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'zodarts.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"zodarts.data.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


if TYPE_CHECKING:
    from zodarts.data.augment import Augment, CropFlip, Normalizer, default_padding
    from zodarts.data.dataset import ImageDataset, Split, load_dataset
    from zodarts.data.loader import BatchIterator, InfiniteBatches, derive_seed
    from zodarts.data.split import search_split, stratified_indices
