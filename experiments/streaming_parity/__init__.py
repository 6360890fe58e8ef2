"""Streaming-parity RNNs (van Rossem & Saxe 2025): simulations at the paper's setting against
:mod:`theory.streaming_parity`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``parity_training``: the paper's run (App. C.1): loss to zero on training and long validation sequences at once
  (Figs. 1, 6), the automaton grows then collapses to the two-state parity machine (Figs. 4, 8), no contraction
  (Fig. 12), merged pairs agree (§4.2).
* ``parity_merger_map``: which agreeing pairs merge over their lengths (Fig. 7) against the merger condition
  evaluated on the initial network (Eqs. 6, 8, 9).
* ``parity_pair_dynamics``: diverging mergers over the lengths (Fig. 14), pairs above the threshold over training
  (Fig. 15), example trajectories (Fig. 10), against the fixed expansion point model with rates ∝ length (Eq. 42).
* ``parity_phase_diagram``: generalisation over data fraction × initial weight scale (Fig. 9), one vmapped sweep,
  against the merger condition at initialisation closed over the prefix tree.
* ``parity_merger_theory``: the reduced interaction models (Eqs. 20, 42) against gradient flow on the models they
  reduce, their closed forms (Eqs. 5, 7, 22, 32, 35) and Fig. 10 (left).

Layout: ``settings.py`` (every experiment's settings), one module per experiment (its stages and checks),
``figures.py`` (drawn from the saved arrays) and ``common.py`` (training and the pair analysis shared by the RNN
experiments).
"""

from __future__ import annotations

from experiments.streaming_parity.merger_map import run_merger_map
from experiments.streaming_parity.merger_theory import run_merger_theory
from experiments.streaming_parity.pair_dynamics import run_pair_dynamics
from experiments.streaming_parity.phase_diagram import run_phase_diagram
from experiments.streaming_parity.settings import (
    MergerMapConfig,
    MergerTheoryConfig,
    PairDynamicsConfig,
    PhaseDiagramConfig,
    RNNSettings,
    TrainingConfig,
)
from experiments.streaming_parity.training import run_training

__all__ = [
    "RNNSettings",
    "TrainingConfig",
    "MergerMapConfig",
    "PairDynamicsConfig",
    "PhaseDiagramConfig",
    "MergerTheoryConfig",
    "run_merger_map",
    "run_merger_theory",
    "run_pair_dynamics",
    "run_phase_diagram",
    "run_training",
]
