"""zodarts: zeroth-order differentiable neural architecture search for medical images.

The Python API mirrors the command line: ``zodarts.search``, ``train``, ``evaluate``,
``report``, ``export`` and ``run`` (see :mod:`zodarts.api`). ``zodarts.search`` is the
searchers' subpackage made callable (see :mod:`zodarts.search`).
"""

import importlib

__version__ = "0.1.0"

_API = ("train", "evaluate", "report", "export", "run")
__all__ = ["search", *_API, "__version__"]


def __getattr__(name: str):
    # Lazy, so that ``import zodarts`` (and the CLI's --help) does not import torch.
    if name == "search":
        return importlib.import_module("zodarts.search")
    if name in _API:
        return getattr(importlib.import_module("zodarts.api"), name)
    raise AttributeError(f"module 'zodarts' has no attribute {name!r}")
