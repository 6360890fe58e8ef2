"""The streaming-parity RNN trainer at the paper's setting (toymodels/streaming_parity.py)."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from theory import streaming_parity as th
from theory.common import ParameterError
from toymodels import engine
from toymodels import streaming_parity as tm


def test_parity_targets_and_sequence_tables():
    np.testing.assert_array_equal(tm.parity_targets([1, 0, 1, 1, 0]), [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(tm.all_sequences(2), [[0, 0], [0, 1], [1, 0], [1, 1]])
    assert tm.sequence_count(10) == 2046
    np.testing.assert_array_equal(tm.sequence_lengths(2), [1, 1, 2, 2, 2, 2])


def test_epoch_weights_are_the_authors_per_length_batches():
    """App. C.1 with one loader per length: ω = ⌈k/B⌉/k per sequence; at L = 10, 21 steps per epoch."""
    w = tm.epoch_weights(10, 128)
    lengths = tm.sequence_lengths(10)
    for ell in range(1, 11):
        expected = 2.0**-ell if ell <= 7 else 1 / 128
        np.testing.assert_allclose(w[lengths == ell], expected)
    assert sum(math.ceil(2**ell / 128) for ell in range(1, 11)) == 21
    kept = np.zeros(lengths.size)
    kept[lengths == 3] = [1, 0, 1, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(tm.epoch_weights(10, 128, kept)[lengths == 3], np.array([1, 0, 1, 0, 0, 0, 0, 1]) / 3)


def _torch_like_epoch(params, cfg, L, key, mask):
    """One epoch written out plainly: lengths 1…L in order, each shuffled, batches of B, SGD on the batch mean."""
    fam = tm.Epochs(cfg, L, dtype=jnp.dtype(jnp.float64))
    keys = jax.random.split(jax.random.split(key)[1], L)
    p = params
    for ell in range(1, L + 1):
        bits = tm.all_sequences(ell)
        m = np.asarray(mask[2**ell - 2 : 2 ** (ell + 1) - 2])
        order = np.asarray(jnp.argsort(jnp.where(m > 0, jax.random.uniform(keys[ell - 1], (2**ell,)), 2.0)))
        kept = order[: int(m.sum())]
        for b in range(0, kept.size, cfg.batch_size):
            idx = kept[b : b + cfg.batch_size]

            def loss(q, idx=idx, bits=bits):
                out = tm.final_outputs(tm.to_params(q), jnp.asarray(bits[idx]), cfg)
                return jnp.mean(tm.sequence_loss(out, jnp.asarray(bits[idx].sum(1) % 2)))

            g = jax.grad(loss)(p)
            p = jax.tree.map(lambda a, b: a - cfg.learning_rate * b, p, g)
    del fam
    return p


def test_one_engine_step_is_one_epoch_of_per_length_sgd():
    cfg = tm.RNNConfig(hidden=6, batch_size=4, learning_rate=0.3)
    L = 4
    fam = tm.Epochs(cfg, L, dtype=jnp.dtype(jnp.float64))
    for fraction in (1.0, 0.6):
        state = fam.init(jax.random.key(2), {"gain": jnp.asarray(0.7), "fraction": jnp.asarray(fraction)}, None)
        new, _ = fam.step(state, {"gain": 0.7, "fraction": fraction}, None)
        expected = _torch_like_epoch(state["params"], cfg, L, state["key"], state["mask"])
        chex.assert_trees_all_close(new["params"], expected, rtol=1e-12, atol=1e-14)


def test_gain_scales_the_xavier_draw_and_module_matches_its_formula():
    P = 400
    m1 = tm.ElmanRNN(P, gain=1.0, dtype=jnp.float64, rngs=nnx.Rngs(params=3))
    m2 = tm.ElmanRNN(P, gain=0.1, dtype=jnp.float64, rngs=nnx.Rngs(params=3))
    np.testing.assert_allclose(m2.params().W_hh, 0.1 * m1.params().W_hh, rtol=1e-14)
    # Xavier std: the sample std of N Gaussians has relative error ≈ 1/√(2N) (N = 160,000: 0.002); 5× that
    assert abs(np.std(m2.params().W_hh) / (0.1 * np.sqrt(2 / (2 * P))) - 1) < 0.01
    # forward pass against Eq. 50 written out in NumPy (float64, same products summed in another order: 1e-12)
    P, T = 5, 6
    model = tm.ElmanRNN(P, gain=0.8, dtype=jnp.float64, rngs=nnx.Rngs(5))
    W_hh, W_xh, b_xh, b_hh, W_o, b_o = (np.asarray(a, float) for a in model.params())
    bits = np.random.default_rng(2).integers(0, 2, (4, T))
    h = np.ones((4, P))
    for t in range(T):
        h = np.maximum(0, h @ W_hh.T + b_hh + W_xh[:, bits[:, t]].T + b_xh)
    np.testing.assert_allclose(np.asarray(model(jnp.asarray(bits))), h @ W_o.T + b_o, rtol=1e-12, atol=1e-14)
    back = tm.to_params(tm.from_params(model.params()))
    for a, b in zip(back, model.params(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_prefix_hidden_states_match_direct_runs():
    params = tm.init_params(jax.random.key(1), tm.RNNConfig(hidden=4, gain=1.0), jnp.float64)
    cfg = tm.RNNConfig(hidden=4)
    hidden, outputs = tm.prefix_hidden_states(params, cfg, 4)
    chex.assert_shape(hidden, (31, 4))
    np.testing.assert_allclose(hidden[0], np.ones(4))
    for s in ([1], [0, 1], [1, 1, 0], [0, 1, 0, 1]):
        np.testing.assert_allclose(
            hidden[th.prefix_index(s)], tm.run_rnn(params, jnp.asarray([s]), cfg)[-1, 0], rtol=1e-12
        )
        np.testing.assert_allclose(
            outputs[th.prefix_index(s)], tm.final_outputs(params, jnp.asarray([s]), cfg)[0], rtol=1e-12
        )


def test_continuations_from_a_state_and_kernel_rates_on_hand_worked_cases():
    cfg = tm.RNNConfig(hidden=6)
    p = tm.init_params(jax.random.key(2), tm.RNNConfig(hidden=6, gain=1.0), jnp.float64)
    full, _ = tm.prefix_hidden_states(p, cfg, 4)
    s = th.prefix_index([1, 0])
    sub, out = tm.prefix_hidden_states(p, cfg, 2, h0=full[s])  # continuations of '10' of length ≤ 2
    for c in ([], [0], [1, 1]):
        np.testing.assert_allclose(sub[th.prefix_index(c)], full[th.prefix_index([1, 0, *c])], rtol=1e-12)
    v = np.random.default_rng(0).normal(size=6)
    v /= np.linalg.norm(v)
    e = np.array([0.6, 0.8])
    h = full[s]
    # readout y = W_o h + b_o: ‖∇ eᵀy‖² = ‖h‖² + 1 (W_o and b_o), ‖∇ eᵀ W_o v‖² = 1
    np.testing.assert_allclose(tm.output_rate(p, cfg, h, e, jnp.zeros(0, int)), h @ h + 1, rtol=1e-12)
    np.testing.assert_allclose(tm.decoder_rate(p, cfg, h, v, e, jnp.zeros(0, int)), 1.0, rtol=1e-12)
    # one step h = ReLU(W_xh x + b_xh + W_hh h₀ + b_hh): ‖∇ vᵀh‖² = ‖v ⊙ ReLU'‖² (‖h₀‖² + 3)
    h1 = tm.run_rnn(p, jnp.asarray([[1]]), cfg)[-1, 0]
    active = np.asarray(h1) > 0
    expected = np.sum((v * active) ** 2) * (6 * 1.0 + 3)
    np.testing.assert_allclose(tm.representation_rate(p, cfg, jnp.asarray([1]), v), expected, rtol=1e-12)


def test_data_mask_keeps_a_binomial_fraction_nested_in_p():
    key = jax.random.key(4)
    m_small, m_big = tm.data_mask(key, 12, 0.3), tm.data_mask(key, 12, 0.6)
    assert np.all(np.asarray(m_small) <= np.asarray(m_big))
    n = tm.sequence_count(12)
    # binomial: mean 0.3 n, std √(0.21 n) = 29.6; 4 std
    assert abs(float(m_small.sum()) - 0.3 * n) < 4 * math.sqrt(0.21 * n)


def test_train_is_deterministic_records_the_initial_state_and_learns_short_parity():
    cfg = tm.RNNConfig(hidden=16, batch_size=8, learning_rate=0.1, gain=0.5)
    kw = dict(
        seeds=2, gains=[0.5, 1.0], epochs=300, n_records=3, record_states=True, record_params=True, val_lengths=(20,)
    )
    r1 = tm.train(jax.random.key(3), 3, cfg, **kw)
    r2 = tm.train(jax.random.key(3), 3, cfg, **kw)
    np.testing.assert_array_equal(np.asarray(r1.loss), np.asarray(r2.loss))
    chex.assert_shape(r1.loss, (2, 2, 1, 4))
    chex.assert_shape(r1.records["hidden"], (2, 2, 1, 4, 15, 16))
    chex.assert_shape(r1.records["val_acc"], (2, 2, 1, 4, 1))
    np.testing.assert_array_equal(r1.steps, [0, 100, 200, 300])
    # the initial record is the network at initialisation: the prefix states of init_params
    hidden0, _ = tm.prefix_hidden_states(jax.tree.map(lambda x: x[0, 0, 0], _initial_params(cfg, 3, 0.5)), cfg, 3)
    np.testing.assert_allclose(r1.records["hidden"][0, 0, 0, 0], hidden0, rtol=1e-6)
    # recorded weights: the initial network first, the trained one last
    first, last = (
        jax.tree.map(lambda x, k=k: x[..., k, :, :] if x.ndim == 6 else x[..., k, :], r1.records["params"])
        for k in (0, -1)
    )
    chex.assert_trees_all_close(
        jax.tree.map(lambda x: x[0, 0, 0], first), jax.tree.map(lambda x: x[0, 0, 0], _initial_params(cfg, 3, 0.5))
    )
    chex.assert_trees_all_close(last, r1.params)
    # every network classifies the 14 sequences of length ≤ 3 within 300 epochs: a misclassified sequence has
    # MSE ≥ 0.25, so a mean below 0.25/14 means all are right (the untrained loss is ≈ 0.5)
    assert np.all(np.asarray(r1.loss)[..., -1] < 0.25 / 14)


def _initial_params(cfg, L, gain):
    fam = tm.Epochs(cfg, L)  # float32, as train()
    key = engine.model_keys(jax.random.key(3), [0])[0]
    state = fam.init(key, {"gain": jnp.asarray(gain), "fraction": jnp.asarray(1.0)}, None)
    return jax.tree.map(lambda x: x[None, None, None], tm.to_params(state["params"]))


def test_stop_loss_freezes_a_network_once_its_epoch_loss_is_below():
    cfg = tm.RNNConfig(hidden=16, batch_size=8, learning_rate=0.1, gain=0.5)
    res = tm.train(jax.random.key(0), 3, cfg, epochs=400, n_records=4, stop_loss=1e-2)
    done = np.asarray(res.records["done"])[0, 0, 0]
    assert done[-1] and not done[0]
    loss = np.asarray(res.records["loss"])[0, 0, 0]
    first = int(np.argmax(done))
    np.testing.assert_array_equal(loss[first:], loss[first])  # frozen


def test_optax_sgd_is_plain_sgd():
    """The trainer's optimiser is optax.sgd: p − lr·g, no momentum (App. C.1)."""
    tx = optax.sgd(0.02)
    p = {"w": jnp.asarray([1.0, 2.0])}
    g = {"w": jnp.asarray([0.5, -1.0])}
    upd, _ = tx.update(g, tx.init(p), p)
    np.testing.assert_allclose(optax.apply_updates(p, upd)["w"], [1.0 - 0.01, 2.0 + 0.02])


def test_constructed_parity_rnn_generalises_to_long_sequences():
    params, cfg = tm.dfa_rnn(th.parity_automaton().transitions, th.parity_automaton().outputs)
    perfect, per_step, final = tm.long_sequence_accuracy(jax.random.key(0), params, cfg, length=2000, n_sequences=16)
    assert float(perfect) == 1.0 and float(per_step) == 1.0 and float(final) == 1.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tm.RNNConfig(hidden=0), "hidden"),
        (lambda: tm.RNNConfig(activation="sigmoid"), "activation"),
        (lambda: tm.RNNConfig(optimizer="lbfgs"), "optimizer"),
        (lambda: tm.RNNConfig(loss="hinge"), "loss"),
        (lambda: tm.RNNConfig(gain=-1.0), "gain"),
        (lambda: tm.job(0), "train_length"),
        (lambda: tm.job(3, fractions=[0.0]), "fractions"),
        (lambda: tm.job(3, gains=[-1.0]), "gains"),
        (lambda: tm.job(3, epochs=10, n_records=3), "epochs"),
        (lambda: tm.parity_targets([0, 1, 2]), "0 and 1"),
        (lambda: tm.dfa_rnn(np.array([[0, 3]]), np.array([0])), "transitions"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
