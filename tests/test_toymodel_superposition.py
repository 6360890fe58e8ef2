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


# ---- the sparse sampler: the same law as the dense one, drawn by geometric gaps into per-feature slots
def _dense_from_sparse(rows, cols, vals, batch, n):
    return np.asarray(jnp.zeros((batch, n), vals.dtype).at[rows, cols].add(vals))


def test_sparse_sampler_has_the_stated_law():
    # features: always present, dense, sparse, rarer than one per batch, absent
    p = np.array([1.0, 0.5, 0.05, 3e-4, 0.0])
    batch, reps = 512, 800
    cap = tm.sparse_capacity(p, batch)
    assert cap[0] == batch and cap[-1] == 1 and np.all(cap <= batch)

    def one(k):
        rows, cols, vals, over = tm.sample_sparse_features(k, batch, p, cap, value_range=(0.0, 2.0), dtype=jnp.float64)
        return jnp.zeros((batch, p.size), vals.dtype).at[rows, cols].add(vals), over

    x, over = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(1), reps))
    x = np.asarray(x).reshape(-1, p.size)
    assert int(over.sum()) == 0
    assert x.min() >= 0 and x.max() < 2
    N = x.shape[0]
    # presence rate per feature within 4 sd of a proportion (exact for p = 0 and 1)
    assert np.all(np.abs((x > 0).mean(0) - p) <= 4 * np.sqrt(p * (1 - p) / N) + 1e-12), (x > 0).mean(0)
    # values of present entries uniform on [0, 2): mean 1 within 5 sd (sd of U(0, 2) is 1/√3)
    for i in range(3):
        v = x[x[:, i] > 0, i]
        assert abs(v.mean() - 1.0) < 5 / np.sqrt(3 * v.size)
    # rows independent: the 0.5 and 0.05 features co-occur at rate 0.025 (4 sd); within a feature, successive rows
    # independent (lag-1 co-presence of the 0.5 feature = 0.25; gaps are neither too regular nor clumped)
    both = ((x[:, 1] > 0) & (x[:, 2] > 0)).mean()
    assert abs(both - 0.025) < 4 * np.sqrt(0.025 / N)
    pres = (x[:, 1] > 0).reshape(reps, batch)
    lag = (pres[:, 1:] & pres[:, :-1]).mean()
    assert abs(lag - 0.25) < 4 * np.sqrt(0.25 * 0.75 / pres[:, 1:].size)


def test_sparse_sampler_counts_possible_cut_offs():
    p = np.array([0.5, 0.01])
    cap = np.array([10, 64])  # 10 slots for ≈ 256 present rows: always cut off
    *_, over = tm.sample_sparse_features(jax.random.key(0), 512, p, cap)
    assert int(over) == 1


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_sparse_loss_and_gradient_equal_dense(activation):
    n, m, batch = 30, 4, 64
    p = np.geomspace(0.6, 0.01, n)
    imp = 0.9 ** np.arange(n)
    cap = tm.sparse_capacity(p, batch)
    rows, cols, vals, _ = tm.sample_sparse_features(jax.random.key(2), batch, p, cap, dtype=jnp.float64)
    x = jnp.asarray(_dense_from_sparse(rows, cols, vals, batch, n))
    params = tm.init_params(jax.random.key(3), n, m, init="liu", dtype=jnp.float64)
    dense = jax.value_and_grad(lambda q: tm.batch_loss(q, x, imp, activation))(params)
    sparse = jax.value_and_grad(lambda q: tm.sparse_batch_loss(q, rows, cols, vals, batch, imp, activation))(params)
    for a, b in zip(jax.tree.leaves(dense), jax.tree.leaves(sparse), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-11, atol=1e-13)


def test_bias_learning_rate_gives_b_its_own_rate_and_no_decay():
    # first Adam update is -rate·sign(g) (bias-corrected moments): W moves by lr/W at step 1 (warm-up), b by lr_b/W,
    # and b is not decayed even with a large bias_decay
    opt = tm.make_optimizer(
        0.02, 100, schedule="warmup_cosine", warmup_steps=10, bias_learning_rate=0.5, bias_decay=10.0
    )
    params = tm.Params(jnp.zeros((2, 3)), jnp.ones(3))
    grads = tm.Params(jnp.ones((2, 3)), jnp.ones(3))
    upd, _ = opt.update(grads, opt.init(params), params)
    np.testing.assert_allclose(np.asarray(upd.W), -0.002, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(upd.b), -0.05, rtol=1e-5)


def test_adam_eps_is_a_loss_scale_and_init_scale_scales_w():
    # Adam on c·L with ε equals Adam on L with ε/c (Liu et al.'s large models scale the MSE by 100); gradients small
    # against ε, so a wrong ε is visible
    params = tm.Params(jnp.zeros((2, 3)), jnp.zeros(3))
    g = tm.Params(jnp.full((2, 3), 3e-9), jnp.full(3, -2e-9))
    scaled = tm.Params(100 * g.W, 100 * g.b)
    kw = dict(bias_learning_rate=0.5, weight_decay=-1.0)
    a = tm.make_optimizer(0.02, 10, **kw)
    b = tm.make_optimizer(0.02, 10, adam_eps=1e-10, **kw)
    ua, _ = a.update(scaled, a.init(params), params)
    ub, _ = b.update(g, b.init(params), params)
    uc, _ = a.update(g, a.init(params), params)
    np.testing.assert_allclose(np.asarray(ub.W), np.asarray(ua.W), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ub.b), np.asarray(ua.b), rtol=1e-6)
    assert np.all(np.abs(np.asarray(uc.W)) < 0.5 * np.abs(np.asarray(ua.W)))  # ε = 1e-8 on the unscaled loss damps it
    # init_scale multiplies the same draws
    p1 = tm.init_params(jax.random.key(0), 20, 5)
    p2 = tm.init_params(jax.random.key(0), 20, 5, init_scale=0.25)
    np.testing.assert_allclose(np.asarray(p2.W), 0.25 * np.asarray(p1.W), rtol=1e-6)
    with pytest.raises(ParameterError, match="init_scale"):
        tm.job(importance=np.ones(4), probabilities=np.full(4, 0.5), m=2, steps=10, n_records=1, init_scale=0.0)


def test_sparse_capacity_tiny_probabilities_quietly_conservative():
    # Liu et al.'s exponential law puts p_i near 1e-12 in the tail: no warning, and every capacity still covers
    # the Binomial count up to the tail (P(count > slots − 1) ≤ 1e-14)
    import warnings

    from scipy import stats

    p = np.array([1e-3, 1e-9, 1e-11, 1e-13, 1e-15, 1e-19, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cap = tm.sparse_capacity(p, 512)
    assert np.all(stats.binom.sf(cap - 1, 512, p) <= tm.SPARSE_TAIL)
    assert cap.max() <= 14


def test_auto_sampler_picks_sparse_for_sparse_features_only():
    liu = tm.job(
        importance=np.ones(1000),
        probabilities=th.power_law_frequencies(1000, 1.5),
        m=10,
        steps=4,
        batch_size=2048,
        n_records=1,
    )
    elhage = tm.job(importance=np.ones(20), probabilities=np.full(20, 0.3), m=5, steps=4, batch_size=1024, n_records=1)
    assert liu.family.capacity is not None and sum(liu.family.capacity) < 2048 * 1000 / 100
    assert elhage.family.capacity is None


def test_sparse_and_dense_training_agree_in_law():
    # the same models trained with either sampler: different random batches, the same expected trajectory.
    # 16 seeds each; the final losses' means must agree within 4 standard errors of their difference.
    n, seeds = 200, 16
    p = np.asarray(th.power_law_frequencies(n, 1.5))
    kw = dict(
        importance=np.full(n, 1 / n),
        probabilities=np.broadcast_to(p, (seeds, n)),
        m=8,
        steps=200,
        batch_size=256,
        learning_rate=1e-2,
        init="liu",
        value_range=(0.0, 2.0),
        n_records=4,
    )
    a = tm.train(jax.random.key(0), sampler="dense", **kw)
    b = tm.train(jax.random.key(1), sampler="sparse", **kw)
    assert int(np.sum(b.state["overflow"])) == 0
    la, lb = np.asarray(a.loss)[:, -1], np.asarray(b.loss)[:, -1]
    se = np.sqrt(la.var(ddof=1) / seeds + lb.var(ddof=1) / seeds)
    assert abs(la.mean() - lb.mean()) < 4 * se, (la.mean(), lb.mean(), se)
    assert lb.mean() < 0.5 * np.asarray(b.loss)[:, 0].mean()  # and it trained


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


def test_evaluate_loss_sparse_sampler_has_the_dense_law():
    # a random sparse model: the sparse estimate over 16 keys agrees with the dense one within 5 combined s.e.
    k1, k2 = jax.random.split(jax.random.key(3))
    n, m = 300, 12
    params = tm.Params(jax.random.normal(k1, (2, m, n)) / np.sqrt(m), 0.1 * jax.random.normal(k2, (2, n)))
    probs = np.stack([np.full(n, 0.01), np.asarray(th.power_law_frequencies(n, 1.0))])
    kw = dict(n_samples=8192, chunk=1024, value_range=(0.0, 2.0), common_samples=True)
    sparse, dense, overflow = [], [], []
    for s in range(16):
        loss, over = tm.evaluate_loss(
            jax.random.key(s), params, 1.0, probs, sampler="sparse", return_overflow=True, **kw
        )
        sparse.append(np.asarray(loss))
        overflow.append(np.asarray(over))
        dense.append(np.asarray(tm.evaluate_loss(jax.random.key(100 + s), params, 1.0, probs, **kw)))
    sparse, dense = np.asarray(sparse), np.asarray(dense)
    se = np.hypot(sparse.std(0, ddof=1), dense.std(0, ddof=1)) / 4.0
    assert np.all(np.abs(sparse.mean(0) - dense.mean(0)) <= 5 * se), (sparse.mean(0), dense.mean(0), se)
    assert np.sum(overflow) == 0
    with pytest.raises(ParameterError, match="sampler"):
        tm.evaluate_loss(jax.random.key(0), params, 1.0, probs, sampler="fast")


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
