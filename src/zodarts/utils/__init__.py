"""Small helpers shared across subpackages."""
