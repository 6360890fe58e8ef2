"""Jitted toy-model trainers, one module per family, paired with the closed forms in :mod:`theory`.

Every family trains on the ensemble engine (:mod:`toymodels.engine`). A family module is found by
:func:`families`: it is a module of this package that defines ``job`` and ``example_job`` (a small job used by
the layout checks and as a starting point), so adding a family needs no list to be edited.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from theory._version import __version__

__all__ = ["__version__", "families"]

_INFRASTRUCTURE = {"common", "engine", "sharding"}


def families() -> dict[str, ModuleType]:
    """``{name: module}`` of every family trainer module in this package (sorted by name)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in _INFRASTRUCTURE:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "job", None)) and callable(getattr(module, "example_job", None)):
            found[info.name] = module
    return found
