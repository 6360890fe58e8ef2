"""Toy models of superposition: simulations against the closed forms of :mod:`theory.superposition`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``superposition_linear``: dense features (S = 0), n = 20, m = 5, I_i = 0.7^i (Elhage et al. §2): the
  ReLU and linear models reach the linear optimum's loss and keep exactly the top-m features.
* ``superposition_phase_diagram``: n = 2, m = 1 models over density × relative importance; the learned
  phase (best of several seeds, judged by the exact expected loss) against the analytic phase.
* ``superposition_geometry``: feature dimensionality D_i and dimensions per feature D* across sparsity
  (uniform importance), the polytopes behind the sticky fractions, and the paper's WᵀW heat maps
  (n = 20, m = 5, I_i = 0.7^i across sparsity).
* ``superposition_pentagon``: n = 5, m = 2 (Elhage et al., "Non-uniform superposition"): the pentagon deforms as
  one feature's density changes and collapses to two digons; best-of-seeds against the per-geometry optima of the
  expected loss.
* ``superposition_scaling``: Liu, Liu & Gore's toy model (p_i ∝ i^−α, weight decay/growth γ): loss vs
  width in the weak (γ > 0) and strong (γ < 0) regimes against the unlearned-feature law and the 1/m law,
  and the interference of the learned embeddings against the Welch bound.
* ``superposition_robustness``: their large toy models with exponential, power-law and linear frequencies
  (App. B.1, Figs. 1, 8): loss ∝ 1/m in the strong regime for all three, against the weak regime.

Every model of an experiment trains in one vmapped, jitted ``lax.scan`` (:func:`toymodels.superposition.
train`); sizes differ between ``--quick`` (CI) and the full (paper-like) configuration.
"""

from __future__ import annotations

from experiments.superposition import figures
from experiments.superposition.figures import PHASE_COLOURS
from experiments.superposition.geometry import run_geometry
from experiments.superposition.linear import run_linear
from experiments.superposition.pentagon import run_pentagon
from experiments.superposition.phase_diagram import run_phase_diagram
from experiments.superposition.robustness import run_robustness
from experiments.superposition.scaling import run_scaling
from experiments.superposition.settings import (
    GeometryConfig,
    LinearConfig,
    PentagonConfig,
    PhaseConfig,
    RobustnessConfig,
    ScalingConfig,
)

__all__ = [
    "LinearConfig",
    "PhaseConfig",
    "GeometryConfig",
    "PentagonConfig",
    "ScalingConfig",
    "RobustnessConfig",
    "run_linear",
    "run_phase_diagram",
    "run_geometry",
    "run_pentagon",
    "run_scaling",
    "run_robustness",
    "PHASE_COLOURS",
    "figures",
]
