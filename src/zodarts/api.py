"""The Python API: the same jobs as the CLI, returning result objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zodarts.config import SEARCH_PRESETS, SearchConfig, make_config
from zodarts.search.loop import SearchResult, run_search


def search(dataset: str = "digits", method: str = "zo-darts++", budget: str = "none",
           epochs: int | None = None, out: str | Path = "runs/search", preset: str | None = None,
           resume: bool = False, progress: bool = False, **settings: Any) -> SearchResult:
    """Search an architecture; ``settings`` are any :class:`SearchConfig` fields.

    >>> result = zodarts.search(dataset="breastmnist", budget="small", preset="quick",
    ...                         out="runs/breast")
    >>> result.genotype, result.history[-1]["val_acc"]
    """
    config = None if resume else make_config(
        SearchConfig, SEARCH_PRESETS, preset, dataset=dataset, method=method, budget=budget,
        epochs=epochs, **settings)
    return run_search(config, out, resume=resume, progress=progress, log=None)
