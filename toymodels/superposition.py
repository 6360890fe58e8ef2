r"""Toy models of superposition, many instances trained at once.

Model (Elhage et al. 2022): :math:`h = Wx`, :math:`x' = \mathrm{ReLU}(W^Th + b)` (or ``activation="linear"``:
:math:`x'=W^TWx+b`), ``W`` of shape (m, n) with column i the embedding of feature i (conventions of
:mod:`theory.superposition`). Loss per sample :math:`\sum_i I_i (x_i-x'_i)^2`, averaged over a fresh batch
drawn every step.

Data: feature i is present with probability :math:`p_i` and then uniform on ``value_range``. Sampling
uses **one** uniform draw per entry: :math:`x = lo + (hi-lo)\,u/p` if :math:`u<p` else 0, which has
exactly the right law (given u < p, u/p is uniform on [0, 1)) and halves the random-number work, the hot
path at small n and m.

Two published set-ups are covered by the same trainer:

* **Elhage et al.** (public Colab framework): AdamW, lr 1e-3 constant, batch 1024, 10,000 steps,
  Xavier-normal ``W``, zero ``b``, values on [0, 1], torch's default decoupled weight decay 0.01.
* **Liu, Liu & Gore** (``liuyz0/SuperpositionScaling``, ``exp/exp-10.py``): n = 1000, p_i ∝ i^(−α),
  values on [0, 2], plain MSE (importance 1/n), ``W ~ N(0, 1/m)``, ``b ~ N(0, 1)``, batch 2048, 20,000
  steps, Adam with lr 1e-2, 2000 warm-up steps then cosine decay to 5 %. Superposition strength is set by
  the weight decay γ on ``W`` only (their ``adamw.py``): γ ≥ 0 is ordinary decoupled decay
  :math:`W\leftarrow W(1-\eta\gamma)` (weak superposition for large γ); γ < 0 pulls every feature norm
  towards 1, :math:`W_i\leftarrow W_i-\eta|\gamma|W_i(1-1/\lVert W_i\rVert)` (strong superposition).

Every instance (importance, probabilities, weight decay, width, key) is a row of a leading axis;
:func:`train_instances` ``vmap`` s one jitted ``lax.scan`` over it. Different widths train together by
masking: ``W`` is allocated with ``m = max(widths)`` rows and rows ≥ width are held at zero.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

from theory.common import ParameterError, check_int, check_range
from toymodels.common import check_losses, run_chunked, scan_with_records, split_keys
from toymodels.sharding import Placement

__all__ = [
    "Params",
    "TrainResult",
    "ACTIVATIONS",
    "INITS",
    "SCHEDULES",
    "sample_features",
    "forward",
    "batch_loss",
    "init_params",
    "feature_norm_decay",
    "make_optimizer",
    "train_instances",
    "auto_group",
    "instance_bytes",
    "evaluate_loss",
]

ACTIVATIONS = ("relu", "linear")
INITS = ("xavier", "liu")
SCHEDULES = ("constant", "warmup_cosine")


class Params(NamedTuple):
    W: jnp.ndarray  #: (m, n); column i embeds feature i
    b: jnp.ndarray  #: (n,)


class TrainResult(NamedTuple):
    params: Params  #: leading instance axis: W (I, m, n), b (I, n)
    loss: jnp.ndarray  #: (I, n_records) mean training loss over each record block
    steps: np.ndarray  #: (n_records,) step count at each record


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------
def sample_features(key: jax.Array, batch_size: int, probabilities, *, value_range=(0.0, 1.0), dtype=None):
    """A batch (batch_size, n) of sparse features: x_i = U[lo, hi] with probability p_i, else 0."""
    p = jnp.asarray(probabilities, dtype)
    u = jax.random.uniform(key, (batch_size, p.shape[-1]), p.dtype)
    lo, hi = value_range
    safe = jnp.where(p > 0, p, 1.0)
    return jnp.where(u < p, lo + (hi - lo) * (u / safe), 0.0).astype(p.dtype)


def forward(params: Params, x, activation: str = "relu"):
    """x' = ReLU(x Wᵀ W + b) for a batch x of shape (batch, n) (``activation="linear"``: no ReLU)."""
    pre = (x @ params.W.T) @ params.W + params.b
    return jax.nn.relu(pre) if activation == "relu" else pre


def batch_loss(params: Params, x, importance, activation: str = "relu"):
    """Mean over the batch of Σ_i I_i (x_i − x'_i)²."""
    err = x - forward(params, x, activation)
    return jnp.mean(jnp.sum(importance * err * err, axis=-1))


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ParameterError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")


def init_params(key: jax.Array, n: int, m: int, *, init: str = "xavier", width=None, dtype=jnp.float32) -> Params:
    """Initial parameters of one model; ``width`` ≤ m keeps rows ≥ width at zero (masked widths).

    ``init="xavier"``: W ~ N(0, 2/(n+m)), b = 0 (Elhage et al.'s ``xavier_normal_``).
    ``init="liu"``: W ~ N(0, 1/width), b ~ N(0, 1) (Liu et al.).
    """
    if init not in INITS:
        raise ParameterError(f"init must be one of {INITS}; got {init!r}")
    kw, kb = jax.random.split(key)
    width = m if width is None else width
    mask = (jnp.arange(m) < width)[:, None].astype(dtype)
    z = jax.random.normal(kw, (m, n), dtype)
    if init == "xavier":
        W = z * jnp.sqrt(2.0 / (n + width)).astype(dtype)
        b = jnp.zeros((n,), dtype)
    else:
        W = z / jnp.sqrt(jnp.asarray(width, dtype))
        b = jax.random.normal(kb, (n,), dtype)
    return Params(W * mask, b)


# ----------------------------------------------------------------------------------------------
# optimiser
# ----------------------------------------------------------------------------------------------
def feature_norm_decay(weight_decay, bias_decay=0.0, eps: float = 1e-8) -> optax.GradientTransformation:
    r"""Decoupled decay term added to the update (then scaled by −lr), as in Liu et al.'s ``adamw.py``.

    For W: :math:`\gamma W` when γ ≥ 0 (plain AdamW decay); :math:`|\gamma|\,W_i(1-1/(\lVert W_i\rVert+\epsilon))`
    per feature column when γ < 0 (feature norms pulled to 1). For b: ``bias_decay``·b. ``weight_decay``
    may be a traced per-instance value (it is, under ``vmap``).
    """

    def init_fn(params):
        return optax.EmptyState()

    def update_fn(updates, state, params):
        W = params.W
        norms = jnp.sqrt(jnp.sum(W * W, axis=0, keepdims=True)) + eps
        g = jnp.asarray(weight_decay, W.dtype)
        dW = jnp.where(g >= 0, g * W, -g * W * (1.0 - 1.0 / norms))
        return Params(updates.W + dW, updates.b + bias_decay * params.b), state

    return optax.GradientTransformation(init_fn, update_fn)


def make_optimizer(
    learning_rate: float,
    steps: int,
    *,
    weight_decay=0.0,
    bias_decay=0.0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    final_fraction: float = 0.05,
):
    """Adam + :func:`feature_norm_decay` + a learning-rate schedule (optax)."""
    if schedule not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if schedule == "constant":
        lr = learning_rate
    else:
        lr = optax.warmup_cosine_decay_schedule(
            0.0, learning_rate, max(int(warmup_steps), 1), steps, end_value=final_fraction * learning_rate
        )
    return optax.chain(
        optax.scale_by_adam(), feature_norm_decay(weight_decay, bias_decay), optax.scale_by_learning_rate(lr)
    )


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------
class _Carry(NamedTuple):
    params: Params
    opt_state: object
    key: jax.Array
    step: jnp.ndarray
    acc: jnp.ndarray


def _static(
    n,
    m,
    batch_size,
    steps,
    record_every,
    learning_rate,
    activation,
    init,
    schedule,
    warmup_steps,
    value_range,
    bias_decay,
    dtype,
):
    return dict(
        n=n,
        m=m,
        batch_size=batch_size,
        steps=steps,
        record_every=record_every,
        learning_rate=learning_rate,
        activation=activation,
        init=init,
        schedule=schedule,
        warmup_steps=warmup_steps,
        value_range=value_range,
        bias_decay=bias_decay,
        dtype=dtype,
    )


def _make_fns(st):
    def optimizer(weight_decay):
        return make_optimizer(
            st["learning_rate"],
            st["steps"],
            weight_decay=weight_decay,
            bias_decay=st["bias_decay"],
            schedule=st["schedule"],
            warmup_steps=st["warmup_steps"],
        )

    def init_one(key, width, weight_decay):
        k_init, k_data = jax.random.split(key)
        params = init_params(k_init, st["n"], st["m"], init=st["init"], width=width, dtype=st["dtype"])
        return _Carry(
            params, optimizer(weight_decay).init(params), k_data, jnp.zeros((), jnp.int32), jnp.zeros((), st["dtype"])
        )

    def chunk_one(carry, importance, probs, weight_decay, width, n_records):
        opt = optimizer(weight_decay)
        mask = (jnp.arange(st["m"]) < width)[:, None].astype(st["dtype"])

        def step(c: _Carry) -> _Carry:
            key, sub = jax.random.split(c.key)
            x = sample_features(sub, st["batch_size"], probs, value_range=st["value_range"], dtype=st["dtype"])

            def loss_fn(p):
                return batch_loss(Params(p.W * mask, p.b), x, importance, st["activation"])

            loss, grads = jax.value_and_grad(loss_fn)(c.params)
            updates, opt_state = opt.update(grads, c.opt_state, c.params)
            params = optax.apply_updates(c.params, updates)
            params = Params(params.W * mask, params.b)
            acc = jnp.where(c.step % st["record_every"] == 0, 0.0, c.acc) + loss
            return _Carry(params, opt_state, key, c.step + 1, acc)

        return scan_with_records(step, lambda c: c.acc / st["record_every"], carry, n_records, st["record_every"])

    return init_one, chunk_one


@partial(jax.jit, static_argnames=("static",))
def _init_all(keys, widths, weight_decays, static):
    init_one, _ = _make_fns(dict(static))
    return jax.vmap(init_one)(keys, widths, weight_decays)


@partial(jax.jit, static_argnames=("static", "n_records", "placement"), donate_argnums=(0,))
def _chunk_all(carry, importance, probs, weight_decays, widths, static, n_records, placement):
    _, chunk_one = _make_fns(dict(static))
    block = jax.vmap(lambda c, i, p, g, w: chunk_one(c, i, p, g, w, n_records))
    return placement.apply(block, (carry, importance, probs, weight_decays, widths))


def instance_bytes(batch_size: int, n: int, m: int, dtype=jnp.float32) -> int:
    """Estimated working memory of one instance while it trains: the batch x and the ≈ 7 arrays of its shape
    that one step keeps (pre-activation, output, error, their cotangents, the random bits), plus W, b, their
    gradients and Adam's two moments. Used to size sweep chunks (:mod:`experiments.sweep`)."""
    item = jnp.dtype(dtype).itemsize
    return int(8 * batch_size * n * item + 4 * (m * n + n) * item)


def auto_group(batch_size: int, n: int, dtype=jnp.float32, platform: str | None = None) -> int | None:
    """Models vectorised at once by default: on CPU as many as keep one step's batch in ≈ 1.5 MiB of cache
    (a power of two; measured best at 16 for batch 1024, n = 20), elsewhere all (``None``)."""
    platform = platform or jax.default_backend()
    if platform != "cpu":
        return None
    per_model = batch_size * n * jnp.dtype(dtype).itemsize
    return int(2 ** max(0, math.floor(math.log2(max(1.0, 1.5 * 2**20 / per_model)))))


def train_instances(
    key: jax.Array,
    *,
    importance,
    probabilities,
    m: int,
    steps: int,
    batch_size: int = 1024,
    learning_rate: float = 1e-3,
    weight_decay=0.0,
    bias_decay: float = 0.0,
    widths=None,
    activation: str = "relu",
    init: str = "xavier",
    schedule: str = "constant",
    warmup_steps: int = 0,
    value_range=(0.0, 1.0),
    n_records: int = 100,
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    devices: int | str | None = None,
    group: int | str | None = "auto",
    dtype=jnp.float32,
) -> TrainResult:
    """Train I independent models at once (one jitted ``lax.scan`` over steps, ``vmap`` over instances).

    Args:
        key: PRNG key; instance k uses ``split(key, I)[k]`` (the same key gives the same result). Or I
            stacked keys, one per instance (how a chunked sweep keeps every instance's key).
        importance: (I, n) or (n,) importances I_i ≥ 0.
        probabilities: (I, n) or (n,) feature densities p_i = 1 − S_i in [0, 1].
        m: hidden dimensions (the maximum width when ``widths`` is given).
        steps: training steps (a multiple of ``n_records``).
        batch_size: fresh samples per step.
        learning_rate: Adam step (peak step for ``schedule="warmup_cosine"``).
        weight_decay: scalar or (I,) γ on W (negative: norm-to-1 pull, see module docstring).
        bias_decay: decoupled decay on b.
        widths: optional (I,) integer widths ≤ m (masked); default m for all.
        activation: ``"relu"`` or ``"linear"``.
        init: ``"xavier"`` (Elhage et al.) or ``"liu"``.
        schedule: ``"constant"`` or ``"warmup_cosine"`` (``warmup_steps``, then cosine to 5 %).
        value_range: (lo, hi) of nonzero feature values.
        n_records: number of loss records (each the mean training loss over its block of steps).
        records_per_chunk: records per jitted call (progress bar granularity); ``None``: one call.
        devices: devices the instances are sharded over (:mod:`toymodels.sharding`; ``None``: the default,
            all local devices).
        group: instances vectorised at once on a device (``"auto"``: :func:`auto_group`; ``None``: all).
        dtype: training dtype (float32 by default).
    """
    _check_activation(activation)
    imp = np.asarray(importance, float)
    probs = np.asarray(probabilities, float)
    if probs.ndim not in (1, 2) or imp.ndim not in (1, 2):
        raise ParameterError(
            f"importance and probabilities must be (n,) or (I, n); got shapes {imp.shape}, {probs.shape}"
        )
    n = probs.shape[-1]
    if n < 1:
        raise ParameterError("probabilities must have n >= 1 features")
    if imp.shape[-1] != n:
        raise ParameterError(f"importance must have length n = {n} (one per feature); got shape {imp.shape}")
    check_range(imp, "importance", low=0.0)
    check_range(probs, "probabilities", low=0.0, high=1.0)
    m = int(check_int(m, "m"))
    steps = int(check_int(steps, "steps"))
    batch_size = int(check_int(batch_size, "batch_size"))
    n_records = int(check_int(n_records, "n_records"))
    if steps % n_records:
        raise ParameterError(f"steps ({steps}) must be a multiple of n_records ({n_records})")
    check_range(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ParameterError(f"value_range must be (lo, hi) with lo < hi; got {value_range!r}")
    n_inst = max(
        imp.shape[0] if imp.ndim == 2 else 1,
        probs.shape[0] if probs.ndim == 2 else 1,
        np.size(weight_decay),
        1 if widths is None else np.size(widths),
    )
    imp = np.broadcast_to(imp, (n_inst, n))
    probs = np.broadcast_to(probs, (n_inst, n))
    gam = np.broadcast_to(np.asarray(weight_decay, float), (n_inst,))
    wid = np.broadcast_to(np.asarray(m if widths is None else widths), (n_inst,))
    check_int(wid, "widths", minimum=1, maximum=m)
    static = tuple(
        _static(
            n,
            m,
            batch_size,
            steps,
            steps // n_records,
            float(learning_rate),
            activation,
            init,
            schedule,
            int(warmup_steps),
            (lo, hi),
            float(bias_decay),
            jnp.dtype(dtype),
        ).items()
    )
    keys = split_keys(key, n_inst)
    placement = Placement.plan(n_inst, devices, auto_group(batch_size, n, dtype) if group == "auto" else group)
    args = (jnp.asarray(imp, dtype), jnp.asarray(probs, dtype), jnp.asarray(gam, dtype), jnp.asarray(wid, jnp.int32))
    args = placement.put(placement.pad(args))
    carry = placement.put(_init_all(placement.pad(keys), args[3], args[2], static))
    chex.assert_shape(carry.params.W, (placement.padded, m, n))

    def chunk(c, k):
        return _chunk_all(c, *args, static, k, placement)

    carry, rec = run_chunked(
        chunk,
        carry,
        n_records,
        records_per_chunk=records_per_chunk,
        progress=progress,
        desc=f"superposition ({n_inst} models)",
        steps_per_record=steps // n_records,
        time_axis=1,
    )
    rec_steps = np.arange(1, n_records + 1) * (steps // n_records)
    rec = placement.unpad(rec)
    check_losses(rec, "superposition")
    return TrainResult(placement.unpad(carry.params), rec, rec_steps)


@partial(jax.jit, static_argnames=("n_samples", "chunk", "activation", "value_range", "common"))
def _eval(key, params, importance, probs, n_samples, chunk, activation, value_range, common):
    def one(k, p, imp, pr):
        def body(acc, kk):
            x = sample_features(kk, chunk, pr, value_range=value_range, dtype=p.W.dtype)
            return acc + batch_loss(p, x, imp, activation), None

        tot, _ = jax.lax.scan(body, jnp.zeros((), p.W.dtype), jax.random.split(k, n_samples // chunk))
        return tot / (n_samples // chunk)

    keys = jax.random.split(key, importance.shape[0])
    if common:
        keys = jnp.broadcast_to(key, keys.shape)
    return jax.lax.map(lambda a: one(*a), (keys, params, importance, probs))


def evaluate_loss(
    key: jax.Array,
    params: Params,
    importance,
    probabilities,
    *,
    n_samples: int = 65536,
    chunk: int = 4096,
    activation: str = "relu",
    value_range=(0.0, 1.0),
    common_samples: bool = False,
):
    """Monte-Carlo expected loss of each instance on ``n_samples`` fresh samples (memory: one chunk).

    With ``common_samples`` every instance sees the same samples (common random numbers: differences
    between instances then carry no sampling noise from the shared part).
    """
    _check_activation(activation)
    n_inst, _, n = params.W.shape
    n_samples = int(check_int(n_samples, "n_samples"))
    chunk = min(int(check_int(chunk, "chunk")), n_samples)
    dt = params.W.dtype
    imp = jnp.broadcast_to(jnp.asarray(importance, dt), (n_inst, n))
    probs = jnp.broadcast_to(jnp.asarray(probabilities, dt), (n_inst, n))
    return _eval(
        key,
        params,
        imp,
        probs,
        n_samples - n_samples % chunk,
        chunk,
        activation,
        tuple(float(v) for v in value_range),
        bool(common_samples),
    )
