"""Closed-form theory of learning dynamics: one module per family (``theory.F`` next to ``toymodels.F`` and
``experiments/F/``; the README lists the families), and the shared input checks in :mod:`theory.common`. Functions compute in float64 only where JAX's x64 mode
is on (``jax.config.update("jax_enable_x64", True)`` or ``with jax.enable_x64(True):``)."""

from theory._version import __version__

__all__ = ["__version__"]
