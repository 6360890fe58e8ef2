r"""Infinite-width theory of the NTK permutation learner.

Reference
---------
G. Giapitzakis, A. Back de Luca, K. Fountoulakis, *Exact Learning of Permutations for Nonzero Binary Inputs
with Logarithmic Training Size and Quadratic Ensemble Complexity*, arXiv:2502.16763 (2025); public code
``opallab/permlearn`` (PyTorch). Section numbers "§n" below refer to ``docs/families/ntk_permutation.md``.

Setup
-----
A two-layer ReLU network :math:`f:\mathbb R^k\to\mathbb R^k` with hidden width n is trained by gradient
descent on the k standard basis vectors with permuted targets, :math:`(e_i, Pe_i)`, where
:math:`P = I[\pi]` (rows permuted), so :math:`(Px)_i = x_{\pi(i)}`: the target of x is ``x[..., pi]``.
Test inputs are the nonzero :math:`x\in\{0,1\}^k`, normalised to unit norm. The prediction of an ensemble of
M networks is the mean output, rounded with the **sign rule** :math:`\hat y_c = 1[\bar y_c > 0]` (§6–7).

Two parameterisations (:class:`Network`, §2):

* ``'ntk'`` (A, the paper's theory): :math:`f(x)=\tfrac{\sigma_w}{\sqrt n}W_2\,\phi(\tfrac{\sigma_w}{\sqrt k}
  W_1x+\sigma_b b_1)+\sigma_b b_2`, all entries N(0, 1).
* ``'standard'`` (B, what the public code trains): :math:`f = W_2\phi(W_1x+b_1)+b_2` with
  :math:`W_1\sim N(0,\sigma_w^2/k)`, :math:`W_2\sim N(0,\sigma_w^2/n)`, biases initialised at
  :math:`N(0,\sigma_b^2)` (zero for the code's :math:`\sigma_b=0`) and trainable. Its NTK grows with n; with
  ``width=None`` the functions below use the limit :math:`\Theta_B/n\to E[\phi\phi]`, under which the trained
  ensemble is the NNGP posterior (§10).

Kernels (§4; Cho & Saul's arc-cosine moments). With :math:`q(x,x')=\sigma_w^2x\cdot x'/k+\sigma_b^2`,
:math:`\rho=q_{12}/\sqrt{q_{11}q_{22}}`, :math:`\theta=\arccos\rho`:

.. math::
    E[\phi\phi]=\tfrac{\sqrt{q_{11}q_{22}}}{2\pi}(\sin\theta+(\pi-\theta)\cos\theta),\quad
    E[\phi'\phi']=\tfrac{\pi-\theta}{2\pi},

    K=\sigma_w^2E[\phi\phi]+\sigma_b^2,\qquad
    \Theta_A=K+\sigma_w^2\,q\,E[\phi'\phi'],\qquad
    \Theta_B=n\,E[\phi\phi]+1+\sigma_w^2E[\phi'\phi'](x\cdot x'+1)

(the bias terms only where the network has biases). Every output coordinate is an independent GP with the
same scalar kernel (the full kernel is the scalar one ⊗ I_k).

Training dynamics (§5; Lee et al. 2019). Time is gradient-flow time of the loss
:math:`L=\lVert f(X)-Y\rVert^2/(2N)`, N = k² target entries, at learning rate η (neural-tangents'
convention): :math:`f_t(X)-Y = e^{-\eta\Theta t/N}(f_0(X)-Y)`. A PyTorch step of mean-squared error at
learning rate η is t += 2 here; discrete gradient descent on L is handled exactly with ``steps=`` (the factor
:math:`(I-\eta\Theta/N)^T` replaces the exponential). Over random initialisations the trained output is a GP:

.. math::
    \mu_t(x)=\Theta(x,X)\Theta^{-1}(I-E_t)Y,\qquad
    \Sigma_t=K(x,x')+\Theta(x,X)\Theta^{-1}(I-E_t)K_{XX}(I-E_t)\Theta^{-1}\Theta(X,x')
    -[\Theta(x,X)\Theta^{-1}(I-E_t)K(X,x')+(x\leftrightarrow x')].

Basis-vector training set (§6): for a test input with s ones, :math:`\mu_c = \alpha_s+\beta_{k,s}` on the
coordinates :math:`c\in\pi(S)` and :math:`\beta_{k,s}<0` elsewhere, so the sign of the mean is exactly Px.

Ensemble complexity (§7–8): the mean of M independent members is :math:`N(\mu,\sigma^2/M)` per coordinate,
so an input with s ones is recovered with probability
:math:`\Phi(\sqrt M z_{on})^s\,\Phi(\sqrt M z_{off})^{k-s}`; Gaussian tails and union bounds give the paper's
rates — :math:`O(k\log k)` members for one input and :math:`O(k^2)` for all inputs at once. The paper's own
constants (its Eq. 21) are not in the stored sources; the bounds here are derived from the exact GP (§8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from theory.common import ParameterError, as_float, check_int, check_range, concrete, float_dtype

__all__ = [
    "Network",
    "NTK_PARAMETERIZATION",
    "STANDARD_PARAMETERIZATION",
    "validate_permutation",
    "validate_binary_inputs",
    "all_binary_inputs",
    "sample_binary_inputs",
    "normalize_inputs",
    "permutation_targets",
    "training_set",
    "sign_round",
    "Kernels",
    "kernels",
    "train_spectrum",
    "default_learning_rate",
    "convergence_steps",
    "gp_mean",
    "gp_covariance",
    "sample_member_outputs",
    "BasisSolution",
    "basis_solution",
    "offset_sign_flip",
    "recovery_probability",
    "expected_accuracy",
    "expected_error",
    "ensemble_size_single",
    "ensemble_size_all",
    "ensemble_size_bound_single",
    "ensemble_size_bound_all",
]


# ==============================================================================================
# architecture and data
# ==============================================================================================
@dataclass(frozen=True)
class Network:
    """The architecture k → width → k (ReLU) and how it is parameterised (§2).

    Attributes:
        parameterization: ``'ntk'`` (A, the paper's theory) or ``'standard'`` (B, the public code).
        sigma_w: weight scale σ_w > 0.
        sigma_b: bias scale σ_b ≥ 0, or ``None`` for a network without biases. In ``'standard'`` the code's
            biases are trainable and initialised at N(0, σ_b²), so ``0.0`` (zero-init trainable biases) and
            ``None`` (no biases) differ in the NTK's "+1" terms.
        width: hidden width n ≥ 1. Only the ``'standard'`` NTK depends on it; ``None`` means the n → ∞ limit
            (the kernel Θ_B/n). The ``'ntk'`` kernels are width-independent.
    """

    parameterization: Literal["ntk", "standard"] = "ntk"
    sigma_w: float = 1.0
    sigma_b: float | None = None
    width: int | None = None

    def __post_init__(self):
        if self.parameterization not in ("ntk", "standard"):
            raise ParameterError(f"parameterization must be 'ntk' or 'standard'; got {self.parameterization!r}")
        check_range(self.sigma_w, "sigma_w", low=0.0, low_inclusive=False)
        if self.sigma_b is not None:
            check_range(self.sigma_b, "sigma_b", low=0.0)
        if self.width is not None:
            check_int(self.width, "width", minimum=1)

    @property
    def has_bias(self) -> bool:
        return self.sigma_b is not None

    def with_width(self, width: int | None) -> Network:
        return Network(self.parameterization, self.sigma_w, self.sigma_b, width)


#: (A) as in the authors' neural-tangents validation: σ_w = 1, no biases.
NTK_PARAMETERIZATION = Network("ntk", 1.0, None)
#: (B) as in the public PyTorch code (``nn.Linear`` with σ_w = 1 and zero-initialised trainable biases), at
#: infinite width; use ``STANDARD_PARAMETERIZATION.with_width(n)`` for the exact finite-width NTK.
STANDARD_PARAMETERIZATION = Network("standard", 1.0, 0.0)


def validate_permutation(permutation, k: int | None = None) -> np.ndarray:
    """``permutation`` as an int array after checking that it is a permutation of range(k)."""
    p = np.asarray(permutation)
    if p.ndim != 1 or p.size < 1:
        raise ParameterError(f"permutation must be a 1-D sequence of length k >= 1; got shape {p.shape}")
    if p.dtype.kind not in "iu" and not (p.dtype.kind == "f" and np.all(np.mod(p, 1) == 0)):
        raise ParameterError(f"permutation must contain integers; got dtype {p.dtype}")
    p = p.astype(int)
    if k is not None and p.size != k:
        raise ParameterError(f"permutation must have length k = {k}; got {p.size}")
    if not np.array_equal(np.sort(p), np.arange(p.size)):
        raise ParameterError(
            f"permutation must be a permutation of range({p.size}) (each index once); got "
            f"{p.tolist()[:12]}{'…' if p.size > 12 else ''}"
        )
    return p


def validate_binary_inputs(x, name: str = "x_test") -> np.ndarray:
    """Check that ``x`` (…, k) holds nonzero vectors of {0, 1}^k; return it as a float array."""
    val = concrete(x)
    if val is None:
        raise ParameterError(f"{name} must be a concrete array (binary inputs are validated before tracing)")
    if val.ndim < 1 or val.shape[-1] < 1:
        raise ParameterError(f"{name} must have shape (..., k) with k >= 1; got {val.shape}")
    if not np.all((val == 0) | (val == 1)):
        bad = val[(val != 0) & (val != 1)]
        raise ParameterError(f"{name} must be binary (entries 0 or 1); got entries such as {bad.ravel()[:3].tolist()}")
    zero = ~np.any(val == 1, axis=-1)
    if np.any(zero):
        raise ParameterError(
            f"{name} must be nonzero binary vectors; {int(zero.sum())} all-zero input(s) at "
            f"index {np.argwhere(zero)[0].tolist()}"
        )
    return val.astype(float)


def all_binary_inputs(k: int) -> np.ndarray:
    """All 2^k − 1 nonzero vectors of {0, 1}^k, shape (2^k − 1, k), in binary counting order."""
    k = int(check_int(k, "k", minimum=1, maximum=24))
    codes = np.arange(1, 2**k, dtype=np.int64)
    return ((codes[:, None] >> np.arange(k)) & 1).astype(float)


def sample_binary_inputs(key: jax.Array, k: int, ones: int, count: int) -> np.ndarray:
    """``count`` uniform draws (with replacement) of binary vectors of length k with exactly ``ones`` ones.

    This is how the public code samples its test set (1000 draws with ``ones = 2``, §1).
    """
    k = int(check_int(k, "k", minimum=1))
    ones = int(check_int(ones, "ones", minimum=1, maximum=k))
    count = int(check_int(count, "count", minimum=1))
    scores = jax.random.uniform(key, (count, k))
    idx = np.argsort(np.asarray(scores), axis=1)[:, :ones]
    x = np.zeros((count, k))
    np.put_along_axis(x, idx, 1.0, axis=1)
    return x


def normalize_inputs(x) -> jnp.ndarray:
    """Each row divided by its L2 norm (x/√s for a binary input with s ones)."""
    x = jnp.asarray(x, float_dtype())
    return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def permutation_targets(x, permutation) -> jnp.ndarray:
    """The target P x = ``x[..., permutation]`` (P = I[π], so (Px)_i = x_π(i))."""
    p = validate_permutation(permutation, np.shape(x)[-1])
    return jnp.asarray(x)[..., p]


def training_set(permutation) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(X, Y)`` = the k basis vectors and their permuted targets: X = I_k, Y = Pᵀ (row i is (Pe_i)ᵀ)."""
    p = validate_permutation(permutation)
    X = jnp.eye(p.size, dtype=float_dtype())
    return X, X[:, p]


def sign_round(y, threshold: float | None = None) -> jnp.ndarray:
    """The sign rule of §6: ŷ_c = 1[y_c > ε] (0/1 integers). Not round-to-nearest at 0.5.

    Args:
        y: outputs, shape (..., k); the last axis holds one input's k outputs.
        threshold: ε. ``None`` (default): ε = √eps · max_c |y_c| for each input, with eps the machine epsilon of
            ``y``'s dtype (1.5e-8 in float64, 3.5e-4 in float32). The paper's rule is ε = 0, but on a training
            input the GP mean interpolates its target, so the off-target outputs are exact zeros that round-off
            leaves at ±1e-16 × the on-target value: with ε = 0 about half of them would round to 1. Every
            genuine on-target mean is the largest output of its input (α_s + β_{k,s} > 0) and every genuine
            off-target mean is negative (β_{k,s} < 0), so any ε in (0, on) gives the paper's answer; the relative
            default is invariant to the output scale. A number gives that fixed ε instead (0: the raw rule).
    """
    y = jnp.asarray(y)
    if threshold is None:
        dtype = y.dtype if jnp.issubdtype(y.dtype, jnp.floating) else float_dtype()
        eps = float(jnp.finfo(dtype).eps)
        threshold = math.sqrt(eps) * jnp.max(jnp.abs(y), axis=-1, keepdims=True)
    else:
        check_range(threshold, "threshold", low=0.0)
    return (y > threshold).astype(jnp.int32)


# ==============================================================================================
# kernels
# ==============================================================================================
class Kernels(NamedTuple):
    """Scalar NNGP ``nngp`` = K(x, x') and NTK ``ntk`` = Θ(x, x') (each ⊗ I_k for the k outputs)."""

    nngp: jnp.ndarray
    ntk: jnp.ndarray


def _relu_moments(q11, q22, q12, same=None):
    """E[φ(u)φ(v)] and E[φ'(u)φ'(v)] for (u, v) ~ N(0, [[q11, q12], [q12, q22]]), φ = ReLU."""
    norm = jnp.sqrt(q11 * q22)
    safe = jnp.where(norm > 0, norm, 1.0)
    rho = jnp.clip(jnp.where(norm > 0, q12 / safe, 0.0), -1.0, 1.0)
    if same is not None:
        rho = jnp.where(same, 1.0, rho)  # identical inputs: exactly 1, not 1 − ulp (arccos would give ~1e-8)
    theta = jnp.arccos(rho)
    e_phi = norm / (2 * jnp.pi) * (jnp.sin(theta) + (jnp.pi - theta) * rho)
    e_dphi = (jnp.pi - theta) / (2 * jnp.pi)
    return e_phi, e_dphi


def _kernel_parts(dot, sq1, sq2, d: int, net: Network, same=None) -> Kernels:
    """Kernels from the input inner products x·x' (``dot``) and squared norms, input dimension d."""
    sb2 = 0.0 if net.sigma_b is None else net.sigma_b**2
    sw2 = net.sigma_w**2
    q12, q11, q22 = sw2 * dot / d + sb2, sw2 * sq1 / d + sb2, sw2 * sq2 / d + sb2
    e_phi, e_dphi = _relu_moments(q11, q22, q12, same)
    nngp = sw2 * e_phi + sb2
    if net.parameterization == "ntk":
        return Kernels(nngp, nngp + sw2 * q12 * e_dphi)
    bias = 1.0 if net.has_bias else 0.0
    # Standard parameterisation, gradients w.r.t. the raw weights: W2 gives n·E[φφ], b2 gives 1, W1 gives
    # n·(σ_w²/n)·E[φ'φ']·x·x', b1 gives σ_w²·E[φ'φ'].
    if net.width is None:
        return Kernels(nngp, e_phi)  # Θ_B / n as n → ∞
    return Kernels(nngp, net.width * e_phi + bias + sw2 * e_dphi * (dot + bias))


def kernels(x1, x2=None, *, net: Network = NTK_PARAMETERIZATION) -> Kernels:
    r"""Infinite-width NNGP and NTK of the two-layer ReLU network between the rows of ``x1`` and ``x2``.

    .. math:: K=\sigma_w^2E[\phi\phi]+\sigma_b^2,\qquad \Theta_A=K+\sigma_w^2qE[\phi'\phi'],\qquad
              \Theta_B=nE[\phi\phi]+1+\sigma_w^2E[\phi'\phi'](x\cdot x'+1)

    (arc-cosine moments; docs/families/ntk_permutation.md §4, Cho & Saul 2009; Jacot et al. 2018). Equal to neural-tangents'
    ``stax.serial(Dense(n, W_std=σ_w, b_std=σ_b), Relu(), Dense(k, W_std=σ_w, b_std=σ_b))`` with
    ``parameterization`` = ``net.parameterization`` (``b_std=None`` for no biases).

    Args:
        x1: inputs, shape (n1, k) (any real values).
        x2: inputs, shape (n2, k); ``None`` means ``x1`` (then the diagonal uses ρ = 1 exactly).
        net: the architecture (:class:`Network`).

    Returns:
        :class:`Kernels` with arrays of shape (n1, n2).
    """
    x1 = as_float(x1, "x1")
    if x1.ndim != 2:
        raise ParameterError(f"x1 must have shape (n_inputs, k); got {x1.shape}")
    same = None
    if x2 is None:
        x2 = x1
        same = jnp.eye(x1.shape[0], dtype=bool)
    else:
        x2 = as_float(x2, "x2")
        if x2.ndim != 2 or x2.shape[1] != x1.shape[1]:
            raise ParameterError(f"x2 must have shape (n_inputs, {x1.shape[1]}); got {x2.shape}")
    return _kernels_core(x1, x2, same, net)


@partial(jax.jit, static_argnames=("net",))
def _kernels_core(x1, x2, same, net):
    dot = x1 @ x2.T
    sq1 = jnp.sum(x1 * x1, axis=1)[:, None]
    sq2 = jnp.sum(x2 * x2, axis=1)[None, :]
    return _kernel_parts(dot, sq1, sq2, x1.shape[1], net, same)


@partial(jax.jit, static_argnames=("net",))
def _diag_kernels(x, net: Network) -> Kernels:
    sq = jnp.sum(x * x, axis=1)
    return _kernel_parts(sq, sq, sq, x.shape[1], net, True)


def train_spectrum(k, *, net: Network = NTK_PARAMETERIZATION) -> tuple[float, float]:
    """Eigenvalues ``(λ_⊥, λ_∥)`` of Θ on the k basis vectors: Θ_XX = (τ₁−τ₀)I + τ₀11ᵀ (§3).

    λ_⊥ = τ₁ − τ₀ (multiplicity k − 1, on 1^⊥) and λ_∥ = τ₁ + (k − 1)τ₀ (on the all-ones vector).
    """
    k = int(check_int(k, "k", minimum=1))
    sol = _unit_kernels(k, np.array([1.0, 0.0]), net)
    tau1, tau0 = float(sol.ntk[0]), float(sol.ntk[1])
    return tau1 - tau0, tau1 + (k - 1) * tau0


def default_learning_rate(k, *, net: Network = NTK_PARAMETERIZATION) -> float:
    """η = N/λ_max(Θ_XX) with N = k² (§3, §12): the fastest stable-with-margin step of full-batch GD on
    L = ‖f(X)−Y‖²/(2N); every mode then contracts by |1 − ηλ/N| ≤ 1 − λ_min/λ_max per step."""
    lam_perp, lam_par = train_spectrum(k, net=net)
    return k * k / max(lam_perp, lam_par)


def convergence_steps(
    k, residual: float = 1e-8, *, net: Network = NTK_PARAMETERIZATION, learning_rate: float | None = None
) -> int:
    """Steps of full-batch GD until the slowest training-set mode has shrunk by ``residual`` (infinite width).

    steps = ⌈ln(residual)/ln max_λ |1 − ηλ/N|⌉; raises if the step is unstable (ηλ_max/N ≥ 2).
    """
    check_range(residual, "residual", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    k = int(check_int(k, "k", minimum=1))
    eta = default_learning_rate(k, net=net) if learning_rate is None else float(learning_rate)
    check_range(eta, "learning_rate", low=0.0, low_inclusive=False)
    lams = np.array(train_spectrum(k, net=net))
    rate = float(np.max(np.abs(1 - eta * lams / (k * k))))
    if rate >= 1:
        raise ParameterError(
            f"learning_rate must be < 2N/λ_max = {2 * k * k / lams.max():.4g} for gradient descent "
            f"to converge; got {eta}"
        )
    return max(1, math.ceil(math.log(residual) / math.log(rate))) if rate > 0 else 1


# ==============================================================================================
# the Gaussian process of the trained ensemble
# ==============================================================================================
def _time_args(t, steps, learning_rate, k, net):
    if t is not None and steps is not None:
        raise ParameterError("give at most one of t (gradient-flow time) and steps (discrete GD); got both")
    if learning_rate is None:
        learning_rate = default_learning_rate(k, net=net)
    check_range(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    if t is not None:
        t = as_float(t, "t")
        check_range(t, "t", low=0.0)
    if steps is not None:
        steps = as_float(steps, "steps")
        check_int(steps, "steps", minimum=0)
    return t, steps, float(learning_rate)


def _decay_weights(lam, t, steps, eta, n_targets):
    """(1 − decay(λ))/λ for each eigenvalue λ of Θ_XX, with a leading time shape; decay = 1 at t = 0."""
    if t is None and steps is None:
        return 1.0 / lam
    if t is not None:
        frac = -jnp.expm1(-eta * lam * t[..., None] / n_targets)
    else:
        frac = 1.0 - (1.0 - eta * lam / n_targets) ** steps[..., None]
    return frac / lam


def _prepare_test(x_test, normalize):
    x = validate_binary_inputs(x_test)
    if x.ndim != 2:
        raise ParameterError(f"x_test must have shape (n_inputs, k); got {x.shape}")
    return normalize_inputs(x) if normalize else jnp.asarray(x, float_dtype())


def _projection(x, k, net, t, steps, learning_rate):
    """A = Θ(x, X) Θ_XX⁻¹ (I − E_t), shape (*time, n_test, k), via the eigendecomposition of Θ_XX."""
    t, steps, eta = _time_args(t, steps, learning_rate, k, net)
    return _projection_core(x, t, steps, eta, net)


@partial(jax.jit, static_argnames=("net",))
def _projection_core(x, t, steps, eta, net):
    k = x.shape[1]
    X = jnp.eye(k, dtype=x.dtype)
    lam, V = jnp.linalg.eigh(_kernels_core(X, X, jnp.eye(k, dtype=bool), net).ntk)
    w = _decay_weights(lam, t, steps, eta, k * k)
    theta_xX = _kernels_core(x, X, None, net).ntk
    return jnp.einsum("nj,jl,...l,ml->...nm", theta_xX, V, w, V)


def gp_mean(
    x_test,
    permutation,
    *,
    net: Network = NTK_PARAMETERIZATION,
    t=None,
    steps=None,
    learning_rate: float | None = None,
    normalize: bool = True,
) -> jnp.ndarray:
    r"""Mean output of the infinite ensemble trained on the k permuted basis vectors.

    .. math:: \mu_t(x) = \Theta(x,X)\,\Theta_{XX}^{-1}\,(I-e^{-\eta\Theta_{XX}t/N})\,Y,\qquad X=I_k,\ Y=P^T

    (Lee et al. 2019; docs/families/ntk_permutation.md §5). With ``t = steps = None`` this is t → ∞, where the sign rule recovers
    Px exactly for every nonzero binary input (§6). Equal to neural-tangents'
    ``predict.gradient_descent_mse_ensemble(kernel_fn, X, Y, learning_rate=η)(t, x, 'ntk')``.

    Args:
        x_test: nonzero binary inputs, shape (n_test, k).
        permutation: π, a permutation of range(k); the target of x is ``x[..., π]``.
        net: architecture and parameterisation (:class:`Network`).
        t: gradient-flow time(s) ≥ 0 of L = ‖f(X)−Y‖²/(2k²), any shape; ``None`` for t → ∞.
        steps: instead of ``t``, a number of discrete full-batch GD steps (exact: (I−ηΘ/N)^steps).
        learning_rate: η; default :func:`default_learning_rate`. Only the product ηt matters for the flow.
        normalize: divide each test input by its norm (as in the paper; signs do not depend on it when
            σ_b = 0, since the network is then 1-homogeneous).

    Returns:
        Mean, shape (*shape(t or steps), n_test, k).
    """
    x = _prepare_test(x_test, normalize)
    k = x.shape[1]
    _, Y = training_set(validate_permutation(permutation, k))
    return _projection(x, k, net, t, steps, learning_rate) @ Y


def gp_covariance(
    x_test,
    x_test2=None,
    *,
    net: Network = NTK_PARAMETERIZATION,
    t=None,
    steps=None,
    learning_rate: float | None = None,
    normalize: bool = True,
    diagonal: bool = False,
) -> jnp.ndarray:
    r"""Covariance over initialisations of one output coordinate of the trained network (the same for all k).

    .. math:: \Sigma_t(x,x') = K(x,x') + A\,K_{XX}A'^T - A\,K(X,x') - K(x,X)\,A'^T,\quad
              A=\Theta(x,X)\Theta_{XX}^{-1}(I-E_t)

    (Lee et al. 2019; docs/families/ntk_permutation.md §5). The full output covariance is Σ ⊗ I_k. At t → ∞ the training inputs
    have zero variance; in the standard-parameterisation limit Σ_∞ is the NNGP posterior covariance.

    Args:
        x_test, x_test2: nonzero binary inputs, shapes (n1, k) and (n2, k); ``x_test2=None`` means ``x_test``.
        diagonal: return only the variances Σ(x, x) (shape (*time, n1)); cheap for all 2^k − 1 inputs.
        net, t, steps, learning_rate, normalize: as in :func:`gp_mean`.

    Returns:
        Shape (*time, n1, n2), or (*time, n1) with ``diagonal``.
    """
    x1 = _prepare_test(x_test, normalize)
    k = x1.shape[1]
    if diagonal and x_test2 is not None:
        raise ParameterError("diagonal=True needs x_test2=None (variances of x_test)")
    x2 = None
    if x_test2 is not None:
        x2 = _prepare_test(x_test2, normalize)
        if x2.shape[1] != k:
            raise ParameterError(f"x_test2 must have k = {k} columns; got {x2.shape[1]}")
    t, steps, eta = _time_args(t, steps, learning_rate, k, net)
    return _covariance_core(x1, x2, t, steps, eta, net, diagonal)


@partial(jax.jit, static_argnames=("net", "diagonal"))
def _covariance_core(x1, x2, t, steps, eta, net, diagonal):
    k = x1.shape[1]
    X = jnp.eye(k, dtype=x1.dtype)
    K_XX = _kernels_core(X, X, jnp.eye(k, dtype=bool), net).nngp
    A1 = _projection_core(x1, t, steps, eta, net)
    k1X = _kernels_core(x1, X, None, net).nngp
    if diagonal:
        prior = _diag_kernels(x1, net).nngp
        return prior + jnp.einsum("...nj,jl,...nl->...n", A1, K_XX, A1) - 2 * jnp.einsum("...nj,nj->...n", A1, k1X)
    if x2 is None:
        A2, k2X, prior = A1, k1X, _kernels_core(x1, x1, jnp.eye(x1.shape[0], dtype=bool), net).nngp
    else:
        A2 = _projection_core(x2, t, steps, eta, net)
        k2X = _kernels_core(x2, X, None, net).nngp
        prior = _kernels_core(x1, x2, None, net).nngp
    return (
        prior
        + jnp.einsum("...nj,jl,...ml->...nm", A1, K_XX, A2)
        - jnp.einsum("...nj,mj->...nm", A1, k2X)
        - jnp.einsum("nj,...mj->...nm", k1X, A2)
    )


def sample_member_outputs(
    key: jax.Array,
    x_test,
    permutation,
    members: int,
    *,
    net: Network = NTK_PARAMETERIZATION,
    t=None,
    steps=None,
    learning_rate: float | None = None,
    normalize: bool = True,
) -> jnp.ndarray:
    """Outputs of ``members`` independent infinite-width trained networks: draws of the GP, (members, n_test, k).

    The GP surrogate of a trained ensemble (§10): member m's output is μ + Σ^{1/2}ξ_m with ξ_m ~ N(0, I)
    independently per output coordinate. Σ is factorised with ``eigh`` (training inputs have zero variance,
    so Σ is only positive semi-definite).
    """
    members = int(check_int(members, "members", minimum=1))
    mu = gp_mean(x_test, permutation, net=net, t=t, steps=steps, learning_rate=learning_rate, normalize=normalize)
    cov = gp_covariance(x_test, net=net, t=t, steps=steps, learning_rate=learning_rate, normalize=normalize)
    if mu.ndim != 2:
        raise ParameterError("sample_member_outputs takes a scalar t or steps")
    lam, V = jnp.linalg.eigh(cov)
    root = V * jnp.sqrt(jnp.clip(lam, 0.0))
    xi = jax.random.normal(key, (members, mu.shape[0], mu.shape[1]), mu.dtype)
    return mu + jnp.einsum("nj,mjc->mnc", root, xi)


# ==============================================================================================
# closed form for the basis-vector training set (§6)
# ==============================================================================================
class BasisSolution(NamedTuple):
    """Closed-form GP for a test input with s ones (normalised), k basis-vector training points (§6).

    Attributes: ``on`` = mean on the s coordinates π(S) (= α + β at t → ∞), ``off`` = mean elsewhere (= β),
    ``variance`` σ² of every output coordinate, ``z_on`` = on/σ, ``z_off`` = −off/σ (margins in s.d.;
    positive when the sign rule is right), ``alpha`` = on − off and ``beta`` = off.
    """

    on: jnp.ndarray
    off: jnp.ndarray
    variance: jnp.ndarray
    z_on: jnp.ndarray
    z_off: jnp.ndarray
    alpha: jnp.ndarray
    beta: jnp.ndarray


def _unit_kernels(k, rho, net: Network) -> Kernels:
    """Kernels between unit-norm inputs of dimension k with cosine ρ (array)."""
    rho = jnp.asarray(rho, float_dtype())
    one = jnp.ones_like(rho)
    k = jnp.asarray(k, float_dtype())
    sb2 = 0.0 if net.sigma_b is None else net.sigma_b**2
    sw2 = net.sigma_w**2
    q12, q = sw2 * rho / k + sb2, sw2 * one / k + sb2
    e_phi, e_dphi = _relu_moments(q, q, q12, rho >= 1.0)
    nngp = sw2 * e_phi + sb2
    if net.parameterization == "ntk":
        return Kernels(nngp, nngp + sw2 * q12 * e_dphi)
    if net.width is None:
        return Kernels(nngp, e_phi)
    bias = 1.0 if net.has_bias else 0.0
    return Kernels(nngp, net.width * e_phi + bias + sw2 * e_dphi * (rho + bias))


def basis_solution(
    k, ones, *, net: Network = NTK_PARAMETERIZATION, t=None, steps=None, learning_rate: float | None = None
) -> BasisSolution:
    r"""Closed-form GP mean and variance for an input with ``ones`` = s ones, trained on the k basis vectors.

    With τ, κ the NTK and NNGP at cosines 1, 0, 1/√s, λ_⊥ = τ₁−τ₀, λ_∥ = τ₁+(k−1)τ₀ and decays
    d = 1 − e^{−ηλt/N} (or 1 − (1−ηλ/N)^steps; d = 1 at t → ∞):

    .. math:: \mathrm{off}=B_t=-\tfrac{s}{k}A_t+\tfrac{d_\parallel}{\lambda_\parallel}\bar m,\quad
              \mathrm{on}=A_t+B_t,\quad A_t=\tfrac{d_\perp}{\lambda_\perp}(\tau_s-\tau_0),\quad
              \bar m=\tau_0+(\tau_s-\tau_0)\tfrac sk

    .. math:: \sigma^2=\kappa_1+(\kappa_1-\kappa_0)[s\,\mathrm{on}^2+(k-s)\,\mathrm{off}^2]
              +\kappa_0(s\,\mathrm{on}+(k-s)\,\mathrm{off})^2-2[\kappa_s s\,\mathrm{on}+\kappa_0(k-s)\,\mathrm{off}]

    (docs/families/ntk_permutation.md §6). At t → ∞: α_s = (τ_s−τ₀)/(τ₁−τ₀) and β_{k,s} = τ₀(1−sα_s)/(τ₁+(k−1)τ₀), so
    β < 0 < α + β for 2 ≤ s ≤ k: the sign rule is exact.

    Args:
        k: input/output dimension (array, ≥ 1).
        ones: number of ones s, 1 ≤ s ≤ k (array, broadcast against k).
        net, t, steps, learning_rate: as in :func:`gp_mean`; a time array broadcasts against k and s.
    """
    k_val = check_int(k, "k", minimum=1)
    s_val = check_int(ones, "ones", minimum=1)
    if (
        k_val is not None
        and s_val is not None
        and np.any(
            np.broadcast_to(s_val, np.broadcast_shapes(np.shape(s_val), np.shape(k_val)))
            > np.broadcast_to(k_val, np.broadcast_shapes(np.shape(s_val), np.shape(k_val)))
        )
    ):
        raise ParameterError(
            f"ones must satisfy 1 <= ones <= k; got ones={np.asarray(ones).tolist()}, k={np.asarray(k).tolist()}"
        )
    mode = None
    if t is None and steps is None:
        eta = 1.0
    else:
        kk = int(np.max(np.asarray(k_val))) if learning_rate is None else 1
        if learning_rate is None and np.unique(np.asarray(k_val)).size > 1:
            raise ParameterError("give learning_rate explicitly when k is an array and t or steps is set")
        t, steps, eta = _time_args(t, steps, learning_rate, kk, net)
        mode = "t" if t is not None else "steps"
    k = jnp.asarray(k, float_dtype())
    s = jnp.asarray(ones, float_dtype())
    return _basis_core(k, s, t if mode == "t" else steps, eta, net, mode)


@partial(jax.jit, static_argnames=("net", "mode"))
def _basis_core(k, s, time, eta, net, mode):
    tau1, tau0, tau_s = (_unit_kernels(k, r, net).ntk for r in (1.0, 0.0, 1 / jnp.sqrt(s)))
    kap1, kap0, kap_s = (_unit_kernels(k, r, net).nngp for r in (1.0, 0.0, 1 / jnp.sqrt(s)))
    lam_perp, lam_par = tau1 - tau0, tau1 + (k - 1) * tau0
    n_targets = k * k
    if mode is None:
        d_perp = d_par = 1.0
    elif mode == "t":
        d_perp, d_par = -jnp.expm1(-eta * lam_perp * time / n_targets), -jnp.expm1(-eta * lam_par * time / n_targets)
    else:
        d_perp = 1.0 - (1.0 - eta * lam_perp / n_targets) ** time
        d_par = 1.0 - (1.0 - eta * lam_par / n_targets) ** time
    A = d_perp * (tau_s - tau0) / lam_perp
    mbar = tau0 + (tau_s - tau0) * s / k
    B = -(s / k) * A + d_par * mbar / lam_par
    on, off = A + B, B
    var = (
        kap1
        + (kap1 - kap0) * (s * on**2 + (k - s) * off**2)
        + kap0 * (s * on + (k - s) * off) ** 2
        - 2 * (kap_s * s * on + kap0 * (k - s) * off)
    )
    var = jnp.maximum(var, 0.0)
    sd = jnp.sqrt(var)
    safe = jnp.where(sd > 0, sd, 1.0)
    z_on = jnp.where(sd > 0, on / safe, jnp.where(on > 0, jnp.inf, -jnp.inf))
    z_off = jnp.where(sd > 0, -off / safe, jnp.where(off <= 0, jnp.inf, -jnp.inf))
    return BasisSolution(on, off, var, z_on, z_off, on - off, off)


def offset_sign_flip(k: int, ones: int = 2, *, net: Network = NTK_PARAMETERIZATION) -> float:
    """Slow-mode e-folds u* = ηλ_⊥t/N at which the off-mean B_t crosses zero (§6, "finite time").

    B_t > 0 before u*: an under-trained ensemble switches every off-coordinate on, however many members it has.
    """
    k = int(check_int(k, "k", minimum=2))
    s = int(check_int(ones, "ones", minimum=2, maximum=k))
    lam_perp, _ = train_spectrum(k, net=net)
    eta = default_learning_rate(k, net=net)

    def off(u):
        return float(basis_solution(k, s, net=net, t=u * k * k / (eta * lam_perp), learning_rate=eta).off)

    lo, hi = 1e-6, 1.0
    while off(hi) > 0:
        hi *= 2
        if hi > 1e3:  # pragma: no cover - B_∞ < 0 always (§6)
            raise RuntimeError("the off-mean does not change sign")
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if off(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


# ==============================================================================================
# ensemble complexity (§7–8)
# ==============================================================================================
def _members(members):
    m = as_float(members, "members")
    check_range(m, "members", low=1.0)
    return np.asarray(m)


def recovery_probability(
    members, k, ones=2, *, net: Network = NTK_PARAMETERIZATION, t=None, steps=None, learning_rate: float | None = None
) -> np.ndarray:
    r"""Probability that the sign-rounded mean of ``members`` = M networks is exactly Px for one input.

    .. math:: P(\text{correct}\mid M)=\Phi(\sqrt M z_{on})^s\,\Phi(\sqrt M z_{off})^{k-s}

    (§7: the ensemble mean is N(μ, σ²/M) independently per output coordinate). Broadcasts over M, k, s.
    """
    m = _members(members)
    sol = basis_solution(k, ones, net=net, t=t, steps=steps, learning_rate=learning_rate)
    s = np.asarray(ones, float)
    k = np.asarray(k, float)
    root = np.sqrt(m)
    with np.errstate(invalid="ignore"):
        log_p = s * special.log_ndtr(root * np.asarray(sol.z_on)) + (k - s) * special.log_ndtr(
            root * np.asarray(sol.z_off)
        )
    return np.exp(np.where(k - s == 0, s * special.log_ndtr(root * np.asarray(sol.z_on)), log_p))


def expected_accuracy(
    members,
    k,
    *,
    ones: int | None = 2,
    net: Network = NTK_PARAMETERIZATION,
    t=None,
    steps=None,
    learning_rate: float | None = None,
) -> np.ndarray:
    """Expected exact-match accuracy of an M-member ensemble over test inputs with ``ones`` ones.

    ``ones=None`` averages over all 2^k − 1 nonzero inputs (weights C(k, s)/(2^k − 1)). The public code tests
    on 2-hot inputs (``ones=2``, the hardest ones).
    """
    if ones is not None:
        return recovery_probability(members, k, ones, net=net, t=t, steps=steps, learning_rate=learning_rate)
    k = int(check_int(k, "k", minimum=1))
    m = _members(members)
    s = np.arange(1, k + 1)
    w = special.comb(k, s) / (2.0**k - 1)
    p = recovery_probability(np.asarray(m)[..., None], k, s, net=net, t=t, steps=steps, learning_rate=learning_rate)
    return np.sum(w * p, axis=-1)


def expected_error(members, k, ones: int = 2, *, net: Network = NTK_PARAMETERIZATION) -> np.ndarray:
    """Expected value of the public code's "error", mean over coordinates of (ȳ − Px/‖Px‖)², at t → ∞ (§7).

    E[error](M) = floor + σ²/M with floor = [s(μ_on − 1/√s)² + (k − s)μ_off²]/k.
    """
    m = _members(members)
    sol = basis_solution(k, ones, net=net)
    s, kk = float(ones), float(k)
    floor = (s * (float(sol.on) - 1 / math.sqrt(s)) ** 2 + (kk - s) * float(sol.off) ** 2) / kk
    return floor + float(sol.variance) / m


def _smallest_members(ok, limit: int = 10**9) -> int:
    """Smallest integer M ≥ 1 with ok(M) (ok monotone in M)."""
    if ok(1):
        return 1
    lo, hi = 1, 2
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            raise ParameterError("no ensemble size up to 1e9 reaches the target; is the input learnable at this t?")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def _check_delta(delta):
    check_range(delta, "delta", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)


def ensemble_size_single(k: int, delta: float = 0.1, *, ones: int = 2, net: Network = NTK_PARAMETERIZATION) -> int:
    """Smallest M with P(correct | M) ≥ 1 − δ for one input with ``ones`` ones, under the exact GP (§8).

    2-hot inputs are the hardest (their off-coordinates have the smallest margin), so ``ones=2`` is the
    single-input requirement for the worst input; it grows like k log k (docs/families/ntk_permutation.md §13 item 10).
    """
    _check_delta(delta)
    k = int(check_int(k, "k", minimum=2))
    return _smallest_members(lambda m: recovery_probability(m, k, ones, net=net) >= 1 - delta)


def ensemble_size_all(k: int, delta: float = 0.1, *, net: Network = NTK_PARAMETERIZATION) -> int:
    r"""Smallest M for which the union bound over all 2^k − 1 inputs and k coordinates, with each input's
    exact margins, guarantees exact recovery of every input with probability ≥ 1 − δ (§8):

    .. math:: \sum_{s=2}^{k}\binom ks\big[s\,\bar\Phi(\sqrt M z_{on,s})+(k-s)\,\bar\Phi(\sqrt M z_{off,s})\big]\le\delta

    (s = 1 inputs are training points, recovered exactly). It grows like k log k, well below the crude k² bound.
    """
    _check_delta(delta)
    k = int(check_int(k, "k", minimum=2))
    s = np.arange(2, k + 1)
    sol = basis_solution(k, s, net=net)
    log_c = special.gammaln(k + 1) - special.gammaln(s + 1) - special.gammaln(k - s + 1)
    z_on, z_off = np.asarray(sol.z_on), np.asarray(sol.z_off)

    def ok(m):
        r = math.sqrt(m)
        on = log_c + np.log(s) + special.log_ndtr(-r * z_on)
        off = np.where(k - s > 0, log_c + np.log(np.maximum(k - s, 1)) + special.log_ndtr(-r * z_off), -np.inf)
        return special.logsumexp(np.concatenate([on, off])) <= math.log(delta)

    return _smallest_members(ok)


def _z_min(k, net):
    sol = basis_solution(k, 2, net=net)
    return float(min(sol.z_on, sol.z_off))


def ensemble_size_bound_single(k: int, delta: float = 0.1, *, net: Network = NTK_PARAMETERIZATION) -> int:
    """Paper-style bound for one input: M ≥ 2 ln(k/δ)/z_min² (Gaussian tail e^{−z²/2}, union over the k
    coordinates; z_min = the 2-hot off-margin, §8). z_min² ∝ 1/k, so M = O(k log(k/δ))."""
    _check_delta(delta)
    k = int(check_int(k, "k", minimum=2))
    return math.ceil(2 * math.log(k / delta) / _z_min(k, net) ** 2)


def ensemble_size_bound_all(k: int, delta: float = 0.1, *, net: Network = NTK_PARAMETERIZATION) -> int:
    """Paper-style bound for all inputs at once: M ≥ 2 ln(k(2^k − 1)/δ)/z_min², a uniform margin for all
    k(2^k − 1) coordinates (§8): O(k² + k log(1/δ)), the "quadratic ensemble complexity"."""
    _check_delta(delta)
    k = int(check_int(k, "k", minimum=2))
    log_count = math.log(k) + k * math.log(2) + math.log1p(-(2.0**-k))
    return math.ceil(2 * (log_count - math.log(delta)) / _z_min(k, net) ** 2)
