"""The streaming-parity RNN trainer (toymodels/streaming_parity.py)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from theory import streaming_parity as th
from theory.common import ParameterError
from toymodels import streaming_parity as tm


def test_parity_targets_on_hand_worked_sequences():
    np.testing.assert_array_equal(tm.parity_targets([1, 0, 1, 1, 0]), [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(tm.parity_targets([0, 0, 0]), [0, 0, 0])
    np.testing.assert_array_equal(tm.parity_targets([[1, 1], [0, 1]]), [[1, 0], [0, 1]])
    np.testing.assert_array_equal(tm.all_sequences(2), [[0, 0], [0, 1], [1, 0], [1, 1]])


def test_distinct_weighting_equals_mean_over_distinct_sequences():
    """Weighting position m by 2^(m−Lmax) over the 2^Lmax streams = the mean over distinct prefixes ≤ L."""
    cfg = tm.RNNConfig(hidden=5, gain=0.5)
    params = tm.init_params(jax.random.key(0), cfg, jnp.float64)
    Lmax, L = 5, 3
    bits = jnp.asarray(tm.all_sequences(Lmax))
    w = tm.position_weights(L, Lmax)
    got = tm.loss_fn(params, bits, jnp.asarray(tm.parity_targets(np.asarray(bits))), w, cfg)
    errs = []
    for m in range(1, L + 1):
        seqs = jnp.asarray(tm.all_sequences(m))
        hs = tm.run_rnn(params, seqs, cfg)[-1]
        out = hs @ params.W_o.T + params.b_o
        tgt = jax.nn.one_hot(np.asarray(tm.parity_targets(np.asarray(seqs)))[:, -1], 2)
        errs.append(jnp.mean((out - tgt) ** 2, axis=1))
    np.testing.assert_allclose(got, jnp.mean(jnp.concatenate(errs)), rtol=1e-12)


def test_prefix_hidden_states_match_direct_runs():
    cfg = tm.RNNConfig(hidden=4, gain=1.0)
    params = tm.init_params(jax.random.key(1), cfg, jnp.float64)
    hidden, _ = tm.prefix_hidden_states(params, cfg, 4)
    chex.assert_shape(hidden, (31, 4))
    np.testing.assert_allclose(hidden[0], np.ones(4))
    for s in ([1], [0, 1], [1, 1, 0], [0, 1, 0, 1]):
        direct = tm.run_rnn(params, jnp.asarray([s]), cfg)[-1, 0]
        np.testing.assert_allclose(hidden[th.prefix_index(s)], direct, rtol=1e-12)


def test_constructed_parity_rnn_generalises_to_long_sequences():
    params, cfg = tm.dfa_rnn(th.parity_automaton().transitions, th.parity_automaton().outputs)
    perfect, per_step = tm.long_sequence_accuracy(jax.random.key(0), params, cfg, length=2000, n_sequences=16)
    assert float(perfect) == 1.0 and float(per_step) == 1.0


def test_train_is_deterministic_shapes_and_learns_short_parity():
    cfg = tm.RNNConfig(hidden=16, gain=0.1, learning_rate=1e-2)
    kw = dict(seeds=2, steps=600, n_records=6, record_prefix=3)
    r1 = tm.train(jax.random.key(3), [2, 3], cfg, **kw)
    r2 = tm.train(jax.random.key(3), [2, 3], cfg, **kw)
    np.testing.assert_array_equal(np.asarray(r1.loss), np.asarray(r2.loss))
    chex.assert_shape(r1.loss, (2, 2, 6))
    chex.assert_shape(r1.records["hidden"], (2, 2, 6, 15, 16))
    np.testing.assert_array_equal(r1.steps, 100 * np.arange(1, 7))
    # L = 2 (6 sequences) is memorised within 600 steps by every seed
    assert np.all(np.asarray(r1.loss)[:, 0, -1] < 1e-3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tm.RNNConfig(hidden=0), "hidden"),
        (lambda: tm.RNNConfig(activation="sigmoid"), "activation"),
        (lambda: tm.RNNConfig(gain=-1.0), "gain"),
        (lambda: tm.train(jax.random.key(0), [0], tm.RNNConfig(hidden=2), steps=10, n_records=1), "train_length"),
        (lambda: tm.parity_targets([0, 1, 2]), "0 and 1"),
        (lambda: tm.dfa_rnn(np.array([[0, 3]]), np.array([0])), "transitions"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


# ---- the Flax module on its own: its forward pass equals the model's closed form written out in NumPy (float64,
# to 1e-12 relative: the same products summed in another order), documented shapes, stated initial scale.
# Scale checks: the sample standard deviation of N Gaussian entries has relative error ≈ 1/√(2N);
# every check below uses N ≥ 4000 entries, so 5 × that (≤ 0.056) bounds the tolerance from below; 0.08 is used.
MODULE_RTOL = 1e-12


def _np(x):
    return np.asarray(x, dtype=np.float64)


def test_elman_rnn_forward_is_the_recurrence():
    P, T = 6, 7
    model = tm.ElmanRNN(P, gain=0.8, initial_state=1.0, dtype=jnp.float64, rngs=nnx.Rngs(5))
    p = model.params()
    W_hh, W_xh, b_h, W_o, b_o = (_np(a) for a in p)
    assert W_hh.shape == (P, P) and W_xh.shape == (P, 2) and W_o.shape == (2, P)
    bits = np.random.default_rng(2).integers(0, 2, (4, T))
    h = np.ones((4, P))
    expected = []
    for t in range(T):
        h = np.tanh(h @ W_hh.T + W_xh[:, bits[:, t]].T + b_h)
        expected.append(h @ W_o.T + b_o)
    np.testing.assert_allclose(_np(model(jnp.asarray(bits))), np.stack(expected), rtol=MODULE_RTOL, atol=1e-14)
    # the module's weights round-trip through the closed-form layout
    back = tm.to_params(tm.from_params(p))
    for a, b in zip(back, p, strict=True):
        np.testing.assert_array_equal(a, b)


def test_elman_rnn_xavier_gain():
    P, gain = 400, 0.1
    W_hh = _np(tm.ElmanRNN(P, gain=gain, dtype=jnp.float64, rngs=nnx.Rngs(6)).params().W_hh)
    assert abs(W_hh.std() / (gain * np.sqrt(2 / (2 * P))) - 1) < 0.08
