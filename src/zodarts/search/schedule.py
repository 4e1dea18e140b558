"""Temperature annealing and phases as pure functions of the epoch (so resume is trivial)."""

from __future__ import annotations

from zodarts.config import SearchConfig


def temperature_at(epoch: int, config: SearchConfig, anneal: bool) -> float:
    """T₀ · decay^(epoch // every) when annealing, else 1."""
    if not anneal:
        return 1.0
    return config.temperature * config.temp_decay ** (epoch // config.temp_decay_every)


def size_phase_at(epoch: int, config: SearchConfig, size_search: bool) -> bool:
    return size_search and epoch >= config.size_search_start
