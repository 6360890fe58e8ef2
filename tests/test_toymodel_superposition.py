"""The batched superposition trainer: data law, reproducibility, masking, optimiser rules, bad input."""

import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT
from flax import nnx

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


def _authors_get_lr(step, lr, n_steps, warmup_steps):
    """Liu et al.'s ``get_lr`` (exp/exp-10.py), transcribed: the rate of update ``step`` = 0, 1, …"""
    s = step + 1
    low = 0.05 * lr
    if s < warmup_steps:
        return lr * s / warmup_steps
    return (lr - low) * 0.5 * (1 + math.cos(math.pi * (s - warmup_steps) / (n_steps - warmup_steps))) + low


def test_warmup_cosine_gives_each_update_the_authors_rate():
    """With a constant gradient, Adam's step is 1 (up to eps), so the parameter falls by each update's rate."""
    n, warm, lr = 60, 10, 1e-2
    tx = tm.make_optimizer(lr, n, schedule="warmup_cosine", warmup_steps=warm)
    p = tm.Params(jnp.zeros((1, 1)), jnp.zeros(1))
    state = tx.init(p)
    grad = tm.Params(jnp.ones((1, 1)), jnp.ones(1))
    used = []
    for _ in range(n):
        upd, state = tx.update(grad, state, p)
        used.append(-float(upd.b[0]))
    expected = [_authors_get_lr(k, lr, n, warm) for k in range(n)]
    np.testing.assert_allclose(used, expected, rtol=1e-6)
    assert used[0] > 0  # optax's count-from-0 schedule alone would make the first update 0


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


# ---- the Flax module on its own: its forward pass equals the model's closed form written out in NumPy (float64,
# to 1e-12 relative: the same products summed in another order), documented shapes, stated initial scale.
# Scale checks: the sample standard deviation of N Gaussian entries has relative error ≈ 1/√(2N);
# every check below uses N ≥ 4000 entries, so 5 × that (≤ 0.056) bounds the tolerance from below; 0.08 is used.
MODULE_RTOL = 1e-12


def _np(x):
    return np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_autoencoder_forward_is_relu_of_WtWx_plus_b(activation):
    model = tm.Autoencoder(9, 3, activation=activation, init="liu", dtype=jnp.float64, rngs=nnx.Rngs(0))
    W, b = _np(model.W[...]), _np(model.b[...])
    assert W.shape == (3, 9) and b.shape == (9,) and np.any(b != 0)
    x = np.random.default_rng(0).uniform(0, 1, (5, 9))
    pre = x @ W.T @ W + b
    expected = np.maximum(pre, 0.0) if activation == "relu" else pre
    np.testing.assert_allclose(_np(model(jnp.asarray(x))), expected, rtol=MODULE_RTOL, atol=1e-14)


def test_autoencoder_initial_scales_and_masked_width():
    m, n = 50, 200
    xav = tm.Autoencoder(n, m, dtype=jnp.float64, rngs=nnx.Rngs(1))
    assert abs(_np(xav.W[...]).std() / np.sqrt(2 / (n + m)) - 1) < 0.08 and np.all(_np(xav.b[...]) == 0)
    liu = tm.Autoencoder(n, m, init="liu", width=20, dtype=jnp.float64, rngs=nnx.Rngs(1))
    W = _np(liu.W[...])
    assert np.all(W[20:] == 0) and abs(W[:20].std() * np.sqrt(20) - 1) < 0.08
    assert abs(_np(liu.b[...]).std() - 1) < 0.2  # 200 entries: 1/√400 = 0.05, 4 sd


# ---- a memory-bounded sweep of a realistic superposition workload, measured in fresh processes
def _peak(*args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "superposition_memory_check.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["finite"]
    return out["peak"] - out["before"], out


def test_chunked_sweep_peak_memory_stays_under_bound():
    """32 superposition instances with a 4096 × 512 batch each (≈ 67 MB of working memory per instance by
    ``instance_bytes``). Bound for a chunked run: max_batch × instance_bytes plus the fixed cost of compiling
    and running the program, which is measured here on the same sweep with a negligible batch (×1.5 margin).
    The whole sweep at once must exceed that bound (else the test proves nothing) and stay under its own
    estimate (the estimate is an upper bound)."""
    fixed, _ = _peak("--max-batch", "2", "--batch", "8")
    chunked, info = _peak("--max-batch", "2")
    whole, _ = _peak("--max-batch", "32")
    bound = 2 * info["item_bytes"] + 1.5 * fixed
    assert chunked <= bound, (chunked, bound, fixed)
    assert whole > bound, (whole, bound)
    assert whole <= 32 * info["item_bytes"] + 1.5 * fixed, (whole, info)
