r"""Deep linear networks trained by full-batch gradient descent (Saxe, McClelland & Ganguli 2014).

Conventions are those of :mod:`theory.deep_linear`: averaged correlations, loss
:math:`L=\frac1{2P}\sum\lVert y-W_D\cdots W_1x\rVert^2`, GD with step η, t = η·step.

Full-batch GD only needs the correlations, so a :class:`Task` stores (Σxx, Σyx, tr Σyy) and the loss is
evaluated in correlation form

.. math::
    L = \tfrac12\mathrm{tr}\,\Sigma_{yy} - \mathrm{tr}(W_{tot}^T\Sigma_{yx})
        + \tfrac12\mathrm{tr}(W_{tot}\Sigma_{xx}W_{tot}^T),

which equals the sample loss exactly and costs nothing extra per sample. Gradients come from
``jax.grad`` (tested against the paper's eq. 13), updates from ``optax.sgd``. The network is the Flax module
:class:`DeepLinear`; :func:`train` runs it on the ensemble engine (:mod:`toymodels.engine`): one jitted
``lax.scan`` over steps, ``vmap`` ped over a leading axis of parameters and learning rates, so seeds,
initialisation schemes and learning-rate grids train at once.

Parameters are a tuple ``(W_1, …, W_D)`` with ``W_l`` of shape (widths[l], widths[l−1]).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from theory import deep_linear as th
from theory.common import ParameterError, as_float, check_int, check_range
from toymodels import engine
from toymodels.engine import Family, Job, Result

__all__ = [
    "Task",
    "DeepLinear",
    "GradientDescent",
    "make_task",
    "task_from_data",
    "synthetic_task",
    "branching_diffusion_data",
    "end_to_end",
    "loss",
    "mode_projections",
    "init_params",
    "decoupled_bases",
    "layer_mode_weights",
    "INIT_SCHEMES",
    "job",
    "example_job",
    "train",
    "tanh_orthogonal_propagation",
    "pretrain_layerwise",
    "Pretrained",
    "TanhNetwork",
    "TanhGradientDescent",
    "tanh_orthogonal_params",
    "train_tanh",
    "TanhPropagation",
]

INIT_SCHEMES = ("decoupled", "gaussian", "scaled_gaussian", "orthogonal", "lambda_balanced")


class Task(NamedTuple):
    """A regression task in correlation form (a pytree; all fields are arrays)."""

    sigma_xx: jnp.ndarray  # (N1, N1)
    sigma_yx: jnp.ndarray  # (N3, N1)
    trace_yy: jnp.ndarray  # ()
    left: jnp.ndarray  # (N3, N3) left singular vectors of Σyx (first r = min(N1, N3) columns are modes)
    singular_values: jnp.ndarray  # (r,) descending
    right: jnp.ndarray  # (N1, N1) right singular vectors

    @property
    def n_in(self) -> int:
        return self.sigma_yx.shape[1]

    @property
    def n_out(self) -> int:
        return self.sigma_yx.shape[0]


def make_task(sigma_yx, sigma_xx=None, trace_yy=None, *, dtype=None) -> Task:
    """Build a :class:`Task` from averaged correlations.

    ``sigma_xx`` defaults to the identity (whitened inputs); ``trace_yy`` defaults to the realisable
    value tr(Σyx Σxx⁻¹ Σyxᵀ), i.e. zero irreducible loss.
    """
    dtype = dtype or jnp.result_type(float)
    sigma_yx = jnp.asarray(as_float(sigma_yx, "sigma_yx"), dtype)
    if sigma_yx.ndim != 2:
        raise ParameterError(f"sigma_yx must be a 2-D (N3, N1) matrix; got shape {sigma_yx.shape}")
    n3, n1 = sigma_yx.shape
    sigma_xx = jnp.eye(n1, dtype=dtype) if sigma_xx is None else jnp.asarray(as_float(sigma_xx, "sigma_xx"), dtype)
    if sigma_xx.shape != (n1, n1):
        raise ParameterError(f"sigma_xx must have shape ({n1}, {n1}); got {sigma_xx.shape}")
    if trace_yy is None:
        trace_yy = jnp.trace(sigma_yx @ jnp.linalg.solve(sigma_xx, sigma_yx.T))
    left, s, right_t = jnp.linalg.svd(sigma_yx, full_matrices=True)
    return Task(sigma_xx, sigma_yx, jnp.asarray(trace_yy, dtype), left, s, right_t.T)


def task_from_data(inputs, targets, *, dtype=None) -> Task:
    """Task of a dataset given as (P, N1) inputs and (P, N3) targets (averaged correlations)."""
    sigma_xx, sigma_yx, sigma_yy = th.correlations(inputs, targets)
    return make_task(sigma_yx, sigma_xx, jnp.trace(sigma_yy), dtype=dtype)


def synthetic_task(key: jax.Array, singular_values, n_in: int, n_out: int, *, dtype=None) -> Task:
    """Whitened task Σyx = U diag(s) Vᵀ with Haar-random U (n_out×n_out), V (n_in×n_in), Σxx = I."""
    dtype = dtype or jnp.result_type(float)
    s = as_float(singular_values, "singular_values")
    check_range(s, "singular_values", low=0.0, low_inclusive=False)
    n_in = int(check_int(n_in, "n_in", minimum=1))
    n_out = int(check_int(n_out, "n_out", minimum=1))
    if s.ndim != 1 or s.shape[0] > min(n_in, n_out):
        raise ParameterError(f"singular_values must be 1-D with at most min(n_in, n_out) = {min(n_in, n_out)} entries")
    ku, kv = jax.random.split(key)
    u = jax.nn.initializers.orthogonal()(ku, (n_out, n_out), dtype)
    v = jax.nn.initializers.orthogonal()(kv, (n_in, n_in), dtype)
    order = jnp.argsort(-s)
    r = s.shape[0]
    sigma_yx = (u[:, :r] * s[order].astype(dtype)) @ v[:, :r].T
    return make_task(sigma_yx, dtype=dtype)


def branching_diffusion_data(key: jax.Array, levels: int, flip_prob: float, n_features: int, *, dtype=None):
    """Hierarchical items of Saxe et al. Fig. 3 / PNAS 2019 (docs/families/deep_linear.md §6.1), in the paper's summed convention.

    A binary tree with 2^levels leaves (items); each feature draws a ±1 sign at the root and every edge
    flips it with probability ``flip_prob``; an item's feature value is the sign at its leaf.

    Returns:
        ``(inputs, targets)``: one-hot items (P, P) and features (P, n_features), P = 2^levels. Convert
        with :func:`theory.deep_linear.from_summed_convention` before training in the averaged convention.
    """
    levels = int(check_int(levels, "levels", minimum=1, maximum=16))
    check_range(flip_prob, "flip_prob", low=0.0, high=0.5, high_inclusive=False)
    n_features = int(check_int(n_features, "n_features", minimum=1))
    dtype = dtype or jnp.result_type(float)
    k_root, k_flip = jax.random.split(key)
    signs = jnp.where(jax.random.bernoulli(k_root, 0.5, (1, n_features)), 1.0, -1.0)
    flips = jax.random.split(k_flip, levels)
    for level in range(levels):  # tree construction: `levels` ≤ 16 vectorised operations, not training
        flip = jax.random.bernoulli(flips[level], flip_prob, (signs.shape[0] * 2, n_features))
        signs = jnp.repeat(signs, 2, axis=0) * jnp.where(flip, -1.0, 1.0)
    p = 2**levels
    return jnp.eye(p, dtype=dtype), signs.astype(dtype)


def end_to_end(params) -> jnp.ndarray:
    """W_tot = W_D ⋯ W_1 (params ordered input layer first)."""
    w = params[0]
    for layer in params[1:]:
        w = layer @ w
    return w


def loss(params, task: Task) -> jnp.ndarray:
    """Full-batch loss L = ½ tr Σyy − tr(W_totᵀ Σyx) + ½ tr(W_tot Σxx W_totᵀ)."""
    w = end_to_end(params)
    return 0.5 * task.trace_yy - jnp.sum(w * task.sigma_yx) + 0.5 * jnp.sum((w @ task.sigma_xx) * w)


def mode_projections(params, task: Task) -> jnp.ndarray:
    """Mode strengths u_αᵀ W_tot v_α onto the task's fixed singular vectors, α = 1…r."""
    r = task.singular_values.shape[0]
    w = end_to_end(params)
    return jnp.einsum("ia,ij,ja->a", task.left[:, :r], w, task.right[:, :r])


def _check_widths(widths) -> tuple[int, ...]:
    widths = tuple(int(w) for w in check_int(list(widths), "widths", minimum=1))
    if len(widths) < 2:
        raise ParameterError(f"widths must list at least input and output sizes (>= 2 entries); got {widths}")
    return widths


def init_params(
    key: jax.Array,
    widths,
    scheme: str = "decoupled",
    *,
    scale: float = 1.0,
    task: Task | None = None,
    initial_strength=None,
    layer_strengths=None,
    balance: float = 0.0,
    dtype=None,
):
    """Initial weights for a deep linear network with layer sizes ``widths`` = (N1, h1, …, N3).

    Schemes:
        * ``"decoupled"``: balanced and decoupled (docs/families/deep_linear.md §1.5, §3): W_l = R_{l+1} D_l R_lᵀ with R_1 = V,
          R_{D+1} = U from ``task``, Haar-random hidden rotations, and every layer carrying
          a_α = u0_α^{1/D} on mode α, so mode α starts at strength u0_α = ``initial_strength``
          (scalar or per mode). Modes beyond the narrowest layer start at 0. ``scale`` is unused.
          Instead of ``initial_strength``, ``layer_strengths`` of shape (D, r) sets every layer's weight on every
          mode (any signs; unbalanced when the rows differ): W_l = R_{l+1} diag(layer_strengths[l]) R_lᵀ, so mode α
          starts at strength Π_l layer_strengths[l, α] (r ≤ min(widths) and ≤ the task's rank). The rotations are
          :func:`decoupled_bases` of the same key.
        * ``"gaussian"``: i.i.d. N(0, scale²) entries (small random init).
        * ``"scaled_gaussian"``: i.i.d. N(0, scale²/fan_in) (the paper's scaled init).
        * ``"orthogonal"``: scale × Haar (semi-)orthogonal matrices (QR with sign correction).
        * ``"lambda_balanced"`` (two layers, N2 ≤ min(N1, N3)): W1 = O D1 Aᵀ, W2 = B D2 Oᵀ with Haar O and
          orthonormal-column A, B (not aligned with any task), D = scale × U(0.5, 1.5) on the smaller side and
          D2² − D1² = ``balance`` = λ, so W2ᵀW2 − W1W1ᵀ = λI exactly (docs/families/deep_linear.md §6.2; the start of
          :func:`theory.deep_linear.two_layer_solution`).

    Returns:
        Tuple of D weight matrices.
    """
    widths = _check_widths(widths)
    if scheme not in INIT_SCHEMES:
        raise ParameterError(f"scheme must be one of {INIT_SCHEMES}; got {scheme!r}")
    check_range(scale, "scale", low=0.0, low_inclusive=False)
    dtype = dtype or jnp.result_type(float)
    depth = len(widths) - 1
    keys = jax.random.split(key, depth + 1)
    shapes = [(widths[i + 1], widths[i]) for i in range(depth)]
    if scheme == "gaussian":
        return tuple(scale * jax.random.normal(k, s, dtype) for k, s in zip(keys, shapes, strict=False))
    if scheme == "scaled_gaussian":
        return tuple(
            scale * jax.random.normal(k, s, dtype) / jnp.sqrt(s[1]) for k, s in zip(keys, shapes, strict=False)
        )
    if scheme == "orthogonal":
        return tuple(jax.nn.initializers.orthogonal(scale)(k, s, dtype) for k, s in zip(keys, shapes, strict=False))
    if scheme == "lambda_balanced":
        n1, n2, n3 = (widths + (0,))[:3]
        if depth != 2 or n2 > min(n1, n3):
            raise ParameterError(
                f"scheme='lambda_balanced' needs two layers with hidden width <= min(N1, N3); got widths {widths}"
            )
        lam = float(as_float(balance, "balance"))
        orth = jax.nn.initializers.orthogonal()
        o, a_in, b_out = orth(keys[0], (n2, n2), dtype), orth(keys[1], (n1, n2), dtype), orth(keys[2], (n3, n2), dtype)
        small = scale * jax.random.uniform(jax.random.fold_in(keys[0], 1), (n2,), dtype, 0.5, 1.5)
        d1, d2 = (small, jnp.sqrt(small**2 + lam)) if lam >= 0 else (jnp.sqrt(small**2 - lam), small)
        return ((o * d1) @ a_in.T, (b_out * d2) @ o.T)
    # decoupled
    if task is None or (initial_strength is None) == (layer_strengths is None):
        raise ParameterError("scheme='decoupled' needs task= and exactly one of initial_strength=, layer_strengths=")
    bases = decoupled_bases(key, widths, task, dtype=dtype)
    r = min(min(widths), task.singular_values.shape[0])
    if layer_strengths is None:
        u0 = jnp.broadcast_to(as_float(initial_strength, "initial_strength"), task.singular_values.shape)
        check_range(u0, "initial_strength", low=0.0)
        a = jnp.broadcast_to((u0[:r] ** (1.0 / depth)).astype(dtype), (depth, r))
    else:
        a = jnp.asarray(as_float(layer_strengths, "layer_strengths"), dtype)
        if a.ndim != 2 or a.shape[0] != depth or a.shape[1] > r:
            raise ParameterError(
                f"layer_strengths must have shape (depth, r) = ({depth}, r) with r <= {r} (narrowest layer and task "
                f"rank); got {tuple(a.shape)}"
            )
        r = a.shape[1]
    params = []
    for i in range(depth):
        d = jnp.zeros(shapes[i], dtype).at[jnp.arange(r), jnp.arange(r)].set(a[i])
        params.append(bases[i + 1] @ d @ bases[i].T)
    return tuple(params)


def decoupled_bases(key: jax.Array, widths, task: Task, *, dtype=None) -> tuple:
    """The orthogonal bases (R_0, …, R_D) of the decoupled initialisation drawn by :func:`init_params` with ``key``.

    R_0 = V (the task's right singular vectors), R_D = U (left), and Haar-random R_l of size widths[l] for the hidden
    layers; layer l's weight on mode α is R_{l+1}[:, α]ᵀ W_l R_l[:, α] (:func:`layer_mode_weights`).
    """
    widths = _check_widths(widths)
    dtype = dtype or jnp.result_type(float)
    depth = len(widths) - 1
    if task.n_in != widths[0] or task.n_out != widths[-1]:
        raise ParameterError(
            f"widths must start with the task's input size {task.n_in} and end with its output size {task.n_out}; "
            f"got {widths}"
        )
    keys = jax.random.split(key, depth + 1)
    hidden = [jax.nn.initializers.orthogonal()(keys[i], (widths[i], widths[i]), dtype) for i in range(1, depth)]
    return (task.right.astype(dtype), *hidden, task.left.astype(dtype))


def layer_mode_weights(params, bases, r: int):
    """Per-layer, per-mode weights a_{l,α} = R_{l+1}[:, α]ᵀ W_l R_l[:, α] for α < r, shape (..., D, r), and the
    residual max_l max|R_{l+1}ᵀ W_l R_l − diag(a_l, 0)| (..., ): zero while the network stays decoupled with every
    mode beyond r at zero.

    ``params`` may carry leading batch/time axes (each W_l of shape (..., out, in)).
    """
    weights, residual = [], []
    for i, w in enumerate(params):
        m = jnp.einsum("ia,...ij,jb->...ab", bases[i + 1], w, bases[i])
        diag = jnp.diagonal(m[..., :r, :r], axis1=-2, axis2=-1)
        weights.append(diag)
        off = m.at[..., jnp.arange(r), jnp.arange(r)].set(0.0)
        residual.append(jnp.max(jnp.abs(off), axis=(-2, -1)))
    return jnp.stack(weights, axis=-2), jnp.max(jnp.stack(residual, axis=-1), axis=-1)


class DeepLinear(nnx.Module):
    """A deep linear network as a Flax module: ``x ↦ W_D ⋯ W_1 x`` for inputs (batch, N1) → (batch, N3).

    ``widths`` = (N1, h1, …, N3); the weights ``layers[l]`` (widths[l+1], widths[l]) are drawn by
    :func:`init_params` with ``scheme`` (decoupled/balanced, Gaussian, scaled Gaussian, orthogonal) from
    ``rngs.params()``; :meth:`end_to_end` is the product W_tot.
    """

    def __init__(
        self,
        widths,
        scheme: str = "scaled_gaussian",
        *,
        scale: float = 1.0,
        task: Task | None = None,
        initial_strength=None,
        dtype=None,
        rngs: nnx.Rngs,
    ):
        weights = init_params(
            rngs.params(), widths, scheme, scale=scale, task=task, initial_strength=initial_strength, dtype=dtype
        )
        self.layers = nnx.List([nnx.Param(w) for w in weights])

    def weights(self) -> tuple:
        return tuple(w[...] for w in self.layers)

    def end_to_end(self) -> jnp.ndarray:
        return end_to_end(self.weights())

    def __call__(self, x):
        return x @ self.end_to_end().T


def _check_lr(learning_rate):
    lr = as_float(learning_rate, "learning_rate")
    check_range(lr, "learning_rate", low=0.0, low_inclusive=False)
    return lr


class _PlainGD(Family):
    """Plain full-batch GD (``optax.sgd``) on ``self.loss(params, shared)``; per-model settings ``params`` and ``lr``.
    Subclasses define ``loss`` and ``record``."""

    def init(self, key, setting, shared):
        params = tuple(setting["params"])
        return {"params": params, "opt": optax.sgd(1.0).init(params)}  # stateless: lr does not enter the state

    def step(self, state, setting, shared):
        grads = jax.grad(self.loss)(state["params"], shared)
        updates, opt = optax.sgd(setting["lr"]).update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, ()


def _run_settings(params, learning_rate, steps, n_records) -> tuple[dict, tuple, int, int]:
    """Validated (settings, widths, steps, n_records) of a batch of chained weight tuples and their learning rates."""
    leaves = jax.tree.leaves(params)
    if not leaves or any(np.ndim(x) != 3 for x in leaves):
        raise ParameterError("params must be a tuple of weight matrices with a leading batch axis (batch, out, in)")
    batch = leaves[0].shape[0]
    if any(x.shape[0] != batch for x in leaves):
        raise ParameterError(f"params must share one leading batch size; got {[x.shape[0] for x in leaves]}")
    if any(leaves[i + 1].shape[2] != leaves[i].shape[1] for i in range(len(leaves) - 1)):
        raise ParameterError(f"params must chain: layer shapes {[x.shape[1:] for x in leaves]}")
    lr = _check_lr(learning_rate)
    if lr.ndim > 1 or (lr.ndim == 1 and lr.shape[0] != batch):
        raise ParameterError(
            f"learning_rate must be a scalar or have shape ({batch},), one per run; got shape {tuple(lr.shape)}"
        )
    steps = int(check_int(steps, "steps", minimum=1))
    n_records = steps if n_records is None else int(check_int(n_records, "n_records", minimum=1, maximum=steps))
    if steps % n_records:
        raise ParameterError(f"steps ({steps}) must be a multiple of n_records ({n_records})")
    widths = (leaves[0].shape[2],) + tuple(x.shape[1] for x in leaves)
    settings = {"params": tuple(jnp.asarray(x) for x in leaves), "lr": jnp.broadcast_to(lr, (batch,))}
    return settings, widths, steps, n_records


@dataclass(frozen=True)
class GradientDescent(_PlainGD):
    """Full-batch GD of one network in correlation form. Per-model settings: ``params`` (the initial weights,
    a tuple of matrices) and ``lr`` (); shared: the :class:`Task`. Records ``loss`` and ``modes``."""

    widths: tuple
    record_weights: bool = False
    label = "deep linear GD"

    @cached_property
    def graphdef(self):
        return nnx.graphdef(nnx.eval_shape(lambda: DeepLinear(self.widths, "gaussian", rngs=nnx.Rngs(0))))

    def network(self, params) -> DeepLinear:
        return nnx.merge(self.graphdef, {"layers": dict(enumerate(params))})

    def loss(self, params, task: Task):
        w = self.network(params).end_to_end()
        return 0.5 * task.trace_yy - jnp.sum(w * task.sigma_yx) + 0.5 * jnp.sum((w @ task.sigma_xx) * w)

    def record(self, state, setting, task, block):
        w = self.network(state["params"]).end_to_end()
        r = task.singular_values.shape[0]
        modes = jnp.einsum("ia,ij,ja->a", task.left[:, :r], w, task.right[:, :r])
        out = {"loss": self.loss(state["params"], task), "modes": modes}
        if self.record_weights:
            out["weights"] = state["params"]
        return out


def job(
    params, task: Task, learning_rate, *, steps: int, n_records: int | None = None, record_weights: bool = False
) -> Job:
    """The validated :class:`~toymodels.engine.Job` of :func:`train` (batched ``params``; for sweeps)."""
    settings, widths, steps, n_records = _run_settings(params, learning_rate, steps, n_records)
    if (task.n_in, task.n_out) != (widths[0], widths[-1]):
        raise ParameterError(f"params map {widths[0]} → {widths[-1]}; the task needs {task.n_in} → {task.n_out}")
    family = GradientDescent(widths, bool(record_weights))
    return Job(family, settings, steps, n_records, shared=task, record_initial=True)


def example_job(dtype=jnp.float64) -> Job:
    """A small job (5 networks 4 → 6 → 4, one learning rate each) for layout and speed checks."""
    task = synthetic_task(jax.random.key(0), [3.0, 2.0, 1.0], 4, 4, dtype=dtype)
    keys = jax.random.split(jax.random.key(1), 5)
    params = jax.vmap(lambda k: init_params(k, (4, 6, 4), "gaussian", scale=1e-2, dtype=dtype))(keys)
    return job(params, task, jnp.linspace(0.02, 0.06, 5), steps=60, n_records=6)


def train(
    params,
    task: Task,
    learning_rate,
    *,
    steps: int,
    n_records: int | None = None,
    progress: bool | None = False,
    records_per_chunk: int | None = None,
    devices: int | str | None = None,
    record_weights: bool = False,
) -> Result:
    """Full-batch GD for ``steps`` steps on the engine, recording ``n_records`` times plus the start.

    ``params``: a tuple of weight matrices (one network) or of stacked matrices with a leading batch axis
    (many networks, e.g. ``jax.vmap(lambda k: init_params(k, widths, "gaussian", scale=1e-3))(keys)``), with
    ``learning_rate`` a scalar or one per network. Networks are vmapped, sharded over ``devices``, and their
    steps run in one jitted ``lax.scan``. Deterministic: no key is needed.

    Returns:
        :class:`~toymodels.engine.Result`: ``params`` (tuple of matrices), ``loss`` (…, R+1) and
        ``records["modes"]`` (…, R+1, r) (mode strengths u_αᵀ W_tot v_α), ``steps`` (R+1,) from 0; the leading
        batch axis is present iff ``params`` had one. With ``record_weights``, ``records["weights"]`` holds every
        layer at every record (…, R+1, out, in), for small networks.
    """
    leaves = jax.tree.leaves(params)
    single = bool(leaves) and all(np.ndim(x) == 2 for x in leaves)
    if single:
        if np.ndim(as_float(learning_rate, "learning_rate")) != 0:
            raise ParameterError("learning_rate must be a scalar for one network (stack params for one per run)")
        params = tuple(jnp.asarray(x)[None] for x in leaves)
    res = engine.train(
        job(params, task, learning_rate, steps=steps, n_records=n_records, record_weights=record_weights),
        jax.random.key(0),
        devices=devices,
        group=None,
        records_per_chunk=records_per_chunk,
        progress=progress,
    )
    if single:
        res = res._replace(
            state=jax.tree.map(lambda x: x[0], res.state), records=jax.tree.map(lambda x: x[0], res.records)
        )
    return res


class TanhPropagation(NamedTuple):
    """Signal and Jacobian statistics of random tanh orthogonal networks (see :func:`tanh_orthogonal_propagation`)."""

    q: jnp.ndarray  # (C, depth) population variance q^l = mean_i (x_i^l)², l = 1 … depth
    mean_sq_singular: jnp.ndarray  # (C,) Hutchinson estimate of tr(JJᵀ)/N, J = ∂x^depth/∂x^1 (nan without probes)
    jacobian: jnp.ndarray | None  # (C, N, N) J itself, when asked for


@partial(jax.jit, static_argnames=("depth", "probes", "jacobian"))
def tanh_orthogonal_propagation(
    key: jax.Array, x1, gains, *, depth: int, probes: int = 0, jacobian: bool = False
) -> TanhPropagation:
    r"""Propagate inputs through one random network x^{l+1} = g W_{l+1} tanh(x^l) (Saxe et al. eq. 20), W Haar
    orthogonal, for several gains at once.

    The same weights W_2 … W_depth (drawn layer by layer from ``key``, never stored together) serve every config c, so
    configs differ only in gain and input (common random numbers). ``x1`` (C, N) are the inputs, ``gains`` (C,).
    With ``probes`` = K > 0, K Gaussian tangent vectors are pushed through the Jacobian, J v, and
    mean_k ‖J v_k‖²/N estimates tr(JJᵀ)/N (Hutchinson); ``jacobian=True`` also returns J = ∂x^depth/∂x^1 (C, N, N).
    One ``lax.scan`` over layers; memory O(C·N²) with the Jacobian, O(N² + C·K·N) without.
    """
    x1 = jnp.asarray(x1)
    c, n = x1.shape
    gains = jnp.broadcast_to(jnp.asarray(gains, x1.dtype), (c,))
    k_probe, k_layers = jax.random.split(key)
    v0 = jax.random.normal(k_probe, (c, max(probes, 1), n), x1.dtype)
    j0 = jnp.broadcast_to(jnp.eye(n, dtype=x1.dtype), (c, n, n)) if jacobian else jnp.zeros((c, 0, 0), x1.dtype)
    orth = jax.nn.initializers.orthogonal()

    def layer(carry, k):
        x, v, jac = carry
        w = orth(k, (n, n), x1.dtype)
        slope = 1.0 - jnp.tanh(x) ** 2
        g = gains[:, None]
        v = g[..., None] * jnp.einsum("ij,ckj->cki", w, v * slope[:, None, :])
        if jacobian:
            jac = g[..., None] * jnp.einsum("ij,cjk->cik", w, slope[:, :, None] * jac)
        x = g * jnp.tanh(x) @ w.T
        return (x, v, jac), jnp.mean(x**2, axis=-1)

    (_, v, jac), qs = jax.lax.scan(layer, (x1, v0, j0), jax.random.split(k_layers, depth - 1))
    q = jnp.concatenate([jnp.mean(x1**2, axis=-1)[None], qs], axis=0).T
    msq = jnp.mean(jnp.sum(v**2, axis=-1), axis=-1) / n if probes else jnp.full((c,), jnp.nan, x1.dtype)
    return TanhPropagation(q, msq, jac if jacobian else None)


class Pretrained(NamedTuple):
    """Result of :func:`pretrain_layerwise`."""

    params: tuple  # (W_1, …, W_D): W_1 … W_{D−1} pretrained encoders, W_D drawn i.i.d. N(0, scale²)
    reconstruction_loss: jnp.ndarray  # (D−1,) each autoencoder's final loss ½ E‖h − W_dec W_enc h‖²
    optimal_loss: jnp.ndarray  # (D−1,) its global minimum ½ Σ_{α > width} λ_α (PCA, Baldi & Hornik 1989)
    zero_loss: jnp.ndarray  # (D−1,) its loss at W = 0, ½ tr C
    learning_rates: jnp.ndarray  # (D−1,) the step used for each autoencoder, lr_factor / λ_max(C)
    steps: int  # GD steps spent in pretraining, all layers together


def pretrain_layerwise(
    key: jax.Array,
    sigma_xx,
    widths,
    *,
    steps: int,
    tolerance: float | None = None,
    lr_factor: float = 0.5,
    scale: float = 0.01,
    dtype=None,
) -> Pretrained:
    r"""Greedy layer-wise linear-autoencoder pretraining (Saxe et al. 2014 §3 and App. F).

    Hidden layer l = 1 … D−1 is the encoder of a two-layer linear autoencoder n_{l−1} → n_l → n_{l−1} trained by
    full-batch GD for ``steps`` steps to reconstruct its own input, the output of the pretrained layers below it
    (input correlation C_1 = Σxx, then C_{l+1} = W_l C_l W_lᵀ); y_pre = x makes Σyx,pre = Σxx,pre = C_l, so the
    autoencoder performs PCA of C_l = QΛQᵀ and ends at W_l ≈ R M^{1/2} Q_{n_l}ᵀ with M → I (paper §3; App. E with
    D = Λ: every principal mode follows τ u̇ = 2λ_α u(1 − u)). Encoder and decoder start i.i.d. N(0, ``scale``²)
    (the paper's small random init, std 0.01) and step with η = ``lr_factor``/λ_max(C_l) (stable below 1/λ_max,
    monotone below ½/λ_max). The output layer W_D (n_D × n_{D−1}) cannot be pretrained this way; the paper does not
    say how it starts, and here it is drawn i.i.d. N(0, ``scale``²) like the small random initialisation.

    Each autoencoder runs ``steps`` steps or, with ``tolerance`` = ε, stops at the first step where its loss is within
    ε of its learnable loss above the optimum, L ≤ L* + ε(L(0) − L*) (the run is repeated to that step, so the result is
    the same as a run of exactly that length); if it never gets there within ``steps`` an error names the layer.

    ``sigma_xx``: the (N1, N1) input correlation; ``widths`` = (N1, n_1, …, n_{D−1}, N3), at least two layers.
    """
    widths = _check_widths(widths)
    if len(widths) < 3:
        raise ParameterError(f"widths must have at least one hidden layer (>= 3 entries); got {widths}")
    steps = int(check_int(steps, "steps", minimum=1))
    check_range(lr_factor, "lr_factor", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if tolerance is not None:
        check_range(tolerance, "tolerance", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_range(scale, "scale", low=0.0, low_inclusive=False)
    dtype = dtype or jnp.result_type(float)
    c = jnp.asarray(as_float(sigma_xx, "sigma_xx"), dtype)
    if c.shape != (widths[0], widths[0]):
        raise ParameterError(f"sigma_xx must have shape ({widths[0]}, {widths[0]}); got {tuple(c.shape)}")
    keys = jax.random.split(key, len(widths) - 1)
    layers, rec, opt, zero, rates, used = [], [], [], [], [], []
    for i in range(len(widths) - 2):  # one autoencoder per hidden layer (a few layers, each one jitted scan)
        n_in, n_hid = widths[i], widths[i + 1]
        c = 0.5 * (c + c.T)
        lam = jnp.clip(jnp.linalg.eigvalsh(c)[::-1], 0.0)
        lr = lr_factor / lam[0]
        task = make_task(c, c, jnp.trace(c), dtype=dtype)
        enc, dec = init_params(keys[i], (n_in, n_hid, n_in), "gaussian", scale=scale, dtype=dtype)
        n_steps = steps
        if tolerance is not None:
            target = 0.5 * jnp.sum(lam[n_hid:]) + tolerance * 0.5 * jnp.sum(lam[:n_hid])
            curve = np.asarray(train((enc, dec), task, lr, steps=steps).loss)
            below = np.flatnonzero(curve <= float(target))
            if below.size == 0:
                raise ParameterError(
                    f"steps ({steps}) is too few: autoencoder {i + 1} ends at loss {curve[-1]:.4g}, above the "
                    f"tolerance target {float(target):.4g}; raise steps or tolerance"
                )
            n_steps = max(int(below[0]), 1)
        res = train((enc, dec), task, lr, steps=n_steps, n_records=1)
        enc = res.params[0]
        used.append(n_steps)
        layers.append(enc)
        rec.append(res.loss[-1])
        opt.append(0.5 * jnp.sum(lam[n_hid:]))
        zero.append(0.5 * jnp.sum(lam))
        rates.append(lr)
        c = enc @ c @ enc.T
    layers.append(scale * jax.random.normal(keys[-1], (widths[-1], widths[-2]), dtype))
    return Pretrained(tuple(layers), jnp.stack(rec), jnp.stack(opt), jnp.stack(zero), jnp.stack(rates), int(sum(used)))


class TanhNetwork(nnx.Module):
    """The nonlinear network of Saxe et al. §4 (eq. 20) as a Flax module: x¹ = W_1 x, x^{l+1} = W_{l+1} tanh(x^l),
    output y = W_out x^L (a linear readout of the last layer's pre-activations).

    ``weights`` = (W_1, …, W_L, W_out) as given (the gain g is part of the weights: W_l = g·O_l for
    :func:`tanh_orthogonal_params`).
    """

    def __init__(self, weights):
        self.layers = nnx.List([nnx.Param(jnp.asarray(w)) for w in weights])

    def __call__(self, x):
        ws = [w[...] for w in self.layers]
        h = x @ ws[0].T
        for w in ws[1:-1]:
            h = jnp.tanh(h) @ w.T
        return h @ ws[-1].T


def tanh_orthogonal_params(key: jax.Array, widths, gain: float, *, dtype=None) -> tuple:
    """Weights of :class:`TanhNetwork` for widths (N_in, N, …, N, N_out): every hidden W_l (l ≥ 2) is g × Haar
    orthogonal (the edge of chaos is g_c = 1 for tanh, App. G); the input layer W_1 and the readout are Haar
    (semi-)orthogonal without the gain."""
    widths = _check_widths(widths)
    if len(widths) < 3:
        raise ParameterError(f"widths must have at least one hidden layer (>= 3 entries); got {widths}")
    check_range(gain, "gain", low=0.0, low_inclusive=False)
    dtype = dtype or jnp.result_type(float)
    orth = jax.nn.initializers.orthogonal()
    keys = jax.random.split(key, len(widths) - 1)
    shapes = [(widths[i + 1], widths[i]) for i in range(len(widths) - 1)]
    ws = [orth(k, s, dtype) for k, s in zip(keys, shapes, strict=True)]
    return tuple([ws[0]] + [gain * w for w in ws[1:-1]] + [ws[-1]])


@dataclass(frozen=True)
class TanhGradientDescent(_PlainGD):
    """Full-batch GD of one :class:`TanhNetwork` on shared data ``(inputs (P, N_in), targets (P, N_out))``, loss
    ½ mean_μ ‖y^μ − f(x^μ)‖² (the averaged convention). Per-model settings: ``params`` and ``lr``. Records ``loss``."""

    widths: tuple
    label = "deep tanh GD"

    @cached_property
    def graphdef(self):
        shapes = [(self.widths[i + 1], self.widths[i]) for i in range(len(self.widths) - 1)]
        return nnx.graphdef(nnx.eval_shape(lambda: TanhNetwork([jnp.zeros(sh) for sh in shapes])))

    def loss(self, params, data):
        x, y = data
        pred = nnx.merge(self.graphdef, {"layers": dict(enumerate(params))})(x)
        return 0.5 * jnp.mean(jnp.sum((y - pred) ** 2, axis=-1))

    def record(self, state, setting, data, block):
        return {"loss": self.loss(state["params"], data)}


def train_tanh(params, inputs, targets, learning_rate, *, steps: int, n_records: int | None = None, progress=False):
    """Full-batch GD of :class:`TanhNetwork` s on the engine: ``params`` a tuple of weight matrices with a leading
    batch axis (one network per entry; e.g. several gains, each repeated over a learning-rate grid), one learning rate
    per network (or one for all). One jitted ``lax.scan`` over steps, vmapped over networks.

    Returns:
        :class:`~toymodels.engine.Result` with ``loss`` (batch, R+1), ``steps`` (R+1,) from 0.
    """
    settings, widths, steps, n_records = _run_settings(params, learning_rate, steps, n_records)
    x, y = jnp.asarray(inputs), jnp.asarray(targets)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ParameterError(f"inputs and targets must be (P, N) matrices of one P; got {x.shape}, {y.shape}")
    if (widths[0], widths[-1]) != (x.shape[1], y.shape[1]):
        raise ParameterError(f"params map {widths[0]} → {widths[-1]}; the data needs {x.shape[1]} → {y.shape[1]}")
    job_ = Job(TanhGradientDescent(widths), settings, steps, n_records, shared=(x, y), record_initial=True)
    return engine.train(job_, jax.random.key(0), group=None, progress=progress)
