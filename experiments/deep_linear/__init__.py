"""Deep linear networks: simulations against the exact theory of Saxe, McClelland & Ganguli (2014).

Registered experiments (see ``python -m experiments describe NAME`` for every setting):

* ``deep_linear_modes``: mode trajectories of balanced, decoupled networks of depth 2, 3, 4 against
  :func:`theory.deep_linear.mode_strength` (tolerance: first-order discretisation error) and the exact
  discrete recursion (tolerance: float64 rounding).
* ``deep_linear_learning_time``: half-learning times against :func:`learning_time` for several s
  (the 1/s law with its log factor; docs/families/deep_linear.md P3), steps-to-converge vs depth at the best stable rate
  (finite depth delay, P10), and orthogonal vs scaled-Gaussian initialisation (P11).
* ``deep_linear_semantic``: the hierarchical dataset of Saxe et al. Fig. 3 from small random
  initialisations; per-mode t_half delay vs the logistic with u0_eff (P5), the tree spectrum (§6.1 there) and
  the predicted loss curve.

* ``deep_linear_phase_portrait``: Saxe et al. Fig. 2, the (a, b) flow of one mode; full networks from unbalanced
  and non-white-aligned decoupled starts against the exact recursion, the exact flow (App. A corrected, App. E)
  and the per-step contraction of the imbalance (P17).

* ``deep_linear_general_init``: two-layer networks from random λ-balanced (non-decoupled) starts against the exact
  matrix Riccati solution, an RK4 solve and the exact per-step change of W2ᵀW2 − W1W1ᵀ.

* ``deep_linear_edge_of_chaos``: deep tanh networks with gain-scaled orthogonal weights (Figs. 7–8): the variance map
  and the Jacobian's mean squared singular value against mean-field theory (critical gain 1), and the fraction of
  the Jacobian spectrum that stays O(1) just above and below it.

* ``deep_linear_digits_depth``: Figs. 4 and 6A on scikit-learn's digits (whitened): learning time and fastest rate
  against depth for decoupled, scaled Gaussian, random orthogonal and pretrained starts.

* ``deep_linear_pretraining``: Fig. 5 on the raw digits: the consistency condition Q ≈ V, greedy layer-wise
  autoencoder pretraining and the decoupled start it yields, and learning from pretrained vs small random weights.

All numbers are in the averaged convention of :mod:`theory.deep_linear`; Saxe's summed-convention
settings (λ, σ, u0) carry over unchanged through :func:`theory.deep_linear.from_summed_convention`.
"""

from experiments.deep_linear.digits import run_digits_depth, run_pretraining
from experiments.deep_linear.edge_of_chaos import run_edge_of_chaos
from experiments.deep_linear.general_init import run_general_init
from experiments.deep_linear.learning_time import run_learning_time
from experiments.deep_linear.modes import run_modes
from experiments.deep_linear.phase_portrait import run_phase_portrait
from experiments.deep_linear.semantic import run_semantic
from experiments.deep_linear.settings import (
    DigitsDepthConfig,
    EdgeOfChaosConfig,
    GeneralInitConfig,
    LearningTimeConfig,
    ModesConfig,
    PhasePortraitConfig,
    PretrainingConfig,
    SemanticConfig,
)

__all__ = [
    "ModesConfig",
    "LearningTimeConfig",
    "SemanticConfig",
    "PhasePortraitConfig",
    "GeneralInitConfig",
    "EdgeOfChaosConfig",
    "DigitsDepthConfig",
    "PretrainingConfig",
    "run_modes",
    "run_learning_time",
    "run_semantic",
    "run_phase_portrait",
    "run_general_init",
    "run_edge_of_chaos",
    "run_digits_depth",
    "run_pretraining",
]
