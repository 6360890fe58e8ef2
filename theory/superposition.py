r"""Closed-form theory of toy models of superposition.

References
----------
* N. Elhage et al., *Toy Models of Superposition*, Transformer Circuits Thread (2022),
  arXiv:2209.10652 — the ReLU autoencoder, the linear optimum, the n = 2, m = 1 phase change and
  feature dimensionality.
* Y. Liu, Z. Liu, J. Gore, *Superposition Yields Robust Neural Scaling*, NeurIPS 2025,
  arXiv:2505.10465, public code ``liuyz0/SuperpositionScaling`` — loss-vs-width scaling in the weak
  and strong superposition regimes.

The setups below were taken from the papers and their public code; ``docs/families/superposition.md`` sets them
side by side with the toolkit's settings and its departures.

Conventions
-----------
* ``n`` features, ``m`` hidden dimensions. ``W`` has shape (m, n): **column i is feature i's embedding**
  :math:`W_i\in\mathbb R^m`. The model is :math:`x' = \mathrm{ReLU}(W^TWx+b)` (or without the ReLU).
* Feature i is zero with probability :math:`S_i` (its *sparsity*; density :math:`p_i=1-S_i`) and otherwise
  uniform on ``value_range`` = [lo, hi] — [0, 1] in Elhage et al., [0, 2] in Liu et al.
* Loss per sample :math:`\ell=\sum_i I_i(x_i-x'_i)^2` with importances :math:`I_i`, averaged over the batch.
  (Elhage et al.'s code also divides by n; Liu et al. use the plain MSE, i.e. :math:`I_i = 1/n`.)

Contents
--------
* :func:`feature_dimensionality`, :func:`dimensions_per_feature`, :func:`mean_squared_overlap`.
* :func:`feature_moments`, :func:`linear_optimum` — the best linear model keeps the m most important
  features orthogonally.
* :func:`expected_loss_2x1` (exact), :func:`phase_energies`, :func:`predicted_phase` — the n = 2, m = 1
  phase diagram.
* :func:`fixed_phase_energies` (the paper's fixed configurations), :func:`phase_energies_3x2`,
  :func:`predicted_phase_3x2`, :func:`classify_phase_3x2` — the n = 3, m = 2 diagram.
* :func:`expected_loss_by_pattern` (any small n, summed over sparsity patterns), :func:`pentagon_digon_energies` —
  the n = 5, m = 2 pentagon and its collapse to two digons.
* :func:`power_law_frequencies`, :func:`weak_superposition_loss`, :func:`welch_bound`,
  :func:`random_overlap`, :data:`STRONG_SUPERPOSITION_EXPONENT` — the scaling law of Liu, Liu & Gore.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory.common import ParameterError, as_float, check_int, check_range, concrete

__all__ = [
    "feature_dimensionality",
    "dimensions_per_feature",
    "mean_squared_overlap",
    "STICKY_FRACTIONS",
    "feature_moments",
    "LinearOptimum",
    "linear_optimum",
    "linear_model_loss",
    "expected_loss_2x1",
    "MAX_PATTERN_FEATURES",
    "expected_loss_by_pattern",
    "PentagonDigon",
    "pentagon_digon_energies",
    "PhaseEnergies",
    "phase_energies",
    "predicted_phase",
    "fixed_phase_energies",
    "PHASES_3X2",
    "PhaseEnergies3x2",
    "phase_energies_3x2",
    "predicted_phase_3x2",
    "classify_phase_3x2",
    "classify_phase_2x1",
    "PHASES",
    "polytope_structure",
    "feature_groups",
    "group_dimensionality",
    "power_law_frequencies",
    "weak_superposition_loss",
    "weak_superposition_exponent",
    "STRONG_SUPERPOSITION_EXPONENT",
    "strong_superposition_exponent",
    "FREQUENCY_LAWS",
    "frequency_law",
    "strongly_represented_fraction",
    "welch_bound",
    "welch_bound_log_slope",
    "random_overlap",
]

#: Feature dimensionalities of the uniform polytopes the paper finds (Elhage et al. §"Feature
#: dimensionality"): dedicated dimension 1, tetrahedron 3/4, triangle 2/3, digon (antipodal pair) 1/2,
#: pentagon 2/5, square antiprism 3/8 — a feature in a polytope of ℓ vectors spanning k dims has D = k/ℓ.
STICKY_FRACTIONS = {
    "dedicated dimension (1/1)": 1.0,
    "tetrahedron (3/4)": 3 / 4,
    "triangle (2/3)": 2 / 3,
    "digon (1/2)": 1 / 2,
    "pentagon (2/5)": 2 / 5,
    "square antiprism (3/8)": 3 / 8,
}

#: Phase labels of the n = 2, m = 1 diagram, in the order used by :func:`predicted_phase`.
PHASES = ("not represented", "dedicated dimension", "superposition")

#: Strong superposition with flat feature frequencies: loss ∝ m^(−1) (Liu, Liu & Gore, Result 2; for skewed
#: frequencies see :func:`strong_superposition_exponent`).
STRONG_SUPERPOSITION_EXPONENT = 1.0


# ----------------------------------------------------------------------------------------------
# geometry
# ----------------------------------------------------------------------------------------------
def _check_weights(W, name="W"):
    if np.ndim(W) < 2:
        raise ParameterError(
            f"{name} must have shape (..., m, n) with column i the embedding of feature i; got shape {np.shape(W)}"
        )
    m, n = np.shape(W)[-2:]
    if m < 1 or n < 1:
        raise ParameterError(f"{name} must have m >= 1 rows and n >= 1 columns; got shape {np.shape(W)}")
    return as_float(W, name)


def feature_dimensionality(W, *, eps: float = 1e-12) -> jnp.ndarray:
    r"""Per-feature dimensionality (Elhage et al. 2022, §"Feature dimensionality").

    .. math:: D_i = \frac{\lVert W_i\rVert^2}{\sum_j (\hat W_i\cdot W_j)^2},

    with :math:`W_i` column i of ``W`` and :math:`\hat W_i` its unit vector. D_i = 1 for a feature with a
    dedicated dimension, 1/2 for an antipodal pair, k/ℓ for a uniform polytope of ℓ features spanning k
    dimensions; a zero column has D_i = 0 (columns with squared norm ≤ ``eps`` count as zero).

    Args:
        W: weights of shape (..., m, n); leading axes are batch axes.

    Returns:
        Array of shape (..., n).
    """
    W = _check_weights(W)
    gram = jnp.swapaxes(W, -1, -2) @ W  # (..., n, n), gram[i, j] = W_i · W_j
    norms2 = jnp.diagonal(gram, axis1=-2, axis2=-1)
    safe = jnp.where(norms2 > eps, norms2, 1.0)
    denom = jnp.sum(gram**2, axis=-1) / safe  # Σ_j (Ŵ_i·W_j)² = Σ_j (W_i·W_j)² / ||W_i||²
    return jnp.where(norms2 > eps, norms2 / jnp.where(norms2 > eps, denom, 1.0), 0.0)


def dimensions_per_feature(W) -> jnp.ndarray:
    r"""Dimensions per feature :math:`D^* = m/\lVert W\rVert_F^2` (Elhage et al.), shape (...,).

    For unit-norm represented features it is m divided by the number of features represented.
    """
    W = _check_weights(W)
    m = W.shape[-2]
    return m / jnp.sum(W**2, axis=(-2, -1))


def mean_squared_overlap(W, *, normalise: bool = True) -> jnp.ndarray:
    r"""Mean over pairs i ≠ j of :math:`(\hat W_i\cdot\hat W_j)^2` (interference), shape (...,).

    With ``normalise=False`` the raw overlaps :math:`(W_i\cdot W_j)^2` are averaged. Zero columns are
    left out of the normalised mean.
    """
    W = _check_weights(W)
    n = W.shape[-1]
    if n < 2:
        raise ParameterError(f"W must have n >= 2 columns for an overlap; got n = {n}")
    norms = jnp.linalg.norm(W, axis=-2, keepdims=True)
    live = (norms > 1e-12)[..., 0, :]
    V = jnp.where(norms > 1e-12, W / jnp.where(norms > 1e-12, norms, 1.0), 0.0) if normalise else W
    g2 = (jnp.swapaxes(V, -1, -2) @ V) ** 2
    pair = live[..., :, None] & live[..., None, :] & ~jnp.eye(n, dtype=bool)
    return jnp.sum(jnp.where(pair, g2, 0.0), axis=(-2, -1)) / jnp.maximum(jnp.sum(pair, axis=(-2, -1)), 1)


# ----------------------------------------------------------------------------------------------
# data moments and the linear optimum
# ----------------------------------------------------------------------------------------------
def _check_value_range(value_range):
    lo, hi = (float(v) for v in value_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ParameterError(f"value_range must be (lo, hi) with lo < hi; got {value_range!r}")
    return lo, hi


def feature_moments(sparsity, *, value_range=(0.0, 1.0)):
    r"""Mean, second moment and variance of one feature.

    :math:`x = 0` with probability S, else :math:`x\sim U[lo,hi]`:
    :math:`E x = (1-S)\frac{lo+hi}2`, :math:`E x^2=(1-S)\frac{lo^2+lo\,hi+hi^2}3`, Var = E x² − (E x)².

    Args:
        sparsity: S in [0, 1) (array).
        value_range: (lo, hi) of the nonzero values.

    Returns:
        ``(mean, second_moment, variance)``, arrays of the broadcast shape.
    """
    S = as_float(sparsity, "sparsity")
    check_range(S, "sparsity", low=0.0, high=1.0, high_inclusive=False)
    lo, hi = _check_value_range(value_range)
    p = 1.0 - S
    mean = p * (lo + hi) / 2
    second = p * (lo * lo + lo * hi + hi * hi) / 3
    return mean, second, second - mean**2


class LinearOptimum(NamedTuple):
    """The optimal linear model ``x' = WᵀWx + b`` (see :func:`linear_optimum`)."""

    loss: jnp.ndarray  #: expected loss per sample, Σ_{i dropped} I_i Var(x_i)
    W: jnp.ndarray  #: (m, n): rows are the unit vectors of the kept features (one canonical choice)
    b: jnp.ndarray  #: (n,): 0 for kept features, E x_i for dropped ones
    kept: jnp.ndarray  #: (n,) bool: the m features with the largest I_i Var(x_i)


def linear_optimum(importance, m: int, *, sparsity=0.0, value_range=(0.0, 1.0)) -> LinearOptimum:
    r"""Loss and weights of the best linear model :math:`x'=W^TWx+b`, :math:`W\in\mathbb R^{m\times n}`.

    Features are independent with variances :math:`\sigma_i^2`, so with the optimal bias
    :math:`b=(I-M)\,E x` (M = WᵀW) the expected loss is
    :math:`\sum_i I_i\sigma_i^2\lVert e_i-M e_i\rVert^2 = \lVert D^{1/2}(I-M)\rVert_F^2` with
    :math:`D=\mathrm{diag}(I_i\sigma_i^2)` (taking M symmetric, which WᵀW is). By Eckart–Young the best
    rank-m M is the projection onto the m coordinates with the largest :math:`I_i\sigma_i^2`, giving

    .. math:: L^* = \sum_{i\notin\text{top-}m} I_i\,\sigma_i^2 .

    This is Elhage et al.'s statement that a linear model represents the m most important features
    orthogonally and drops the rest. With equal sparsities the ranking is by importance alone. For
    features in [0, ∞) the same (W, b) makes the ReLU model's output identical, so it is also the loss
    the ReLU model reaches at S = 0 (where superposition does not pay).

    Args:
        importance: (n,) importances I_i ≥ 0.
        m: hidden dimensions, 1 ≤ m.
        sparsity: S_i in [0, 1), scalar or (n,).
        value_range: (lo, hi) of the nonzero feature values.
    """
    imp = as_float(importance, "importance")
    if imp.ndim != 1 or imp.shape[0] < 1:
        raise ParameterError(f"importance must be a vector of length n >= 1; got shape {tuple(imp.shape)}")
    check_range(imp, "importance", low=0.0)
    n = imp.shape[0]
    m = int(check_int(m, "m", minimum=1))
    S = as_float(sparsity, "sparsity")
    if S.ndim not in (0, 1) or (S.ndim == 1 and S.shape[0] != n):
        raise ParameterError(f"sparsity must be a scalar or have length n = {n}; got shape {tuple(S.shape)}")
    mean, _, var = feature_moments(jnp.broadcast_to(S, (n,)), value_range=value_range)
    score = imp * var
    order = jnp.argsort(-score, stable=True)
    k = min(m, n)
    kept = jnp.zeros(n, bool).at[order[:k]].set(True)
    W = jnp.zeros((m, n), score.dtype).at[jnp.arange(k), order[:k]].set(1.0)
    b = jnp.where(kept, 0.0, mean)
    return LinearOptimum(jnp.sum(jnp.where(kept, 0.0, score)), W, b, kept)


def linear_model_loss(W, b, importance, *, sparsity=0.0, value_range=(0.0, 1.0)) -> jnp.ndarray:
    r"""Exact expected loss of any linear model :math:`x'=W^TWx+b` (batched over leading axes of W, b).

    With independent features of mean :math:`\mu_j` and variance :math:`\sigma_j^2` and :math:`M=W^TW`,

    .. math:: E\ell=\sum_iI_i\Big[\sum_j(\delta_{ij}-M_{ij})^2\sigma_j^2+\big((I-M)\mu-b\big)_i^2\Big].
    """
    W = _check_weights(W)
    b = as_float(b, "b")
    imp = as_float(importance, "importance")
    check_range(imp, "importance", low=0.0)
    n = W.shape[-1]
    if imp.shape[-1:] != (n,) or b.shape[-1:] != (n,):
        raise ParameterError(f"importance and b must have length n = {n}; got {tuple(imp.shape)}, {tuple(b.shape)}")
    mean, _, var = feature_moments(jnp.broadcast_to(as_float(sparsity, "sparsity"), (n,)), value_range=value_range)
    R = jnp.eye(n, dtype=W.dtype) - jnp.swapaxes(W, -1, -2) @ W
    bias = R @ mean - b
    return jnp.sum(imp * (jnp.sum(R**2 * var, axis=-1) + bias**2), axis=-1)


# ----------------------------------------------------------------------------------------------
# n = 2, m = 1: exact expected loss and the phase diagram
# ----------------------------------------------------------------------------------------------
_GL_X, _GL_W = np.polynomial.legendre.leggauss(4)  # exact for the piecewise cubics below


def _interval_term(k, A, B):
    r""":math:`\int_0^1 (k u-\mathrm{ReLU}(Au+B))^2du` in closed form (k ∈ {0, 1})."""
    # = k²/3 + ∫_{Au+B>0} (Au+B)² − 2ku(Au+B) du
    safeA = jnp.where(A == 0, 1.0, A)
    root = -B / safeA
    lo = jnp.where(A > 0, jnp.clip(root, 0.0, 1.0), 0.0)
    hi = jnp.where(A < 0, jnp.clip(root, 0.0, 1.0), 1.0)
    on = jnp.where(A == 0, (B > 0).astype(A.dtype), 1.0)
    c2, c1, c0 = A * A - 2 * k * A, 2 * A * B - 2 * k * B, B * B

    def F(u):
        return c2 * u**3 / 3 + c1 * u**2 / 2 + c0 * u

    return k * k / 3 + on * jnp.where(hi >= lo, F(hi) - F(lo), 0.0)


def _square_term(k1, k2, alpha, beta, gamma):
    r""":math:`\iint_{[0,1]^2}(k_1u+k_2v-\mathrm{ReLU}(\alpha u+\beta v+\gamma))^2\,du\,dv`, exactly.

    The v-integral is done in closed form (interval clipping); as a function of u the result is a cubic
    on each piece between the breakpoints where the line αu+βv+γ=0 crosses v=0 or v=1, so a 4-node
    Gauss–Legendre rule per piece integrates it exactly.
    """
    safe_a = jnp.where(alpha == 0, 1.0, alpha)
    cands = jnp.stack([-gamma / safe_a, (-beta - gamma) / safe_a])
    cands = jnp.where(alpha == 0, 0.0, jnp.clip(cands, 0.0, 1.0))
    edges = jnp.sort(jnp.concatenate([jnp.zeros(1), cands, jnp.ones(1)]))
    a, b = edges[:-1], edges[1:]
    u = (a[:, None] + b[:, None]) / 2 + (b - a)[:, None] / 2 * _GL_X[None, :]
    w = (b - a)[:, None] / 2 * _GL_W[None, :]
    g = alpha * u + gamma  # ℓ = βv + g,  target T = k2 v + h
    h = k1 * u
    safe_b = jnp.where(beta == 0, 1.0, beta)
    root = -g / safe_b
    lo = jnp.where(beta > 0, jnp.clip(root, 0.0, 1.0), 0.0)
    hi = jnp.where(beta < 0, jnp.clip(root, 0.0, 1.0), 1.0)
    on = jnp.where(beta == 0, (g > 0).astype(u.dtype), 1.0)
    c2 = beta * beta - 2 * k2 * beta
    c1 = 2 * beta * g - 2 * k2 * g - 2 * h * beta
    c0 = g * g - 2 * h * g

    def F(v):
        return c2 * v**3 / 3 + c1 * v**2 / 2 + c0 * v

    inner = on * jnp.where(hi >= lo, F(hi) - F(lo), 0.0)
    base = k1 * k1 / 3 + k1 * k2 / 2 + k2 * k2 / 3  # ∬ (k1 u + k2 v)²
    return base + jnp.sum(w * inner)


def _loss_2x1(w, b, importance, density):
    w1, w2 = w[0], w[1]
    a, c, d = w1 * w1, w1 * w2, w2 * w2
    I1, I2 = importance[0], importance[1]
    p = density
    q = 1.0 - p
    zero = I1 * jnp.maximum(b[0], 0.0) ** 2 + I2 * jnp.maximum(b[1], 0.0) ** 2
    only1 = I1 * _interval_term(1.0, a, b[0]) + I2 * _interval_term(0.0, c, b[1])
    only2 = I1 * _interval_term(0.0, c, b[0]) + I2 * _interval_term(1.0, d, b[1])
    both = I1 * _square_term(1.0, 0.0, a, c, b[0]) + I2 * _square_term(0.0, 1.0, c, d, b[1])
    return q * q * zero + p * q * (only1 + only2) + p * p * both


def expected_loss_2x1(W, b, importance, density) -> jnp.ndarray:
    r"""Exact expected loss of the ReLU model with n = 2 features and m = 1 hidden dimension.

    Both features have density p = 1 − S and are U[0, 1] when present; importances (I_1, I_2). With
    :math:`M=W^TW` and :math:`y_i=\mathrm{ReLU}(M_i\cdot x+b_i)`,

    .. math:: E\ell = (1-p)^2\sum_iI_i\mathrm{ReLU}(b_i)^2 + p(1-p)\,[E_{x=(u,0)}+E_{x=(0,v)}]
              + p^2\,E_{x=(u,v)},

    each term an integral of a squared ReLU of an affine function over [0, 1] or [0, 1]², evaluated in
    closed form (interval clipping) and by an exact piecewise Gauss–Legendre rule (no Monte Carlo, no
    grid). Differentiable in (W, b); jit/vmap-compatible.

    Args:
        W: (..., 1, 2) or (..., 2) weights.
        b: (..., 2) biases.
        importance: (..., 2) importances.
        density: (...) feature density p in (0, 1].
    """
    W = as_float(W, "W")
    if W.shape[-2:] == (1, 2):
        W = W[..., 0, :]
    if W.shape[-1:] != (2,):
        raise ParameterError(f"W must have shape (..., 1, 2) for n = 2, m = 1; got {tuple(W.shape)}")
    b = as_float(b, "b")
    imp = as_float(importance, "importance")
    check_range(imp, "importance", low=0.0)
    p = as_float(density, "density")
    check_range(p, "density", low=0.0, high=1.0, low_inclusive=False)
    shape = jnp.broadcast_shapes(W.shape[:-1], b.shape[:-1], imp.shape[:-1], p.shape)
    args = (
        jnp.broadcast_to(W, shape + (2,)).reshape(-1, 2),
        jnp.broadcast_to(b, shape + (2,)).reshape(-1, 2),
        jnp.broadcast_to(imp, shape + (2,)).reshape(-1, 2),
        jnp.broadcast_to(p, shape).reshape(-1),
    )
    return jax.vmap(_loss_2x1)(*args).reshape(shape)


# ----------------------------------------------------------------------------------------------
# small n: the loss by sparsity pattern (Elhage et al., "Mathematical understanding")
# ----------------------------------------------------------------------------------------------
#: Largest n accepted by :func:`expected_loss_by_pattern` (2^n sparsity patterns are enumerated).
MAX_PATTERN_FEATURES = 12


def _pattern_tables(n: int):
    pats = ((np.arange(1 << n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    k = pats.sum(1)
    pairs = np.array([(j, l) for j in range(n) for l in range(j + 1, n)], int).reshape(-1, 2)
    return pats[k >= 3], pairs


def _loss_by_pattern(W, b, imp, p, u):
    n = W.shape[-1]
    M = W.T @ W
    dense, pairs = _pattern_tables(n)
    q = 1.0 - p
    none_on = jnp.prod(q)
    eye = jnp.eye(n, dtype=W.dtype)
    # |S| = 0: only positive biases cost
    L0 = jnp.sum(imp * jnp.maximum(b, 0.0) ** 2)
    # |S| = 1, feature j on: output i sees M_ij x_j + b_i against target δ_ij x_j
    T1 = jax.vmap(lambda j: jnp.sum(imp * jax.vmap(_interval_term)(eye[:, j], M[:, j], b)))(jnp.arange(n))

    def rest_prob(mask):  # Π_{l on} p_l Π_{l off} (1 − p_l), computed without dividing by a zero (1 − p_l)
        return jnp.prod(jnp.where(mask, p, q))

    P1 = jax.vmap(lambda j: rest_prob(eye[j] > 0))(jnp.arange(n))
    total = none_on * L0 + jnp.sum(P1 * T1)
    if pairs.size:
        jj, ll = jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1])

        def pair_term(j, l):
            return jnp.sum(imp * jax.vmap(_square_term)(eye[:, j], eye[:, l], M[:, j], M[:, l], b))

        T2 = jax.vmap(pair_term)(jj, ll)
        P2 = jax.vmap(lambda j, l: rest_prob((eye[j] + eye[l]) > 0))(jj, ll)
        total = total + jnp.sum(P2 * T2)
    if dense.size:
        masks = jnp.asarray(dense, W.dtype)

        def pattern_term(mask):
            x = u * mask  # (N, n): the pattern's features uniform, the others zero
            out = jnp.maximum(x @ M + b, 0.0)
            return jnp.mean(jnp.sum(imp * (x - out) ** 2, axis=-1))

        T3 = jax.lax.map(pattern_term, masks)
        P3 = jax.vmap(lambda mk: rest_prob(mk > 0))(masks)
        total = total + jnp.sum(P3 * T3)
    return total


def expected_loss_by_pattern(
    W, b, importance, probabilities, *, mc_samples: int = 1 << 14, key: jax.Array | None = None
) -> jnp.ndarray:
    r"""Expected loss of the ReLU model ``ReLU(WᵀWx + b)`` for a few features, summed over sparsity patterns.

    Elhage et al. ("Mathematical understanding") split the loss over which features are on,
    :math:`L=\sum_{S\subseteq[n]}\prod_{i\in S}p_i\prod_{i\notin S}(1-p_i)\;L_S`, with :math:`L_S` the expected
    loss when exactly the features in S are on, each U[0, 1]. Here every pattern with |S| ≤ 2 is integrated
    exactly (the closed forms of :func:`expected_loss_2x1`) and the patterns with |S| ≥ 3 (total probability
    :math:`\Pr(|S|\ge3)`) by Monte Carlo on ``mc_samples`` uniform points shared by all those patterns. The same
    ``key`` gives the same points, so the result is a deterministic, piecewise-smooth function of (W, b) that can be
    differentiated and minimised; its Monte-Carlo error is at most :math:`\Pr(|S|\ge3)\,\sigma/\sqrt{N}` with σ the
    per-sample spread of the |S| ≥ 3 loss.

    Args:
        W: (..., m, n) weights, column i = feature i; n ≤ :data:`MAX_PATTERN_FEATURES`.
        b: (..., n) biases.
        importance: (..., n) importances ≥ 0.
        probabilities: (..., n) feature densities p_i = 1 − S_i in [0, 1].
        mc_samples: uniform points for the |S| ≥ 3 patterns, ≥ 1.
        key: PRNG key of those points (default ``jax.random.key(0)``).

    Returns:
        Expected loss per sample, shape (...) (the broadcast of the leading axes).
    """
    W = _check_weights(W)
    m, n = W.shape[-2:]
    if n > MAX_PATTERN_FEATURES:
        raise ParameterError(f"W must have n <= {MAX_PATTERN_FEATURES} columns (2^n patterns); got n = {n}")
    b = as_float(b, "b")
    imp = as_float(importance, "importance")
    check_range(imp, "importance", low=0.0)
    p = as_float(probabilities, "probabilities")
    check_range(p, "probabilities", low=0.0, high=1.0)
    for name, arr in (("b", b), ("importance", imp), ("probabilities", p)):
        if arr.shape[-1:] != (n,):
            raise ParameterError(f"{name} must have a last axis of length n = {n}; got shape {tuple(arr.shape)}")
    N = int(check_int(mc_samples, "mc_samples"))
    u = jax.random.uniform(jax.random.key(0) if key is None else key, (N, n), W.dtype)
    shape = jnp.broadcast_shapes(W.shape[:-2], b.shape[:-1], imp.shape[:-1], p.shape[:-1])
    args = (
        jnp.broadcast_to(W, shape + (m, n)).reshape(-1, m, n),
        jnp.broadcast_to(b, shape + (n,)).reshape(-1, n),
        jnp.broadcast_to(imp, shape + (n,)).reshape(-1, n),
        jnp.broadcast_to(p, shape + (n,)).reshape(-1, n),
    )
    return jax.vmap(lambda *a: _loss_by_pattern(*a, u))(*args).reshape(shape)


class PentagonDigon(NamedTuple):
    """Locally optimal n = 5, m = 2 solutions of each geometry (see :func:`pentagon_digon_energies`)."""

    pentagon: jnp.ndarray  #: (...) expected loss reached from the regular pentagon
    digon: jnp.ndarray  #: (...) expected loss reached from two digons with feature 0 dropped
    pentagon_W: jnp.ndarray  #: (..., 2, 5) the optimised weights from the pentagon start
    pentagon_b: jnp.ndarray  #: (..., 5)
    digon_W: jnp.ndarray  #: (..., 2, 5) the optimised weights from the digon start
    digon_b: jnp.ndarray  #: (..., 5)


@partial(jax.jit, static_argnames=("steps", "mc_samples"))
def _optimise_five_in_two(p, steps: int, mc_samples: int):
    import optax

    dt = p.dtype
    u = jax.random.uniform(jax.random.key(0), (mc_samples, 5), dt)
    imp = jnp.ones(5, dt)
    ang = 2 * jnp.pi * jnp.arange(5, dtype=dt) / 5
    pent = (jnp.stack([jnp.cos(ang), jnp.sin(ang)]), jnp.full(5, -0.2, dt))
    dig_W = jnp.array([[0.0, 1.0, 0.0, -1.0, 0.0], [0.0, 0.0, 1.0, 0.0, -1.0]], dt)
    sched = optax.cosine_decay_schedule(1e-2, steps, alpha=1e-3)
    opt = optax.adam(sched)

    free = (jnp.ones((2, 5), dt), jnp.ones(5, dt))
    digon_free = (jnp.ones((2, 5), dt).at[:, 0].set(0.0), jnp.ones(5, dt).at[0].set(0.0))

    def solve(theta, pr, mask):
        def f(t):
            return _loss_by_pattern(t[0], t[1], imp, pr, u)

        def step(carry, _):
            t, s = carry
            g = jax.tree.map(jnp.multiply, jax.grad(f)(t), mask)
            upd, s = opt.update(g, s, t)
            return (optax.apply_updates(t, upd), s), None

        (theta, _), _ = jax.lax.scan(step, (theta, opt.init(theta)), None, length=steps)
        return f(theta), theta

    def per_cell(pr):
        # digon family: feature 0 held at W_0 = 0, b_0 = E x_0 = p_0/2 (its optimum once W_0 = 0); the pairs free
        dig = (dig_W, jnp.zeros(5, dt).at[0].set(pr[0] / 2))
        lp, tp = solve(pent, pr, free)
        ld, td = solve(dig, pr, digon_free)
        return lp, ld, tp[0], tp[1], td[0], td[1]

    return jax.vmap(per_cell)(p)


def pentagon_digon_energies(
    relative_density, *, density: float = 0.05, steps: int = 2000, mc_samples: int = 2048
) -> PentagonDigon:
    r"""The two competing geometries of n = 5 features in m = 2 dimensions (Elhage et al., "Non-uniform superposition").

    Five features of importance 1; features 1–4 have density p = ``density`` (paper: 0.05) and feature 0 has
    density r·p. The expected loss (:func:`expected_loss_by_pattern`) is minimised over (W, b) from two starts:

    * **pentagon**: the regular pentagon, unit norms, b = −0.2; it deforms as r moves from 1;
    * **digon**: two orthogonal antipodal pairs (1, 3) and (2, 4), feature 0 dropped: W_0 = 0 and b_0 = E x_0 held
      fixed (the best bias of a dropped feature), the pairs optimised; loss ≈ r p/3 − r²p²/4 + 2p²/3.

    The paper reports that the pentagon collapses to the two digons when feature 0 is about 2.5× sparser than the
    others, a crossover of the two geometries' loss curves. Adam with a cosine-decayed step on the deterministic
    loss (fixed Monte-Carlo points for the |S| ≥ 3 patterns); where the pentagon is not a local minimum (very small
    r) its start slides into another geometry, so classify the returned weights before using a curve. The returned
    losses are on the optimisation's own Monte-Carlo points, a few 1e-4 (relative) below their expectation at the
    defaults; re-evaluate the weights with more points for a comparison at that level. Cost: about 40 s for 16
    values of r on 2 CPU cores at the defaults.

    Args:
        relative_density: r > 0 with r·p ≤ 1 (array).
        density: p in (0, 1].
        steps: optimiser steps per start, ≥ 1.
        mc_samples: Monte-Carlo points of :func:`expected_loss_by_pattern`, ≥ 1.
    """
    r = as_float(relative_density, "relative_density")
    check_range(r, "relative_density", low=0.0, low_inclusive=False)
    check_range(density, "density", low=0.0, high=1.0, low_inclusive=False)
    check_range(r * density, "relative_density * density", high=1.0)
    shape = r.shape
    p = jnp.broadcast_to(jnp.asarray(density, r.dtype), shape + (5,)).reshape(-1, 5)
    p = p.at[:, 0].multiply(r.reshape(-1))
    out = _optimise_five_in_two(p, int(check_int(steps, "steps")), int(check_int(mc_samples, "mc_samples")))
    lp, ld, Wp, bp, Wd, bd = out
    return PentagonDigon(
        lp.reshape(shape),
        ld.reshape(shape),
        Wp.reshape(shape + (2, 5)),
        bp.reshape(shape + (5,)),
        Wd.reshape(shape + (2, 5)),
        bd.reshape(shape + (5,)),
    )


class PhaseEnergies(NamedTuple):
    """Optimal expected loss of each n = 2, m = 1 configuration (see :func:`phase_energies`)."""

    not_represented: jnp.ndarray  #: W = [1, 0]: extra feature dropped, loss r·Var(x)
    dedicated: jnp.ndarray  #: W = [0, 1]: extra feature gets the dimension, loss Var(x)
    superposition: jnp.ndarray  #: W = [w1, −w2] antipodal, optimised over (w1, w2, b1, b2)
    params: jnp.ndarray  #: (..., 4) optimal (w1, w2, b1, b2) of the superposition configuration


@partial(jax.jit, static_argnames=("steps",))
def _optimise_superposition(imp, p, steps: int):
    import optax

    starts = jnp.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.7, -0.1, -0.1], [0.7, 1.0, -0.1, -0.1]])

    def loss(theta, imp_, p_):
        w = jnp.stack([jnp.abs(theta[0]), -jnp.abs(theta[1])])
        return _loss_2x1(w, theta[2:], imp_, p_)

    sched = optax.cosine_decay_schedule(0.02, steps, alpha=1e-3)
    opt = optax.adam(sched)

    def solve(theta0, imp_, p_):
        def step(carry, _):
            theta, state = carry
            g = jax.grad(loss)(theta, imp_, p_)
            upd, state = opt.update(g, state, theta)
            return (optax.apply_updates(theta, upd), state), None

        (theta, _), _ = jax.lax.scan(step, (theta0, opt.init(theta0)), None, length=steps)
        return loss(theta, imp_, p_), theta

    def per_cell(imp_, p_):
        losses, thetas = jax.vmap(lambda t0: solve(t0, imp_, p_))(starts)
        k = jnp.argmin(losses)
        th = thetas[k]
        return losses[k], jnp.stack([jnp.abs(th[0]), -jnp.abs(th[1]), th[2], th[3]])

    return jax.vmap(per_cell)(imp, p)


def _check_phase_args(relative_importance, density):
    r = as_float(relative_importance, "relative_importance")
    check_range(r, "relative_importance", low=0.0, low_inclusive=False)
    p = as_float(density, "density")
    check_range(p, "density", low=0.0, high=1.0, low_inclusive=False)
    return jnp.broadcast_arrays(r, p)


def phase_energies(relative_importance, density, *, steps: int = 3000) -> PhaseEnergies:
    r"""Expected loss of the three competing n = 2, m = 1 solutions (Elhage et al., "Phase change").

    Feature 1 has importance 1, the "extra" feature 2 importance r; both have density p (uniform on
    [0, 1] when present — the convention of the paper's figure, both axes log-scaled). The configurations:

    * **not represented** ``W=[1,0]``, ``b=(0, E x)``: :math:`L = r\,\mathrm{Var}(x)`;
    * **dedicated dimension** ``W=[0,1]``, ``b=(E x, 0)``: :math:`L = \mathrm{Var}(x)`;
    * **superposition** ``W=[w_1,-w_2]`` (antipodal pair): :math:`L=\min_{w_1,w_2,b}E\ell` of the exact
      :func:`expected_loss_2x1`, minimised numerically (Adam from three starts, cosine-decayed step) —
      an exact low-dimensional integral, optimised.

    with :math:`\mathrm{Var}(x)=p/3-p^2/4`. Elhage et al. fix w = ±1, b = 0 for the superposition branch
    (:math:`L=p^2(1+r)/6`); optimising the weights and biases moves the boundary slightly towards
    superposition and is what gradient descent actually finds.

    Args:
        relative_importance: r > 0 (array).
        density: p in (0, 1] (array, broadcast against r).
        steps: optimiser steps for the superposition branch.
    """
    r, p = _check_phase_args(relative_importance, density)
    var = p / 3 - p * p / 4
    shape = r.shape
    imp = jnp.stack([jnp.ones_like(r), r], axis=-1).reshape(-1, 2)
    sup, params = _optimise_superposition(imp, p.reshape(-1), int(check_int(steps, "steps")))
    return PhaseEnergies(r * var, var, sup.reshape(shape), params.reshape(shape + (4,)))


def fixed_phase_energies(relative_importance, density) -> PhaseEnergies:
    r"""Elhage et al.'s fixed-configuration theory of the n = 2, m = 1 phase diagram (the paper's theoretical panel).

    The three configurations at their textbook weights: ``W=[1,0]`` (extra feature dropped, b = E x: L = r Var x),
    ``W=[0,1]`` (L = Var x) and the antipodal ``W=[1,−1]`` with b = 0, which errs by min(x₁, x₂) when both features
    are on: :math:`L = p^2(1+r)\,E[\min(u,v)^2] = p^2(1+r)/6`. :func:`phase_energies` optimises the antipodal
    branch instead; its loss is never above this one. ``params`` holds (1, −1, 0, 0).

    Args:
        relative_importance: r > 0 (array).
        density: p in (0, 1] (array, broadcast against r).
    """
    r, p = _check_phase_args(relative_importance, density)
    var = p / 3 - p * p / 4
    params = jnp.broadcast_to(jnp.array([1.0, -1.0, 0.0, 0.0], r.dtype), r.shape + (4,))
    return PhaseEnergies(r * var, var, p * p * (1 + r) / 6, params)


#: The n = 3, m = 2 configurations of Elhage et al., named by the direction W ignores (feature 3 is the extra one).
PHASES_3X2 = (
    "not represented (W ⊥ [0,0,1])",
    "dedicated, feature 1 dropped (W ⊥ [1,0,0])",
    "antipodal with feature 2 (W ⊥ [0,1,1])",
    "dedicated, 1 and 2 antipodal (W ⊥ [1,1,0])",
)


class PhaseEnergies3x2(NamedTuple):
    """Expected losses of the four n = 3, m = 2 configurations (see :func:`phase_energies_3x2`)."""

    energies: jnp.ndarray  #: (..., 4) losses in the order of :data:`PHASES_3X2`
    W: jnp.ndarray  #: (..., 4, 2, 3) the configurations' weights
    b: jnp.ndarray  #: (..., 4, 3) their biases


def _pair_weights(params, first, second, alone):
    """(2, 3) weights and (3,) biases: ``alone`` on e₁, the antipodal pair (first, second) on e₂ from (w₁, w₂, b₁, b₂)."""
    W = jnp.zeros(params.shape[:-1] + (2, 3), params.dtype)
    W = W.at[..., 0, alone].set(1.0).at[..., 1, first].set(params[..., 0]).at[..., 1, second].set(params[..., 1])
    b = jnp.zeros(params.shape[:-1] + (3,), params.dtype)
    return W, b.at[..., first].set(params[..., 2]).at[..., second].set(params[..., 3])


def phase_energies_3x2(relative_importance, density, *, optimise: bool = True, steps: int = 3000) -> PhaseEnergies3x2:
    r"""The four configurations of Elhage et al.'s n = 3, m = 2 phase diagram ("Superposition as a Phase Change").

    Features 1 and 2 have importance 1, the extra feature 3 importance r; all have density p, U[0, 1] when on.
    With Var x = p/3 − p²/4, the configurations (:data:`PHASES_3X2`) and their fixed-configuration losses are:

    * W ⊥ [0,0,1]: features 1, 2 on orthogonal unit vectors, the extra dropped (b₃ = E x): :math:`L = r\,\mathrm{Var}x`;
    * W ⊥ [1,0,0]: feature 1 dropped, the extra gets a dimension: :math:`L = \mathrm{Var}x`;
    * W ⊥ [0,1,1]: feature 1 dedicated, the extra antipodal with feature 2, b = 0: :math:`L = p^2(1+r)/6`;
    * W ⊥ [1,1,0]: features 1, 2 antipodal, the extra dedicated, b = 0: :math:`L = p^2/3`.

    (An antipodal pair at b = 0 errs by min(x_a, x_b) when both are on.) The first two are optimal as they stand.
    A feature on its own orthogonal axis is reconstructed exactly, so each antipodal configuration is an n = 2,
    m = 1 problem plus zero: with ``optimise=True`` its loss is the optimised antipodal branch of
    :func:`phase_energies` (importances (1, r) and (1, 1)), an exact expectation; else the closed forms above. The
    paper does not consider all three in joint superposition (W ⊥ [1,1,1]); neither does this.

    Args:
        relative_importance: r > 0 (array).
        density: p in (0, 1] (array, broadcast against r).
        optimise: optimise the antipodal configurations (else the fixed closed forms).
        steps: optimiser steps of :func:`phase_energies` (``optimise=True`` only).
    """
    r, p = _check_phase_args(relative_importance, density)
    var = p / 3 - p * p / 4
    src = phase_energies if optimise else (lambda rr, pp, steps=None: fixed_phase_energies(rr, pp))
    extra = src(r, p, steps=steps)  # feature 2 (importance 1) with the extra (importance r)
    pair = src(jnp.ones_like(r), p, steps=steps)  # features 1 and 2
    E = jnp.stack([r * var, var, extra.superposition, pair.superposition], axis=-1)
    W0 = jnp.zeros(r.shape + (2, 3), r.dtype)
    b0 = jnp.zeros(r.shape + (3,), r.dtype)
    Wa = W0.at[..., 0, 0].set(1.0).at[..., 1, 1].set(1.0)
    ba = b0.at[..., 2].set(p / 2)
    Wb = W0.at[..., 0, 1].set(1.0).at[..., 1, 2].set(1.0)
    bb = b0.at[..., 0].set(p / 2)
    Wc, bc = _pair_weights(extra.params, 1, 2, 0)
    Wd, bd = _pair_weights(pair.params, 0, 1, 2)
    return PhaseEnergies3x2(E, jnp.stack([Wa, Wb, Wc, Wd], axis=-3), jnp.stack([ba, bb, bc, bd], axis=-2))


def predicted_phase_3x2(energies: PhaseEnergies3x2, *, rtol: float = 1e-6) -> np.ndarray:
    """Index into :data:`PHASES_3X2` of the lowest-loss configuration.

    An antipodal configuration contains the dropped ones as limits (a pair weight → 0), so it is chosen only when it
    beats both by a relative margin ``rtol`` (as :func:`predicted_phase`)."""
    E = np.asarray(energies.energies)
    single = np.where(E[..., 0] <= E[..., 1], 0, 1)
    best_single = np.minimum(E[..., 0], E[..., 1])
    anti = np.where(E[..., 2] <= E[..., 3], 2, 3)
    best_anti = np.minimum(E[..., 2], E[..., 3])
    return np.where(best_anti < best_single * (1 - rtol), anti, single)


def classify_phase_3x2(W, *, threshold: float = 0.5, antipodal: float = -0.9) -> np.ndarray:
    """Configuration (index into :data:`PHASES_3X2`, or 4 = other) of trained n = 3, m = 2 weights (..., 2, 3).

    Dropped = ‖W_i‖ ≤ ``threshold``. Extra feature dropped, 1 and 2 kept → 0; feature 1 or 2 dropped with the extra
    kept → 1 (the extra has a dimension); all kept with the extra antipodal (cosine < ``antipodal``) to feature 1 or 2
    → 2; all kept with 1 and 2 antipodal → 3; anything else (e.g. a triangle, two dropped) → 4.
    """
    W = np.asarray(W, float)
    if W.shape[-2:] != (2, 3):
        raise ParameterError(f"W must have shape (..., 2, 3); got {W.shape}")
    norms = np.linalg.norm(W, axis=-2)
    live = norms > threshold
    U = W / np.where(norms > 0, norms, 1.0)[..., None, :]
    cos = np.einsum("...ki,...kj->...ij", U, U)
    all3 = live.all(-1)
    out = np.full(W.shape[:-2], 4)
    out = np.where(live[..., 0] & live[..., 1] & ~live[..., 2], 0, out)
    out = np.where(live[..., 2] & (live[..., 0] ^ live[..., 1]), 1, out)
    extra_anti = (cos[..., 2, 0] < antipodal) | (cos[..., 2, 1] < antipodal)
    out = np.where(all3 & extra_anti, 2, out)
    out = np.where(all3 & ~extra_anti & (cos[..., 0, 1] < antipodal), 3, out)
    return out


def predicted_phase(energies: PhaseEnergies, *, rtol: float = 1e-6) -> np.ndarray:
    """Index into :data:`PHASES` of the lowest-loss configuration (superposition only if strictly lower).

    The superposition family contains the other two as limits (w2 → 0 or w1 → 0), so it is chosen only
    when its optimum beats both by a relative margin ``rtol``.
    """
    e0, e1, e2 = (np.asarray(e) for e in energies[:3])
    single = np.where(e0 <= e1, 0, 1)
    best_single = np.minimum(e0, e1)
    return np.where(e2 < best_single * (1 - rtol), 2, single)


def classify_phase_2x1(W, *, threshold: float = 0.5) -> np.ndarray:
    """Phase (index into :data:`PHASES`) of trained n = 2, m = 1 weights ``W`` (..., 1, 2) or (..., 2).

    A feature is represented when its embedding norm |w_i| exceeds ``threshold`` (the represented norm
    is ≈ 1 in every configuration of :func:`phase_energies`, the dropped one → 0): both represented →
    superposition; only feature 1 → not represented; only feature 2 (or neither, counted with the feature
    of larger norm) → dedicated dimension.
    """
    w = np.abs(np.asarray(W, float))
    if w.shape[-2:] == (1, 2):
        w = w[..., 0, :]
    if w.shape[-1:] != (2,):
        raise ParameterError(f"W must have shape (..., 1, 2) or (..., 2); got {np.shape(W)}")
    both = (w[..., 0] > threshold) & (w[..., 1] > threshold)
    return np.where(both, 2, np.where(w[..., 0] >= w[..., 1], 0, 1))


def _check_W(W) -> np.ndarray:
    W = np.asarray(W, float)
    if W.ndim != 2:
        raise ParameterError(f"W must have shape (m, n); got {W.shape}")
    return W


def feature_groups(W, *, norm_threshold: float = 0.5, overlap_threshold: float = 0.05) -> np.ndarray:
    """Group label of every feature of one ``W`` (m, n): connected components of the represented features (norm >
    ``norm_threshold``) linked by :math:`|\\hat W_i\\cdot\\hat W_j|` > ``overlap_threshold`` (the groups of
    :func:`polytope_structure`); members share the index of their first feature, unrepresented features get −1."""
    W = _check_W(W)
    n = W.shape[1]
    norms = np.linalg.norm(W, axis=0)
    live = norms > norm_threshold
    U = W / np.where(norms > 0, norms, 1.0)
    adj = (np.abs(U.T @ U) > overlap_threshold) & live[:, None] & live[None, :]
    label = -np.ones(n, int)
    for i in range(n):
        if not live[i] or label[i] >= 0:
            continue
        stack = [i]
        label[i] = i
        while stack:
            j = stack.pop()
            for k in np.nonzero(adj[j] & (label < 0))[0]:
                label[k] = i
                stack.append(k)
    return label


def polytope_structure(W, *, norm_threshold: float = 0.5, overlap_threshold: float = 0.05, rank_tol: float = 0.1):
    r"""Decompose one trained ``W`` (m, n) into groups of interfering features (a tegum product).

    Represented features (norm > ``norm_threshold``) are linked when :math:`|\hat W_i\cdot\hat W_j|` >
    ``overlap_threshold``; each connected component is one polytope of ℓ features spanning k dimensions
    (k = numerical rank: singular values above ``rank_tol`` × the largest). If the polytopes are uniform
    and mutually orthogonal, every member has feature dimensionality exactly k/ℓ (Elhage et al.) — the
    prediction returned here, to compare with :func:`feature_dimensionality`.

    Returns:
        ``(group_size, group_rank, predicted_D)``, each (n,) NumPy arrays; 0 for unrepresented features.
    """
    W = _check_W(W)
    n = W.shape[1]
    label = feature_groups(W, norm_threshold=norm_threshold, overlap_threshold=overlap_threshold)
    size = np.zeros(n, int)
    rank = np.zeros(n, int)
    for g in np.unique(label[label >= 0]):
        members = label == g
        sv = np.linalg.svd(W[:, members], compute_uv=False)
        size[members] = members.sum()
        rank[members] = int(np.sum(sv > rank_tol * sv[0]))
    pred = np.where(size > 0, rank / np.maximum(size, 1), 0.0)
    return size, rank, pred


def group_dimensionality(W, *, norm_threshold: float = 0.5, overlap_threshold: float = 0.05) -> np.ndarray:
    r"""Feature dimensionality within the feature's own group (:func:`polytope_structure`'s components):
    :math:`D_i^{\mathrm{grp}} = \lVert W_i\rVert^2 / \sum_{j\in g(i)} (\hat W_i\cdot W_j)^2`, i.e. D_i without the
    residual overlaps with other groups (0 for unrepresented features).

    If a group's vectors form a tight frame in the k dims they span (:math:`\sum_{j\in g} W_jW_j^T = c\,P_k`, as every
    uniform polytope and every antipodal pair of any norms does), then :math:`D_i^{\mathrm{grp}} = \lVert W_i\rVert^2/c`
    and the group's :math:`D^{\mathrm{grp}}` sum to exactly k; a distorted group sums to less. The group mean against
    k/ℓ therefore tells a square antiprism (3/8) from a distorted one.
    """
    W = _check_W(W)
    label = feature_groups(W, norm_threshold=norm_threshold, overlap_threshold=overlap_threshold)
    norms = np.linalg.norm(W, axis=0)
    out = np.zeros(W.shape[1])
    for g in np.unique(label[label >= 0]):
        members = label == g
        sub = W[:, members]
        overlaps = (sub / norms[members]).T @ sub  # (Ŵ_i·W_j) within the group
        out[members] = norms[members] ** 2 / np.sum(overlaps**2, axis=1)
    return out


# ----------------------------------------------------------------------------------------------
# scaling with width (Liu, Liu & Gore 2025)
# ----------------------------------------------------------------------------------------------
def power_law_frequencies(n: int, alpha) -> jnp.ndarray:
    r"""Feature frequencies :math:`p_i = i^{-\alpha}/\sum_{j\le n}j^{-\alpha}`, i = 1..n (Liu et al.).

    Normalised so that one feature is active per sample on average (Σ p_i = 1), as in the public code
    (where the exponent is written 1 + α' with α' ∈ [0, 1]; here α = 1 + α').

    Args:
        n: number of features, ≥ 1.
        alpha: exponent α ≥ 0 (scalar or array; a trailing axis of length n is added).
    """
    n = int(check_int(n, "n", minimum=1))
    a = as_float(alpha, "alpha")
    check_range(a, "alpha", low=0.0)
    i = jnp.arange(1, n + 1, dtype=a.dtype)
    w = i ** (-a[..., None])
    return w / jnp.sum(w, axis=-1, keepdims=True)


FREQUENCY_LAWS = ("exponential", "power", "linear")


def frequency_law(n: int, law: str, *, scale: float | None = None) -> jnp.ndarray:
    r"""Liu et al.'s three feature-frequency laws of the large toy models (App. B.1), normalised to Σ p_i = 1, i = 1..n:

    * ``"exponential"``: :math:`p_i\propto e^{-i/\ell}`, ℓ = ``scale`` (paper: 400 at n = 10240; default n/25.6);
    * ``"power"``: :math:`p_i\propto i^{-a}`, a = ``scale`` (paper: 1.2, the default);
    * ``"linear"``: :math:`p_i\propto n-i+1` (``scale`` unused).

    Args:
        n: number of features, ≥ 1.
        law: one of :data:`FREQUENCY_LAWS`.
        scale: ℓ > 0 (exponential) or a ≥ 0 (power).
    """
    n = int(check_int(n, "n", minimum=1))
    if law not in FREQUENCY_LAWS:
        raise ParameterError(f"law must be one of {FREQUENCY_LAWS}; got {law!r}")
    i = jnp.arange(1, n + 1, dtype=jnp.result_type(float))
    if law == "exponential":
        ell = n / 25.6 if scale is None else scale
        check_range(ell, "scale", low=0.0, low_inclusive=False)
        w = jnp.exp(-(i - 1) / ell)
    elif law == "power":
        return power_law_frequencies(n, 1.2 if scale is None else scale)
    else:
        w = n - i + 1
    return w / jnp.sum(w)


def weak_superposition_loss(m, probabilities, *, value_range=(0.0, 2.0), reduction: str = "mean"):
    r"""Loss of the weak-superposition solution: the m most frequent features represented exactly,
    every other feature replaced by its mean (the optimal bias).

    .. math:: L_\text{weak}(m) = \frac1n\sum_{i>m}\mathrm{Var}(x_i),\qquad
              \mathrm{Var}(x_i)=p_iE v^2-p_i^2(Ev)^2,

    with v uniform on ``value_range`` ([0, 2] in Liu et al., so Ev² = 4/3). For
    :math:`p_i\propto i^{-\alpha}` and 1 ≪ m ≪ n this is :math:`\propto m^{-(\alpha-1)}` — the
    "expected number of activated but unlearned features" of Liu et al.

    Args:
        m: widths (int array), 0 ≤ m ≤ n.
        probabilities: (n,) feature frequencies in [0, 1], sorted decreasing (rank order).
        value_range: (lo, hi) of the nonzero values.
        reduction: ``"mean"`` over features (Liu et al.'s MSE) or ``"sum"``.
    """
    p = as_float(probabilities, "probabilities")
    if p.ndim != 1:
        raise ParameterError(f"probabilities must be a vector (n,); got shape {tuple(p.shape)}")
    check_range(p, "probabilities", low=0.0, high=1.0)
    pv = concrete(p)
    if pv is not None and np.any(np.diff(pv) > 1e-15):
        raise ParameterError("probabilities must be sorted in decreasing order (feature rank order)")
    n = p.shape[0]
    mm = check_int(m, "m", minimum=0, maximum=n)
    if reduction not in ("mean", "sum"):
        raise ParameterError(f"reduction must be 'mean' or 'sum'; got {reduction!r}")
    lo, hi = _check_value_range(value_range)
    ev, ev2 = (lo + hi) / 2, (lo * lo + lo * hi + hi * hi) / 3
    var = p * ev2 - p * p * ev * ev
    tail = jnp.concatenate([jnp.cumsum(var[::-1])[::-1], jnp.zeros(1, var.dtype)])  # tail[k] = Σ_{i>k} var
    out = tail[jnp.asarray(mm if mm is not None else m)]
    return out / n if reduction == "mean" else out


def weak_superposition_exponent(alpha):
    r"""Model exponent of the weak regime: :math:`L\propto m^{-(\alpha-1)}` (Liu et al.), for α > 1."""
    a = as_float(alpha, "alpha")
    check_range(a, "alpha", low=1.0, low_inclusive=False)
    return a - 1.0


def strong_superposition_exponent(alpha):
    r"""Model exponent of the strong regime, Liu et al.'s Result 2: :math:`\alpha_m = 1` for flat feature frequencies
    and :math:`\approx 2(\alpha-1)` for skewed ones (Fig. 5e; App. A.1, Eq. 8), read as
    :math:`\max(1,\,2(\alpha-1))`: the two lines cross at α = 1.5, below which Fig. 18 finds α_m ≈ 1. α ≥ 0."""
    a = as_float(alpha, "alpha")
    check_range(a, "alpha", low=0.0)
    return jnp.maximum(1.0, 2.0 * (a - 1.0))


def strongly_represented_fraction(n, m) -> jnp.ndarray:
    r"""ϕ₁ ≈ min(1, m²/2n), the fraction of rows with ‖W_i‖ > 1 in strong superposition (Liu et al., Fig. 16,
    App. A.1): about as many as an equiangular tight frame in m dimensions can hold, ν ≤ m(m + 1)/2. n ≥ 1, m ≥ 1."""
    n_, m_ = as_float(n, "n"), as_float(m, "m")
    check_range(n_, "n", low=1.0)
    check_range(m_, "m", low=1.0)
    return jnp.minimum(1.0, m_ * m_ / (2.0 * n_))


def welch_bound(n, m) -> jnp.ndarray:
    r"""Smallest possible mean squared overlap of n unit vectors in m dimensions (Welch 1974).

    .. math:: \frac1{n(n-1)}\sum_{i\ne j}(\hat w_i\cdot\hat w_j)^2\ \ge\ \frac{n-m}{m(n-1)}
              \quad(n\ge m),

    attained by tight frames. It is ≈ 1/m for n ≫ m: the geometric origin of the strong-superposition
    law L ∝ 1/m (Liu et al.: overlaps of many vectors squeezed into m dims scale as m^(−1/2)).
    """
    nn, mm = check_int(n, "n"), check_int(m, "m")
    if nn is not None and mm is not None and np.any(np.asarray(nn) < np.asarray(mm)):
        raise ParameterError(f"welch_bound needs n >= m; got n = {n}, m = {m}")
    n_, m_ = as_float(n, "n"), as_float(m, "m")
    return jnp.where(n_ > 1, (n_ - m_) / (m_ * jnp.maximum(n_ - 1, 1)), 0.0)


def welch_bound_log_slope(n, m) -> jnp.ndarray:
    r""":math:`d\ln(\text{Welch bound})/d\ln m = -1 - m/(n-m)`: the finite-n correction to the −1 exponent."""
    n_, m_ = as_float(n, "n"), as_float(m, "m")
    check_range(n_ - m_, "n - m", low=0.0, low_inclusive=False)
    return -1.0 - m_ / (n_ - m_)


def random_overlap(m) -> jnp.ndarray:
    r"""Expected squared overlap :math:`E(\hat u\cdot\hat v)^2 = 1/m` of independent random unit vectors."""
    mm = as_float(m, "m")
    check_range(mm, "m", low=1.0)
    return 1.0 / mm
