"""Helpers shared by the NTK permutation experiments: the two parameterisations, input sets, permutations and the
public code's published numbers (docs/families/ntk_permutation.md §9)."""

from __future__ import annotations

import itertools
import math

import jax
import numpy as np

from theory import ntk_permutation as th

__all__ = [
    "PARAMS",
    "LABEL",
    "REPO_EXP1_STOP",
    "REPO_EXP2_STOP",
    "REPO_ACCURACY",
    "REPO_ERROR",
    "REPO_UNSTABLE_K",
    "inputs_with_ones",
    "unseen_inputs",
    "derangement",
]

PARAMS = {"A": th.NTK_PARAMETERIZATION, "B": th.STANDARD_PARAMETERIZATION}
LABEL = {"A": "(A) NTK param.", "B": "(B) standard param."}

# ---- published numbers of the public code (opallab/permlearn results/**/results.csv; docs/families/ntk_permutation.md §9) ---------------
#: Exp 1: first M with accuracy ≥ 0.9 on 1000 random 2-hot inputs, k = 2..30 (n = 50,000, seed 2).
REPO_EXP1_STOP = dict(
    zip(
        range(2, 31),
        (
            1,
            2,
            10,
            43,
            34,
            29,
            40,
            37,
            69,
            70,
            62,
            72,
            56,
            103,
            89,
            105,
            105,
            106,
            117,
            131,
            128,
            124,
            150,
            157,
            157,
            162,
            165,
            174,
            175,
        ),
        strict=True,
    )
)
#: Exp 2: first M with accuracy ≥ 0.999.
REPO_EXP2_STOP = {5: 43, 10: 129, 15: 163, 20: 254, 25: 308, 30: 318}
#: Logged accuracy at M members: {k: {M: accuracy}}.
REPO_ACCURACY = {
    10: {10: 0.091, 50: 0.843, 100: 0.949},
    20: {10: 0.017, 50: 0.427, 100: 0.883, 150: 0.980, 200: 0.985},
    30: {10: 0.000, 50: 0.079, 100: 0.518, 150: 0.781, 200: 0.945},
}
#: Final logged "error" (MSE of the mean against Px/‖Px‖): {(k, M): error}.
REPO_ERROR = {(10, 69): 0.00211, (10, 129): 0.00205, (30, 175): 4.68e-4, (30, 318): 4.64e-4}
#: Training protocol of the public code is unstable (2ηλ_max/k² > 2, docs/families/ntk_permutation.md §3) for these k.
REPO_UNSTABLE_K = (2, 3)


def inputs_with_ones(k: int, ones: int, limit: int | None = None, key=None) -> np.ndarray:
    """All binary inputs of length k with ``ones`` ones (or ``limit`` random ones when there are more)."""
    count = math.comb(k, ones)
    if limit is not None and count > limit:
        return th.sample_binary_inputs(key if key is not None else jax.random.key(0), k, ones, limit)
    return np.array([np.isin(np.arange(k), c) for c in itertools.combinations(range(k), ones)], float)


def unseen_inputs(k: int) -> np.ndarray:
    """All nonzero binary inputs that are not training points (2^k − 1 − k of them, s ≥ 2)."""
    x = th.all_binary_inputs(k)
    return x[x.sum(axis=1) >= 2]


def derangement(key, k):
    """A random permutation with no fixed points when k ≥ 2 (so index bugs cannot hide, pitfall 12)."""
    while True:
        key, sub = jax.random.split(key)
        p = np.asarray(jax.random.permutation(sub, k))
        if k < 2 or np.all(p != np.arange(k)):
            return p
