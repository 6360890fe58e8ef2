r"""Exact learning dynamics of deep linear networks (Saxe, McClelland & Ganguli, ICLR 2014).

Reference: A. M. Saxe, J. L. McClelland, S. Ganguli, *Exact solutions to the nonlinear dynamics of
learning in deep linear neural networks*, arXiv:1312.6120 (v3). Equation numbers below are the paper's;
section numbers (§) and predictions (P1…P18) refer to ``docs/families/deep_linear.md``.

Conventions (used by the whole toolkit)
---------------------------------------
* Inputs :math:`x\in\mathbb R^{N_1}`, targets :math:`y\in\mathbb R^{N_3}`, ``P`` samples.
* A network of ``depth`` = D weight matrices computes :math:`W_{tot}x` with :math:`W_{tot}=W_D\cdots W_1`.
* Loss :math:`L=\frac1{2P}\sum_\mu\lVert y_\mu-W_{tot}x_\mu\rVert^2`, gradient descent with step ``η``,
  continuous time :math:`t=\eta\times\text{step}` (so τ = 1).
* **Averaged** correlations :math:`\Sigma_{xx}=\frac1P\sum x x^T` (= I for whitened inputs) and
  :math:`\Sigma_{yx}=\frac1P\sum y x^T = U S V^T`; ``singular_value`` always means an entry of S.
* The mode strength of mode α is the projection :math:`u_\alpha(t)=u_\alpha^T W_{tot}(t) v_\alpha` onto the
  task's fixed singular vectors (never ``svd(W_tot)``, which reorders and drops signs).

The paper uses *summed* correlations (Σ11 = Σ x xᵀ, Σ31 = Σ y xᵀ) with step λ and t = λ·step. The
conversion happens in exactly one place, :func:`from_summed_convention`: scaling inputs and targets
by √P makes our averaged loss equal to the paper's summed loss term by term, so weights, mode strengths,
singular values, learning rates and times are all identical and every number of the paper and of
``docs/families/deep_linear.md`` carries over unchanged.

Under these conventions one mode of a balanced, decoupled network obeys (eq. 15)

.. math::  \frac{du}{dt} = D\,u^{2-2/D}\,(s-u),

whose solution is implemented by :func:`mode_strength`:

* D = 1 (no hidden layer): :math:`u=s+(u_0-s)e^{-t}` (closed form).
* D = 2 (one hidden layer): the logistic :math:`u=s/(1+(s/u_0-1)e^{-2st})` (eq. 12, closed form).
* D ≥ 3: the time to go from u0 to u is closed form up to a smooth bounded integral (see
  :func:`learning_time`); u(t) is obtained by inverting it with a safeguarded Newton iteration in
  logit(u/s), which converges to machine precision (implicit/numerical inversion).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory.common import ParameterError, as_float, check_int, check_range, check_shape, concrete

__all__ = [
    "from_summed_convention",
    "correlations",
    "max_stable_learning_rate",
    "mode_strength",
    "learning_time",
    "ModeTrajectory",
    "unbalanced_mode_trajectory",
    "unbalanced_learning_time",
    "unbalanced_discrete_trajectory",
    "learning_time_infinite_depth",
    "discrete_mode_trajectory",
    "discrete_learning_steps",
    "discretisation_error",
    "network_map",
    "NetworkMapPrediction",
    "effective_initial_strength",
    "hierarchy_singular_values",
    "balance",
    "TwoLayerSolution",
    "two_layer_solution",
    "plateau_two_layer_trajectory",
    "gaussian_product_moments",
    "end_to_end_velocity",
    "singular_value_velocity",
    "TANH_CRITICAL_GAIN",
    "tanh_variance_map",
    "tanh_variance_trajectory",
    "tanh_variance_fixed_point",
    "tanh_jacobian_gain",
    "tanh_jacobian_mean_squared",
]

# Gauss-Legendre rule on (0, 1) for the smooth remainder integral R(y) of the deep-network time.
# 96 nodes integrate it to ~1e-15 relative for depth <= 200 (tested against scipy's hyp2f1).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_GL_NODES = 0.5 * (_GL_NODES + 1.0)
_GL_WEIGHTS = 0.5 * _GL_WEIGHTS


# ----------------------------------------------------------------------------------------------
# conventions
# ----------------------------------------------------------------------------------------------
def _check_dataset(inputs, targets):
    """Validate a dataset given as (P, N1) inputs and (P, N3) targets; return them as float arrays."""
    inputs = as_float(inputs, "inputs")
    targets = as_float(targets, "targets")
    if inputs.ndim != 2 or targets.ndim != 2 or inputs.shape[0] != targets.shape[0]:
        raise ParameterError(
            f"inputs and targets must be (P, N1) and (P, N3) with the same P; got {inputs.shape} and {targets.shape}"
        )
    return inputs, targets


def from_summed_convention(inputs, targets):
    r"""Map a problem stated in Saxe's *summed* convention onto this toolkit's averaged one.

    Saxe et al. train with step λ on :math:`E=\frac12\sum_\mu\lVert y_\mu-Wx_\mu\rVert^2`. With
    :math:`x'=\sqrt P\,x`, :math:`y'=\sqrt P\,y` our averaged loss is
    :math:`\frac1{2P}\sum\lVert y'-Wx'\rVert^2 = E` exactly, so GD with η = λ on (x', y') produces
    the same weights at every step, :math:`\Sigma_{yx}(x',y')=\Sigma_{31}`, :math:`\Sigma_{xx}=\Sigma_{11}`
    and t = λ·step. E.g. one-hot items (white under sums, Σ11 = I) become √P·one-hot (white under means).

    Args:
        inputs: (P, N1) array, one sample per row.
        targets: (P, N3) array.

    Returns:
        ``(inputs * sqrt(P), targets * sqrt(P))``.
    """
    inputs, targets = _check_dataset(inputs, targets)
    scale = jnp.sqrt(inputs.shape[0])
    return inputs * scale, targets * scale


def correlations(inputs, targets):
    r"""Averaged correlations (Σxx, Σyx, Σyy) = (XᵀX/P, YᵀX/P, YᵀY/P) of (P, N) sample matrices."""
    inputs, targets = _check_dataset(inputs, targets)
    p = inputs.shape[0]
    return inputs.T @ inputs / p, targets.T @ inputs / p, targets.T @ targets / p


def _check_depth(depth):
    check_int(depth, "depth", minimum=1)
    return jnp.asarray(depth)


def max_stable_learning_rate(singular_value, depth=2):
    r"""Largest stable GD step on one balanced mode (docs/families/deep_linear.md §3, paper App. B, eq. 41).

    The Hessian's top eigenvalue at the optimum is :math:`D s^{2-2/D}`, so GD converges iff
    :math:`\eta < 2/(D\,s^{2-2/D})`. For D = 2 this is η < 1/s. Vectorised over both arguments.
    """
    s = as_float(singular_value, "singular_value")
    check_range(s, "singular_value", low=0.0, low_inclusive=False)
    n = _check_depth(depth)
    return 2.0 / (n * s ** (2.0 - 2.0 / n))


# ----------------------------------------------------------------------------------------------
# continuous-time single-mode dynamics
# ----------------------------------------------------------------------------------------------
def _remainder(y, n):
    """R(y) = ∫_0^y z(1 − z^{n−2})/(1 − z^n) dz by Gauss-Legendre (integrand smooth on [0, y])."""
    z = y[..., None] * _GL_NODES
    lz = jnp.log(z)
    num = -jnp.expm1((n[..., None] - 2.0) * lz)
    den = -jnp.expm1(n[..., None] * lz)
    tiny = jnp.abs(den) < 1e-300
    ratio = jnp.where(tiny, (n[..., None] - 2.0) / n[..., None], num / jnp.where(tiny, 1.0, den))
    return y * jnp.sum(_GL_WEIGHTS * z * ratio, axis=-1)


def _deep_potential(log_x, log_abs_1mx, n):
    r"""F(x) with t(u0→u) = s^{−p}[F(u/s) − F(u0/s)] for depth n ≥ 3, p = 2 − 2/n.

    Substituting u = s·y^n in dt = du / (n u^p (s − u)) gives dt = s^{-p} y^{1−n}/(1−y^n) dy and
    y^{1−n}/(1−y^n) = y^{1−n} + y/(1−y^n), hence
    F = y^{2−n}/(2−n) − (1/n) ln|1 − y^n| + R(y), R(y) = ∫_0^y z(1 − z^{n−2})/(1 − z^n) dz.
    The log carries the divergence at u → s; R is smooth and bounded (quadrature).
    """
    y = jnp.exp(log_x / n)
    return jnp.exp((2.0 - n) * log_x / n) / (2.0 - n) - log_abs_1mx / n + _remainder(y, n)


@jax.jit
def _deep_time(s, x0, x, n):
    """Flow time from u0 = s·x0 to u = s·x for depth n ≥ 3 (0 < x0, x; both < 1 or both > 1)."""
    p = 2.0 - 2.0 / n
    f = _deep_potential(jnp.log(x), jnp.log(jnp.abs(1.0 - x)), n)
    f0 = _deep_potential(jnp.log(x0), jnp.log(jnp.abs(1.0 - x0)), n)
    return s ** (-p) * (f - f0)


@partial(jax.jit, static_argnames="iterations")
def _deep_mode_strength(t, s, u0, n, iterations: int = 80):
    """Invert the depth-n flow time by Newton's method.

    Below the fixed point (x = u/s < 1) we solve in w = logit(x); t(w) is increasing and concave
    (d²t/dw² = (1−p)/n s^{−p} x^{1−p}(1−x) ≤ 0), so Newton from the left converges monotonically.
    Above it (x > 1) we solve in v = ln(x − 1); −t(v) is increasing and concave, so after at most one
    step to the left of the root the iteration is again monotone. The fixed point x = 1 is exact.
    """
    p = 2.0 - 2.0 / n
    x0 = u0 / s
    below = x0 < 1.0
    above = x0 > 1.0
    safe_x0 = jnp.where(below | above, x0, 0.5)
    safe_x0_lo = jnp.where(below, safe_x0, 0.5)
    safe_x0_hi = jnp.where(above, safe_x0, 2.0)

    # ---- below: w = logit(x)
    def pot_w(w):
        log_x = -jax.nn.softplus(-w)
        log_1mx = -jax.nn.softplus(w)
        return _deep_potential(log_x, log_1mx, n)

    w0 = jnp.log(safe_x0_lo) - jnp.log1p(-safe_x0_lo)
    target_lo = t * s**p + pot_w(w0)

    def newton_w(_, w):
        log_x = -jax.nn.softplus(-w)
        slope = jnp.exp((1.0 - p) * log_x) / n
        return w + (target_lo - pot_w(w)) / slope

    w = jax.lax.fori_loop(0, iterations, newton_w, w0)
    x_lo = jax.nn.sigmoid(w)

    # ---- above: v = ln(x − 1)
    def pot_v(v):
        log_x = jax.nn.softplus(v)
        return _deep_potential(log_x, v, n)

    v0 = jnp.log(safe_x0_hi - 1.0)
    target_hi = t * s**p + pot_v(v0)

    def newton_v(_, v):
        slope = -jnp.exp(-p * jax.nn.softplus(v)) / n
        return v + (target_hi - pot_v(v)) / slope

    v = jax.lax.fori_loop(0, iterations, newton_v, v0)
    x_hi = 1.0 + jnp.exp(v)

    x = jnp.where(below, x_lo, jnp.where(above, x_hi, 1.0))
    return jnp.where(u0 == 0.0, 0.0, s * x)


def mode_strength(t, singular_value, initial_strength, *, depth=2, input_variance=1.0):
    r"""Strength u(t) of one balanced, decoupled input-output mode under gradient flow.

    Solves :math:`du/dt = D\,u^{2-2/D}(s-du)`, u(0) = u0 (Saxe et al. 2014, eqs. 12 and 15; d = 1 for
    whitened inputs, App. E for inputs whose covariance shares the task's right singular vectors), in the
    averaged convention of this module (t = η·step):

    * D = 1: :math:`u = s + (u_0 - s)e^{-t}`;
    * D = 2: :math:`u = s / (1 + (s/u_0 - 1)e^{-2st})` (overflow-safe form of eq. 12);
    * D ≥ 3: exact inversion of the closed-form time of :func:`learning_time` (Newton; see module doc).

    Non-white inputs (d ≠ 1): v = d·u obeys the white equation with time rescaled by :math:`d^{2/D-1}`, so
    :math:`u(t; s, u_0, d) = u(d^{2/D-1}t;\ s, d\,u_0, 1)/d`. The fixed point is s/d; at D = 2 the rate is
    still 2s (App. E: "the rate uses s, not s/d").

    All arguments broadcast against each other (``t`` of shape (T, 1) against s of shape (K,) gives
    (T, K)); jit- and vmap-compatible. Works for u0 above the fixed point too (decay towards s/d).

    Args:
        t: time(s) ≥ 0, in units of η·steps.
        singular_value: s > 0, the mode's singular value of Σyx.
        initial_strength: u0 ≥ 0 (u0 = 0 is the unstable fixed point and stays 0).
        depth: number of weight matrices D ≥ 1 (2 = one hidden layer). Int or integer array.
        input_variance: d > 0, the input variance v_αᵀ Σxx v_α along the mode (1 for whitened inputs).

    Returns:
        u(t), broadcast shape of the inputs.
    """
    t = as_float(t, "t")
    s = as_float(singular_value, "singular_value")
    u0 = as_float(initial_strength, "initial_strength")
    d = as_float(input_variance, "input_variance")
    check_range(t, "t", low=0.0)
    check_range(s, "singular_value", low=0.0, low_inclusive=False)
    check_range(u0, "initial_strength", low=0.0)
    check_range(d, "input_variance", low=0.0, low_inclusive=False)
    n = _check_depth(depth).astype(s.dtype)
    t, s, u0, n, d = jnp.broadcast_arrays(t, s, u0, n, d)
    static_d = concrete(d)
    white = static_d is not None and np.all(static_d == 1.0)
    if not white:
        t, u0 = t * d ** (2.0 / n - 1.0), u0 * d

    shallow = u0 * jnp.exp(-t) - s * jnp.expm1(-t)  # = s + (u0 − s)e^{−t} without cancellation for u0 ≪ s
    safe_u0 = jnp.where(u0 > 0, u0, 1.0)
    logistic = jnp.where(u0 > 0, s / (1.0 + (s / safe_u0 - 1.0) * jnp.exp(-2.0 * s * t)), 0.0)
    static_n = concrete(n)
    if static_n is not None and np.all(static_n == 1):
        v = shallow
    elif static_n is not None and np.all(static_n == 2):
        v = logistic
    else:
        deep = _deep_mode_strength(t, s, u0, jnp.maximum(n, 3.0))
        v = jnp.where(n == 1, shallow, jnp.where(n == 2, logistic, deep))
    return v if white else v / d


def learning_time(singular_value, initial_strength, *, depth=2, fraction=0.5, input_variance=1.0):
    r"""Gradient-flow time for one balanced mode to grow from u0 to ``fraction``·s/d (d = 1: whitened inputs).

    * D = 1: :math:`t = \ln\frac{s-u_0}{s-u_f}`;
    * D = 2: :math:`t = \frac1{2s}\ln\frac{u_f(s-u_0)}{u_0(s-u_f)}` (eq. 11; half-time
      :math:`\frac1{2s}\ln\frac{s-u_0}{u_0}`);
    * D ≥ 3 (closed form up to a smooth quadrature, docs/families/deep_linear.md §3): with p = 2 − 2/D and y = (u/s)^{1/D},
      :math:`t = s^{-p}[F(y_f)-F(y_0)]`, :math:`F(y)=\frac{y^{2-D}}{2-D}-\frac1D\ln(1-y^D)+R(y)`,
      :math:`R(y)=\int_0^y\frac{z(1-z^{D-2})}{1-z^D}dz`. This equals the ₂F₁ form
      :math:`\frac1D[I(u_f)-I(u_0)]`, :math:`I(u)=\frac{u^{1-p}}{(1-p)s}\,{}_2F_1(1,1-p;2-p;u/s)`.

    Note t·s is *not* constant across s: it carries the factor ln((s − u0)/u0).

    With input variance d along the mode (App. E) the time is the white one at (s, d·u0) divided by
    :math:`d^{2/D-1}` (see :func:`mode_strength`).

    Args:
        singular_value: s > 0.
        initial_strength: 0 < u0 < fraction·s/d.
        depth: number of weight matrices D ≥ 1.
        fraction: target u_f / (s/d), in (0, 1).
        input_variance: d > 0, the input variance along the mode.

    Returns:
        The time (units of η·steps), broadcast over all arguments.
    """
    s = as_float(singular_value, "singular_value")
    u0 = as_float(initial_strength, "initial_strength")
    frac = as_float(fraction, "fraction")
    check_range(s, "singular_value", low=0.0, low_inclusive=False)
    check_range(frac, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_range(u0, "initial_strength", low=0.0, low_inclusive=False)
    d = as_float(input_variance, "input_variance")
    check_range(d, "input_variance", low=0.0, low_inclusive=False)
    cs, cu, cf, cd = concrete(s), concrete(u0), concrete(frac), concrete(d)
    if cs is not None and cu is not None and cf is not None and cd is not None and np.any(cu * cd >= cf * cs):
        raise ParameterError(
            "initial_strength must be < fraction * singular_value / input_variance (the mode must still grow)"
        )
    n = _check_depth(depth).astype(s.dtype)
    s, u0, frac, n, d = jnp.broadcast_arrays(s, u0, frac, n, d)
    time_scale = d ** (2.0 / n - 1.0)
    u0 = u0 * d
    uf = frac * s
    shallow = jnp.log((s - u0) / (s - uf))
    two = jnp.log(uf * (s - u0) / (u0 * (s - uf))) / (2.0 * s)
    deep = _deep_time(s, u0 / s, frac, jnp.maximum(n, 3.0))
    return jnp.where(n == 1, shallow, jnp.where(n == 2, two, deep)) / time_scale


def learning_time_infinite_depth(singular_value, initial_strength, *, depth, fraction=0.99):
    r"""Saxe et al. eq. 17, the large-depth asymptote of :func:`learning_time`.

    :math:`t=\frac1D\left[\frac1{s^2}\ln\frac{u_f(s-u_0)}{u_0(s-u_f)}+\frac1{su_0}-\frac1{su_f}\right]`,
    from du/dt = D u²(s − u). Asymptotic only (12 % off at D = 99 for s = 1.5, u0 = 1e-3): with a
    stable step η ∝ 1/(D s_max²) the step count t/η tends to a depth-independent limit, the paper's
    "finite depth delay".
    """
    s = as_float(singular_value, "singular_value")
    u0 = as_float(initial_strength, "initial_strength")
    check_range(s, "singular_value", low=0.0, low_inclusive=False)
    check_range(u0, "initial_strength", low=0.0, low_inclusive=False)
    check_range(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    n = _check_depth(depth)
    uf = fraction * s
    return (jnp.log(uf * (s - u0) / (u0 * (s - uf))) / s**2 + 1.0 / (s * u0) - 1.0 / (s * uf)) / n


# ----------------------------------------------------------------------------------------------
# unbalanced two-layer mode (paper App. A, corrected) and non-white aligned inputs (App. E)
# ----------------------------------------------------------------------------------------------
class ModeTrajectory(NamedTuple):
    """One two-layer mode: its input-side weight a, output-side weight b and strength u = a·b."""

    a: jnp.ndarray  # a = r_αᵀ W1 v_α (input mode → hidden direction r_α)
    b: jnp.ndarray  # b = u_αᵀ W2 r_α (hidden direction → output mode)
    u: jnp.ndarray  # u = a·b = u_αᵀ W2 W1 v_α


def _check_finite(x, name):
    val = concrete(x)
    if val is not None and not np.all(np.isfinite(val)):
        raise ParameterError(f"{name} must be finite; got {np.asarray(val)[~np.isfinite(val)].ravel()[:4]}")


def _unbalanced_args(singular_value, a0, b0, input_variance, *, basin: bool = True):
    """Validated, broadcast (s, a0, b0, d); ``basin`` also rejects a0 = −b0 (the flow's closed form needs a0 + b0 ≠ 0)."""
    s = as_float(singular_value, "singular_value")
    a0 = as_float(a0, "a0")
    b0 = as_float(b0, "b0")
    d = as_float(input_variance, "input_variance")
    check_range(s, "singular_value", low=0.0, low_inclusive=False)
    _check_finite(a0, "a0")
    _check_finite(b0, "b0")
    check_range(d, "input_variance", low=0.0, low_inclusive=False)
    ca, cb = concrete(a0), concrete(b0)
    if (
        basin
        and ca is not None
        and cb is not None
        and np.any(np.broadcast_to(ca + cb, np.broadcast(ca, cb).shape) == 0)
    ):
        raise ParameterError(
            "a0 + b0 must be nonzero: a0 = -b0 lies on the stable manifold of the saddle at the origin (u -> 0)"
        )
    return jnp.broadcast_arrays(s, a0, b0, d)


def _riccati_roots(s, kappa, d):
    """ρ = √(s² + d²κ²/4) and the roots P± = 2(s ± ρ)/d of Ṗ = −(d/2)(P − P+)(P − P−), cancellation-free."""
    rho = jnp.sqrt(s**2 + 0.25 * (d * kappa) ** 2)
    return rho, 2.0 * (s + rho) / d, -0.5 * d * kappa**2 / (s + rho)


def unbalanced_mode_trajectory(t, singular_value, a0, b0, *, input_variance=1.0) -> ModeTrajectory:
    r"""Exact gradient-flow trajectory of one decoupled two-layer mode from any (a0, b0) (paper App. A, corrected).

    The mode's weights obey :math:`\dot a = b(s-d\,ab)`, :math:`\dot b = a(s-d\,ab)` (Saxe et al. 2014, Fig. 2
    and App. A with τ = 1; d is the input variance along the mode, App. E, 1 for whitened inputs). The imbalance
    κ = a² − b² is conserved, so the flow runs along the hyperbolas of Fig. 2. With p = a + b, q = a − b = κ/p,
    P = p² obeys the constant-coefficient Riccati equation

    .. math::  \dot P = 2sP - \tfrac d2 (P^2 - \kappa^2) = -\tfrac d2 (P - P_+)(P - P_-),\quad
               P_\pm = 2(s \pm \rho)/d,\ \rho = \sqrt{s^2 + d^2\kappa^2/4},

    hence :math:`\frac{P-P_+}{P-P_-} = R_0 e^{-2\rho t}` and :math:`u = ab = (P^2-\kappa^2)/(4P)`. This is the
    paper's hyperbolic solution with its factor-2 slip corrected (with a = √c0 cosh(θ/2), b = √c0 sinh(θ/2),
    ab = (c0/2) sinh θ, not c0 sinh θ; docs/families/deep_linear.md §2.2). κ = 0 gives the logistic of eq. 12 with
    u0 = P0/4 = ((a0 + b0)/2)², the effective initial strength of a small random start (§2.4). The form has no
    cancellation for any κ, including κ ≫ s and u0 < 0.

    The basin a + b > 0 flows to ab = s/d with a, b > 0; a + b < 0 is its mirror image (a, b) → (−a, −b).

    Args:
        t: times ≥ 0 (η·steps).
        singular_value: s > 0.
        a0, b0: initial weights, finite, a0 + b0 ≠ 0 (a0 = −b0 flows into the saddle at the origin).
        input_variance: d > 0.

    Returns:
        :class:`ModeTrajectory` (a, b, u), broadcast over all arguments.
    """
    t = as_float(t, "t")
    check_range(t, "t", low=0.0)
    s, a0, b0, d = _unbalanced_args(singular_value, a0, b0, input_variance)
    t, s, a0, b0, d = jnp.broadcast_arrays(t, s, a0, b0, d)
    kappa = (a0 - b0) * (a0 + b0)
    p0 = a0 + b0
    big_p0 = p0**2
    rho, p_plus, p_minus = _riccati_roots(s, kappa, d)
    r = (big_p0 - p_plus) / (big_p0 - p_minus) * jnp.exp(-2.0 * rho * t)
    big_p = (p_plus - p_minus * r) / (1.0 - r)
    p = jnp.sign(p0) * jnp.sqrt(big_p)
    q = kappa / p
    return ModeTrajectory(0.5 * (p + q), 0.5 * (p - q), 0.25 * (big_p - kappa**2 / big_p))


def unbalanced_learning_time(singular_value, a0, b0, *, fraction=0.5, input_variance=1.0):
    r"""Gradient-flow time for a two-layer mode started at (a0, b0) to reach u = ``fraction``·s/d (App. A, corrected).

    From :func:`unbalanced_mode_trajectory`: :math:`t = \frac1{2\rho}\ln\frac{R_0}{R_f}` with
    :math:`R = (P-P_+)/(P-P_-)` and :math:`P_f = 2u_f + \sqrt{4u_f^2+\kappa^2}`. Since
    :math:`\dot u = (a^2+b^2)(s-d\,u)`, u moves monotonically to s/d, so the time exists iff u0 = a0·b0 < u_f.
    κ = 0 gives eq. 11 with u0 = ((a0 + b0)/2)².

    Args:
        singular_value: s > 0.
        a0, b0: initial weights, a0 + b0 ≠ 0 and a0·b0 < fraction·s/d.
        fraction: target u_f/(s/d), in (0, 1).
        input_variance: d > 0.
    """
    s, a0, b0, d = _unbalanced_args(singular_value, a0, b0, input_variance)
    frac = as_float(fraction, "fraction")
    check_range(frac, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    s, a0, b0, d, frac = jnp.broadcast_arrays(s, a0, b0, d, frac)
    uf = frac * s / d
    cu, cf = concrete(a0 * b0), concrete(uf)
    if cu is not None and cf is not None and np.any(cu >= cf):
        raise ParameterError("a0 * b0 must be < fraction * singular_value / input_variance (the mode must still grow)")
    kappa = (a0 - b0) * (a0 + b0)
    rho, p_plus, p_minus = _riccati_roots(s, kappa, d)
    big_p0 = (a0 + b0) ** 2
    big_pf = 2.0 * uf + jnp.sqrt(4.0 * uf**2 + kappa**2)
    ratio = (big_p0 - p_plus) / (big_pf - p_plus) * (big_pf - p_minus) / (big_p0 - p_minus)
    return jnp.log(ratio) / (2.0 * rho)


def unbalanced_discrete_trajectory(
    n_steps: int, singular_value, a0, b0, learning_rate, *, input_variance=1.0, record_every: int = 1
) -> ModeTrajectory:
    r"""Exact discrete-time trajectory of one decoupled two-layer mode under GD with step η.

    :math:`a' = a + \eta\, b(s - d\,ab)`, :math:`b' = b + \eta\, a(s - d\,ab)`: full-matrix GD from a
    decoupled initialisation (any a0, b0) reproduces it to rounding. The imbalance is not conserved but contracts
    exactly, :math:`(a'^2-b'^2) = (a^2-b^2)(1-\eta^2(s-d\,ab)^2)` (docs/families/deep_linear.md P17): discrete GD
    drifts towards balance at O(η²) per step.

    Returns:
        :class:`ModeTrajectory` of arrays with shape (n_steps // record_every + 1, *broadcast_shape).
    """
    n_steps = int(check_int(n_steps, "n_steps", minimum=0))
    record_every = int(check_int(record_every, "record_every", minimum=1))
    s, a0, b0, d = _unbalanced_args(singular_value, a0, b0, input_variance, basin=False)
    lr = as_float(learning_rate, "learning_rate")
    check_range(lr, "learning_rate", low=0.0, low_inclusive=False)
    s, a0, b0, lr, d = jnp.broadcast_arrays(s, a0, b0, lr, d)

    def step(_, ab):
        a, b = ab
        err = s - d * a * b
        return a + lr * b * err, b + lr * a * err

    def outer(ab, _):
        ab = jax.lax.fori_loop(0, record_every, step, ab)
        return ab, ab

    _, (a, b) = jax.lax.scan(outer, (a0, b0), None, length=n_steps // record_every)
    a = jnp.concatenate([a0[None], a], axis=0)
    b = jnp.concatenate([b0[None], b], axis=0)
    return ModeTrajectory(a, b, a * b)


# ----------------------------------------------------------------------------------------------
# discrete-time (exact) single-mode dynamics
# ----------------------------------------------------------------------------------------------
def _discrete_args(singular_value, initial_strength, learning_rate, depth, check_stable=True):
    s = as_float(singular_value, "singular_value")
    u0 = as_float(initial_strength, "initial_strength")
    lr = as_float(learning_rate, "learning_rate")
    check_range(s, "singular_value", low=0.0, low_inclusive=False)
    check_range(u0, "initial_strength", low=0.0)
    check_range(lr, "learning_rate", low=0.0, low_inclusive=False)
    n = _check_depth(depth).astype(s.dtype)
    cs, cl, cn = concrete(s), concrete(lr), concrete(n)
    if check_stable and cs is not None and cl is not None and cn is not None:
        bound = 2.0 / (cn * cs ** (2.0 - 2.0 / cn))
        if np.any(cl >= bound):
            raise ParameterError(
                f"learning_rate must be < 2/(depth * s^(2-2/depth)) = {float(np.min(bound)):.4g} "
                f"(stability bound); got {float(np.max(cl)):.4g}"
            )
    s, u0, lr, n = jnp.broadcast_arrays(s, u0, lr, n)
    return s, u0, lr, n


def _discrete_step(a, s, lr, n):
    """One GD step on a balanced mode: a ← a + η a^{D−1}(s − a^D) (docs/families/deep_linear.md §6.5), u = a^D."""
    return a + lr * a ** (n - 1.0) * (s - a**n)


def discrete_mode_trajectory(
    n_steps: int,
    singular_value,
    initial_strength,
    learning_rate,
    *,
    depth=2,
    record_every: int = 1,
    allow_unstable: bool = False,
):
    r"""Exact discrete-time trajectory of one balanced, decoupled mode under GD (docs/families/deep_linear.md §6.5).

    Every layer carries a = u^{1/D} and GD on ½(s − a^D)² gives :math:`a_{n+1}=a_n+\eta a_n^{D-1}(s-a_n^D)`;
    for D = 2 this is :math:`u_{n+1}=u_n(1+\eta(s-u_n))^2`. Full-matrix GD from a balanced decoupled
    initialisation reproduces it to rounding error (docs/families/deep_linear.md P1).

    Rates at or above the stability bound 2/(D s^{2−2/D}) raise an error unless ``allow_unstable``: there the recursion
    is still exact, but it ends on a 2-cycle or worse around s, or diverges (inf/nan), as the network does; for
    comparisons with networks trained on a rate grid that crosses the bound.

    Returns:
        Array of shape (n_steps // record_every + 1, *broadcast_shape): u after 0, k, 2k, … steps.
    """
    n_steps = int(check_int(n_steps, "n_steps", minimum=0))
    record_every = int(check_int(record_every, "record_every", minimum=1))
    s, u0, lr, n = _discrete_args(singular_value, initial_strength, learning_rate, depth, not allow_unstable)
    a0 = u0 ** (1.0 / n)

    def outer(a, _):
        a = jax.lax.fori_loop(0, record_every, lambda _, b: _discrete_step(b, s, lr, n), a)
        return a, a**n

    _, us = jax.lax.scan(outer, a0, None, length=n_steps // record_every)
    return jnp.concatenate([u0[None], us], axis=0)


def discrete_learning_steps(
    singular_value, initial_strength, learning_rate, *, depth=2, fraction=0.5, max_steps: int = 10**7
):
    """Number of exact GD steps until a balanced mode first satisfies u ≥ fraction·s.

    Uses the recursion of :func:`discrete_mode_trajectory`; returns ``max_steps`` where it is not
    reached. Vectorised; the loop stops once every element has crossed.
    """
    s, u0, lr, n = _discrete_args(singular_value, initial_strength, learning_rate, depth)
    check_range(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    target = fraction * s
    int_dtype = jnp.int64 if jax.config.jax_enable_x64 else jnp.int32

    def cond(state):
        k, _, steps = state
        return (k < max_steps) & jnp.any(steps < 0)

    def body(state):
        k, a, steps = state
        a = _discrete_step(a, s, lr, n)
        k = k + 1
        steps = jnp.where((steps < 0) & (a**n >= target), k, steps)
        return k, a, steps

    steps0 = jnp.where(u0 >= target, 0, -1).astype(int_dtype)
    _, _, steps = jax.lax.while_loop(cond, body, (jnp.asarray(0, int_dtype), u0 ** (1.0 / n), steps0))
    return jnp.where(steps < 0, max_steps, steps)


def discretisation_error(singular_value, initial_strength, learning_rate, *, depth=2, n_grid: int = 4001):
    r"""First-order prediction of max_t |u_GD(t = ηn) − u_flow(t)| for one balanced mode.

    Derivation (backward error analysis). GD on a is Euler's method for ȧ = f(a) = a^{D−1}(s − a^D);
    to first order it follows the modified flow ȧ = f(a)(1 − η f'(a)/2). Along the same path it
    therefore reaches a at time t_flow(a) + Δt(a) with
    :math:`\Delta t = \frac\eta2\int f'/f\,da = \frac\eta2\ln\frac{f(a)}{f(a_0)}`, so
    :math:`|u_{GD}-u_{flow}| \approx |\dot u|\,|\Delta t|` with :math:`\dot u = D u^{2-2/D}(s-u)` and
    :math:`f = u^{1-1/D}(s-u)`. The maximum over the path (a grid in logit(u/s)) is returned.
    For D = 2 it gives ≈ 0.12 η s² ln(s/u0), the fitted 0.106 η s² ln(s/u0) (§7) plus the
    O(η²) and log corrections. Neglected terms are O((η s^{2−2/D} D)²) relative.

    Returns:
        The predicted maximal absolute deviation (same units as u), broadcast over the arguments.
    """
    s, u0, lr, n = _discrete_args(singular_value, initial_strength, learning_rate, depth)
    x0 = u0 / s
    w0 = jnp.log(x0) - jnp.log1p(-x0)
    w1 = jnp.maximum(w0, 0.0) + 40.0
    grid = jnp.linspace(0.0, 1.0, n_grid)
    w = w0[..., None] + (w1 - w0)[..., None] * grid
    log_x = -jax.nn.softplus(-w)  # log(u/s)
    log_1mx = -jax.nn.softplus(w)  # log(1 - u/s), stable as u -> s
    nn = n[..., None]
    ss = s[..., None]
    log_u = jnp.log(ss) + log_x
    log_smu = jnp.log(ss) + log_1mx
    udot = nn * jnp.exp((2.0 - 2.0 / nn) * log_u + log_smu)
    log_f = (1.0 - 1.0 / nn) * log_u + log_smu
    log_f0 = (1.0 - 1.0 / nn) * jnp.log(u0[..., None]) + jnp.log(ss - u0[..., None])
    err = udot * 0.5 * lr[..., None] * jnp.abs(log_f - log_f0)
    return jnp.max(err, axis=-1)


# ----------------------------------------------------------------------------------------------
# whole-network predictions
# ----------------------------------------------------------------------------------------------
class NetworkMapPrediction(NamedTuple):
    """Predicted trajectory of a decoupled network (see :func:`network_map`)."""

    maps: jnp.ndarray  # (..., T, N3, N1) predicted W_tot(t) = U diag(u(t)) Vᵀ
    loss: jnp.ndarray  # (..., T) predicted loss
    mode_strengths: jnp.ndarray  # (..., T, r) u_α(t)
    singular_values: jnp.ndarray  # (r,) s_α, descending
    left: jnp.ndarray  # (N3, r) u_α
    right: jnp.ndarray  # (N1, r) v_α


def network_map(t, sigma_yx, initial_strengths, *, depth=2, sigma_yy=None) -> NetworkMapPrediction:
    r"""Predicted input-output map and loss of a network trained on whitened inputs.

    With :math:`\Sigma_{yx}=USV^T` and every mode evolving independently by :func:`mode_strength`,
    :math:`W_{tot}(t)=\sum_\alpha u_\alpha(t)\,u_\alpha v_\alpha^T` and, for Σxx = I,

    .. math::
        L(t) = \tfrac12\sum_\alpha (s_\alpha-u_\alpha(t))^2
               + \tfrac12(\mathrm{tr}\,\Sigma_{yy}-\textstyle\sum_\alpha s_\alpha^2).

    The second term (irreducible loss) is included only when ``sigma_yy`` is given. Modes that the
    network cannot represent (hidden width < rank) should get initial strength 0.

    Args:
        t: times, shape (T,) (or scalar).
        sigma_yx: (N3, N1) averaged input-output correlation.
        initial_strengths: u0 per mode, shape (..., r) with r = min(N3, N1) ordered like the descending
            singular values, or a scalar. Leading axes (e.g. seeds) give a batch of predictions: outputs then
            carry the same leading axes. For small random initialisations use :func:`effective_initial_strength`.
        depth: number of weight matrices.
        sigma_yy: optional (N3, N3) output correlation for the irreducible loss.
    """
    t = jnp.atleast_1d(as_float(t, "t"))
    check_range(t, "t", low=0.0)
    sigma_yx = as_float(sigma_yx, "sigma_yx")
    if sigma_yx.ndim != 2:
        raise ParameterError(f"sigma_yx must be a 2-D (N3, N1) matrix; got shape {sigma_yx.shape}")
    left, s, right_t = jnp.linalg.svd(sigma_yx, full_matrices=False)
    r = s.shape[0]
    u0 = as_float(initial_strengths, "initial_strengths")
    if u0.ndim >= 1 and u0.shape[-1] != r:
        raise ParameterError(f"initial_strengths must be a scalar or have shape (..., {r}); got {u0.shape}")
    check_range(u0, "initial_strengths", low=0.0)
    u0 = jnp.broadcast_to(u0, u0.shape[:-1] + (r,)) if u0.ndim else jnp.broadcast_to(u0, (r,))
    if np.any(np.asarray(concrete(s)) <= 0):
        raise ParameterError("sigma_yx must have full rank min(N3, N1) (a zero singular value has no mode)")
    u = mode_strength(t[:, None], s, u0[..., None, :], depth=depth)  # (..., T, r)
    maps = jnp.einsum("ia,...ta,aj->...tij", left, u, right_t)
    loss = 0.5 * jnp.sum((s - u) ** 2, axis=-1)
    if sigma_yy is not None:
        sigma_yy = as_float(sigma_yy, "sigma_yy")
        check_shape(sigma_yy, "sigma_yy", (sigma_yx.shape[0], sigma_yx.shape[0]))
        loss = loss + 0.5 * (jnp.trace(sigma_yy) - jnp.sum(s**2))
    return NetworkMapPrediction(maps, loss, u, s, left, right_t.T)


def effective_initial_strength(w_in, w_out, sigma_yx):
    r"""Effective u0 of each mode for a small *random* two-layer initialisation (docs/families/deep_linear.md §2.4).

    In the early (linear) phase a^α = W1 v_α and b^α = W2ᵀ u_α obey ȧ = s b, ḃ = s a exactly, so
    :math:`a\cdot b(t) \approx \tfrac14|a_0+b_0|^2e^{2st} - \tfrac14|a_0-b_0|^2e^{-2st}`: the logistic with
    :math:`u_{0,\rm eff}=\tfrac14|a_0+b_0|^2` matches the growing solution (a0·b0 can be ≤ 0 and must
    not be used). For i.i.d. N(0, σ²) weights u0_eff ≈ σ² N2 / 2.

    Args:
        w_in: (N2, N1) first-layer weights W1.
        w_out: (N3, N2) second-layer weights W2.
        sigma_yx: (N3, N1) averaged correlation.

    Returns:
        (r,) effective initial strengths, in the order of the descending singular values.
    """
    w_in = as_float(w_in, "w_in")
    w_out = as_float(w_out, "w_out")
    sigma_yx = as_float(sigma_yx, "sigma_yx")
    if w_in.ndim != 2 or w_out.ndim != 2 or w_out.shape[1] != w_in.shape[0]:
        raise ParameterError(f"w_in (N2, N1) and w_out (N3, N2) must share N2; got {w_in.shape}, {w_out.shape}")
    check_shape(sigma_yx, "sigma_yx", (w_out.shape[0], w_in.shape[1]))
    left, _, right_t = jnp.linalg.svd(sigma_yx, full_matrices=False)
    a0 = w_in @ right_t.T  # (N2, r)
    b0 = w_out.T @ left  # (N2, r)
    return 0.25 * jnp.sum((a0 + b0) ** 2, axis=0)


def hierarchy_singular_values(levels: int, flip_prob: float, n_features: int):
    r"""Expected singular values of Σyx for the branching-diffusion tree data (docs/families/deep_linear.md §6.1, PNAS 2019).

    Items are the 2^levels leaves of a binary tree; each feature draws a ±1 sign at the root and every
    edge flips it with probability p. With q = 1 − 2p the item covariance per feature is
    :math:`C_{ij}=q^{d(i,j)}` (d = path length), whose eigenvalues are
    :math:`\lambda_{root}=1+\sum_{h=1}^{L}2^{h-1}q^{2h}` and, for a node at depth ℓ (m = L − ℓ − 1,
    multiplicity 2^ℓ), :math:`\lambda_\ell=1+\sum_{h=1}^{m}2^{h-1}q^{2h}-2^m q^{2(m+1)}`.
    For one-hot items mapped by :func:`from_summed_convention`, :math:`s=\sqrt{N_f\lambda}`
    (e.g. L = 5, p = 0.1, N_f = 1000: 81.0, 56.0, 46.5 ×2, 37.5 ×4, 28.7 ×8, 19.0 ×16).

    Returns:
        (2^levels,) singular values in descending order, with multiplicities.
    """
    levels = int(check_int(levels, "levels", minimum=1, maximum=20))
    check_range(flip_prob, "flip_prob", low=0.0, high=0.5, high_inclusive=False)
    n_features = int(check_int(n_features, "n_features", minimum=1))
    q2 = (1.0 - 2.0 * float(flip_prob)) ** 2
    vals = [1.0 + sum(2 ** (h - 1) * q2**h for h in range(1, levels + 1))]
    for ell in range(levels):
        m = levels - ell - 1
        lam = 1.0 + sum(2 ** (h - 1) * q2**h for h in range(1, m + 1)) - 2**m * q2 ** (m + 1)
        vals.extend([lam] * 2**ell)
    return jnp.sqrt(n_features * jnp.asarray(sorted(vals, reverse=True), dtype=jnp.result_type(float)))


# ----------------------------------------------------------------------------------------------
# two-layer networks from any λ-balanced initialisation (matrix Riccati)
# ----------------------------------------------------------------------------------------------
class TwoLayerSolution(NamedTuple):
    """Exact gradient-flow state of a two-layer linear network, read off X = QQᵀ (see :func:`two_layer_solution`)."""

    network_map: jnp.ndarray  # (T, N3, N1) W2 W1
    input_gram: jnp.ndarray  # (T, N1, N1) W1ᵀ W1 (the hidden representations' similarity of whitened inputs)
    output_gram: jnp.ndarray  # (T, N3, N3) W2 W2ᵀ
    balance: jnp.ndarray  # () λ, with W2ᵀW2 − W1W1ᵀ = λ I (conserved by the flow)


def balance(w1, w2):
    r"""(λ, residual) of the decomposition W2ᵀW2 − W1W1ᵀ = λ I + residual: λ = mean eigenvalue, residual =
    max |W2ᵀW2 − W1W1ᵀ − λI| / max(1, ‖W1‖², ‖W2‖²). The flow conserves W2ᵀW2 − W1W1ᵀ (docs/families/deep_linear.md
    §1.6); discrete GD changes it by exactly η²(W1EᵀEW1ᵀ − W2ᵀEEᵀW2) per step, E = Σyx − W2W1."""
    w1 = as_float(w1, "w1")
    w2 = as_float(w2, "w2")
    imbalance = w2.T @ w2 - w1 @ w1.T
    lam = jnp.trace(imbalance) / imbalance.shape[0]
    scale = jnp.maximum(1.0, jnp.maximum(jnp.sum(w1**2), jnp.sum(w2**2)))
    return lam, jnp.max(jnp.abs(imbalance - lam * jnp.eye(imbalance.shape[0], dtype=imbalance.dtype))) / scale


def two_layer_solution(
    t, sigma_yx, w1, w2, *, balance_tol: float = 1e-8, max_chunk: float | None = None
) -> TwoLayerSolution:
    r"""Exact gradient flow of a two-layer linear network on whitened inputs from any λ-balanced start.

    Fukumizu 1998; Braun, Dominé, Fitzgerald & Saxe, NeurIPS 2022 (λ = 0); Dominé et al., ICLR 2025 (λ ≠ 0).
    With whitened inputs the flow :math:`\dot W_1 = W_2^T(\Sigma_{yx}-W_2W_1)`,
    :math:`\dot W_2 = (\Sigma_{yx}-W_2W_1)W_1^T` (t = η·step) conserves W2ᵀW2 − W1W1ᵀ. If it equals λI
    ("λ-balanced"), Q = [W1ᵀ; W2] obeys :math:`\dot Q = FQ - \tfrac12 QQ^TQ` with the symmetric
    :math:`F = \begin{pmatrix}-\frac\lambda2 I & \Sigma_{yx}^T\\ \Sigma_{yx} & \frac\lambda2 I\end{pmatrix}`, and
    X = QQᵀ solves the Riccati equation :math:`\dot X = FX + XF - X^2`:

    .. math:: X(t) = e^{Ft}Q_0\,[I + Q_0^T K(t) Q_0]^{-1} Q_0^T e^{Ft},\qquad
              K(t) = \int_0^t e^{2Fs}ds = \sum_k o_k o_k^T \frac{e^{2f_kt}-1}{2f_k}

    ((f_k, o_k) the eigenpairs of F). X(t) depends on Q0 only through X0, so the formula restarts from any
    factor of X; it is evaluated in chunks of length ≤ ``max_chunk`` (default 3/max|f_k|, where e^{Ft} stays
    below e³) from factors Q = V√Λ of the previous chunk's X, which keeps float64 accuracy at all times
    (the one-shot formula loses it once e^{2 f_max t} ≳ 1e11; docs/families/deep_linear.md §6.2). The eigenvalues
    of F are ±√(s_α² + λ²/4) and ±λ/2: |λ| ≫ s gives near-exponential ("lazy") dynamics, λ ≈ 0 from a small
    start sigmoidal ("rich") ones. A decoupled balanced start reproduces :func:`network_map`.

    Args:
        t: times ≥ 0, shape (T,) or scalar.
        sigma_yx: (N3, N1) averaged input-output correlation (inputs whitened: Σxx = I).
        w1: (N2, N1) initial first layer.
        w2: (N3, N2) initial second layer; W2ᵀW2 − W1W1ᵀ must be λI (relative residual ≤ ``balance_tol``).
        balance_tol: allowed residual of the λ-balance, relative to max(1, ‖W‖²).
        max_chunk: longest time evaluated from one factorisation (default 3/max|f|).

    Returns:
        :class:`TwoLayerSolution` with network map, W1ᵀW1 and W2W2ᵀ at each time, and λ.
    """
    t = jnp.atleast_1d(as_float(t, "t"))
    check_range(t, "t", low=0.0)
    if t.ndim != 1:
        raise ParameterError(f"t must be a scalar or 1-D; got shape {t.shape}")
    sigma_yx = as_float(sigma_yx, "sigma_yx")
    if sigma_yx.ndim != 2:
        raise ParameterError(f"sigma_yx must be a 2-D (N3, N1) matrix; got shape {sigma_yx.shape}")
    n3, n1 = sigma_yx.shape
    w1 = as_float(w1, "w1")
    w2 = as_float(w2, "w2")
    check_shape(w1, "w1", (None, n1))
    check_shape(w2, "w2", (n3, w1.shape[0]))
    lam, residual = balance(w1, w2)
    res = concrete(residual)
    if res is not None and float(res) > balance_tol:
        raise ParameterError(
            f"w1, w2 must be λ-balanced (W2ᵀW2 − W1W1ᵀ = λI) to relative residual <= {balance_tol:g}; got {float(res):.3g}"
        )
    dtype = jnp.result_type(sigma_yx, w1, w2)
    f_mat = jnp.block(
        [
            [-0.5 * lam * jnp.eye(n1, dtype=dtype), sigma_yx.T.astype(dtype)],
            [sigma_yx.astype(dtype), 0.5 * lam * jnp.eye(n3, dtype=dtype)],
        ]
    )
    f, o = jnp.linalg.eigh(f_mat)
    f_max = float(concrete(jnp.max(jnp.abs(f))) if concrete(f) is not None else 1.0)
    chunk = 3.0 / max(f_max, 1e-12) if max_chunk is None else float(max_chunk)
    check_range(chunk, "max_chunk", low=0.0, low_inclusive=False)

    q_init = jnp.concatenate([w1.T, w2], axis=0).astype(dtype)
    rank = int(np.linalg.matrix_rank(np.asarray(concrete(q_init)))) if concrete(q_init) is not None else w1.shape[0]
    rank = max(rank, 1)

    def propagate(x0, tau):
        """X(τ) from X(0) = x0 with one factorisation (τ ≤ chunk). The flow conserves rank X, so only the top
        ``rank`` eigenpairs are kept: rounding-level components in the null space would grow like e^{2ft}."""
        lam_x, v = jnp.linalg.eigh(x0)
        q0 = v[:, -rank:] * jnp.sqrt(jnp.maximum(lam_x[-rank:], 0.0))
        ef = (o * jnp.exp(f * tau)) @ o.T
        kern = jnp.where(jnp.abs(f) * tau > 1e-12, jnp.expm1(2.0 * f * tau) / (2.0 * jnp.where(f == 0, 1.0, f)), tau)
        k_mat = (o * kern) @ o.T
        a = ef @ q0
        m = jnp.eye(rank, dtype=dtype) + q0.T @ k_mat @ q0
        x = a @ jnp.linalg.solve(m, a.T)
        return 0.5 * (x + x.T)

    x0 = q_init @ q_init.T
    t_max = concrete(jnp.max(t))
    n_chunks = int(np.ceil(float(t_max) / chunk)) if t_max is not None else 0

    def next_chunk(x, _):
        x_next = propagate(x, chunk)
        return x_next, x

    _, starts = jax.lax.scan(next_chunk, x0, None, length=n_chunks + 1)  # X at 0, chunk, 2 chunk, …
    index = jnp.clip(jnp.floor(t / chunk).astype(jnp.int32), 0, n_chunks)
    xs = jax.vmap(propagate)(starts[index], t - index * chunk)
    return TwoLayerSolution(xs[:, n1:, :n1], xs[:, :n1, :n1], xs[:, n1:, n1:], lam)


def plateau_two_layer_trajectory(n_steps: int, w1, w2, beta, learning_rate):
    r"""GD of a scalar-output two-layer net f(x) = w2ᵀW1x on whitened inputs, linearised on the plateau (P16).

    While the output is still small (W1ᵀw2 ≪ β) the error is β, so GD with step η on ½‖β − W1ᵀw2‖² reads
    W1′ = W1 + η w2 βᵀ, w2′ = w2 + η W1 β. Only W1's column along β̂ = β/s moves: with a = W1β̂,
    :math:`a_n \pm w_{2,n} = (1 \pm \eta s)^n (a_0 \pm w_{2,0})` and :math:`W_{1,n} = W_{1,0}(I - \hat\beta\hat\beta^T)
    + a_n\hat\beta^T`. The growing β̂ direction overtakes the frozen rest after a number of steps that does not
    depend on the initial scale (a common factor of a0, w2,0 and W1,0), which is silent alignment (Atanasov, Bordelon &
    Pehlevan 2022; docs/families/deep_linear.md §6.3). Exact for the linearised recursion; the neglected term is
    O(|W1ᵀw2|/s) relative.

    Args:
        n_steps: steps to return (n = 0 … n_steps).
        w1: (N2, N1) first layer at the start.
        w2: (N2,) second layer (the read-out row) at the start.
        beta: (N1,) target map (Σyx of the scalar task), s = ‖β‖ > 0.
        learning_rate: η with η s < 1.

    Returns:
        (W1_n of shape (n_steps + 1, N2, N1), w2_n of shape (n_steps + 1, N2)).
    """
    n_steps = int(check_int(n_steps, "n_steps", minimum=0))
    w1 = as_float(w1, "w1")
    w2 = as_float(w2, "w2")
    beta = as_float(beta, "beta")
    check_shape(w2, "w2", (w1.shape[0],))
    check_shape(beta, "beta", (w1.shape[1],))
    s = jnp.linalg.norm(beta)
    lr = as_float(learning_rate, "learning_rate")
    check_range(lr, "learning_rate", low=0.0, low_inclusive=False)
    cs, cl = concrete(s), concrete(lr)
    if cs is not None and (float(cs) == 0 or (cl is not None and float(cl * cs) >= 1)):
        raise ParameterError(
            f"learning_rate * |beta| must be in (0, 1); got |beta| = {float(cs):.4g}, lr = {float(cl):.4g}"
        )
    b_hat = beta / s
    a0 = w1 @ b_hat
    n = jnp.arange(n_steps + 1, dtype=w1.dtype)[:, None]
    plus = (1.0 + lr * s) ** n * (a0 + w2)
    minus = (1.0 - lr * s) ** n * (a0 - w2)
    a, w2_n = 0.5 * (plus + minus), 0.5 * (plus - minus)
    frozen = w1 - jnp.outer(a0, b_hat)
    return frozen[None] + a[:, :, None] * b_hat[None, None, :], w2_n


def gaussian_product_moments(widths) -> tuple[float, float]:
    r"""Exact E[mean σ²] and E[mean σ⁴] of the singular values of W_D⋯W_1 for scaled Gaussian layers (paper §3, Fig. 6B).

    Layer k is an n_k × n_{k−1} matrix of i.i.d. N(0, 1/n_{k−1}) entries (the paper's norm-preserving scaling,
    std 1/√N). With M_k = W_k⋯W_1(W_k⋯W_1)ᵀ and p = n_{k−1}, m = n_k, Wick's theorem gives the closed recursion
    E tr M_k = (m/p) E tr M_{k−1},
    E tr M_k² = [m E(tr M_{k−1})² + (m + m²) E tr M_{k−1}²]/p²,
    E(tr M_k)² = (m/p)² E(tr M_{k−1})² + 2m E tr M_{k−1}²/p², from M_0 = I. Hence E[mean σ²] = 1 at every depth
    (norms are preserved on average) while for square layers E[mean σ⁴] = D + 1 + O(D²/n): the Fuss–Catalan
    second moment, the heavy tail that grows with depth (for orthogonal layers it stays 1).

    Args:
        widths: (n_0, …, n_D), at least two entries.

    Returns:
        (E[(1/n_D) tr M_D], E[(1/n_D) tr M_D²]) as floats: the mean of σ² and σ⁴ over the n_D output directions,
        which is the mean over the singular values when n_D ≤ every other width.
    """
    widths = [int(w) for w in check_int(list(widths), "widths", minimum=1)]
    if len(widths) < 2:
        raise ParameterError(f"widths must list at least input and output sizes (>= 2 entries); got {widths}")
    n0 = float(widths[0])
    t1, t2, sq = n0, n0, n0 * n0
    for p, m in zip(widths[:-1], widths[1:], strict=True):
        p, m = float(p), float(m)
        t1, t2, sq = m * t1 / p, (m * sq + (m + m * m) * t2) / p**2, (m / p) ** 2 * sq + 2 * m * t2 / p**2
    return t1 / widths[-1], t2 / widths[-1]


# ----------------------------------------------------------------------------------------------
# end-to-end dynamics of balanced deep networks (Arora, Cohen & Hazan 2018; Arora, Cohen, Hu & Luo 2019)
# ----------------------------------------------------------------------------------------------
def _psd_power(m, power):
    """m^power for a symmetric positive semi-definite matrix (eigenvalues clipped at 0)."""
    lam, v = jnp.linalg.eigh(m)
    return (v * jnp.maximum(lam, 0.0) ** power) @ v.T


def end_to_end_velocity(w_e, gradient, *, depth: int):
    r"""dW_e/dt of a balanced depth-D linear network under gradient flow, from W_e alone (Arora et al. 2018, Thm. 1).

    If W_{j+1}ᵀW_{j+1} = W_jW_jᵀ at the start (balanced; the flow keeps the differences, §1.6), then
    :math:`\dot W_e = -\sum_{j=1}^{D}(W_eW_e^T)^{(j-1)/D}\,\nabla L(W_e)\,(W_e^TW_e)^{(D-j)/D}` for the end-to-end
    map W_e = W_D⋯W_1 (t = η·step; for the whitened task ∇L(W_e) = W_e − Σyx, docs/families/deep_linear.md §6.4).

    Args:
        w_e: (N3, N1) end-to-end map.
        gradient: (N3, N1) ∇L at W_e.
        depth: number of weight matrices D ≥ 1.
    """
    depth = int(check_int(depth, "depth", minimum=1))
    w_e = as_float(w_e, "w_e")
    gradient = as_float(gradient, "gradient")
    check_shape(gradient, "gradient", w_e.shape)
    left, right = w_e @ w_e.T, w_e.T @ w_e
    terms = [
        _psd_power(left, (j - 1) / depth) @ gradient @ _psd_power(right, (depth - j) / depth)
        for j in range(1, depth + 1)
    ]
    return -sum(terms)


def singular_value_velocity(w_e, gradient, *, depth: int):
    r"""dσ_r/dt of the end-to-end map's singular values (Arora, Cohen, Hu & Luo 2019, Thm. 3):
    :math:`\dot\sigma_r = -D\,(\sigma_r^2)^{1-1/D}\,\langle\nabla L(W_e), u_rv_r^T\rangle`. The exponent is on σ², not
    σ; for the Saxe task (∇L = W_e − Σyx, aligned) it is eq. 15 again. Returns (σ, σ̇) in descending order of σ."""
    depth = int(check_int(depth, "depth", minimum=1))
    w_e = as_float(w_e, "w_e")
    gradient = as_float(gradient, "gradient")
    check_shape(gradient, "gradient", w_e.shape)
    u, sig, vt = jnp.linalg.svd(w_e, full_matrices=False)
    proj = jnp.einsum("ir,ij,rj->r", u, gradient, vt)
    return sig, -depth * (sig**2) ** (1.0 - 1.0 / depth) * proj


# ----------------------------------------------------------------------------------------------
# nonlinear orthogonal networks at the edge of chaos (paper §4, App. G): mean-field recursions for tanh
# ----------------------------------------------------------------------------------------------
# E[f(z)], z ~ N(0, 1), by the trapezoid rule on [−12, 12] (4001 nodes): exponentially accurate for integrands
# analytic in a strip, and unlike Gauss–Hermite it stays so for tanh(√q z) at large q, whose poles at z = ±iπ/(2√q)
# approach the real axis (Gauss–Hermite with 121 nodes is off by 2e-5 at q = 4); ~1e-14 for q ≤ 50 (tested)
_GH_Z = np.linspace(-12.0, 12.0, 4001)
_GH_W = np.exp(-0.5 * _GH_Z**2) * (_GH_Z[1] - _GH_Z[0]) / np.sqrt(2.0 * np.pi)

TANH_CRITICAL_GAIN = 1.0
"""Mean-field critical gain of tanh networks x^{l+1} = g W tanh(x^l) with orthogonal W (paper §4): q = 0 is the only
fixed point of the variance map iff g·tanh'(0) ≤ 1, i.e. g_c = 1/tanh'(0) = 1 (the edge of chaos)."""


def _check_gain_q(q, gain):
    q = as_float(q, "q")
    g = as_float(gain, "gain")
    check_range(q, "q", low=0.0)
    check_range(g, "gain", low=0.0, low_inclusive=False)
    return jnp.broadcast_arrays(q, g)


def _gauss(f, q):
    z = jnp.asarray(_GH_Z, q.dtype)
    return jnp.sum(jnp.asarray(_GH_W, q.dtype) * f(jnp.sqrt(q)[..., None] * z), axis=-1)


def tanh_variance_map(q, gain):
    r"""Population-variance map of x^{l+1} = g W φ(x^l), φ = tanh, W orthogonal (Saxe et al. App. G, eq. 48).

    :math:`q^{l+1} = g^2\int\mathcal Dz\,\tanh(\sqrt{q^l}z)^2`, q^l = (1/N)Σ_i (x_i^l)², in the mean-field
    (large-N, Gaussian pre-activation) limit. Vectorised over q and gain.
    """
    q, g = _check_gain_q(q, gain)
    return g**2 * _gauss(lambda x: jnp.tanh(x) ** 2, q)


def tanh_jacobian_gain(q, gain):
    r"""Mean squared singular value of one layer's Jacobian g W diag(φ'(x)) at population variance q:
    :math:`\chi(q) = g^2\int\mathcal Dz\,\tanh'(\sqrt q z)^2`; χ(0) = g², so the ordered phase (g < 1) shrinks
    every direction and g = 1 is marginal."""
    q, g = _check_gain_q(q, gain)
    return g**2 * _gauss(lambda x: (1.0 - jnp.tanh(x) ** 2) ** 2, q)


def tanh_variance_trajectory(q1, gain, depth: int):
    """q^1, …, q^depth of the mean-field recursion :func:`tanh_variance_map` from q^1 = ``q1``; shape (depth, *broadcast)."""
    depth = int(check_int(depth, "depth", minimum=1))
    q1, g = _check_gain_q(q1, gain)

    def step(q, _):
        nxt = g**2 * _gauss(lambda x: jnp.tanh(x) ** 2, q)
        return nxt, nxt

    _, rest = jax.lax.scan(step, q1, None, length=depth - 1)
    return jnp.concatenate([q1[None], rest], axis=0)


def tanh_variance_fixed_point(gain):
    r"""Stable fixed point q^∞(g) of the variance map (App. G, eq. 49): 0 for g ≤ 1 (= :data:`TANH_CRITICAL_GAIN`),
    the positive root of q = g²∫Dz tanh(√q z)² for g > 1 (bisection on (0, g²], where the map stays)."""
    g = as_float(gain, "gain")
    check_range(g, "gain", low=0.0, low_inclusive=False)

    def excess(q):
        return g**2 * _gauss(lambda x: jnp.tanh(x) ** 2, q) - q

    def bisect(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        up = excess(mid) > 0
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 200, bisect, (jnp.zeros_like(g), g**2 + jnp.zeros_like(g)))
    return jnp.where(g > TANH_CRITICAL_GAIN, 0.5 * (lo + hi), 0.0)


def tanh_jacobian_mean_squared(q1, gain, depth: int):
    r"""Mean-field mean squared singular value of the end-to-end Jacobian ∂x^depth/∂x^1 of a tanh orthogonal net.

    For orthogonal W, ‖W v‖ = ‖v‖, so tr(JJᵀ)/N is a product over layers of g²·mean φ'(x^l)², which in the
    mean-field limit is :math:`\prod_{l=1}^{depth-1}\chi(q^l)` along :func:`tanh_variance_trajectory`
    (Saxe et al. §4; Pennington, Schoenholz & Ganguli 2017 for the full spectrum). Finite width adds O(1/N) per layer.
    """
    qs = tanh_variance_trajectory(q1, gain, depth)
    g = jnp.broadcast_to(as_float(gain, "gain"), qs.shape[1:])
    return jnp.prod(g**2 * _gauss(lambda x: (1.0 - jnp.tanh(x) ** 2) ** 2, qs[:-1]), axis=0)
