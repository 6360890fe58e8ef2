"""The batched superposition trainer: data law, reproducibility, masking, optimiser rules, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import superposition as th
from theory.common import ParameterError
from toymodels import superposition as tm


def test_sample_features_has_the_stated_law():
    p = np.array([1.0, 0.5, 0.05])
    x = np.asarray(tm.sample_features(jax.random.key(0), 400_000, p, value_range=(0.0, 2.0), dtype=jnp.float64))
    assert x.min() >= 0 and x.max() < 2
    np.testing.assert_allclose((x > 0).mean(0), p, atol=4 * np.sqrt(0.25 / 400_000))  # 4 sd of a proportion
    mean, second, var = th.feature_moments(1 - p, value_range=(0.0, 2.0))
    sd = np.sqrt(np.asarray(var) / 400_000)
    np.testing.assert_allclose(x.mean(0), mean, atol=5 * sd.max())  # 5 sd of the sample mean


def _train(key, **kw):
    args = dict(importance=np.ones(6), probabilities=np.full((3, 6), 0.3), m=2, steps=40, batch_size=64, n_records=4)
    args.update(kw)
    return tm.train(key, **args)


def test_same_key_same_result_different_keys_differ():
    a, b, c = _train(jax.random.key(1)), _train(jax.random.key(1)), _train(jax.random.key(2))
    np.testing.assert_array_equal(np.asarray(a.params.W), np.asarray(b.params.W))
    assert not np.allclose(np.asarray(a.params.W), np.asarray(c.params.W))
    # instances are independent draws: different weights within one call
    W = np.asarray(a.params.W)
    assert not np.allclose(W[0], W[1])
    assert a.loss.shape == (3, 4) and np.all(np.isfinite(np.asarray(a.loss)))


def test_masked_widths_keep_rows_zero():
    res = _train(jax.random.key(0), widths=[1, 2, 2], weight_decay=[0.0, -1.0, 0.1], init="liu")
    W = np.asarray(res.params.W)
    assert np.all(W[0, 1:] == 0) and np.any(W[1, 1] != 0)


def test_feature_norm_decay_rules():
    params = tm.Params(jnp.array([[3.0, 0.5]]), jnp.array([1.0, 2.0]))
    zeros = tm.Params(jnp.zeros((1, 2)), jnp.zeros(2))
    up, _ = tm.feature_norm_decay(-1.0, 0.5).update(zeros, None, params)
    # γ < 0: |γ| W_i (1 − 1/‖W_i‖): positive (shrink) above norm 1, negative (grow) below
    np.testing.assert_allclose(up.W, [[3.0 * (1 - 1 / (3 + 1e-8)), 0.5 * (1 - 1 / (0.5 + 1e-8))]], rtol=1e-6)
    np.testing.assert_allclose(up.b, [0.5, 1.0])
    up, _ = tm.feature_norm_decay(0.2).update(zeros, None, params)
    np.testing.assert_allclose(up.W, 0.2 * params.W)


def test_linear_model_learns_top_m_dense():
    imp = 0.5 ** np.arange(4)
    res = tm.train(
        jax.random.key(0),
        importance=imp,
        probabilities=np.ones((2, 4)),
        m=2,
        steps=3000,
        batch_size=256,
        learning_rate=1e-2,
        activation="linear",
        schedule="warmup_cosine",
        warmup_steps=100,
        n_records=10,
        dtype=jnp.float64,
    )
    loss = np.asarray(th.linear_model_loss(res.params.W, res.params.b, imp))
    L = float(th.linear_optimum(imp, 2).loss)
    assert np.all(loss >= L * (1 - 1e-12)) and np.all(loss <= L * 1.01)


def test_evaluate_loss_common_samples():
    res = _train(jax.random.key(0))
    a = tm.evaluate_loss(jax.random.key(5), res.params, np.ones(6), 0.3, n_samples=4096, common_samples=True)
    same = tm.Params(
        jnp.broadcast_to(res.params.W[:1], res.params.W.shape), jnp.broadcast_to(res.params.b[:1], res.params.b.shape)
    )
    b = np.asarray(tm.evaluate_loss(jax.random.key(5), same, np.ones(6), 0.3, n_samples=4096, common_samples=True))
    np.testing.assert_allclose(b, b[0])  # identical models on common samples: identical losses
    assert np.asarray(a).shape == (3,)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(activation="tanh"), "activation"),
        (dict(probabilities=np.full((3, 6), 1.5)), "probabilities"),
        (dict(importance=np.ones(5)), "importance must have length"),
        (dict(importance=-np.ones(6)), "importance"),
        (dict(m=0), "m must"),
        (dict(steps=30), "multiple of n_records"),
        (dict(widths=[1, 2, 3]), "widths"),
        (dict(init="he"), "init"),
    ],
)
def test_bad_input(kw, match):
    with pytest.raises(ParameterError, match=match):
        _train(jax.random.key(0), **kw)
