"""Searchers (one module each, behind :class:`zodarts.search.base.Searcher`) and the shared
search loop.

The package is also the API function ``zodarts.search(...)`` (:func:`zodarts.api.search`): a
subpackage is bound as an attribute of its parent on import, so a plain function of that name
in ``zodarts/__init__.py`` would be replaced by this module. Making the module callable keeps
both meanings, and ordinary imports of ``zodarts.search.*`` unaffected.
"""

import sys
import types

from zodarts.search.base import SearchContext, Searcher
from zodarts.search.registry import SEARCHERS, get_searcher

__all__ = ["SearchContext", "Searcher", "SEARCHERS", "get_searcher"]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from zodarts.api import search
        return search(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
