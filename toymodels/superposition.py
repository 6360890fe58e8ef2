r"""Toy models of superposition, many instances trained at once.

Model (Elhage et al. 2022): :math:`h = Wx`, :math:`x' = \mathrm{ReLU}(W^Th + b)` (or ``activation="linear"``:
:math:`x'=W^TWx+b`), ``W`` of shape (m, n) with column i the embedding of feature i (conventions of
:mod:`theory.superposition`). Loss per sample :math:`\sum_i I_i (x_i-x'_i)^2`, averaged over a fresh batch
drawn every step.

Data: feature i is present with probability :math:`p_i` and then uniform on ``value_range``. Two samplers
with this law:

* **dense** (:func:`sample_features`): **one** uniform draw per entry, :math:`x = lo + (hi-lo)\,u/p` if
  :math:`u<p` else 0 (given u < p, u/p is uniform on [0, 1)); the batch is a (batch, n) array.
* **sparse** (:func:`sample_sparse_features`): for each feature, the rows where it is present are drawn as a
  Bernoulli process, i.e. by geometric gaps :math:`G=\lfloor\ln u/\ln(1-p_i)\rfloor+1` between successive
  present rows, plus one uniform value per present entry. Feature i gets a fixed number of slots
  (:func:`sparse_capacity`: the Binomial(batch, p_i) quantile at tail 1e-14, or the whole batch), so the work
  is about 2·Σ_i slots draws instead of batch·n. A step whose slots could have been too few (the last slot of
  a feature still inside the batch) is counted in the state's ``"overflow"``; runs check it is 0, and the law
  is then exact. The loss is evaluated without forming x:
  :math:`\sum_i I_i(x_i-x'_i)^2=\sum_i I_i x_i'^2-2\sum_{x_i\neq0}I_i x_i x'_i+\sum_{x_i\neq0}I_i x_i^2`,
  and :math:`h=Wx` is a sum over the present entries. Used when the features are sparse (``sampler="auto"``
  picks it when the slots are fewer than batch·n/8; Liu et al.'s n = 1000, batch 2048 needs ≈ 12,000 for
  2,048,000 entries).

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
:func:`train` runs them on the ensemble engine (:mod:`toymodels.engine`): one jitted ``lax.scan`` ``vmap`` ped over them. Different widths train together by
masking: ``W`` is allocated with ``m = max(widths)`` rows and rows ≥ width are held at zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from theory.common import ParameterError, check_int, check_range
from toymodels import engine
from toymodels.engine import Family, Job, Result

__all__ = [
    "Params",
    "Autoencoder",
    "Superposition",
    "ACTIVATIONS",
    "INITS",
    "SCHEDULES",
    "learning_rate_schedule",
    "sample_features",
    "sparse_capacity",
    "sample_sparse_features",
    "sparse_batch_loss",
    "SAMPLERS",
    "forward",
    "batch_loss",
    "reconstruction_loss",
    "init_params",
    "feature_norm_decay",
    "make_optimizer",
    "job",
    "example_job",
    "train",
    "auto_group",
    "instance_bytes",
    "evaluate_loss",
]

ACTIVATIONS = ("relu", "linear")
INITS = ("xavier", "liu")
SCHEDULES = ("constant", "warmup_cosine")
SAMPLERS = ("auto", "dense", "sparse")
#: per-feature, per-step probability that a feature's slots are too few (see :func:`sparse_capacity`)
SPARSE_TAIL = 1e-14


class Params(NamedTuple):
    W: jnp.ndarray  #: (m, n); column i embeds feature i
    b: jnp.ndarray  #: (n,)


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


def sparse_capacity(probabilities, batch_size: int, *, tail: float = SPARSE_TAIL) -> np.ndarray:
    """Slots per feature for :func:`sample_sparse_features`: the smallest k with P(Binomial(batch, p_i) > k) ≤ tail,
    + 1 (one slot past the count shows whether more could follow), at most ``batch_size``; ``probabilities`` (n,)
    or (I, n), the largest over instances is used. Host-side (the slots are static shapes).

    For p_i ≲ 1e-11 SciPy's quantile search stops early with a RuntimeWarning and returns 2 where 1 would do: the
    extra slot is kept (it only costs work; the law is exact either way) and the warning is silenced."""
    import warnings

    from scipy import stats

    p = np.max(np.atleast_2d(np.asarray(probabilities, float)), axis=0)
    check_range(p, "probabilities", low=0.0, high=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = np.where(p > 0, stats.binom.isf(tail, batch_size, np.clip(p, 0.0, 1.0)), 0.0)
    return np.minimum(np.nan_to_num(k, nan=batch_size).astype(np.int64) + 1, batch_size)


def _slot_tables(capacity):
    cap = np.asarray(capacity, np.int64)
    cols = np.repeat(np.arange(cap.size), cap)
    start = np.concatenate([[0], np.cumsum(cap)[:-1]])
    return cap, cols, start


def sample_sparse_features(
    key: jax.Array, batch_size: int, probabilities, capacity, *, value_range=(0.0, 1.0), dtype=None
):
    """A sparse batch with the law of :func:`sample_features`: ``(rows, cols, values, overflow)``.

    Entry k is feature ``cols[k]`` in sample ``rows[k]`` with value ``values[k]`` (0 for unused slots, whose row
    is 0). Feature i's present rows are a Bernoulli(p_i) process over the batch, drawn by geometric gaps
    ⌊ln u/ln(1 − p_i)⌋ + 1 into ``capacity[i]`` slots (static, :func:`sparse_capacity`); ``overflow`` counts
    the features whose last slot still fell inside the batch (then more present rows could have been cut off;
    never possible when ``capacity[i] == batch_size``).
    """
    cap, cols, start = _slot_tables(capacity)
    p = jnp.asarray(probabilities, dtype)
    if p.shape[-1] != cap.size:
        raise ParameterError(f"capacity must have one entry per feature ({p.shape[-1]}); got {cap.size}")
    k_gap, k_val = jax.random.split(key)
    q = p[cols]
    u = 1.0 - jax.random.uniform(k_gap, cols.shape, p.dtype)  # (0, 1]
    gap = jnp.floor(jnp.log(u) / jnp.log1p(-q))  # geometric on {0, 1, …}; q = 0 gives inf, q = 1 gives 0
    gap = jnp.clip(jnp.nan_to_num(gap, nan=batch_size, posinf=batch_size), 0, batch_size).astype(jnp.int32) + 1
    cs = jnp.cumsum(gap)
    before = jnp.where(start > 0, cs[np.maximum(start - 1, 0)], 0)
    pos = cs - before[cols] - 1
    inside = pos < batch_size
    lo, hi = value_range
    v = lo + (hi - lo) * jax.random.uniform(k_val, cols.shape, p.dtype)
    last = start + cap - 1
    overflow = jnp.sum(inside[last] & jnp.asarray(cap < batch_size), dtype=jnp.int32)
    return jnp.where(inside, pos, 0), jnp.asarray(cols), jnp.where(inside, v, 0.0).astype(p.dtype), overflow


def sparse_batch_loss(params: Params, rows, cols, values, batch_size: int, importance, activation: str = "relu"):
    """:func:`batch_loss` of the sparse batch (rows, cols, values) without forming x: h = Wx as a sum over the
    present entries, and Σ_i I_i(x_i − x'_i)² = Σ_i I_i x'_i² − 2 Σ_present I_i x_i x'_i + Σ_present I_i x_i²."""
    W, b = params
    h = jnp.zeros((batch_size, W.shape[0]), W.dtype).at[rows].add(values[:, None] * W[:, cols].T)
    pre = h @ W + b
    out = jax.nn.relu(pre) if activation == "relu" else pre
    imp = jnp.asarray(importance, W.dtype)
    at = out[rows, cols]
    total = jnp.sum(imp * out * out) + jnp.sum(imp[cols] * values * (values - 2.0 * at))
    return total / batch_size


def forward(params: Params, x, activation: str = "relu"):
    """x' = ReLU(x Wᵀ W + b) for a batch x of shape (batch, n) (``activation="linear"``: no ReLU)."""
    pre = (x @ params.W.T) @ params.W + params.b
    return jax.nn.relu(pre) if activation == "relu" else pre


def reconstruction_loss(output, x, importance):
    """Mean over the batch of Σ_i I_i (x_i − x'_i)²."""
    err = x - output
    return jnp.mean(jnp.sum(importance * err * err, axis=-1))


def batch_loss(params: Params, x, importance, activation: str = "relu"):
    """Mean over the batch of Σ_i I_i (x_i − x'_i)² for the model with ``params``."""
    return reconstruction_loss(forward(params, x, activation), x, importance)


def _check_activation(activation):
    if activation not in ACTIVATIONS:
        raise ParameterError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")


def init_params(
    key: jax.Array, n: int, m: int, *, init: str = "xavier", width=None, init_scale: float = 1.0, dtype=jnp.float32
) -> Params:
    """Initial parameters of one model; ``width`` ≤ m keeps rows ≥ width at zero (masked widths).

    ``init="xavier"``: W ~ N(0, 2/(n+m)), b = 0 (Elhage et al.'s ``xavier_normal_``).
    ``init="liu"``: W ~ N(0, 1/width), b ~ N(0, 1) (Liu et al.).
    ``init_scale`` multiplies W's standard deviation (the same draws): Anthropic's notebook applies
    ``xavier_normal_`` to the joint (instances L, n, m) tensor, i.e. std √(2/(m(n + L))), which is
    ``init_scale = √((n + m)/(m(n + L)))`` here.
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
    return Params(W * jnp.asarray(init_scale, dtype) * mask, b)


class Autoencoder(nnx.Module):
    r"""The toy model as a Flax module: :math:`x' = \phi(W^T W x + b)`, φ = ReLU (or identity, ``"linear"``).

    Parameters ``W`` (m, n) (column i embeds feature i) and ``b`` (n,), initialised by :func:`init_params`
    from ``rngs.params()``; ``width`` ≤ m keeps rows ≥ width at zero (the trainer holds them there).
    Call on a batch (batch, n); :meth:`params` gives the weights as :class:`Params`.
    """

    def __init__(
        self,
        n: int,
        m: int,
        *,
        activation: str = "relu",
        init: str = "xavier",
        width=None,
        init_scale: float = 1.0,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        _check_activation(activation)
        p = init_params(rngs.params(), n, m, init=init, width=width, init_scale=init_scale, dtype=dtype)
        self.W = nnx.Param(p.W)
        self.b = nnx.Param(p.b)
        self.activation = activation

    def __call__(self, x):
        return forward(self.params(), x, self.activation)

    def params(self) -> Params:
        return Params(self.W[...], self.b[...])


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
        as_dict = isinstance(params, dict)  # the module's pure state {"W", "b"} or Params
        W, b = (params["W"], params["b"]) if as_dict else params
        uW, ub = (updates["W"], updates["b"]) if as_dict else updates
        norms = jnp.sqrt(jnp.sum(W * W, axis=0, keepdims=True)) + eps
        g = jnp.asarray(weight_decay, W.dtype)
        dW = jnp.where(g >= 0, g * W, -g * W * (1.0 - 1.0 / norms))
        masked = isinstance(b, optax.MaskedNode)  # under optax.multi_transform b has its own transformation
        new = (uW + dW, ub if masked else ub + bias_decay * b)
        return ({"W": new[0], "b": new[1]} if as_dict else Params(*new)), state

    return optax.GradientTransformation(init_fn, update_fn)


def learning_rate_schedule(
    learning_rate: float, steps: int, schedule: str = "constant", warmup_steps: int = 0, final_fraction: float = 0.05
):
    """The learning rate of update k = 0, 1, … (a float, or a function of optax's update count k).

    ``warmup_cosine`` is Liu et al.'s ``get_lr`` (``exp/exp-10.py``): with s = k + 1, lr·s/W for s < W, then
    lr_min + (lr − lr_min)·½(1 + cos(π(s − W)/(steps − W))) with lr_min = ``final_fraction``·lr, so the first update
    uses lr/W and the last lr_min. optax's ``warmup_cosine_decay_schedule`` is that curve at s = k, so it is read one
    update ahead (optax alone would make the first update 0 and every later one the authors' previous rate).
    """
    if schedule not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
    if schedule == "constant":
        return learning_rate
    curve = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, max(int(warmup_steps), 1), steps, end_value=final_fraction * learning_rate
    )
    return lambda count: curve(count + 1)


def make_optimizer(
    learning_rate: float,
    steps: int,
    *,
    weight_decay=0.0,
    bias_decay=0.0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    final_fraction: float = 0.05,
    bias_learning_rate: float | None = None,
    adam_eps: float = 1e-8,
):
    """Adam + :func:`feature_norm_decay` + a learning-rate schedule (optax; see :func:`learning_rate_schedule`).

    ``bias_learning_rate``: b gets its own peak rate (same schedule) and Adam, and no decay, as in Liu et al.'s
    large models (App. B.1: W at 0.02·(8/m)^0.25, b at 2.0/m); ``None``: one rate for both.
    ``adam_eps``: Adam's ε. Adam on c·L with ε equals Adam on L with ε/c, so a loss scaled by c (Liu et al.'s
    large-model code multiplies the MSE by 100) is ``adam_eps = 1e-8 / c``.
    """
    lr = learning_rate_schedule(learning_rate, steps, schedule, warmup_steps, final_fraction)
    if bias_learning_rate is None:
        return optax.chain(
            optax.scale_by_adam(eps=adam_eps),
            feature_norm_decay(weight_decay, bias_decay),
            optax.scale_by_learning_rate(lr),
        )
    lr_b = learning_rate_schedule(bias_learning_rate, steps, schedule, warmup_steps, final_fraction)
    w_only = optax.chain(
        optax.scale_by_adam(eps=adam_eps), feature_norm_decay(weight_decay, 0.0), optax.scale_by_learning_rate(lr)
    )
    return optax.multi_transform(
        {"W": w_only, "b": optax.chain(optax.scale_by_adam(eps=adam_eps), optax.scale_by_learning_rate(lr_b))},
        lambda params: {"W": "W", "b": "b"} if isinstance(params, dict) else Params("W", "b"),
    )


# ----------------------------------------------------------------------------------------------
# training (on the engine, :mod:`toymodels.engine`)
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Superposition(Family):
    """One autoencoder's training: a fresh batch every step, Adam + decay, loss recorded as block means.

    Per-model settings: ``importance`` (n,), ``probabilities`` (n,), ``weight_decay`` (), ``width`` ().
    """

    n: int
    m: int
    batch_size: int
    steps: int
    learning_rate: float
    activation: str = "relu"
    init_scheme: str = "xavier"
    init_scale: float = 1.0  #: multiplies W's initial standard deviation (see :func:`init_params`)
    schedule: str = "constant"
    warmup_steps: int = 0
    value_range: tuple = (0.0, 1.0)
    bias_decay: float = 0.0
    dtype: Any = jnp.dtype(jnp.float32)
    capacity: tuple | None = None  #: slots per feature of the sparse sampler; None: dense sampler
    bias_learning_rate: float | None = None  #: b's own peak rate, no decay on b (None: learning_rate)
    adam_eps: float = 1e-8  #: Adam's ε (see :func:`make_optimizer`)
    label = "superposition"

    @cached_property
    def graphdef(self):
        return nnx.graphdef(nnx.eval_shape(lambda: self.model(nnx.Rngs(0))))

    def model(self, rngs: nnx.Rngs, width=None) -> Autoencoder:
        return Autoencoder(
            self.n,
            self.m,
            activation=self.activation,
            init=self.init_scheme,
            width=width,
            init_scale=self.init_scale,
            dtype=self.dtype,
            rngs=rngs,
        )

    def optimizer(self, weight_decay) -> optax.GradientTransformation:
        return make_optimizer(
            self.learning_rate,
            self.steps,
            weight_decay=weight_decay,
            bias_decay=self.bias_decay,
            schedule=self.schedule,
            warmup_steps=self.warmup_steps,
            bias_learning_rate=self.bias_learning_rate,
            adam_eps=self.adam_eps,
        )

    def init(self, key, setting, shared):
        k_init, k_data = jax.random.split(key)
        params = nnx.to_pure_dict(nnx.state(self.model(nnx.Rngs(params=k_init), setting["width"]), nnx.Param))
        state = {"params": params, "opt": self.optimizer(setting["weight_decay"]).init(params), "key": k_data}
        if self.capacity is not None:
            state["overflow"] = jnp.zeros((), jnp.int32)
        return state

    def step(self, state, setting, shared):
        key, sub = jax.random.split(state["key"])
        mask = (jnp.arange(self.m) < setting["width"])[:, None].astype(self.dtype)
        new = {"key": key}
        if self.capacity is None:
            x = sample_features(
                sub, self.batch_size, setting["probabilities"], value_range=self.value_range, dtype=self.dtype
            )

            def loss_fn(p):
                model = nnx.merge(self.graphdef, {"W": p["W"] * mask, "b": p["b"]})
                return reconstruction_loss(model(x), x, setting["importance"])

        else:
            rows, cols, vals, overflow = sample_sparse_features(
                sub,
                self.batch_size,
                setting["probabilities"],
                self.capacity,
                value_range=self.value_range,
                dtype=self.dtype,
            )
            new["overflow"] = state["overflow"] + overflow

            def loss_fn(p):
                params = Params(p["W"] * mask, p["b"])
                return sparse_batch_loss(
                    params, rows, cols, vals, self.batch_size, setting["importance"], self.activation
                )

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt = self.optimizer(setting["weight_decay"]).update(grads, state["opt"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return {**new, "params": {"W": params["W"] * mask, "b": params["b"]}, "opt": opt}, loss

    def record(self, state, setting, shared, block):
        return {"loss": block.mean}

    def group(self, n_models):
        return auto_group(self.batch_size, self.n, self.dtype)

    def memory(self):
        return instance_bytes(self.batch_size, self.n, self.m, self.dtype)


def instance_bytes(batch_size: int, n: int, m: int, dtype=jnp.float32) -> int:
    """Estimated working memory of one instance while it trains: the batch x and the ≈ 7 arrays of its shape
    that one step keeps (pre-activation, output, error, their cotangents, the random bits), plus W, b, their
    gradients and Adam's two moments. Used to size sweep chunks (:func:`toymodels.engine.sweep`)."""
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


def _finish(result: Result) -> Result:
    p = result.state["params"]
    return result._replace(state={**result.state, "params": Params(p["W"], p["b"])})


def job(
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
    init_scale: float = 1.0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    value_range=(0.0, 1.0),
    n_records: int = 100,
    sampler: str = "auto",
    bias_learning_rate: float | None = None,
    adam_eps: float = 1e-8,
    dtype=jnp.float32,
) -> Job:
    """The validated :class:`~toymodels.engine.Job` of :func:`train` (same arguments; for sweeps)."""
    _check_activation(activation)
    if sampler not in SAMPLERS:
        raise ParameterError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
    if init not in INITS:
        raise ParameterError(f"init must be one of {INITS}; got {init!r}")
    if schedule not in SCHEDULES:
        raise ParameterError(f"schedule must be one of {SCHEDULES}; got {schedule!r}")
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
    check_range(init_scale, "init_scale", low=0.0, low_inclusive=False)
    check_range(adam_eps, "adam_eps", low=0.0)
    if bias_learning_rate is not None:
        check_range(bias_learning_rate, "bias_learning_rate", low=0.0, low_inclusive=False)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ParameterError(f"value_range must be (lo, hi) with lo < hi; got {value_range!r}")
    n_inst = max(
        imp.shape[0] if imp.ndim == 2 else 1,
        probs.shape[0] if probs.ndim == 2 else 1,
        np.size(weight_decay),
        1 if widths is None else np.size(widths),
    )
    wid = np.broadcast_to(np.asarray(m if widths is None else widths), (n_inst,))
    check_int(wid, "widths", minimum=1, maximum=m)
    settings = {
        "importance": jnp.asarray(np.broadcast_to(imp, (n_inst, n)), dtype),
        "probabilities": jnp.asarray(np.broadcast_to(probs, (n_inst, n)), dtype),
        "weight_decay": jnp.asarray(np.broadcast_to(np.asarray(weight_decay, float), (n_inst,)), dtype),
        "width": jnp.asarray(wid, jnp.int32),
    }
    capacity = None
    if sampler != "dense":
        slots = sparse_capacity(probs, batch_size)
        if sampler == "sparse" or slots.sum() * 8 <= batch_size * n:
            capacity = tuple(int(k) for k in slots)
    family = Superposition(
        n=n,
        m=m,
        batch_size=batch_size,
        steps=steps,
        learning_rate=float(learning_rate),
        activation=activation,
        init_scheme=init,
        init_scale=float(init_scale),
        schedule=schedule,
        warmup_steps=int(warmup_steps),
        value_range=(lo, hi),
        bias_decay=float(bias_decay),
        dtype=jnp.dtype(dtype),
        capacity=capacity,
        bias_learning_rate=None if bias_learning_rate is None else float(bias_learning_rate),
        adam_eps=float(adam_eps),
    )
    return Job(family, settings, steps, n_records, finish=_finish)


def example_job(dtype=jnp.float64) -> Job:
    """A small job (7 instances of n = 6, m = 2, masked widths, both decay signs) for layout and speed checks."""
    return job(
        importance=0.9 ** np.arange(6),
        probabilities=np.repeat(np.geomspace(1.0, 0.05, 7)[:, None], 6, axis=1),
        m=2,
        widths=[1, 2, 2, 2, 1, 2, 2],
        weight_decay=np.linspace(-0.5, 0.5, 7),
        steps=40,
        batch_size=64,
        n_records=4,
        dtype=dtype,
    )


def train(
    key: jax.Array,
    *,
    devices: int | str | None = None,
    group: int | str | None = "auto",
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    **kwargs,
) -> Result:
    """Train I independent models at once on the engine (``vmap`` over instances, ``lax.scan`` over steps).

    Args (besides the engine's ``key``, ``devices``, ``group``, ``records_per_chunk``, ``progress``; see
    :func:`toymodels.engine.train`; instance i starts from ``fold_in(key, i)``):
        importance: (I, n) or (n,) importances I_i ≥ 0.
        probabilities: (I, n) or (n,) feature densities p_i = 1 − S_i in [0, 1].
        m: hidden dimensions (the maximum width when ``widths`` is given).
        steps: training steps (a multiple of ``n_records``).
        batch_size: fresh samples per step.
        learning_rate: Adam step (peak step for ``schedule="warmup_cosine"``).
        weight_decay: scalar or (I,) γ on W (negative: norm-to-1 pull, see module docstring).
        bias_decay: decoupled decay on b.
        bias_learning_rate: b's own peak Adam step, without decay on b (Liu et al.'s large models); default: the
            same as W's.
        adam_eps: Adam's ε (1e-8; Liu et al.'s large models scale the loss by 100, i.e. 1e-10 here).
        widths: optional (I,) integer widths ≤ m (masked); default m for all.
        activation: ``"relu"`` or ``"linear"``.
        init: ``"xavier"`` (Elhage et al.) or ``"liu"``.
        init_scale: multiplies W's initial standard deviation (:func:`init_params`; Anthropic's notebook's joint
            ``xavier_normal_`` over L instances is √((n + m)/(m(n + L)))).
        schedule: ``"constant"`` or ``"warmup_cosine"`` (``warmup_steps``, then cosine to 5 %).
        value_range: (lo, hi) of nonzero feature values.
        n_records: number of loss records (each the mean training loss over its block of steps).
        sampler: ``"dense"`` (:func:`sample_features`), ``"sparse"`` (:func:`sample_sparse_features`) or
            ``"auto"`` (sparse when its slots are fewer than batch·n/8). Same law; the sparse one counts, per
            instance, the steps' possibly cut-off features in ``state["overflow"]`` (check it is 0).
        dtype: training dtype (float32 by default).

    Returns:
        :class:`~toymodels.engine.Result`: ``params`` (:class:`Params`, W (I, m, n), b (I, n)), ``loss``
        (I, n_records), ``steps`` (n_records,).
    """
    return engine.train(
        job(**kwargs), key, devices=devices, group=group, records_per_chunk=records_per_chunk, progress=progress
    )


@partial(jax.jit, static_argnames=("n_samples", "chunk", "activation", "value_range", "common", "capacity"))
def _eval(key, params, importance, probs, n_samples, chunk, activation, value_range, common, capacity):
    def one(k, p, imp, pr):
        def body(acc, kk):
            if capacity is None:
                x = sample_features(kk, chunk, pr, value_range=value_range, dtype=p.W.dtype)
                return (acc[0] + batch_loss(p, x, imp, activation), acc[1]), None
            rows, cols, vals, overflow = sample_sparse_features(
                kk, chunk, pr, capacity, value_range=value_range, dtype=p.W.dtype
            )
            return (acc[0] + sparse_batch_loss(p, rows, cols, vals, chunk, imp, activation), acc[1] + overflow), None

        zero = (jnp.zeros((), p.W.dtype), jnp.zeros((), jnp.int32))
        (tot, over), _ = jax.lax.scan(body, zero, jax.random.split(k, n_samples // chunk))
        return tot / (n_samples // chunk), over

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
    sampler: str = "dense",
    return_overflow: bool = False,
):
    """Monte-Carlo expected loss of each instance on ``n_samples`` fresh samples (memory: one chunk).

    With ``common_samples`` every instance sees the same samples (common random numbers: differences
    between instances then carry no sampling noise from the shared part).

    ``sampler``: ``"dense"`` (:func:`sample_features`), ``"sparse"`` (:func:`sample_sparse_features` with
    :func:`sparse_capacity` slots per chunk, the largest over instances, and :func:`sparse_batch_loss`: the same law
    and loss without forming x) or ``"auto"`` (the rule of :func:`train`). ``return_overflow``: also return, per
    instance, the number of chunk × feature draws whose slots could have cut off present entries (0 with the dense
    sampler).
    """
    _check_activation(activation)
    if sampler not in SAMPLERS:
        raise ParameterError(f"sampler must be one of {SAMPLERS}; got {sampler!r}")
    n_inst, _, n = params.W.shape
    n_samples = int(check_int(n_samples, "n_samples"))
    chunk = min(int(check_int(chunk, "chunk")), n_samples)
    dt = params.W.dtype
    imp = jnp.broadcast_to(jnp.asarray(importance, dt), (n_inst, n))
    probs = jnp.broadcast_to(jnp.asarray(probabilities, dt), (n_inst, n))
    capacity = None
    if sampler != "dense":
        slots = sparse_capacity(np.asarray(probs), chunk)
        if sampler == "sparse" or slots.sum() * 8 <= chunk * n:
            capacity = tuple(int(k) for k in slots)
    loss, overflow = _eval(
        key,
        params,
        imp,
        probs,
        n_samples - n_samples % chunk,
        chunk,
        activation,
        tuple(float(v) for v in value_range),
        bool(common_samples),
        capacity,
    )
    return (loss, overflow) if return_overflow else loss
