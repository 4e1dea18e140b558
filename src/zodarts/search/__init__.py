"""Searchers (one module each, behind :class:`zodarts.search.base.Searcher`) and the shared
search loop."""

from zodarts.search.base import SearchContext, Searcher
from zodarts.search.registry import SEARCHERS, get_searcher

__all__ = ["SearchContext", "Searcher", "SEARCHERS", "get_searcher"]
