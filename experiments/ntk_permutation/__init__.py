"""NTK permutation learners: trained ensembles against the infinite-width theory of :mod:`theory.ntk_permutation`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``ntk_kernel_agreement``: the closed-form arc-cosine NNGP/NTK against neural-tangents (float64) and against
  the empirical NTK of finite networks, whose error must fall as n^−1/2 (both parameterisations).
* ``ntk_gp_recovery``: the analytic GP mean, sign-rounded, is Px for every nonzero binary input (k up to 12,
  several permutations, both parameterisations); closed form vs the generic GP solve; the finite-time sign flip.
* ``ntk_ensemble_convergence``: ensembles of M trained networks against the GP: error of the ensemble mean vs M
  (predicted exactly from ``gp_covariance``), member variance, the mean's trajectory over training, vs width.
* ``ntk_ensemble_complexity``: accuracy vs M and the smallest M for exact recovery (one input; all inputs) from
  trained ensembles vs the GP; the k log k and k² laws; the public code's published numbers (docs/families/ntk_permutation.md §9) against
  the GP surrogate of both parameterisations.

Layout: ``settings.py`` (the settings of every experiment), one module per experiment (``kernel_agreement``,
``gp_recovery``, ``ensemble_convergence``, ``ensemble_complexity``: stages and the registered run), ``figures.py``
(drawn from the saved arrays), ``common.py`` (shared helpers and the public code's numbers) and ``oracle.py``
(neural-tangents, live or golden files).

Section numbers "§n" refer to ``docs/families/ntk_permutation.md``.
"""

from __future__ import annotations

from experiments.ntk_permutation.common import (
    LABEL,
    PARAMS,
    REPO_ACCURACY,
    REPO_ERROR,
    REPO_EXP1_STOP,
    REPO_EXP2_STOP,
    REPO_UNSTABLE_K,
    inputs_with_ones,
    unseen_inputs,
)
from experiments.ntk_permutation.ensemble_complexity import run_ensemble_complexity
from experiments.ntk_permutation.ensemble_convergence import run_ensemble_convergence
from experiments.ntk_permutation.gp_recovery import run_gp_recovery
from experiments.ntk_permutation.kernel_agreement import run_kernel_agreement
from experiments.ntk_permutation.settings import ComplexityConfig, ConvergenceConfig, KernelConfig, RecoveryConfig

__all__ = [
    "KernelConfig",
    "RecoveryConfig",
    "ConvergenceConfig",
    "ComplexityConfig",
    "REPO_EXP1_STOP",
    "REPO_EXP2_STOP",
    "REPO_ACCURACY",
    "REPO_ERROR",
    "REPO_UNSTABLE_K",
    "PARAMS",
    "LABEL",
    "inputs_with_ones",
    "unseen_inputs",
    "run_kernel_agreement",
    "run_gp_recovery",
    "run_ensemble_convergence",
    "run_ensemble_complexity",
]
