"""Method name → searcher class. A new searcher is one module and one line here."""

from __future__ import annotations

import importlib

from zodarts.errors import ConfigError

# Import paths rather than classes, so that listing methods imports nothing heavy.
SEARCHERS: dict[str, str] = {
    "zo-darts++": "zodarts.search.zo_darts:ZODartsPP",
    "zo-darts": "zodarts.search.zo_darts:ZODarts",
    "darts-1st": "zodarts.search.darts:DartsFirstOrder",
    "darts-2nd": "zodarts.search.darts:DartsSecondOrder",
    "zarts-rs": "zodarts.search.zarts:ZartsRS",
    "zarts-mgs": "zodarts.search.zarts:ZartsMGS",
    "zarts-gld": "zodarts.search.zarts:ZartsGLD",
    "random": "zodarts.search.random_search:RandomSearch",
}


def get_searcher(method: str):
    try:
        target = SEARCHERS[method]
    except KeyError:
        raise ConfigError(f"unknown method {method!r}: use one of {', '.join(SEARCHERS)}") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def option_names(method: str) -> set[str]:
    """The ``--opt`` names a method accepts."""
    import dataclasses

    return {f.name for f in dataclasses.fields(get_searcher(method).Options)}
