r"""Recurrent networks trained on the streaming parity task, at the published setting, many networks at once.

Paper: L. van Rossem & A. M. Saxe, *Algorithm Development in Neural Networks: Insights from the Streaming Parity
Task*, ICML 2025 (PMLR 267; arXiv:2507.09897), App. C.1 (setting) and App. D.6 (tanh variant); the training loop
follows the authors' ``source/compilation.py::training_run`` (``loekvanrossem/rnn_structure``).

**Task.** A binary sequence s of length ℓ has the target parity(s) = (number of ones) mod 2, one-hot in two outputs.
The training set holds every binary sequence of length 1…L (2^(L+1) − 2 sequences; 2,046 at L = 10), or a random
fraction p of them (Fig. 9: each sequence kept independently with probability p, i.e. Binomial(2^ℓ, p) random
sequences of each length ℓ, as in the authors' ``grid plot.ipynb``).

**Model (App. C.1, Eq. 50).** One fully connected recurrent layer and a linear readout, both with bias,

.. math::  h_t = \phi(W_{ih}x_t + b_{ih} + W_{hh}h_{t-1} + b_{hh}), \qquad y = W_{hy}h_\ell + b_{hy},

with one-hot inputs x_t, the fixed initial state h_0 = 1 (all ones), **many-to-one**: a sequence's output is the
readout of its last hidden state. Matrices Xavier-normal with gain g (std g·√(2/(fan_in + fan_out))), biases zero.
Paper setting (:data:`PAPER`): φ = ReLU, P = 100, g = 0.1; tanh variant (:data:`TANH`, App. D.6): g = 0.01.

**Training (App. C.1 and ``training_run``).** Plain SGD (no momentum, no weight decay) on the mean squared error
(PyTorch's ``MSELoss``: mean over the batch and the two outputs), lr 0.02 (tanh: 0.05), batches of 128, 1000
epochs. Every epoch visits the lengths in order ℓ = 1, 2, …, L; each length has its own shuffled loader, so a batch
holds sequences of one length only and each batch is one SGD step on its batch mean. At L = 10 that is 21 steps per
epoch (one per length ℓ ≤ 7, then 2, 4, 8 for ℓ = 8, 9, 10): the loss weight per *length* is equal for ℓ ≤ 7 and
2, 4, 8 × for ℓ = 8, 9, 10, not equal per sequence (:func:`epoch_weights`). :class:`Epochs` is exactly this loop:
the engine's step is one epoch of these per-length SGD steps, with a fresh shuffle per epoch from the model's key.
A shorter last batch (``drop_last=False``) averages over its own size; a length with no kept sequence is skipped
(a step with zero gradient, which plain SGD leaves unchanged). With ``stop_loss`` a network stops updating after
the first epoch whose running training loss (the authors' epoch loss) falls below it (``conv_thresh``).

**Records.** The engine records the initial network (the authors track before each epoch's updates, so their
epoch 0 is the initialisation) and then every ``epochs // n_records`` epochs: the training loss (mean over the
kept sequences, each once), the loss of each length, the loss and final-output accuracy on random validation
sequences of chosen lengths (Fig. 6: 25 … 10,000), and optionally the hidden state and output of every sequence of
length 0…L (:func:`prefix_hidden_states`), the representations the automata and the merger analysis are read from.

**Per-model settings.** Models are vmapped; each has its own initial gain (``gains``) and data fraction
(``fractions``), so a whole gain × fraction grid (Fig. 9) is one sweep. Model i's weights are g_i times a
gain-1 Xavier draw from its key, and its data mask keeps sequence s iff u_s < p_i for uniforms drawn from its key:
models that share a key id (``seed``) share their base weights and have nested data sets across fractions.
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
    "ACTIVATIONS",
    "OPTIMIZERS",
    "LOSSES",
    "RNNConfig",
    "PAPER",
    "TANH",
    "Params",
    "ElmanRNN",
    "Epochs",
    "to_params",
    "from_params",
    "all_sequences",
    "parity_targets",
    "check_binary",
    "sequence_count",
    "sequence_lengths",
    "epoch_weights",
    "data_mask",
    "init_params",
    "run_rnn",
    "final_outputs",
    "predict",
    "prefix_hidden_states",
    "sequence_loss",
    "long_sequence_accuracy",
    "representation_rate",
    "decoder_rate",
    "output_rate",
    "job",
    "example_job",
    "train",
    "dfa_rnn",
]

ACTIVATIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}
OPTIMIZERS = ("sgd", "adam", "amsgrad")
LOSSES = ("mse", "cross_entropy")


@dataclass(frozen=True)
class RNNConfig:
    """Architecture, loss and optimiser of one RNN (hashable: a static argument of the jitted trainer).

    Defaults are the paper's (App. C.1): 100 ReLU units, Xavier gain 0.1, plain SGD at lr 0.02, batches of 128,
    mean squared error, h₀ = 1. ``loss='cross_entropy'`` is what the authors' Fig. 9 notebook trains with (its
    ``MSELoss`` is overwritten by ``CrossEntropyLoss``); ``optimizer`` 'adam'/'amsgrad' are not the paper's.
    """

    hidden: int = 100
    activation: str = "relu"
    gain: float = 0.1
    optimizer: str = "sgd"
    learning_rate: float = 0.02
    batch_size: int = 128
    loss: str = "mse"
    initial_state: float = 1.0

    def __post_init__(self):
        check_int(self.hidden, "hidden", minimum=1)
        if self.activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}; got {self.activation!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ParameterError(f"optimizer must be one of {list(OPTIMIZERS)}; got {self.optimizer!r}")
        if self.loss not in LOSSES:
            raise ParameterError(f"loss must be one of {list(LOSSES)}; got {self.loss!r}")
        check_range(self.gain, "gain", low=0.0, low_inclusive=False)
        check_range(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_range(self.initial_state, "initial_state")


#: the paper's setting (App. C.1)
PAPER = RNNConfig()
#: the tanh variant (App. D.6: gain 0.01, lr 0.05, all else as in C.1)
TANH = RNNConfig(activation="tanh", gain=0.01, learning_rate=0.05)


class Params(NamedTuple):
    """Eq. 50's weights: ``W_hh`` (P, P), ``W_xh`` (P, 2), ``b_xh`` (P,), ``b_hh`` (P,), ``W_o`` (2, P), ``b_o`` (2,)."""

    W_hh: jax.Array
    W_xh: jax.Array
    b_xh: jax.Array
    b_hh: jax.Array
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


def sequence_count(train_length: int) -> int:
    """Number of sequences of length 1…L: 2^(L+1) − 2 (the training set at fraction 1)."""
    check_int(train_length, "train_length", minimum=1)
    return 2 ** (train_length + 1) - 2


def sequence_lengths(train_length: int) -> np.ndarray:
    """Length of each sequence in the flat order used here (length 1 first, each length lexicographic): sequence
    k ≥ 0 is the prefix of :func:`theory.streaming_parity.prefix_index` k + 1."""
    return np.concatenate([np.full(2**ell, ell) for ell in range(1, train_length + 1)])


def epoch_weights(train_length: int, batch_size: int = 128, kept=None) -> np.ndarray:
    """Loss weight of each sequence of length 1…L in one epoch of per-length minibatch SGD (flat order).

    One epoch applies, for each length ℓ, ⌈k_ℓ/B⌉ steps on batch means of k_ℓ kept sequences: to first order in the
    learning rate its update is −lr ∇ Σ_s ω_s err(s) with ω_s = ⌈k_ℓ/B⌉ / k_ℓ for a kept sequence of length ℓ (0 if
    not kept). At L = 10, full data: ω = 2^(−ℓ) for ℓ ≤ 7 and 1/128 for ℓ = 8, 9, 10. ``kept`` (flat 0/1 mask)
    defaults to every sequence.
    """
    check_int(batch_size, "batch_size", minimum=1)
    lengths = sequence_lengths(train_length)
    mask = np.ones(lengths.size) if kept is None else np.asarray(kept, float)
    if mask.shape != lengths.shape:
        raise ParameterError(f"kept must have shape {lengths.shape}; got {mask.shape}")
    w = np.zeros(lengths.size)
    for ell in range(1, train_length + 1):
        sel = lengths == ell
        k = mask[sel].sum()
        if k > 0:
            w[sel] = mask[sel] * math.ceil(k / batch_size) / k
    return w


def data_mask(key: jax.Array, train_length: int, fraction) -> jax.Array:
    """Flat 0/1 mask of the kept training sequences: sequence s is kept iff u_s < ``fraction``, u_s ~ U(0, 1) from
    ``key`` (so each length ℓ keeps Binomial(2^ℓ, p) uniformly chosen sequences; masks from one key are nested in
    the fraction)."""
    u = jax.random.uniform(key, (sequence_count(train_length),))
    return (u < fraction).astype(jnp.float32)


# ----------------------------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------------------------
def init_params(key: jax.Array, cfg: RNNConfig, dtype=jnp.float32) -> Params:
    """The :class:`ElmanRNN` of ``cfg`` drawn from ``key`` (``nnx.Rngs(params=key)``), in the :class:`Params` layout."""
    model = ElmanRNN(
        cfg.hidden,
        activation=cfg.activation,
        gain=cfg.gain,
        initial_state=cfg.initial_state,
        dtype=dtype,
        rngs=nnx.Rngs(params=key),
    )
    return model.params()


def _cell(params: Params, h, bit, activation: str):
    return ACTIVATIONS[activation](h @ params.W_hh.T + params.b_hh + params.W_xh.T[bit] + params.b_xh)


def run_rnn(params: Params, bits, cfg: RNNConfig, h0=None):
    """Hidden states after every bit: bits (B, T) int → (T, B, P); ``h0`` defaults to the fixed initial state."""
    bits = jnp.asarray(bits)
    B = bits.shape[0]
    if h0 is None:
        h0 = jnp.full((B, params.W_hh.shape[0]), cfg.initial_state, params.W_hh.dtype)

    def step(h, bit):
        h = _cell(params, h, bit, cfg.activation)
        return h, h

    _, hs = jax.lax.scan(step, h0, bits.T)
    return hs


def final_outputs(params: Params, bits, cfg: RNNConfig):
    """The network's output for each sequence (many-to-one, Eq. 50): the readout of its last hidden state, (B, 2)."""
    return run_rnn(params, bits, cfg)[-1] @ params.W_o.T + params.b_o


def predict(params: Params, bits, cfg: RNNConfig):
    """Predicted parity (0/1) after every bit, (B, T): the larger of the two outputs read at every step (the
    readout applied to every hidden state; training only ever reads the last one)."""
    hs = run_rnn(params, bits, cfg)
    return jnp.argmax(hs @ params.W_o.T + params.b_o, axis=-1).T


def sequence_loss(out, target, loss: str = "mse"):
    """Per-sequence loss of outputs (…, 2) against 0/1 targets (…): MSE averaged over the two outputs (PyTorch's
    ``MSELoss``), or softmax cross-entropy on one-hot targets."""
    onehot = jax.nn.one_hot(target, 2, dtype=out.dtype)
    if loss == "mse":
        return jnp.mean((out - onehot) ** 2, axis=-1)
    return -jnp.sum(onehot * jax.nn.log_softmax(out, axis=-1), axis=-1)


def prefix_hidden_states(params: Params, cfg: RNNConfig, max_length: int, h0=None):
    """Hidden states and outputs of every sequence of length 0…max_length (the empty one: h₀).

    Order: the empty prefix, then the 2 of length 1, the 4 of length 2, … each in lexicographic order (index of s of
    length m: 2^m − 1 + int(s, 2), :func:`theory.streaming_parity.prefix_index`). Computed from the 2^max_length
    sequences of length max_length (every shorter sequence is a prefix of them). Returns (hidden (N, P),
    outputs (N, 2)), N = 2^(max_length+1) − 1. ``h0`` (P,): start from that state instead of the fixed initial state
    (the states and outputs after every continuation of a given representation).
    """
    P = params.W_hh.shape[0]
    start = jnp.full((P,), cfg.initial_state, params.W_hh.dtype) if h0 is None else jnp.asarray(h0)
    pieces = [start[None]]
    if max_length > 0:
        seqs = jnp.asarray(all_sequences(max_length))
        hs = run_rnn(params, seqs, cfg, h0=jnp.broadcast_to(start, (seqs.shape[0], P)))  # (T, 2^T, P)
        for m in range(1, max_length + 1):
            # prefix s of length m starts the streams 2^(T−m)·int(s) …: take every 2^(T−m)-th
            pieces.append(hs[m - 1, :: 2 ** (max_length - m)])
    hidden = jnp.concatenate(pieces, axis=0)
    return hidden, hidden @ params.W_o.T + params.b_o


class ElmanRNN(nnx.Module):
    r"""Eq. 50 as a Flax module: ``input`` (W_ih, b_ih), ``recurrent`` (W_hh, b_hh) and ``readout`` (W_hy, b_hy),
    all :class:`flax.nnx.Linear` with bias (PyTorch's ``nn.RNN`` has the two recurrent biases; under SGD their sum
    moves at twice the rate of a single bias, so both are kept).

    Matrices Xavier-normal with gain ``gain`` (std = gain·√(2/(fan_in+fan_out))), biases zero, initial state the
    constant ``initial_state``. Calling it on bits (B, T) gives the many-to-one outputs (B, 2); :meth:`outputs` reads
    every step, :meth:`hidden_states` returns (T, B, P); :meth:`params` gives :class:`Params`.
    """

    def __init__(
        self,
        hidden: int = 100,
        *,
        activation: str = "relu",
        gain: float = 0.1,
        initial_state: float = 1.0,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        if activation not in ACTIVATIONS:
            raise ParameterError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
        check_int(hidden, "hidden", minimum=1)
        xavier = jax.nn.initializers.variance_scaling(float(gain) ** 2, "fan_avg", "normal")
        kw = dict(kernel_init=xavier, bias_init=jax.nn.initializers.zeros, dtype=dtype, param_dtype=dtype, rngs=rngs)
        self.input = nnx.Linear(2, hidden, **kw)
        self.recurrent = nnx.Linear(hidden, hidden, **kw)
        self.readout = nnx.Linear(hidden, 2, **kw)
        self.activation = activation
        self.initial_state = float(initial_state)

    def hidden_states(self, bits):
        """Hidden states after every bit: bits (B, T) int → (T, B, P)."""
        bits = jnp.asarray(bits)
        P = self.recurrent.out_features
        h0 = jnp.full((bits.shape[0], P), self.initial_state, self.readout.kernel.dtype)
        xs = jax.nn.one_hot(bits.T, 2, dtype=h0.dtype)
        phi = ACTIVATIONS[self.activation]

        def step(h, x):
            h = phi(self.input(x) + self.recurrent(h))
            return h, h

        return jax.lax.scan(step, h0, xs)[1]

    def outputs(self, bits):
        """The readout after every bit, (T, B, 2)."""
        return self.readout(self.hidden_states(bits))

    def __call__(self, bits):
        """Many-to-one output of each sequence, (B, 2)."""
        return self.readout(self.hidden_states(bits)[-1])

    def params(self) -> Params:
        return to_params(nnx.to_pure_dict(nnx.state(self, nnx.Param)))


def to_params(state: dict) -> Params:
    """:class:`ElmanRNN` weights (its pure state dict) in the :class:`Params` layout (any leading axes)."""
    T = lambda x: jnp.swapaxes(x, -1, -2)  # noqa: E731
    i, r, o = state["input"], state["recurrent"], state["readout"]
    return Params(T(r["kernel"]), T(i["kernel"]), i["bias"], r["bias"], T(o["kernel"]), o["bias"])


def from_params(params: Params) -> dict:
    """Inverse of :func:`to_params`."""
    T = lambda x: jnp.swapaxes(x, -1, -2)  # noqa: E731
    return {
        "input": {"kernel": T(params.W_xh), "bias": params.b_xh},
        "recurrent": {"kernel": T(params.W_hh), "bias": params.b_hh},
        "readout": {"kernel": T(params.W_o), "bias": params.b_o},
    }


def long_sequence_accuracy(
    key: jax.Array, params: Params, cfg: RNNConfig, *, length: int = 1000, n_sequences: int = 64
):
    """On random sequences of ``length`` bits: the fraction whose parity is right at **every** step, the per-step
    accuracy, and the accuracy of the final output (Fig. 9's measure). One network (no leading axes); memory does not
    grow with ``length`` (the counts are accumulated inside the scan)."""
    bits = jax.random.bernoulli(key, 0.5, (n_sequences, length)).astype(jnp.int32)
    h0 = jnp.full((n_sequences, params.W_hh.shape[0]), cfg.initial_state, params.W_hh.dtype)

    def step(carry, bit):
        h, parity, all_ok, hits, _ = carry
        h = _cell(params, h, bit, cfg.activation)
        parity = (parity + bit) % 2
        ok = jnp.argmax(h @ params.W_o.T + params.b_o, axis=-1) == parity
        return (h, parity, all_ok & ok, hits + ok, ok), None

    zeros = jnp.zeros(n_sequences, jnp.int32)
    init = (h0, zeros, jnp.ones(n_sequences, bool), zeros, jnp.ones(n_sequences, bool))
    (_, _, all_ok, hits, last), _ = jax.lax.scan(step, init, bits.T)
    return jnp.mean(all_ok), jnp.mean(hits) / length, jnp.mean(last)


# ----------------------------------------------------------------------------------------------
# effective rates from the network's gradient kernels (the τ's of the interaction theory)
# ----------------------------------------------------------------------------------------------
def representation_rate(params: Params, cfg: RNNConfig, bits, direction):
    """‖∇_θ vᵀh(s)‖² = vᵀΘ_h(s, s)v: how fast gradient descent moves the representation h(s) of the sequence ``bits``
    (T,) along the unit vector v per unit of loss gradient on it, per unit learning rate (θ = the recurrent weights
    and biases; the readout does not move h). The paper's 1/τ_hα (§3.2) for a network; App. D.3 argues it grows
    with the sequence length (Eq. 51). ``bits`` of length 0 (h₀, fixed) gives 0."""
    bits = jnp.asarray(bits, jnp.int32)
    if bits.shape[-1] == 0:
        return jnp.zeros((), params.W_hh.dtype)

    def proj(rec):
        p = params._replace(W_hh=rec[0], W_xh=rec[1], b_xh=rec[2], b_hh=rec[3])
        return direction @ run_rnn(p, bits[None], cfg)[-1, 0]

    g = jax.grad(proj)((params.W_hh, params.W_xh, params.b_xh, params.b_hh))
    return sum(jnp.sum(x**2) for x in g)


def output_rate(params: Params, cfg: RNNConfig, h, out_direction, continuation):
    """‖∇_θ eᵀy(h·c)‖²: how fast gradient descent moves the output after the continuation c from the state h (held
    fixed) along e, per unit of loss gradient on it, per unit learning rate: the rate 1/τ_b of the offsets b_i of the
    fixed expansion point model (Eq. 38)."""
    c = jnp.asarray(continuation, jnp.int32)

    def value(p):
        hx = run_rnn(p, c[None], cfg, h0=h[None])[-1, 0] if c.shape[-1] else h
        return out_direction @ (hx @ p.W_o.T + p.b_o)

    return sum(jnp.sum(x**2) for x in jax.grad(value)(params))


def decoder_rate(params: Params, cfg: RNNConfig, h, direction, out_direction, continuation):
    """‖∇_θ eᵀD v‖², D = ∂y(h·c)/∂h the Jacobian at h of the map from a state to the output after the continuation c
    (``continuation`` (n,) bits; n = 0: the readout): how fast gradient descent changes the relevant entry eᵀDv of the
    decoder per unit of loss gradient on it, per unit learning rate. The paper's 1/τ_y (§3.2) for a network."""
    c = jnp.asarray(continuation, jnp.int32)

    def entry(p):
        def g(x):
            hx = run_rnn(p, c[None], cfg, h0=x[None])[-1, 0] if c.shape[-1] else x
            return hx @ p.W_o.T + p.b_o

        return out_direction @ jax.jvp(g, (h,), (direction,))[1]

    grads = jax.grad(entry)(params)
    return sum(jnp.sum(x**2) for x in grads)


# ----------------------------------------------------------------------------------------------
# training: one engine step = one epoch of per-length minibatch SGD
# ----------------------------------------------------------------------------------------------
def _optimizer(cfg: RNNConfig) -> optax.GradientTransformation:
    if cfg.optimizer == "amsgrad":
        return optax.amsgrad(cfg.learning_rate)
    if cfg.optimizer == "adam":
        return optax.adam(cfg.learning_rate)
    return optax.sgd(cfg.learning_rate)


@dataclass(frozen=True)
class Epochs(Family):
    """One RNN trained by the authors' epochs (see the module docstring); the engine's step is one epoch.

    Per-model settings: ``gain`` (), ``fraction`` (). Shared: ``val`` — {"T": (n, T) bits} validation sequences.
    State: ``params``, ``opt``, ``key`` (shuffles), ``mask`` (kept sequences, flat order), ``done`` (stopped).
    """

    cfg: RNNConfig
    train_length: int
    record_states: bool = False
    stop_loss: float = 0.0
    dtype: Any = jnp.dtype(jnp.float32)
    record_params: bool = False
    label = "streaming-parity RNN"

    @cached_property
    def graphdef(self):
        return nnx.graphdef(nnx.eval_shape(lambda: self.model(nnx.Rngs(0))))

    def model(self, rngs: nnx.Rngs) -> ElmanRNN:
        c = self.cfg
        return ElmanRNN(
            c.hidden, activation=c.activation, gain=1.0, initial_state=c.initial_state, dtype=self.dtype, rngs=rngs
        )

    @cached_property
    def _tables(self):
        """Per length ℓ: every sequence (2^ℓ, ℓ) and its parity, as constants of the compiled step."""
        return [(all_sequences(ell), all_sequences(ell).sum(axis=1) % 2) for ell in range(1, self.train_length + 1)]

    def _batch_loss(self, params, bits, target, valid):
        out = nnx.merge(self.graphdef, params)(bits)
        err = sequence_loss(out, target, self.cfg.loss)
        return jnp.sum(err * valid) / jnp.maximum(jnp.sum(valid), 1.0)

    def init(self, key, setting, shared):
        k_init, k_data, k_shuffle = jax.random.split(key, 3)
        base = nnx.to_pure_dict(nnx.state(self.model(nnx.Rngs(params=k_init)), nnx.Param))
        params = jax.tree.map(lambda x: (setting["gain"] * x).astype(self.dtype), base)  # biases are 0: any gain
        mask = data_mask(k_data, self.train_length, setting["fraction"])
        zero = jnp.zeros((), self.dtype)
        return {
            "params": params,
            "opt": _optimizer(self.cfg).init(params),
            "key": k_shuffle,
            "mask": mask,
            "done": jnp.zeros((), bool),
            "epoch_loss": zero,
        }

    def _length_pass(self, params, opt, key, mask, ell):
        """The SGD steps of one length ℓ: shuffle the kept sequences, batches of B (last one shorter)."""
        bits, parity = self._tables[ell - 1]
        n, B = 2**ell, self.cfg.batch_size
        bs = min(n, B)
        nb = -(-n // bs)
        order = jnp.argsort(jnp.where(mask > 0, jax.random.uniform(key, (n,)), 2.0))  # kept first, shuffled
        order = jnp.concatenate([order, jnp.zeros(nb * bs - n, order.dtype)]).reshape(nb, bs)
        valid = (jnp.arange(nb * bs) < jnp.sum(mask)).reshape(nb, bs).astype(self.dtype)
        bits, parity = jnp.asarray(bits), jnp.asarray(parity)
        tx = _optimizer(self.cfg)
        grad = jax.value_and_grad(self._batch_loss)

        def one(carry, batch):
            p, o = carry
            idx, v = batch
            loss, g = grad(p, bits[idx], parity[idx], v)
            updates, o = tx.update(g, o, p)
            return (optax.apply_updates(p, updates), o), (loss, jnp.any(v > 0))

        if nb == 1:
            (params, opt), (loss, used) = one((params, opt), (order[0], valid[0]))
            loss, used = loss[None], used[None]
        else:
            (params, opt), (loss, used) = jax.lax.scan(one, (params, opt), (order, valid))
        # the authors' epoch loss: mean of this length's batch losses (each before its own update)
        length_loss = jnp.sum(loss * used) / jnp.maximum(jnp.sum(used), 1)
        return params, opt, length_loss

    def step(self, state, setting, shared):
        key, sub = jax.random.split(state["key"])
        keys = jax.random.split(sub, self.train_length)
        params, opt, mask = state["params"], state["opt"], state["mask"]
        total, count = jnp.zeros((), self.dtype), jnp.sum(mask)
        for ell in range(1, self.train_length + 1):
            m = mask[2**ell - 2 : 2 ** (ell + 1) - 2]
            params, opt, ll = self._length_pass(params, opt, keys[ell - 1], m, ell)
            total = total + ll * jnp.sum(m)
        epoch_loss = total / jnp.maximum(count, 1.0)
        done = state["done"]
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(done, b, a), new, old)  # noqa: E731
        new = {
            "params": keep(params, state["params"]),
            "opt": keep(opt, state["opt"]),
            "key": key,
            "mask": mask,
            "done": done | (epoch_loss < self.stop_loss),
            "epoch_loss": jnp.where(done, state["epoch_loss"], epoch_loss),
        }
        return new, epoch_loss

    def losses(self, records):
        return records.get("loss")

    def record(self, state, setting, shared, block):
        p = to_params(state["params"])
        hidden, outputs = prefix_hidden_states(p, self.cfg, self.train_length)
        tgt = jnp.asarray(np.concatenate([t for _, t in self._tables]))
        err = sequence_loss(outputs[1:], tgt, self.cfg.loss)  # every sequence of length 1…L, flat order
        mask = state["mask"]
        by_length = lambda x, ell: x[2**ell - 2 : 2 ** (ell + 1) - 2]  # noqa: E731
        per_length = jnp.stack(
            [
                jnp.sum(by_length(err * mask, ell)) / jnp.maximum(jnp.sum(by_length(mask, ell)), 1.0)
                for ell in range(1, self.train_length + 1)
            ]
        )
        rec = {
            "loss": jnp.sum(err * mask) / jnp.maximum(jnp.sum(mask), 1.0),
            "length_loss": per_length,
            "epoch_loss": state["epoch_loss"],
            "done": state["done"],
        }
        if shared is not None and shared.get("val"):
            val_loss, val_acc = [], []
            for T in sorted(shared["val"], key=int):
                bits = shared["val"][T]
                out = final_outputs(p, bits, self.cfg)
                target = jnp.sum(bits, axis=1) % 2
                val_loss.append(jnp.mean(sequence_loss(out, target, self.cfg.loss)))
                val_acc.append(jnp.mean(jnp.argmax(out, axis=-1) == target))
            rec["val_loss"], rec["val_acc"] = jnp.stack(val_loss), jnp.stack(val_acc)
        if self.record_states:
            rec["hidden"], rec["outputs"] = hidden, outputs
        if self.record_params:
            rec["params"] = state["params"]
        return rec

    def memory(self):
        """Activations of one epoch's largest batch (forward and backward) plus the recorded prefix states."""
        L, P = self.train_length, self.cfg.hidden
        batch = min(2**L, self.cfg.batch_size) * L * P * 6
        states = (2 ** (L + 1)) * (P + 2) * 4 if self.record_states else 0
        weights = (P * P + 5 * P + 2) * self.dtype.itemsize if self.record_params else 0
        return self.dtype.itemsize * (batch + (2**L) * L * P) + states + weights


def job(
    train_length: int = 10,
    cfg: RNNConfig = PAPER,
    *,
    seeds: int = 1,
    gains=None,
    fractions=None,
    epochs: int = 1000,
    n_records: int = 100,
    record_states: bool = False,
    record_params: bool = False,
    val_lengths=(),
    val_sequences: int = 10,
    val_key: jax.Array | None = None,
    stop_loss: float = 0.0,
    first_seed: int = 0,
    dtype=jnp.float32,
) -> Job:
    """The validated :class:`~toymodels.engine.Job` of :func:`train` (same arguments; a sweep item is one seed with
    its whole gain × fraction grid)."""
    check_int(train_length, "train_length", minimum=1, maximum=16)
    check_int(seeds, "seeds", minimum=1)
    check_int(epochs, "epochs", minimum=1)
    check_int(n_records, "n_records", minimum=1)
    if epochs % n_records:
        raise ParameterError(f"epochs must be a multiple of n_records={n_records}; got {epochs}")
    check_int(first_seed, "first_seed", minimum=0)
    check_range(stop_loss, "stop_loss", low=0.0)
    g = np.atleast_1d(np.asarray(cfg.gain if gains is None else gains, float))
    p = np.atleast_1d(np.asarray(1.0 if fractions is None else fractions, float))
    if g.ndim != 1 or g.size == 0 or np.any(g <= 0):
        raise ParameterError(f"gains must be a non-empty list of numbers > 0; got {gains}")
    if p.ndim != 1 or p.size == 0 or np.any((p <= 0) | (p > 1)):
        raise ParameterError(f"fractions must be a non-empty list of numbers in (0, 1]; got {fractions}")
    lens = tuple(int(T) for T in val_lengths)
    for T in lens:
        check_int(T, "val_lengths", minimum=1)
    check_int(val_sequences, "val_sequences", minimum=1)
    gg, pp = np.meshgrid(g, p, indexing="ij")  # (gains, fractions): one cell per pair
    cells = gg.size
    settings = {
        "gain": jnp.asarray(np.tile(gg.ravel(), seeds), dtype),
        "fraction": jnp.asarray(np.tile(pp.ravel(), seeds), dtype),
    }
    ids = np.repeat(first_seed + np.arange(seeds), cells)  # the cells of one seed share its key
    vkey = jax.random.key(0) if val_key is None else val_key
    val = {
        str(T): jax.random.bernoulli(jax.random.fold_in(vkey, T), 0.5, (val_sequences, T)).astype(jnp.int32)
        for T in lens
    }
    family = Epochs(
        cfg, int(train_length), bool(record_states), float(stop_loss), jnp.dtype(dtype), bool(record_params)
    )
    return Job(
        family,
        settings,
        int(epochs),
        int(n_records),
        shared={"val": val},
        ids=ids,
        record_initial=True,
        unit=cells,
        finish=partial(_finish, shape=gg.shape),
        info={"gains": g, "fractions": p, "val_lengths": np.asarray(lens, int)},
    )


def _finish(result: Result, shape) -> Result:
    """Flat (seed × gain × fraction) models → leading axes (S, G, F); weights as :class:`Params`."""
    grid = lambda x: x.reshape(-1, *shape, *x.shape[1:])  # noqa: E731
    state = jax.tree.map(grid, result.state)
    state["params"] = to_params(state["params"])
    records = jax.tree.map(grid, result.records)
    if "params" in records:
        records["params"] = to_params(records["params"])
    return result._replace(state=state, records=records)


def example_job(dtype=jnp.float64) -> Job:
    """A small job (2 seeds × 2 gains × 1 fraction, L = 3, 8 units, states recorded) for layout checks."""
    cfg = RNNConfig(hidden=8, batch_size=4, learning_rate=0.05)
    return job(
        3, cfg, seeds=2, gains=[0.5, 1.0], epochs=6, n_records=2, record_states=True, val_lengths=(5,), dtype=dtype
    )


def train(
    key: jax.Array,
    train_length: int = 10,
    cfg: RNNConfig = PAPER,
    *,
    devices: int | str | None = None,
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    **kwargs,
) -> Result:
    """Train seeds × gains × fractions RNNs at once on the engine (all vmapped), one step per epoch.

    Args (besides the engine's ``devices``, ``records_per_chunk``, ``progress``):
        key: PRNG key; seed s uses ``fold_in(key, first_seed + s)`` for its weights, data mask and shuffles (split
            three ways), shared by its gains and fractions.
        train_length: L; the training set holds the sequences of length 1…L.
        cfg: architecture, loss and optimiser (default :data:`PAPER`).
        seeds: independent initialisations.
        gains: initial gains (default ``[cfg.gain]``); fractions: data fractions in (0, 1] (default [1]).
        epochs: training epochs (a multiple of ``n_records``).
        n_records: records after the initial one.
        record_states: record the hidden state and output of every sequence of length 0…L.
        record_params: record the weights (``records["params"]``, the state's parameter dict).
        val_lengths, val_sequences: validation sets (random sequences from ``val_key``, default key 0).
        stop_loss: stop a network after the first epoch whose training loss is below this (0: never).

    Returns:
        :class:`~toymodels.engine.Result` with leading axes (S, G, F): ``params`` (:class:`Params`), ``state["mask"]``,
        ``records`` (…, R + 1, …) with ``loss``, ``length_loss`` (L,), ``epoch_loss``, ``done``, ``val_loss`` and
        ``val_acc`` (one per validation length), and with ``record_states`` ``hidden`` (2^(L+1) − 1, P) and
        ``outputs`` (…, 2); ``steps`` (R + 1,) are epochs, 0 first.
    """
    return engine.train(
        job(train_length, cfg, **kwargs), key, devices=devices, records_per_chunk=records_per_chunk, progress=progress
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
    return Params(f(W_hh), f(W_xh), f(np.zeros(P)), f(b_h), f(W_o), f(b_o)), cfg
