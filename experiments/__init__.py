"""Experiment drivers: each runs a simulation and its closed-form theory side by side.

Command line: ``python -m experiments list | describe NAME | run NAME|all [--quick] [--out DIR] [--seed N]``.
From Python::

    from experiments import run_experiment
    summary = run_experiment("deep_linear_modes", quick=True, out_dir="results")

Family modules register their experiments on import; :func:`load_all` imports them all.
"""

from __future__ import annotations

import importlib

from experiments.contract import REGISTRY, Check, ConfigError, Result, RunContext, run_experiment, write_report
from theory._version import __version__

FAMILY_MODULES = (
    "experiments.deep_linear",
    "experiments.superposition",
    "experiments.ntk_permutation",
    "experiments.streaming_parity",
)

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
    "FAMILY_MODULES",
]


def load_all() -> dict:
    """Import every family module so that its experiments are registered; return the registry."""
    for mod in FAMILY_MODULES:
        importlib.import_module(mod)
    return REGISTRY
