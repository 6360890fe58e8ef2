"""Jitted toy-model trainers, one module per family, paired with the closed forms in :mod:`theory`."""

from theory._version import __version__

__all__ = ["__version__"]
