"""Searchers (one module each, behind :class:`zodarts.search.base.Searcher`), their registry and
the shared search loop. The API function that runs a search is :func:`zodarts.api.search`."""

from zodarts.search.base import SearchContext, Searcher
from zodarts.search.registry import SEARCHERS, get_searcher

__all__ = ["SearchContext", "Searcher", "SEARCHERS", "get_searcher"]
