"""Experiment drivers: each runs a simulation and its closed-form theory side by side.

Command line: ``python -m experiments list | describe NAME | run NAME|all [--quick] [--out DIR] [--seed N]``.
From Python::

    from experiments import run_experiment
    summary = run_experiment(NAME, quick=True, out_dir="results")  # NAME from `python -m experiments list`

Each family is a subpackage (``experiments/F/``) that registers its experiments on import; :func:`load_all` finds
and imports them all, so no list names the families.
"""

from __future__ import annotations

import importlib
import pkgutil

from experiments.contract import REGISTRY, Check, ConfigError, Result, RunContext, run_experiment, write_report
from theory._version import __version__

__all__ = [
    "__version__",
    "REGISTRY",
    "Check",
    "ConfigError",
    "Result",
    "RunContext",
    "run_experiment",
    "write_report",
    "load_all",
    "family_modules",
]


def family_modules() -> list[str]:
    """Every family package under ``experiments/`` (a subpackage registers its experiments on import)."""
    return [f"{__name__}.{m.name}" for m in pkgutil.iter_modules(__path__) if m.ispkg]


def load_all() -> dict:
    """Import every family package so that its experiments are registered; return the registry."""
    for mod in family_modules():
        importlib.import_module(mod)
    return REGISTRY
