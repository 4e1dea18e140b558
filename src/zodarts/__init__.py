"""zodarts: zeroth-order differentiable neural architecture search for medical images."""

__version__ = "0.1.0"
