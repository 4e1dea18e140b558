"""Temperature annealing and phases as pure functions of the epoch (so resume is trivial)."""

from __future__ import annotations

from zodarts.config import SearchConfig

# The paper anneals T × 0.75 every 5 of its 50 epochs: ten periods of a tenth of the search each.
TEMP_DECAY_PERIODS = 10


def temperature_at(epoch: int, config: SearchConfig, anneal: bool) -> float:
    """T₀ · decay^k for ``epoch`` when annealing, else 1.

    k = epoch // temp_decay_every where that is set (the paper: every 5 epochs). Unset (a search
    sized in α steps), k is the number of whole tenths of the search behind the epoch's start,
    ⌊10·epoch / epochs⌋: T then follows the fraction of the search done, so a 6-epoch search of a
    large dataset and a 45-epoch one of a small dataset anneal alike and end at the paper's last
    temperature T₀ · decay⁹ (one decay short below 10 epochs, where an epoch spans more than a
    tenth). A period rounded to whole epochs would not: round(0.6) = 1 and round(4.5) = 4 gave
    them 5 and 11 decays.
    """
    if not anneal:
        return 1.0
    if config.temp_decay_every:
        decays = epoch // config.temp_decay_every
    else:
        decays = epoch * TEMP_DECAY_PERIODS // config.epochs
    return config.temperature * config.temp_decay ** decays


def size_phase_at(epoch: int, config: SearchConfig, size_search: bool) -> bool:
    return size_search and epoch >= config.size_search_start
