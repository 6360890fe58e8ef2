r"""Ensembles of two-layer ReLU networks learning a permutation, trained all at once.

Model (Giapitzakis, Back de Luca & Fountoulakis 2025; conventions of :mod:`theory.ntk_permutation`): a
k → n → k ReLU network in one of two parameterisations (:class:`theory.ntk_permutation.Network`):

* ``'ntk'`` (A): :math:`f(x)=\tfrac{\sigma_w}{\sqrt n}W_2\phi(\tfrac{\sigma_w}{\sqrt k}W_1x+\sigma_bb_1)+\sigma_bb_2`,
  every entry N(0, 1);
* ``'standard'`` (B, PyTorch ``nn.Linear`` as in the public code): :math:`f=W_2\phi(W_1x+b_1)+b_2`,
  :math:`W_1\sim N(0,\sigma_w^2/k)`, :math:`W_2\sim N(0,\sigma_w^2/n)`, biases N(0, σ_b²), trainable.

Weights are **Gaussian** (not truncated, not uniform): with one-hot inputs a first-layer pre-activation is a
sum of very few weights, so the arc-cosine kernels hold only for Gaussian weights (docs/families/ntk_permutation.md §2).

Training: full-batch gradient descent (``optax.sgd``) on the k permuted basis vectors with
:math:`L=\lVert f(X)-Y\rVert^2/(2N)`, N = k² (neural-tangents' convention: one step is Δt = 1 of the theory's
gradient-flow time at the same learning rate; the public code's mean-squared error at lr η is this loss at
lr 2η). The default step η = N/λ_max(Θ_XX) and the default number of steps (slowest mode shrunk to
``residual``) come from the infinite-width spectrum (:func:`theory.ntk_permutation.default_learning_rate`).

The network is the Flax module :class:`TwoLayerReLU`. All M members train at once on the ensemble engine
(:mod:`toymodels.engine`: ``vmap`` over members, one jitted ``lax.scan`` over steps). Member m is initialised
from the key ``fold_in(key, m)``: the same key gives the same ensemble, and the first M' members of a larger
ensemble equal an M'-member ensemble trained with the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from theory import ntk_permutation as th
from theory.common import ParameterError, check_int, check_range
from toymodels import engine
from toymodels.engine import Family, Job, Result

__all__ = [
    "Params",
    "TwoLayerReLU",
    "Ensemble",
    "init_params",
    "forward",
    "ensemble_forward",
    "train_loss",
    "job",
    "example_job",
    "train",
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


class TwoLayerReLU(nnx.Module):
    """The k → n → k ReLU network as a Flax module, in either parameterisation of ``net``.

    Parameters ``W1`` (n, k), ``W2`` (k, n) and, when ``net.has_bias``, ``b1`` (n,), ``b2`` (k,), drawn by
    :func:`init_params` from ``rngs.params()``; calling it on inputs (batch, k) gives :func:`forward`.
    """

    def __init__(self, k: int, width: int, *, net: th.Network = th.NTK_PARAMETERIZATION, dtype=jnp.float32, rngs):
        _check_net(net)
        p = init_params(rngs.params(), k, width, net=net, dtype=dtype)
        self.W1, self.W2 = nnx.Param(p.W1), nnx.Param(p.W2)
        if p.b1 is not None:
            self.b1, self.b2 = nnx.Param(p.b1), nnx.Param(p.b2)
        self.net = net

    def params(self) -> Params:
        b1 = self.b1[...] if hasattr(self, "b1") else None
        b2 = self.b2[...] if hasattr(self, "b2") else None
        return Params(self.W1[...], self.W2[...], b1, b2)

    def __call__(self, x):
        return forward(self.params(), x, self.net)


def _as_params(p: dict) -> Params:
    return Params(p["W1"], p["W2"], p.get("b1"), p.get("b2"))


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


@dataclass(frozen=True)
class Ensemble(Family):
    """One member's full-batch gradient descent on the k permuted basis vectors (shared ``X``, ``Y``).

    Per-model settings: none beyond the member's key (``{"member": index}``). Shared: ``X``, ``Y`` and the
    optional ``x_rec`` whose outputs enter the ensemble statistics (:meth:`reduce`).
    """

    k: int
    width: int
    net: th.Network
    learning_rate: float
    dtype: Any = jnp.dtype(jnp.float32)
    label = "NTK ensemble GD"

    @cached_property
    def graphdef(self):
        return nnx.graphdef(nnx.eval_shape(lambda: self.model(nnx.Rngs(0))))

    def model(self, rngs: nnx.Rngs) -> TwoLayerReLU:
        return TwoLayerReLU(self.k, self.width, net=self.net, dtype=self.dtype, rngs=rngs)

    def loss(self, params, shared):
        r = nnx.merge(self.graphdef, params)(shared["X"]) - shared["Y"]
        return 0.5 * jnp.sum(r * r) / shared["Y"].size

    def init(self, key, setting, shared):
        params = nnx.to_pure_dict(nnx.state(self.model(nnx.Rngs(params=key)), nnx.Param))
        return {"params": params, "opt": optax.sgd(self.learning_rate).init(params)}

    def step(self, state, setting, shared):
        loss, grads = jax.value_and_grad(self.loss)(state["params"], shared)
        updates, opt = optax.sgd(self.learning_rate).update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, loss

    def record(self, state, setting, shared, block):
        rec = {"loss": self.loss(state["params"], shared)}
        if shared.get("x_rec") is not None:
            rec["outputs"] = nnx.merge(self.graphdef, state["params"])(shared["x_rec"])
        return rec

    def memory(self):
        """The parameters, their gradients and the update (3 copies of 2kn + n + k numbers), plus the hidden
        activations on the k training inputs (forward and backward)."""
        k, n = self.k, self.width
        return self.dtype.itemsize * (3 * (2 * k * n + n + k) + 2 * k * n)

    def reduce(self, records, valid):
        """Per-block (count, mean, M2) of the recorded outputs over the block's real members (Chan et al.)."""
        if "outputs" not in records:
            return records, None
        out = records.pop("outputs")  # (block, n_records, n_inputs, k)
        w = valid.astype(out.dtype).reshape(-1, *([1] * (out.ndim - 1)))
        count = jnp.sum(valid).astype(out.dtype)
        mean = jnp.sum(w * out, axis=0) / jnp.maximum(count, 1)
        m2 = jnp.sum(w * (out - mean) ** 2, axis=0)
        stats = (jnp.broadcast_to(count, mean.shape[:1]), mean, m2)
        return records, jax.tree.map(lambda a: a[None], stats)


def _combine_stats(stats, size: int):
    """Ensemble mean and variance (ddof 1) over all members from per-block (count, mean, M2) (Chan et al.)."""
    count, mean, m2 = stats  # (blocks, n_records), (blocks, n_records, n_inputs, k), same
    c = count[..., None, None]
    total = jnp.sum(mean * c, axis=0) / size
    m2_all = jnp.sum(m2 + c * (mean - total) ** 2, axis=0)
    return total, m2_all / max(size - 1, 1)


def job(
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
    first_member: int = 0,
    dtype=jnp.float32,
) -> Job:
    """The validated :class:`~toymodels.engine.Job` of :func:`train` (same arguments; for sweeps)."""
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
    shared = {"X": X, "Y": Y, "x_rec": None}
    if record_inputs is not None:
        xb = th.validate_binary_inputs(record_inputs, "record_inputs")
        if xb.ndim != 2 or xb.shape[1] != k:
            raise ParameterError(f"record_inputs must have shape (n_inputs, {k}); got {xb.shape}")
        shared["x_rec"] = th.normalize_inputs(xb).astype(dtype)
    ids = first_member + np.arange(members)
    family = Ensemble(k=k, width=width, net=net, learning_rate=lr, dtype=jnp.dtype(dtype))
    info = {"learning_rate": lr, "permutation": perm}
    return Job(
        family, {"member": jnp.asarray(ids)}, steps, n_records, shared=shared, ids=ids, finish=_finish, info=info
    )


def _finish(result: Result) -> Result:
    stats = result.stats
    if stats is not None:
        mean, var = _combine_stats(stats, result.records["loss"].shape[0])
        stats = {"output_mean": mean, "output_var": var}
    return result._replace(state={**result.state, "params": _as_params(result.state["params"])}, stats=stats)


def example_job(dtype=jnp.float64) -> Job:
    """A small job (10 members of width 32 on k = 4, with recorded ensemble statistics) for layout checks."""
    rec = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 1]])
    return job([1, 2, 3, 0], members=10, width=32, steps=30, n_records=3, record_inputs=rec, dtype=dtype)


def train(
    key: jax.Array,
    permutation,
    *,
    devices: int | str | None = None,
    group: int | None = None,
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    **kwargs,
) -> Result:
    """Train M independently initialised networks on the k permuted basis vectors, all at once (the engine).

    Args (besides the engine's ``key``, ``devices``, ``group``, ``records_per_chunk``, ``progress``):
        key: PRNG key; member m starts from ``TwoLayerReLU(rngs=nnx.Rngs(params=fold_in(key, m)))``.
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
        first_member: index of the first member (member m starts from key ``fold_in(key, first_member + m)``).
        dtype: float32 (default) or float64.

    Returns:
        :class:`~toymodels.engine.Result`: ``params`` (:class:`Params`, leading member axis), ``loss``
        (M, n_records), ``steps``, ``info["learning_rate"]``, ``info["permutation"]`` and, with
        ``record_inputs``, ``stats["output_mean"]`` and ``stats["output_var"]`` (over members, ddof = 1) of
        shape (n_records, n_inputs, k).
    """
    return engine.train(
        job(permutation, **kwargs),
        key,
        devices=devices,
        group=group,
        records_per_chunk=records_per_chunk,
        progress=progress,
        desc=f"ensemble M={kwargs.get('members')} n={kwargs.get('width')}",
    )


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
