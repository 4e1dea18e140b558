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

from zodarts.config import PAPER_SEARCH_BATCH, SearchConfig, check_draw_epoch, paper_batch
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
    sizes of the two halves of the search split. The search's length:

    * ``epochs`` alone: that many epochs of up to ``steps_per_epoch`` batches each;
    * ``arch_steps`` alone: that many α steps; the epochs follow from the data (each at most
      the whole weights half, or ``steps_per_epoch``);
    * both: the α steps' batches spread evenly over the epochs (:func:`batches_in_epoch`). A
      combination that leaves an epoch without a training batch, or needs more batches in an
      epoch than it has, is refused here, before any work: an epoch that trains nothing is not
      an epoch.
    """
    c = dataclasses.replace(config, options=dict(config.options))
    batch = c.batch_size or paper_batch(dataset, weight_images, PAPER_SEARCH_BATCH)
    c.batch_size = fit_batch(batch, min(weight_images, arch_images), "search",
                             f"each half of {dataset}'s search split")
    batches = weight_images // c.batch_size
    if c.steps_per_epoch:
        batches = min(batches, c.steps_per_epoch)
    if c.arch_steps is not None:
        per_step = batches_per_step(c)
        if c.epochs is None:
            c.epochs = max(1, (math.ceil(c.arch_steps / (batches // per_step))
                               if batches >= per_step else
                               math.ceil(c.arch_steps * per_step / batches)))
        else:
            check_spread(c, per_step, batches, dataset)
        c.steps_per_epoch = max(spread(c.arch_steps, per_step, c.epochs, batches))
    if c.size_search_start is None:
        c.size_search_start = round(SIZE_PHASE_FRACTION * c.epochs)
    check_draw_epoch(c)   # the epochs are known now
    return c.validate()


def batches_per_step(config: SearchConfig) -> int:
    """Training batches per α step of the config's method (M for ZO-DARTS)."""
    cls = get_searcher(config.method)
    return cls.batches_per_arch_step(cls.parse_options(config.options))


def spread(arch_steps: int, per_step: int, epochs: int, batches: int) -> list[int]:
    """Training batches of each epoch when ``arch_steps`` α steps of ``per_step`` batches each
    are spread evenly over ``epochs`` epochs of at most ``batches``: whole rounds per epoch
    where they fit (no round straddles an epoch, nor so the start of the size phase, which
    begins a new round), else the batches themselves spread evenly."""
    def even(total: int) -> list[int]:
        return [(e + 1) * total // epochs - e * total // epochs for e in range(epochs)]

    rounds = even(arch_steps)
    if min(rounds) >= 1 and max(rounds) * per_step <= batches:
        return [r * per_step for r in rounds]
    return even(arch_steps * per_step)


def check_spread(c: SearchConfig, per_step: int, batches: int, dataset: str) -> None:
    """Refuse epochs and α steps that cannot be spread without an empty or overfull epoch."""
    total = c.arch_steps * per_step
    steps = f"--arch-steps {c.arch_steps} ({total} training batches for {c.method})"
    if total < c.epochs:
        raise ConfigError(
            f"--epochs {c.epochs} with {steps} would leave epochs without a training batch: "
            f"use at most --epochs {total}, or more --arch-steps, or give only one of the two")
    if math.ceil(total / c.epochs) > batches:
        raise ConfigError(
            f"--epochs {c.epochs} with {steps} needs {math.ceil(total / c.epochs)} batches per "
            f"epoch, and an epoch of {dataset} has {batches} at batch {c.batch_size}"
            + (" and --steps-per-epoch" if c.steps_per_epoch else "")
            + f": use at least --epochs {math.ceil(total / batches)}, or fewer --arch-steps, "
            "or give only one of the two")


def fit_batch(batch: int, images: int, stage: str, where: str) -> int:
    """``batch`` capped at the ``images`` there are, saying so: a batch of the whole split is
    what runs, and a user who asked for more must not learn it only from the summary."""
    if batch <= images:
        return batch
    warnings.warn(f"{stage} batch {batch} is larger than {where} ({images} images): using "
                  f"batch {images}", SettingWarning, stacklevel=2)
    return images


def batches_in_epoch(config: SearchConfig, epoch: int, batches: int) -> int:
    """Training batches of ``epoch`` of a resolved config: ``batches`` (the epoch's full count,
    capped by steps_per_epoch), except that a search sized in α steps spreads exactly that
    many steps' batches evenly over its epochs, none left empty (:func:`spread`)."""
    if config.arch_steps is None or config.epochs is None:
        return batches
    return spread(config.arch_steps, batches_per_step(config), config.epochs, batches)[epoch]
