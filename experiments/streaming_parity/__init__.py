"""Streaming-parity RNNs: simulations against :mod:`theory.streaming_parity`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``parity_transition``: RNNs trained on all sequences of length 1…L for a sweep of L (seeds × lengths
  vmapped); fraction of seeds that get the parity right at **every** step of random sequences of length
  ≥ 1000, against L: the phase transition to infinite generalisation; extracted automata of the trained
  networks (a parity automaton must imply generalisation).
* ``parity_automaton``: number of states of the extracted, minimised automaton over training for several
  seeds: the rise (a tree that memorises) and the collapse to the two-state parity machine.
* ``parity_merger``: (a) the reduced merger dynamics simulated by gradient descent on its exact particle
  realisation against the closed form and the merger condition N_c; (b) the measured distances of agreeing
  prefixes in the trained RNNs against the theory's trajectories, with the gap reported.

Quick sizes use 32 hidden units, Xavier gain 0.1 and AMSGrad at lr 1e-2 (the authors' ``rich`` row uses 100
units, gain 1e-5 and lr 1e-3 with minibatches; at lr 1e-3 the plateau is ~10× longer, beyond the CI budget).

Layout: ``settings.py`` (the settings of every experiment), one module per experiment (``transition``,
``automaton``, ``merger``: stages and the registered run), ``figures.py`` (drawn from the saved arrays) and
``common.py`` (the RNN settings, training at one length, the long-sequence test).
"""

from __future__ import annotations

from experiments.streaming_parity.automaton import run_automaton
from experiments.streaming_parity.merger import run_merger
from experiments.streaming_parity.settings import AutomatonConfig, MergerConfig, RNNSettings, TransitionConfig
from experiments.streaming_parity.transition import run_transition

__all__ = [
    "RNNSettings",
    "TransitionConfig",
    "AutomatonConfig",
    "MergerConfig",
    "run_transition",
    "run_automaton",
    "run_merger",
]
