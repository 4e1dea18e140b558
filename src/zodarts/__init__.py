"""zodarts: zeroth-order differentiable neural architecture search for medical images."""

__version__ = "0.1.0"


def search(*args, **kwargs):
    """See :func:`zodarts.api.search` (imported lazily so ``import zodarts`` stays light)."""
    from zodarts.api import search as _search
    return _search(*args, **kwargs)
