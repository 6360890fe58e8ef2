r"""Recurrent networks trained on the streaming parity task, many seeds and training lengths at once.

Task (van Rossem & Saxe 2025, *Algorithm Development in Neural Networks: Insights from the Streaming Parity
Task*, ICML): read a binary stream :math:`x_1x_2\dots` and emit after every bit the parity
:math:`y_t=x_1\oplus\dots\oplus x_t`. Training uses **every** binary sequence of length 1…L, each once (the
authors' ``seq_data`` over ``train_seq_lengths = 1..max_seq_len``); generalisation is measured on random
sequences far longer than L (≥ 1000 steps).

Model (authors' public code, ``loekvanrossem/rnn_structure``, ``parity/model.py`` and
``parity/model settings/rnn.txt``, row ``rich``): one Elman layer
:math:`h_t=\phi(W_{hh}h_{t-1}+W_{xh}x_t+b_h)` with one-hot inputs :math:`x_t\in\{e_0,e_1\}`, the fixed initial
state :math:`h_0=\mathbf 1` (``init_hidden`` returns ones), a linear readout :math:`\hat y_t=W_{o}h_t+b_o` to
two outputs with one-hot parity targets, mean-squared error, matrices Xavier-normal with a small gain (1e-5:
the rich regime), biases zero, Adam with AMSGrad at lr 1e-3, hidden size 100, tanh.

Where this implementation differs, and why:

* **Full batch.** The public code draws minibatches of 128 per length; here each step uses the whole training
  set (a deterministic gradient, so that the same key gives the same run and the effective theory, a
  gradient flow, applies without SGD noise). ``steps`` counts full-batch updates.
* **One batch for every L.** All 2^Lmax sequences of length Lmax are run once with an output at every step;
  a prefix of length m appears 2^(Lmax−m) times among them, so weighting position m by
  ``2^(m−Lmax)`` for m ≤ L (0 beyond) gives exactly the loss over the distinct sequences of length 1…L, each
  once (``weighting='distinct'``, the authors' data set). ``weighting='streaming'`` instead weights every
  position of the length-L streams equally (the streaming formulation of the task). This lets seeds **and**
  training lengths be vmapped together, with ``lax.scan`` over time and over training steps.
* The paper's appendix (as quoted by a public replication) trains 100 ReLU units with SGD at lr 0.02 and
  Xavier gain 0.1; the authors' repository's ``rich`` setting is tanh/AMSGrad/gain 1e-5. Both are available
  (``activation``, ``optimizer``, ``gain``); the default is the repository's.

Hidden states of every prefix (length 0…Lmax) are recorded at chosen checkpoints for automaton extraction
and the merger analysis (:mod:`theory.streaming_parity`).
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

from theory.common import ParameterError, check_int, check_range
from toymodels import engine
from toymodels.engine import Family, Job, Result

__all__ = [
    "ACTIVATIONS",
    "RNNConfig",
    "Params",
    "ElmanRNN",
    "FullBatch",
    "to_params",
    "from_params",
    "all_sequences",
    "parity_targets",
    "check_binary",
    "position_weights",
    "init_params",
    "run_rnn",
    "predict",
    "loss_fn",
    "job",
    "example_job",
    "train",
    "long_sequence_accuracy",
    "prefix_hidden_states",
]

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}
OPTIMIZERS = ("amsgrad", "adam", "sgd")


@dataclass(frozen=True)
class RNNConfig:
    """Architecture and optimiser of one RNN (hashable: it is a static argument of the jitted trainer)."""

    hidden: int = 100
    activation: str = "tanh"
    gain: float = 1e-5
    optimizer: str = "amsgrad"
    learning_rate: float = 1e-3
    weighting: str = "distinct"
    initial_state: float = 1.0

    def __post_init__(self):
        check_int(self.hidden, "hidden", minimum=1)
        if self.activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer must be one of {list(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.weighting not in ("distinct", "streaming"):
            raise ParameterError(f"weighting must be 'distinct' or 'streaming'; got {self.weighting!r}")
        check_range(self.gain, "gain", low=0.0, low_inclusive=False)
        check_range(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_range(self.initial_state, "initial_state")


class Params(NamedTuple):
    """``W_hh`` (P, P), ``W_xh`` (P, 2), ``b_h`` (P,), ``W_o`` (2, P), ``b_o`` (2,)."""

    W_hh: jax.Array
    W_xh: jax.Array
    b_h: jax.Array
    W_o: jax.Array
    b_o: jax.Array


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
def check_binary(bits, name: str = "bits") -> np.ndarray:
    """``bits`` as an int array, or :class:`ParameterError` naming ``name`` unless every entry is 0 or 1."""
    arr = np.asarray(bits)
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        bad = arr[(arr != 0) & (arr != 1)].ravel()[:3].tolist()
        raise ParameterError(f"{name} must contain only 0 and 1 (a binary sequence); got values such as {bad}")
    return arr.astype(np.int32)


def all_sequences(length: int) -> np.ndarray:
    """Every binary sequence of ``length`` bits, shape (2^length, length), in lexicographic order."""
    check_int(length, "length", minimum=1)
    if length > 24:
        raise ParameterError(f"length must be <= 24 (2^length sequences are materialised); got {length}")
    codes = np.arange(2**length)
    return ((codes[:, None] >> np.arange(length - 1, -1, -1)) & 1).astype(np.int32)


def parity_targets(bits) -> np.ndarray:
    """Streaming parity: the parity of all bits so far at every step (last axis is time)."""
    arr = check_binary(bits)
    return (np.cumsum(arr, axis=-1) % 2).astype(np.int32)


def position_weights(train_length, max_length: int, weighting: str = "distinct") -> jnp.ndarray:
    """Loss weight of output position m = 1…Lmax when training on lengths 1…L (see the module docstring).

    ``'distinct'``: ∝ 2^(m−Lmax) for m ≤ L, so the loss over all 2^Lmax streams equals the mean over the
    distinct sequences of length 1…L; ``'streaming'``: uniform over positions m ≤ L. Normalised so that the
    weights, times the 2^Lmax streams, sum to 1. ``train_length`` may be traced (vmapped).
    """
    m = jnp.arange(1, max_length + 1)
    raw = jnp.exp2(m - max_length) if weighting == "distinct" else jnp.ones(max_length)
    w = jnp.where(m <= train_length, raw, 0.0)
    return w / (jnp.sum(w) * 2**max_length)


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------
def init_params(key: jax.Array, cfg: RNNConfig, dtype=jnp.float32) -> Params:
    """Xavier-normal matrices with gain ``cfg.gain`` (std = gain·√(2/(fan_in+fan_out))), zero biases."""
    k1, k2, k3 = jax.random.split(key, 3)
    P = cfg.hidden

    def xavier(k, shape):
        fan_out, fan_in = shape
        return cfg.gain * np.sqrt(2.0 / (fan_in + fan_out)) * jax.random.normal(k, shape, dtype)

    return Params(xavier(k1, (P, P)), xavier(k2, (P, 2)), jnp.zeros(P, dtype), xavier(k3, (2, P)), jnp.zeros(2, dtype))


def _cell(params: Params, h, bit, activation: str):
    return ACTIVATIONS[activation](h @ params.W_hh.T + params.W_xh.T[bit] + params.b_h)


def run_rnn(params: Params, bits, cfg: RNNConfig, h0=None):
    """Hidden states after every bit: bits (B, T) int → (T, B, P); ``h0`` defaults to the fixed initial state."""
    B = bits.shape[0]
    if h0 is None:
        h0 = jnp.full((B, params.W_hh.shape[0]), cfg.initial_state, params.W_hh.dtype)

    def step(h, bit):
        h = _cell(params, h, bit, cfg.activation)
        return h, h

    _, hs = jax.lax.scan(step, h0, bits.T)
    return hs


def predict(params: Params, bits, cfg: RNNConfig):
    """Predicted parity (0/1) after every bit, (B, T), from the larger of the two outputs."""
    hs = run_rnn(params, bits, cfg)
    out = hs @ params.W_o.T + params.b_o
    return jnp.argmax(out, axis=-1).T


def loss_fn(params: Params, bits, targets, weights, cfg: RNNConfig):
    """Weighted MSE over all streams and positions; ``weights`` (T,) from :func:`position_weights`.

    Per output the error is the mean over the two one-hot components (PyTorch's ``MSELoss``).
    """
    hs = run_rnn(params, bits, cfg)
    out = hs @ params.W_o.T + params.b_o  # (T, B, 2)
    onehot = jax.nn.one_hot(targets.T, 2, dtype=out.dtype)
    err = jnp.mean((out - onehot) ** 2, axis=-1)  # (T, B)
    return jnp.sum(err * weights[:, None])


def prefix_hidden_states(params: Params, cfg: RNNConfig, max_length: int):
    """Hidden states and outputs of every prefix of length 0…max_length.

    Order: the empty prefix, then the 2 prefixes of length 1, the 4 of length 2, … each in lexicographic
    order (index of prefix s of length m: 2^m − 1 + int(s, 2)). Returns (hidden (N, P), outputs (N, 2)),
    N = 2^(max_length+1) − 1; the empty prefix's output is the readout of the initial state.
    """
    seqs = jnp.asarray(all_sequences(max_length))
    hs = run_rnn(params, seqs, cfg)  # (T, 2^T, P)
    P = params.W_hh.shape[0]
    h0 = jnp.full((1, P), cfg.initial_state, params.W_hh.dtype)
    pieces = [h0]
    for m in range(1, max_length + 1):
        # prefix s of length m is the first m bits of the streams 2^(T-m)·int(s) … : take every 2^(T-m)-th
        pieces.append(hs[m - 1, :: 2 ** (max_length - m)])
    hidden = jnp.concatenate(pieces, axis=0)
    return hidden, hidden @ params.W_o.T + params.b_o


class ElmanRNN(nnx.Module):
    r"""The Elman RNN as a Flax module: a :class:`flax.nnx.SimpleCell` (2 one-hot inputs → ``hidden`` units) and a
    linear readout to 2 outputs, :math:`h_t=\phi(W_{hh}h_{t-1}+W_{xh}x_t+b_h)`, :math:`\hat y_t=W_oh_t+b_o`.

    Matrices are Xavier-normal with gain ``gain`` (std = gain·√(2/(fan_in+fan_out))), biases zero; the initial
    state is the constant ``initial_state``. Calling it on bits (B, T) gives the outputs (T, B, 2);
    :meth:`params` gives the weights as :class:`Params` (the closed-form functions' layout).
    """

    def __init__(
        self,
        hidden: int = 100,
        *,
        activation: str = "tanh",
        gain: float = 1e-5,
        initial_state: float = 1.0,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        if activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
        xavier = jax.nn.initializers.variance_scaling(float(gain) ** 2, "fan_avg", "normal")
        zeros = jax.nn.initializers.zeros
        self.cell = nnx.SimpleCell(
            2,
            hidden,
            activation_fn=ACTIVATIONS[activation],
            kernel_init=xavier,
            recurrent_kernel_init=xavier,
            bias_init=zeros,
            dtype=dtype,
            param_dtype=dtype,
            rngs=rngs,
        )
        self.readout = nnx.Linear(
            hidden, 2, kernel_init=xavier, bias_init=zeros, dtype=dtype, param_dtype=dtype, rngs=rngs
        )
        self.initial_state = float(initial_state)

    def hidden_states(self, bits):
        """Hidden states after every bit: bits (B, T) int → (T, B, P)."""
        P = self.cell.hidden_features
        h0 = jnp.full((bits.shape[0], P), self.initial_state, self.readout.kernel.dtype)
        xs = jax.nn.one_hot(jnp.asarray(bits).T, 2, dtype=h0.dtype)
        return jax.lax.scan(lambda h, x: self.cell(h, x), h0, xs)[1]

    def __call__(self, bits):
        return self.readout(self.hidden_states(bits))

    def params(self) -> Params:
        return to_params(nnx.to_pure_dict(nnx.state(self, nnx.Param)))


def to_params(state: dict) -> Params:
    """:class:`ElmanRNN` weights (its pure state dict) in the :class:`Params` layout (any leading axes)."""
    T = lambda x: jnp.swapaxes(x, -1, -2)  # noqa: E731
    c, r = state["cell"], state["readout"]
    return Params(T(c["dense_h"]["kernel"]), T(c["dense_i"]["kernel"]), c["dense_i"]["bias"], T(r["kernel"]), r["bias"])


def from_params(params: Params) -> dict:
    """Inverse of :func:`to_params`."""
    T = lambda x: jnp.swapaxes(x, -1, -2)  # noqa: E731
    return {
        "cell": {"dense_h": {"kernel": T(params.W_hh)}, "dense_i": {"kernel": T(params.W_xh), "bias": params.b_h}},
        "readout": {"kernel": T(params.W_o), "bias": params.b_o},
    }


def long_sequence_accuracy(
    key: jax.Array, params: Params, cfg: RNNConfig, *, length: int = 1000, n_sequences: int = 64
):
    """Fraction of random sequences of ``length`` bits whose parity is right at **every** step, and the
    per-step accuracy (mean over steps and sequences). Works on one network (no leading axes)."""
    bits = jax.random.bernoulli(key, 0.5, (n_sequences, length)).astype(jnp.int32)
    target = jnp.cumsum(bits, axis=1) % 2
    ok = predict(params, bits, cfg) == target
    return jnp.mean(jnp.all(ok, axis=1)), jnp.mean(ok)


# ----------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------
def _optimizer(cfg: RNNConfig) -> optax.GradientTransformation:
    if cfg.optimizer == "amsgrad":
        return optax.amsgrad(cfg.learning_rate)
    if cfg.optimizer == "adam":
        return optax.adam(cfg.learning_rate)
    return optax.sgd(cfg.learning_rate)


@dataclass(frozen=True)
class FullBatch(Family):
    """One RNN's full-batch training on every stream of length ``max_length`` (shared ``bits``, ``targets``).

    Per-model setting: ``weights`` (max_length,), the loss weight of each output position
    (:func:`position_weights` of its training length). Records the loss of the block's last step and, with
    ``record_prefix``, the hidden states and outputs of every prefix up to that length.
    """

    cfg: RNNConfig
    max_length: int
    record_prefix: int = 0
    dtype: Any = jnp.dtype(jnp.float32)
    label = "streaming-parity RNN"

    @cached_property
    def graphdef(self):
        return nnx.graphdef(nnx.eval_shape(lambda: self.model(nnx.Rngs(0))))

    def model(self, rngs: nnx.Rngs) -> ElmanRNN:
        c = self.cfg
        return ElmanRNN(
            c.hidden, activation=c.activation, gain=c.gain, initial_state=c.initial_state, dtype=self.dtype, rngs=rngs
        )

    def loss(self, params, weights, shared):
        # The full batch (every sequence of max_length bits) is a compile-time constant, not a shared argument:
        # XLA folds its one-hot encodings (measured 7.9 M → 8.3 M sequence-steps/s in the benchmark).
        seqs = all_sequences(self.max_length)
        out = nnx.merge(self.graphdef, params)(jnp.asarray(seqs))  # (T, B, 2)
        onehot = jax.nn.one_hot(jnp.asarray(parity_targets(seqs)).T, 2, dtype=out.dtype)
        err = jnp.mean((out - onehot) ** 2, axis=-1)  # (T, B): PyTorch's MSELoss over the two outputs
        return jnp.sum(err * weights[:, None])

    def init(self, key, setting, shared):
        params = nnx.to_pure_dict(nnx.state(self.model(nnx.Rngs(params=key)), nnx.Param))
        return {"params": params, "opt": _optimizer(self.cfg).init(params)}

    def step(self, state, setting, shared):
        loss, grads = jax.value_and_grad(self.loss)(state["params"], setting["weights"], shared)
        updates, opt = _optimizer(self.cfg).update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt}, loss

    def memory(self):
        """Activations over the 2^Lmax streams × Lmax steps (forward and backward, ≈ 6 arrays of them)."""
        return self.dtype.itemsize * 6 * 2**self.max_length * self.max_length * self.cfg.hidden

    def record(self, state, setting, shared, block):
        rec = {"loss": block.last}
        if self.record_prefix:
            rec["hidden"], rec["outputs"] = prefix_hidden_states(
                to_params(state["params"]), self.cfg, self.record_prefix
            )
        return rec


def job(
    train_lengths,
    cfg: RNNConfig = RNNConfig(),
    *,
    seeds: int = 8,
    steps: int = 3000,
    n_records: int = 30,
    record_prefix: int = 0,
    max_length: int | None = None,
    first_seed: int = 0,
    dtype=jnp.float32,
) -> Job:
    """The validated :class:`~toymodels.engine.Job` of :func:`train` (same arguments; a sweep item is a seed)."""
    lengths = np.atleast_1d(np.asarray(train_lengths))
    if lengths.size == 0:
        raise ParameterError("train_lengths must not be empty")
    for L in lengths:
        check_int(L, "train_length", minimum=1)
    check_int(seeds, "seeds", minimum=1)
    check_int(steps, "steps", minimum=1)
    check_int(n_records, "n_records", minimum=1)
    check_int(record_prefix, "record_prefix", minimum=0)
    if steps % n_records:
        raise ParameterError(f"steps must be a multiple of n_records={n_records}; got {steps}")
    max_length = int(lengths.max()) if max_length is None else max_length
    check_int(max_length, "max_length", minimum=int(lengths.max()))
    check_int(first_seed, "first_seed", minimum=0)
    n_len = lengths.size
    weights = jnp.stack([position_weights(int(L), max_length, cfg.weighting) for L in lengths]).astype(dtype)
    # one flat model axis, seed-major: model s·n_len + j is (seed s, length j); a seed's key is shared by its lengths
    ids = np.repeat(first_seed + np.arange(seeds), n_len)
    family = FullBatch(cfg, int(max_length), int(record_prefix), jnp.dtype(dtype))
    settings = {"weights": jnp.tile(weights, (seeds, 1))}
    return Job(
        family,
        settings,
        int(steps),
        int(n_records),
        ids=ids,
        unit=n_len,
        finish=partial(_finish, n_len=n_len),
    )


def _finish(result: Result, n_len: int) -> Result:
    """Flat (seed × length) models → leading axes (S, G); weights as :class:`Params`."""
    by_seed = lambda x: x.reshape(-1, n_len, *x.shape[1:])  # noqa: E731
    state = jax.tree.map(by_seed, result.state)
    state["params"] = to_params(state["params"])
    return result._replace(state=state, records=jax.tree.map(by_seed, result.records))


def example_job(dtype=jnp.float64) -> Job:
    """A small job (3 seeds × lengths 2 and 3, 8 units, prefix states recorded) for layout checks."""
    cfg = RNNConfig(hidden=8, gain=0.5, learning_rate=1e-2)
    return job([2, 3], cfg, seeds=3, steps=20, n_records=2, record_prefix=2, dtype=dtype)


def train(
    key: jax.Array,
    train_lengths,
    cfg: RNNConfig = RNNConfig(),
    *,
    devices: int | str | None = None,
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    **kwargs,
) -> Result:
    """Train ``seeds`` × ``len(train_lengths)`` RNNs at once on the engine (vmap over both), full-batch.

    Args (besides the engine's ``key``, ``devices``, ``records_per_chunk``, ``progress``):
        key: PRNG key; seed s starts from ``ElmanRNN(rngs=nnx.Rngs(params=fold_in(key, s)))``, **shared across
            training lengths** (so lengths are compared on the same initial networks).
        train_lengths: the training lengths L (each ≥ 1).
        cfg: architecture and optimiser.
        seeds: number of independent initialisations.
        steps: full-batch optimiser steps (a multiple of ``n_records``).
        n_records: records (loss, and the prefix hidden states when ``record_prefix``).
        record_prefix: record hidden states of every prefix up to this length (0: none).
        max_length: length of the stream batch (default max(train_lengths)).
        first_seed: index of the first seed (seed s uses ``fold_in(key, first_seed + s)``).

    Returns:
        :class:`~toymodels.engine.Result` with leading axes (S, G) everywhere: ``params`` (:class:`Params`),
        ``loss`` (S, G, R) (the loss at the last step before each record), ``steps`` (R,), and with
        ``record_prefix`` ``records["hidden"]`` (S, G, R, 2^(Lrec+1)−1, P) (:func:`prefix_hidden_states`
        order) and ``records["outputs"]`` (…, 2).
    """
    return engine.train(
        job(train_lengths, cfg, **kwargs), key, devices=devices, records_per_chunk=records_per_chunk, progress=progress
    )


# ----------------------------------------------------------------------------------------------
# exactly constructed networks
# ----------------------------------------------------------------------------------------------
def dfa_rnn(transitions, outputs, initial: int = 0, *, sharpness: float = 20.0):
    """An Elman tanh RNN that exactly runs a Moore machine over {0, 1} (for testing the extraction).

    One hidden unit per (state q, last bit x): with indicators I = (1 − h)/2 (a unit is *on* at h = −1), unit
    (q', x') turns on iff the input is x' and the current state q (any unit (q, ·) on) has δ(q, x') = q'; the
    all-off state (the fixed initial state h₀ = 1) stands for ``initial``. Each condition contributes 1 to a
    pre-activation that is thresholded at 1.5, so the update is linear in h and the input, as an Elman cell
    needs (a state-only encoding cannot: "state j and bit 0, or state j−1 and bit 1" is not linearly
    separable). The readout sums the indicators of the states with each output. With ``sharpness`` s the
    units saturate to within ~e^(−s) of ±1.

    Returns ``(params, cfg)`` with ``cfg.hidden = 2 × n_states``, tanh, initial state 1.
    """
    t = np.asarray(transitions, int)
    out = np.asarray(outputs, int)
    k = t.shape[0]
    if t.shape != (k, 2) or np.any(t < 0) or np.any(t >= k):
        raise ParameterError(f"transitions must be a complete (n_states, 2) table of states; got shape {t.shape}")
    if out.shape != (k,) or np.any((out != 0) & (out != 1)):
        raise ParameterError("outputs must be (n_states,) with values 0 or 1")
    check_range(sharpness, "sharpness", low=0.0, low_inclusive=False)
    P = 2 * k
    unit = lambda q, x: 2 * q + x  # noqa: E731
    # pre-activation of unit (q', x') in indicator terms, z = Σ_{q: δ(q,x')=q'} Σ_x I_{q,x}
    #   + [δ(initial, x') = q'] (1 − Σ_all I) + [bit = x'] − 1.5 ; tanh(−s z) makes it on (h = −1) when z > 0
    A = np.zeros((P, P))  # coefficient of I
    c = np.full(P, -1.5)
    U = np.zeros((P, 2))
    for qn in range(k):
        for xn in (0, 1):
            j = unit(qn, xn)
            U[j, xn] = 1.0
            for q in range(k):
                if t[q, xn] == qn:
                    A[j, unit(q, 0)] += 1.0
                    A[j, unit(q, 1)] += 1.0
            if t[initial, xn] == qn:
                c[j] += 1.0
                A[j] -= 1.0
    # I = (1 − h)/2  ⇒  A I = A/2·1 − A/2·h ;  h_new = tanh(−s z)
    s = float(sharpness)
    W_hh = -s * (-A / 2)
    b_h = -s * (A.sum(axis=1) / 2 + c)
    W_xh = -s * U
    # readout: output class o gets Σ_{q: out(q)=o} Σ_x I_{q,x} = Σ (1 − h)/2
    R = np.zeros((2, P))
    for q in range(k):
        R[out[q], unit(q, 0)] = R[out[q], unit(q, 1)] = 1.0
    W_o = -R / 2
    b_o = R.sum(axis=1) / 2
    cfg = RNNConfig(hidden=P, activation="tanh", initial_state=1.0)
    f = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    return Params(f(W_hh), f(W_xh), f(b_h), f(W_o), f(b_o)), cfg
