r"""Ensembles of two-layer ReLU networks learning a permutation, trained all at once.

Model (Giapitzakis, Back de Luca & Fountoulakis 2025; conventions of :mod:`theory.ntk_permutation`): a
k → n → k ReLU network in one of two parameterisations (:class:`theory.ntk_permutation.Network`):

* ``'ntk'`` (A): :math:`f(x)=\tfrac{\sigma_w}{\sqrt n}W_2\phi(\tfrac{\sigma_w}{\sqrt k}W_1x+\sigma_bb_1)+\sigma_bb_2`,
  every entry N(0, 1);
* ``'standard'`` (B, PyTorch ``nn.Linear`` as in the public code): :math:`f=W_2\phi(W_1x+b_1)+b_2`,
  :math:`W_1\sim N(0,\sigma_w^2/k)`, :math:`W_2\sim N(0,\sigma_w^2/n)`, biases N(0, σ_b²), trainable.

Weights are **Gaussian** (not truncated, not uniform): with one-hot inputs a first-layer pre-activation is a
sum of very few weights, so the arc-cosine kernels hold only for Gaussian weights (spec §2).

Training: full-batch gradient descent (``optax.sgd``) on the k permuted basis vectors with
:math:`L=\lVert f(X)-Y\rVert^2/(2N)`, N = k² (neural-tangents' convention: one step is Δt = 1 of the theory's
gradient-flow time at the same learning rate; the public code's mean-squared error at lr η is this loss at
lr 2η). The default step η = N/λ_max(Θ_XX) and the default number of steps (slowest mode shrunk to
``residual``) come from the infinite-width spectrum (:func:`theory.ntk_permutation.default_learning_rate`).

All M members train in **one** jitted ``lax.scan`` over steps; the member axis is a leading axis of every
parameter and the members' losses are summed, so their gradients are independent. Member m is initialised
from ``fold_in(key, m)``: the same key gives the same ensemble, and the first M' members of a larger ensemble
equal an M'-member ensemble trained with the same key.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from theory import ntk_permutation as th
from theory.common import ParameterError, check_int, check_range
from toymodels.common import check_losses, run_chunked, scan_with_records
from toymodels.sharding import Placement

__all__ = [
    "Params",
    "TrainResult",
    "init_params",
    "forward",
    "ensemble_forward",
    "train_loss",
    "train_ensemble",
    "ensemble_outputs",
    "empirical_ntk",
    "member_learning_rate",
]


class Params(NamedTuple):
    """Weights of one network (or of M networks with a leading member axis).

    ``W1`` (n, k), ``W2`` (k, n); ``b1`` (n,), ``b2`` (k,) or ``None`` for a network without biases.
    """

    W1: jax.Array
    W2: jax.Array
    b1: jax.Array | None
    b2: jax.Array | None


class TrainResult(NamedTuple):
    """Trained ensemble: ``params`` (leading member axis M), per-member training loss at each record
    ``loss`` (M, n_records), the step of each record ``steps``, the learning rate used, the permutation, and,
    when ``record_inputs`` was given, the members' mean ``output_mean`` and variance ``output_var`` (over
    members, ddof = 1) on those inputs at each record, shape (n_records, n_inputs, k)."""

    params: Params
    loss: jax.Array
    steps: np.ndarray
    learning_rate: float
    permutation: np.ndarray
    output_mean: jax.Array | None = None
    output_var: jax.Array | None = None


def _check_net(net):
    if not isinstance(net, th.Network):
        raise ParameterError(f"net must be a theory.ntk_permutation.Network; got {type(net).__name__}")


def init_params(
    key: jax.Array, k: int, width: int, *, net: th.Network = th.NTK_PARAMETERIZATION, dtype=jnp.float32
) -> Params:
    """One network's Gaussian initialisation (see the module docstring for the two parameterisations)."""
    _check_net(net)
    kw1, kw2, kb1, kb2 = jax.random.split(key, 4)
    if net.parameterization == "ntk":
        s1 = s2 = sb = 1.0
    else:
        s1, s2 = net.sigma_w / np.sqrt(k), net.sigma_w / np.sqrt(width)
        sb = 0.0 if net.sigma_b is None else net.sigma_b
    W1 = s1 * jax.random.normal(kw1, (width, k), dtype)
    W2 = s2 * jax.random.normal(kw2, (k, width), dtype)
    if not net.has_bias:
        return Params(W1, W2, None, None)
    return Params(W1, W2, sb * jax.random.normal(kb1, (width,), dtype), sb * jax.random.normal(kb2, (k,), dtype))


def forward(params: Params, x: jax.Array, net: th.Network = th.NTK_PARAMETERIZATION) -> jax.Array:
    """Output of one network on inputs x (batch, k) → (batch, k)."""
    width, k = params.W1.shape
    if net.parameterization == "ntk":
        c1, c2 = net.sigma_w / np.sqrt(k), net.sigma_w / np.sqrt(width)
        cb = 0.0 if net.sigma_b is None else net.sigma_b
    else:
        c1 = c2 = cb = 1.0
    pre = c1 * x @ params.W1.T
    if params.b1 is not None:
        pre = pre + cb * params.b1
    out = c2 * jax.nn.relu(pre) @ params.W2.T
    if params.b2 is not None:
        out = out + cb * params.b2
    return out


def ensemble_forward(params: Params, x: jax.Array, net: th.Network = th.NTK_PARAMETERIZATION) -> jax.Array:
    """Outputs of M networks (leading member axis) on shared inputs: (M, batch, k)."""
    return jax.vmap(forward, in_axes=(0, None, None))(params, x, net)


def train_loss(params: Params, X: jax.Array, Y: jax.Array, net: th.Network) -> jax.Array:
    """L = ‖f(X) − Y‖²/(2N), N = Y.size, for one network."""
    r = forward(params, X, net) - Y
    return 0.5 * jnp.sum(r * r) / Y.size


def member_learning_rate(k: int, width: int, net: th.Network) -> float:
    """Default η = N/λ_max of the infinite-width Θ_XX (for ``'standard'`` at the actual width, where Θ ∝ n)."""
    return th.default_learning_rate(k, net=net.with_width(width) if net.parameterization == "standard" else net)


@partial(jax.jit, static_argnames=("k", "width", "members", "net", "dtype"))
def _init_ensemble(key, k, width, members, net, dtype, first=0):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(first + jnp.arange(members))
    return jax.vmap(lambda kk: init_params(kk, k, width, net=net, dtype=dtype))(keys)


def _block_chunk(params, state, valid, X, Y, x_rec, net, n_records, record_every, lr):
    """One block of members: GD steps plus records. The block axis leads every output: per-member losses
    (block, n_records) and, for ``x_rec``, this block's (count, mean, M2) of the outputs with a block axis of 1."""
    opt = optax.sgd(lr)

    def total(p):
        losses = jax.vmap(train_loss, in_axes=(0, None, None, None))(p, X, Y, net)
        return jnp.sum(losses), losses

    def step(c):
        p, st = c
        grads, _ = jax.grad(total, has_aux=True)(p)
        updates, st = opt.update(grads, st, p)
        return optax.apply_updates(p, updates), st

    def record(c):
        losses = total(c[0])[1]
        if x_rec is None:
            return losses, None
        out = ensemble_forward(c[0], x_rec, net)
        w = valid.reshape(-1, *([1] * (out.ndim - 1)))
        count = jnp.sum(valid)
        mean = jnp.sum(w * out, axis=0) / jnp.maximum(count, 1)
        return losses, (count, mean, jnp.sum(w * (out - mean) ** 2, axis=0))

    (params, state), (loss, stats) = scan_with_records(step, record, (params, state), n_records, record_every)
    stats = None if stats is None else jax.tree.map(lambda a: a[None], stats)
    return params, state, loss.T, stats


@partial(jax.jit, static_argnames=("net", "n_records", "record_every", "lr", "placement"))
def _train_chunk(params, state, valid, X, Y, x_rec, net, n_records, record_every, lr, placement):
    fn = lambda p, s, v, X_, Y_, xr: _block_chunk(p, s, v, X_, Y_, xr, net, n_records, record_every, lr)
    return placement.apply(fn, (params, state, valid), (X, Y, x_rec))


def _combine_stats(stats, size: int):
    """Ensemble mean and variance (ddof 1) over all members from per-block (count, mean, M2) (Chan et al.)."""
    count, mean, m2 = stats  # (blocks, n_records), (blocks, n_records, n_inputs, k), same
    c = count[..., None, None]
    total = jnp.sum(mean * c, axis=0) / size
    m2_all = jnp.sum(m2 + c * (mean - total) ** 2, axis=0)
    return total, m2_all / max(size - 1, 1)


def train_ensemble(
    key: jax.Array,
    permutation,
    *,
    members: int,
    width: int,
    net: th.Network = th.NTK_PARAMETERIZATION,
    steps: int | None = None,
    learning_rate: float | None = None,
    residual: float = 1e-6,
    n_records: int | None = 10,
    record_inputs=None,
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    devices: int | str | None = None,
    group: int | None = None,
    first_member: int = 0,
    dtype=jnp.float32,
) -> TrainResult:
    """Train M independently initialised networks on the k permuted basis vectors, all at once.

    Args:
        key: PRNG key; member m starts from ``init_params(fold_in(key, m))``.
        permutation: π, a permutation of range(k) (targets ``x[..., π]``).
        members: ensemble size M ≥ 1.
        width: hidden width n ≥ 1.
        net: parameterisation (``net.width`` is ignored here; ``width`` is the real width).
        steps: GD steps; default: the infinite-width steps to shrink the slowest mode by ``residual``
            (:func:`theory.ntk_permutation.convergence_steps`), rounded up to a multiple of ``n_records``.
        learning_rate: η for L = ‖f(X)−Y‖²/(2k²); default :func:`member_learning_rate`.
        residual: target relative training residual for the default ``steps`` (1e-6 suits float32).
        n_records: per-member training-loss records (``None``: one after every step).
        record_inputs: optional nonzero binary inputs (n_inputs, k), normalised like the test inputs; the
            members' mean and variance on them are recorded with the loss (training dynamics of the ensemble).
        records_per_chunk: records per jitted call (progress bar granularity); ``None``: one call.
        devices: devices the members are sharded over (:mod:`toymodels.sharding`; ``None``: the default).
        group: members vectorised at once on a device (``None``: all of them).
        first_member: index of the first member (member m starts from ``fold_in(key, first_member + m)``):
            a sweep cut into chunks of members trains exactly the members of the whole ensemble.
        dtype: float32 (default) or float64.
    """
    _check_net(net)
    perm = th.validate_permutation(permutation)
    k = perm.size
    members = int(check_int(members, "members", minimum=1))
    width = int(check_int(width, "width", minimum=1))
    if n_records is not None:
        n_records = int(check_int(n_records, "n_records", minimum=1))
    lr = member_learning_rate(k, width, net) if learning_rate is None else float(learning_rate)
    check_range(lr, "learning_rate", low=0.0, low_inclusive=False)
    if steps is None:
        steps = th.convergence_steps(
            k, residual, net=net.with_width(width) if net.parameterization == "standard" else net, learning_rate=lr
        )
        if n_records is not None:
            steps = -(-steps // n_records) * n_records
    steps = int(check_int(steps, "steps", minimum=1))
    if n_records is None:
        n_records = steps
    if steps % n_records:
        raise ParameterError(f"steps ({steps}) must be a multiple of n_records ({n_records})")
    first_member = int(check_int(first_member, "first_member", minimum=0))
    X, Y = (jnp.asarray(a, dtype) for a in th.training_set(perm))
    placement = Placement.plan(members, devices, group)
    params = _init_ensemble(key, k, width, members, net, jnp.dtype(dtype), first_member)
    params = placement.put(placement.pad(params))
    state = optax.sgd(lr).init(params)
    valid = placement.put(placement.valid(dtype))
    every = steps // n_records

    x_rec = None
    if record_inputs is not None:
        xb = th.validate_binary_inputs(record_inputs, "record_inputs")
        if xb.ndim != 2 or xb.shape[1] != k:
            raise ParameterError(f"record_inputs must have shape (n_inputs, {k}); got {xb.shape}")
        x_rec = th.normalize_inputs(xb).astype(dtype)

    def chunk(c, n):
        p, st, loss, stats = _train_chunk(*c, valid, X, Y, x_rec, net, n, every, lr, placement)
        return (p, st), (loss, stats)

    (params, _), (loss, stats) = run_chunked(
        chunk,
        (params, state),
        n_records,
        records_per_chunk=records_per_chunk,
        progress=progress,
        desc=f"ensemble M={members} n={width}",
        steps_per_record=every,
        time_axis=1,
    )
    params, loss = placement.unpad((params, loss))
    chex.assert_shape(loss, (members, n_records))
    out_mean = out_var = None
    if stats is not None:
        out_mean, out_var = _combine_stats(stats, members)
    check_losses(loss, "NTK ensemble GD")
    return TrainResult(params, loss, every * np.arange(1, n_records + 1), lr, perm, out_mean, out_var)


def ensemble_outputs(
    params: Params, x, net: th.Network = th.NTK_PARAMETERIZATION, *, normalize: bool = True, batch_size: int = 16
) -> jax.Array:
    """Every member's output on the test inputs, (M, n_test, k).

    ``x`` holds nonzero binary inputs (validated), divided by their norms when ``normalize``. Members are
    evaluated ``batch_size`` at a time (``lax.map``), so the hidden activations of a large ensemble on many
    inputs never sit in memory at once.
    """
    xb = th.validate_binary_inputs(x)
    xv = th.normalize_inputs(xb) if normalize else jnp.asarray(xb)
    xv = xv.astype(params.W1.dtype)
    return _outputs(params, xv, net, int(check_int(batch_size, "batch_size", minimum=1)))


@partial(jax.jit, static_argnames=("net", "batch_size"))
def _outputs(params, x, net, batch_size):
    return jax.lax.map(lambda p: forward(p, x, net), params, batch_size=batch_size)


def empirical_ntk(params: Params, x1, x2=None, net: th.Network = th.NTK_PARAMETERIZATION) -> jax.Array:
    """Finite-width NTK of one network, Θ_cc'(x, x') = Σ_θ ∂f_c(x)/∂θ · ∂f_c'(x')/∂θ, shape (n1, n2, k, k).

    Computed from the Jacobian (``jax.jacrev``) w.r.t. the raw parameters, i.e. in the network's own
    parameterisation. As n → ∞ it tends to Θ(x, x') ⊗ I_k with fluctuations O(n^−1/2).
    """
    x1 = jnp.asarray(x1, params.W1.dtype)
    x2 = x1 if x2 is None else jnp.asarray(x2, params.W1.dtype)
    return _empirical_ntk(params, x1, x2, net)


@partial(jax.jit, static_argnames=("net",))
def _empirical_ntk(params, x1, x2, net):
    j1 = jax.jacrev(lambda p: forward(p, x1, net))(params)
    j2 = jax.jacrev(lambda p: forward(p, x2, net))(params)
    terms = [
        jnp.einsum("ac...,bd...->abcd", a.reshape(a.shape[:2] + (-1,)), b.reshape(b.shape[:2] + (-1,)))
        for a, b in zip(jax.tree.leaves(j1), jax.tree.leaves(j2), strict=True)
    ]
    return sum(terms)
