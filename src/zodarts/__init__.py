"""zodarts: zeroth-order differentiable neural architecture search for medical images.

The Python API is :mod:`zodarts.api` (``from zodarts import api; api.run(...)``): the command
line's jobs as functions. The subpackages are the parts: ``data``, ``space``, ``search``,
``train``, ``report``, ``sweep``, ``landscape``.
"""

import importlib

from zodarts.utils.threads import prefer_passive_waiting

# Before torch loads OpenMP: its threads then sleep, not spin, while they wait (utils.threads).
prefer_passive_waiting()

__version__ = "0.1.0"
__all__ = ["api", "__version__"]


def __getattr__(name: str):
    # Lazy, so that ``import zodarts`` (and the CLI's --help) does not import torch.
    if name == "api":
        return importlib.import_module("zodarts.api")
    raise AttributeError(f"module 'zodarts' has no attribute {name!r}")
