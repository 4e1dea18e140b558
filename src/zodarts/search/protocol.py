"""What a search actually runs with, resolved once and recorded in config.yaml.

Two steps, both pure functions of a :class:`SearchConfig`:

* :func:`resolve_method` fills every field left ``None`` with the method's own settings (its
  paper's: relaxation, annealing, size search, α optimizer; ``Searcher.paper_defaults``) and
  completes its options, then refuses combinations that cannot be meant (a budget on a
  fixed-size space). It needs no data, so a bad request fails before any work.
* :func:`resolve_schedule` fixes what depends on the data: the batch size (the paper's per
  dataset when unset), the epochs when the search length is given in α steps, and the size
  phase at a fixed fraction of the epochs when unset (the temperature then follows the
  fraction of the search done: ``schedule.temperature_at``).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

from zodarts.config import PAPER_SEARCH_BATCH, SearchConfig, paper_batch
from zodarts.errors import ConfigError, SettingWarning
from zodarts.search.registry import get_searcher

# The paper's 50-epoch schedule as a fraction: the size phase from epoch 20 (the temperature's
# tenths are in ``schedule.temperature_at``).
SIZE_PHASE_FRACTION = 0.4
ALPHA_SWITCHES = ("relax", "anneal", "size_search")


def resolve_method(config: SearchConfig) -> SearchConfig:
    """A copy of ``config`` with the method's own settings where the user set none."""
    cls = get_searcher(config.method)
    resolved = dataclasses.replace(config, options=dict(config.options))
    defaults = cls.paper_defaults()
    if not cls.uses_alpha:
        changed = [k for k in ALPHA_SWITCHES
                   if getattr(config, k) is not None and getattr(config, k) != defaults[k]]
        if changed:
            raise ConfigError(f"method {config.method!r} has no architecture parameters, so "
                              f"{', '.join('--' + k.replace('_', '-') for k in changed)} does "
                              "not apply to it (it samples kernel sizes and depths already)")
    for key, value in defaults.items():
        if getattr(resolved, key) is None:
            setattr(resolved, key, value)
    resolved.options = dataclasses.asdict(cls.parse_options(resolved.options))
    check_budget_needs_size_search(resolved)
    return resolved.validate()


def has_budget(config: SearchConfig) -> bool:
    return (config.budget not in (None, "none") or config.params_min is not None
            or config.params_max is not None)


def check_budget_needs_size_search(config: SearchConfig) -> None:
    """A budget on a fixed-size space (7×7 convolutions, every cell) can be met only by a
    collapse to parameter-free operations: refuse it rather than produce that collapse."""
    cls = get_searcher(config.method)
    if has_budget(config) and cls.uses_alpha and not config.size_search:
        raise ConfigError(
            f"a parameter budget needs the size-variable space, and {config.method} searches "
            "the fixed-size one (7x7 convolutions, every cell), where only a collapse to "
            "parameter-free operations could meet a band: add --size-search (kernel sizes and "
            "depths are then searched under the budget penalty), use --method random (it "
            "samples inside the band), or drop the budget")


def resolve_schedule(config: SearchConfig, dataset: str, weight_images: int, arch_images: int
                     ) -> SearchConfig:
    """A copy of ``config`` with the batch size, epochs and phase epochs fixed for the data.

    ``dataset`` is the loaded dataset's name; ``weight_images`` and ``arch_images`` are the
    sizes of the two halves of the search split.
    """
    c = dataclasses.replace(config, options=dict(config.options))
    batch = c.batch_size or paper_batch(dataset, weight_images, PAPER_SEARCH_BATCH)
    c.batch_size = fit_batch(batch, min(weight_images, arch_images), "search",
                             f"each half of {dataset}'s search split")
    if c.epochs is None:
        # Epochs of at most the whole weights half, and batches per epoch evened out so that
        # the search takes arch_steps α steps (to within a round), whatever the dataset's size.
        batches = weight_images // c.batch_size
        if c.steps_per_epoch:
            batches = min(batches, c.steps_per_epoch)
        cls = get_searcher(c.method)
        total = c.arch_steps * cls.batches_per_arch_step(cls.parse_options(c.options))
        c.epochs = max(1, math.ceil(total / batches))
        c.steps_per_epoch = min(batches, math.ceil(total / c.epochs))
        # No epoch left empty; the last one takes only what is left (``batches_in_epoch``).
        c.epochs = math.ceil(total / c.steps_per_epoch)
    if c.size_search_start is None:
        c.size_search_start = round(SIZE_PHASE_FRACTION * c.epochs)
    return c.validate()


def fit_batch(batch: int, images: int, stage: str, where: str) -> int:
    """``batch`` capped at the ``images`` there are, saying so: a batch of the whole split is
    what runs, and a user who asked for more must not learn it only from the summary."""
    if batch <= images:
        return batch
    warnings.warn(f"{stage} batch {batch} is larger than {where} ({images} images): using "
                  f"batch {images}", SettingWarning, stacklevel=2)
    return images


def batches_in_epoch(config: SearchConfig, epoch: int, batches: int) -> int:
    """Training batches of ``epoch``: ``batches`` (the epoch's full count, capped by
    steps_per_epoch), except that a search sized in α steps stops at exactly that many."""
    if config.arch_steps is None or config.epochs is None:
        return batches
    cls = get_searcher(config.method)
    total = config.arch_steps * cls.batches_per_arch_step(cls.parse_options(config.options))
    return max(0, min(batches, total - epoch * batches))
