"""Streaming-parity RNNs (van Rossem & Saxe 2025): simulations at the paper's setting against
:mod:`theory.streaming_parity`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``parity_merger_theory``: the reduced interaction models (Eqs. 20, 42) against gradient flow on the models they
  reduce, their closed forms (Eqs. 5, 7, 22, 32, 35) and Fig. 10 (left).

Layout: ``settings.py`` (every experiment's settings), one module per experiment (its stages and checks),
``figures.py`` (drawn from the saved arrays) and ``common.py`` (training and the pair analysis shared by the RNN
experiments).
"""

from __future__ import annotations

from experiments.streaming_parity.merger_theory import run_merger_theory
from experiments.streaming_parity.settings import (
    MergerMapConfig,
    MergerTheoryConfig,
    PairDynamicsConfig,
    PhaseDiagramConfig,
    RNNSettings,
    TrainingConfig,
)

__all__ = [
    "RNNSettings",
    "TrainingConfig",
    "MergerMapConfig",
    "PairDynamicsConfig",
    "PhaseDiagramConfig",
    "MergerTheoryConfig",
    "run_merger_theory",
]
