"""toymodels.deep_linear: gradients, exact recursions, reproducibility, batching, initialisations."""

import warnings

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from theory import deep_linear as th
from theory.common import ParameterError
from toymodels import deep_linear as dl


def _analytic_grad(params, task):
    """Paper eq. 13: ∂L/∂W_l = −(Π_{i>l} W_i)ᵀ [Σyx − W_tot Σxx] (Π_{i<l} W_i)ᵀ."""
    grads = []
    for l in range(len(params)):
        above = dl.end_to_end(params[l + 1 :]) if l + 1 < len(params) else jnp.eye(params[-1].shape[0])
        below = dl.end_to_end(params[:l]) if l > 0 else jnp.eye(params[0].shape[1])
        err = task.sigma_yx - dl.end_to_end(params) @ task.sigma_xx
        grads.append(-above.T @ err @ below.T)
    return tuple(grads)


def _random_task(key, n_in=5, n_out=4, p=40):
    kx, ky = jax.random.split(key)
    x = jax.random.normal(kx, (p, n_in)) @ jnp.diag(jnp.linspace(0.5, 2.0, n_in))  # non-white inputs
    y = jax.random.normal(ky, (p, n_out))
    return x, y, dl.task_from_data(x, y)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_autodiff_gradient_equals_eq13(depth):
    _, _, task = _random_task(jax.random.PRNGKey(0))
    widths = (5,) + (6,) * (depth - 1) + (4,)
    params = dl.init_params(jax.random.PRNGKey(1), widths, "gaussian", scale=0.5)
    auto = jax.grad(dl.loss)(params, task)
    for a, b in zip(auto, _analytic_grad(params, task), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_correlation_loss_equals_sample_loss():
    x, y, task = _random_task(jax.random.PRNGKey(2))
    params = dl.init_params(jax.random.PRNGKey(3), (5, 7, 4), "gaussian", scale=0.3)
    w = dl.end_to_end(params)
    sample = 0.5 * jnp.mean(jnp.sum((y - x @ w.T) ** 2, axis=1))
    np.testing.assert_allclose(dl.loss(params, task), sample, rtol=1e-12)


@pytest.mark.parametrize("depth, lr", [(2, 1e-2), (5, 2e-3)])
def test_full_matrix_gd_equals_exact_recursion(depth, lr):
    # docs/families/deep_linear.md P1: decoupled balanced init reproduces a ← a + η a^{D−1}(s − a^D) per mode to ≤ 1e-12
    s = jnp.array([2.0, 1.0, 0.5])
    task = dl.synthetic_task(jax.random.PRNGKey(4), s, 4, 3)
    widths = (4,) + (5,) * (depth - 1) + (3,)
    params = dl.init_params(jax.random.PRNGKey(5), widths, "decoupled", task=task, initial_strength=1e-3)
    np.testing.assert_allclose(dl.mode_projections(params, task), 1e-3, rtol=1e-12)
    n = 3000
    traj = dl.train(params, task, lr, steps=n, n_records=n // 10)
    rec = th.discrete_mode_trajectory(n, task.singular_values, 1e-3, lr, depth=depth, record_every=10)
    np.testing.assert_allclose(traj.records["modes"] / task.singular_values, rec / task.singular_values, atol=1e-12)


def test_same_key_same_result_different_key_different_result():
    task = dl.synthetic_task(jax.random.PRNGKey(6), jnp.array([1.0, 0.5]), 3, 3)
    run = lambda k: dl.train(dl.init_params(k, (3, 4, 3), "gaussian", scale=0.1), task, 0.05, steps=200)
    a, b, c = run(jax.random.PRNGKey(7)), run(jax.random.PRNGKey(7)), run(jax.random.PRNGKey(8))
    np.testing.assert_array_equal(a.records["modes"], b.records["modes"])
    assert not np.allclose(a.records["modes"], c.records["modes"])


def test_train_batch_equals_loop_of_single_models():
    task = dl.synthetic_task(jax.random.PRNGKey(9), jnp.array([1.5, 1.0, 0.5]), 4, 3)
    keys = jax.random.split(jax.random.PRNGKey(10), 3)
    lrs = jnp.array([0.01, 0.05, 0.1])
    params = jax.vmap(lambda k: dl.init_params(k, (4, 5, 5, 3), "gaussian", scale=0.2))(keys)
    traj_b = dl.train(params, task, lrs, steps=300, n_records=100)
    final_b = traj_b.params
    chex.assert_shape(traj_b.records["modes"], (3, 101, 3))
    chex.assert_shape(traj_b.loss, (3, 101))
    for i in range(3):
        p_i = jax.tree.map(lambda w, i=i: w[i], params)
        traj_i = dl.train(p_i, task, lrs[i], steps=300, n_records=100)
        final_i = traj_i.params
        np.testing.assert_allclose(traj_b.records["modes"][i], traj_i.records["modes"], rtol=1e-12, atol=1e-14)
        for wb, wi in zip(final_b, final_i, strict=True):
            np.testing.assert_allclose(wb[i], wi, rtol=1e-12, atol=1e-14)


def test_chunked_progress_run_equals_single_scan():
    task = dl.synthetic_task(jax.random.PRNGKey(11), jnp.array([1.0, 0.5]), 3, 2)
    params = dl.init_params(jax.random.PRNGKey(12), (3, 3, 2), "decoupled", task=task, initial_strength=1e-2)
    one = dl.train(params, task, 0.05, steps=600, n_records=300)
    chunked = dl.train(params, task, 0.05, steps=600, n_records=300, records_per_chunk=70)
    np.testing.assert_array_equal(one.records["modes"], chunked.records["modes"])
    np.testing.assert_array_equal(one.steps, chunked.steps)


def test_orthogonal_init_is_isometric_and_gaussian_is_not():
    widths = (16,) * 9
    w_orth = dl.end_to_end(dl.init_params(jax.random.PRNGKey(13), widths, "orthogonal"))
    np.testing.assert_allclose(np.linalg.svd(w_orth, compute_uv=False), 1.0, atol=1e-12)
    w_gauss = dl.end_to_end(dl.init_params(jax.random.PRNGKey(13), widths, "scaled_gaussian"))
    sv = np.linalg.svd(w_gauss, compute_uv=False)
    assert sv.max() / sv.min() > 100  # product of 8 Gaussians: heavy-tailed, badly conditioned spectrum


@pytest.mark.parametrize("depth", [2, 4, 10])
def test_stability_bound_p9(depth):
    # docs/families/deep_linear.md P9: a balanced mode started at 1.01 s converges at 0.9 × 2/(N s^{2−2/N}) and diverges at 1.1 ×
    s = jnp.array([1.3])
    task = dl.make_task(jnp.diag(s))
    params = dl.init_params(
        jax.random.PRNGKey(14), (1,) * (depth + 1), "decoupled", task=task, initial_strength=1.01 * s
    )
    bound = float(th.max_stable_learning_rate(s[0], depth))
    ok = dl.train(params, task, 0.9 * bound, steps=3000, n_records=1)
    with pytest.warns(RuntimeWarning, match=r"training diverged \(deep linear GD\): 1 of 1 runs"):
        bad = dl.train(params, task, 1.1 * bound, steps=3000, n_records=1)  # reported as diverged
    assert abs(float(ok.records["modes"][-1, 0]) / 1.3 - 1) < 1e-6
    assert (
        not np.isfinite(float(bad.records["modes"][-1, 0])) or abs(float(bad.records["modes"][-1, 0]) / 1.3 - 1) > 0.1
    )


def test_branching_diffusion_data_shapes_and_values():
    x, y = dl.branching_diffusion_data(jax.random.PRNGKey(15), 3, 0.1, 50)
    chex.assert_shape(x, (8, 8))
    chex.assert_shape(y, (8, 50))
    assert set(np.unique(np.asarray(y))) <= {-1.0, 1.0}
    np.testing.assert_array_equal(x, np.eye(8))


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: dl.init_params(jax.random.PRNGKey(0), (3, 0, 2), "gaussian"), "widths"),
        (lambda: dl.init_params(jax.random.PRNGKey(0), (3,), "gaussian"), "widths"),
        (lambda: dl.init_params(jax.random.PRNGKey(0), (3, 2), "uniform"), "scheme"),
        (lambda: dl.init_params(jax.random.PRNGKey(0), (3, 2), "gaussian", scale=-1.0), "scale"),
        (lambda: dl.init_params(jax.random.PRNGKey(0), (3, 2), "decoupled"), "task"),
        (lambda: dl.synthetic_task(jax.random.PRNGKey(0), [1.0, -2.0], 3, 3), "singular_values"),
        (lambda: dl.synthetic_task(jax.random.PRNGKey(0), [1.0, 2.0], 1, 3), "singular_values"),
        (lambda: dl.branching_diffusion_data(jax.random.PRNGKey(0), 3, 0.6, 10), "flip_prob"),
    ],
)
def test_bad_input_names_parameter(call, word):
    with pytest.raises(ParameterError, match=word):
        call()


def test_bad_training_arguments():
    task = dl.make_task(jnp.eye(2))
    params = dl.init_params(jax.random.PRNGKey(0), (2, 2), "gaussian")
    with pytest.raises(ParameterError, match="learning_rate"):
        dl.train(params, task, -0.1, steps=10)
    with pytest.raises(ParameterError, match="steps"):
        dl.train(params, task, 0.1, steps=0)
    with pytest.raises(ParameterError, match="multiple of n_records"):
        dl.train(params, task, 0.1, steps=10, n_records=3)
    with pytest.raises(ParameterError, match="the task needs 2 → 2"):
        dl.train(dl.init_params(jax.random.PRNGKey(0), (3, 2), "gaussian"), task, 0.1, steps=10)


# ---- the Flax module on its own: its forward pass equals the model's closed form written out in NumPy (float64,
# to 1e-12 relative: the same products summed in another order), documented shapes, stated initial scale.
# Scale checks: the sample standard deviation of N Gaussian entries has relative error ≈ 1/√(2N);
# every check below uses N ≥ 4000 entries, so 5 × that (≤ 0.056) bounds the tolerance from below; 0.08 is used.
MODULE_RTOL = 1e-12


def _np(x):
    return np.asarray(x, dtype=np.float64)


@pytest.mark.parametrize("scheme", ["gaussian", "scaled_gaussian", "orthogonal"])
def test_deep_linear_forward_is_the_product_of_its_layers(scheme):
    widths = (5, 7, 6, 4)
    model = dl.DeepLinear(widths, scheme, scale=0.7, dtype=jnp.float64, rngs=nnx.Rngs(2))
    Ws = [_np(w[...]) for w in model.layers]
    assert [w.shape for w in Ws] == [(7, 5), (6, 7), (4, 6)]
    x = np.random.default_rng(1).normal(size=(3, 5))
    np.testing.assert_allclose(_np(model(jnp.asarray(x))), x @ (Ws[2] @ Ws[1] @ Ws[0]).T, rtol=MODULE_RTOL)


def test_deep_linear_decoupled_module_starts_at_the_stated_mode_strengths():
    task = dl.synthetic_task(jax.random.key(0), [3.0, 2.0, 1.0], 4, 3, dtype=jnp.float64)
    model = dl.DeepLinear(
        (4, 5, 5, 3), "decoupled", task=task, initial_strength=[0.1, 0.2, 0.3], dtype=jnp.float64, rngs=nnx.Rngs(3)
    )
    np.testing.assert_allclose(dl.mode_projections(model.weights(), task), [0.1, 0.2, 0.3], rtol=1e-12)
    scaled = dl.DeepLinear((400, 300), "scaled_gaussian", scale=2.0, dtype=jnp.float64, rngs=nnx.Rngs(3))
    assert abs(_np(scaled.layers[0][...]).std() * np.sqrt(400) / 2.0 - 1) < 0.08


# ---- divergence reporting and user errors through the shared trainer machinery
def _deep_linear_setup():
    task = dl.make_task(np.diag([3.0, 2.0]))
    params = dl.init_params(jax.random.key(0), (2, 5, 2), "gaussian", scale=0.1)
    return task, params


def test_deep_linear_divergence_is_reported():
    task, params = _deep_linear_setup()
    with pytest.warns(RuntimeWarning, match=r"training diverged \(deep linear GD\)"):
        dl.train(params, task, 1000.0, steps=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dl.train(params, task, 0.05, steps=30)  # a stable rate: no warning


def test_user_errors_are_parameter_errors():
    task, params = _deep_linear_setup()
    with pytest.raises(ParameterError, match=r"learning_rate must be a scalar for one network"):
        dl.train(params, task, np.array([0.1, 0.2]), steps=10)
    batch = jax.tree.map(lambda w: np.stack([w, w, w]), params)
    with pytest.raises(ParameterError, match=r"learning_rate must be a scalar or have shape \(3,\)"):
        dl.train(batch, task, np.array([0.1, 0.2]), steps=10)
    with pytest.raises(ParameterError, match="leading batch axis"):
        dl.job(params, task, 0.1, steps=10)


def test_unbalanced_decoupled_init_follows_the_scalar_recursion():
    """layer_strengths sets every layer's weight on each mode; GD keeps the network decoupled and each mode's
    (a, b) follows a' = a + η b(s − d ab), b' = b + η a(s − d ab), also for inputs with variance d along the modes."""
    white = dl.synthetic_task(jax.random.key(0), [1.0, 0.5], 3, 3)
    v = np.asarray(white.right)
    var = np.array([2.0, 0.5, 1.0])
    task = dl.make_task(white.sigma_yx, (v * var) @ v.T)
    key = jax.random.key(3)
    strengths = np.array([[0.8, -0.3], [0.05, 0.9]])
    params = dl.init_params(key, (3, 4, 3), "decoupled", task=task, layer_strengths=strengths)
    bases = dl.decoupled_bases(key, (3, 4, 3), task)
    w0, res0 = dl.layer_mode_weights(params, bases, 2)
    np.testing.assert_allclose(w0, strengths, atol=1e-15)
    assert float(res0) < 1e-15
    tr = dl.train(params, task, 1e-2, steps=400, n_records=40, record_weights=True)
    assert tr.records["weights"][0].shape == (41, 4, 3)
    ab, res = dl.layer_mode_weights(tr.records["weights"], bases, 2)
    rec = th.unbalanced_discrete_trajectory(
        400, task.singular_values[:2], strengths[0], strengths[1], 1e-2, input_variance=var[:2], record_every=10
    )
    np.testing.assert_allclose(ab[:, 0], rec.a, atol=1e-13)
    np.testing.assert_allclose(ab[:, 1], rec.b, atol=1e-13)
    assert float(np.max(res)) < 1e-13
    np.testing.assert_allclose(tr.records["modes"][:, :2], rec.u, atol=1e-13)


def test_decoupled_init_needs_exactly_one_strength_argument():
    task = dl.synthetic_task(jax.random.key(0), [1.0, 0.5], 3, 3)
    with pytest.raises(ParameterError, match="exactly one"):
        dl.init_params(jax.random.key(1), (3, 3, 3), "decoupled", task=task)
    with pytest.raises(ParameterError, match="layer_strengths"):
        dl.init_params(jax.random.key(1), (3, 3, 3), "decoupled", task=task, layer_strengths=np.ones((3, 2)))


@pytest.mark.parametrize("lam", [0.0, 0.7, -0.7, 4.0])
def test_lambda_balanced_init(lam):
    w1, w2 = dl.init_params(jax.random.key(2), (6, 4, 5), "lambda_balanced", scale=0.1, balance=lam)
    got, residual = th.balance(w1, w2)
    assert abs(float(got) - lam) < 1e-12 and float(residual) < 1e-14
    with pytest.raises(ParameterError, match="lambda_balanced"):
        dl.init_params(jax.random.key(2), (3, 4, 5), "lambda_balanced", balance=lam)


def test_tanh_orthogonal_propagation_against_autodiff():
    """q per layer, the Jacobian and its Hutchinson trace against a direct forward pass with the same weights."""
    n, depth = 12, 6
    key = jax.random.key(4)
    x1 = jax.random.normal(jax.random.key(5), (3, n)) * jnp.array([[0.5], [1.0], [2.0]])
    gains = jnp.array([0.9, 1.0, 1.2])
    res = dl.tanh_orthogonal_propagation(key, x1, gains, depth=depth, probes=4000, jacobian=True)
    _, k_layers = jax.random.split(key)
    ws = [jax.nn.initializers.orthogonal()(k, (n, n), x1.dtype) for k in jax.random.split(k_layers, depth - 1)]

    def forward(x, g):
        qs = [jnp.mean(x**2)]
        for w in ws:
            x = g * w @ jnp.tanh(x)
            qs.append(jnp.mean(x**2))
        return x, jnp.stack(qs)

    for c in range(3):
        out, qs = forward(x1[c], gains[c])
        np.testing.assert_allclose(res.q[c], qs, rtol=1e-12)
        jac = jax.jacfwd(lambda x, g=gains[c]: forward(x, g)[0])(x1[c])
        np.testing.assert_allclose(res.jacobian[c], jac, atol=1e-12)
        exact = float(jnp.sum(jac**2)) / n
        assert abs(float(res.mean_sq_singular[c]) / exact - 1) < 0.1  # Hutchinson, 4000 probes


def _spectrum_task(lams, key=0):
    q = np.linalg.qr(np.random.default_rng(key).normal(size=(len(lams), len(lams))))[0]
    return q, (q * np.asarray(lams)) @ q.T


def test_pretraining_is_pca_with_strengths_near_one():
    """Saxe et al. §3: a linear autoencoder from small weights ends at W = R M^{1/2} Q_kᵀ, M → I (App. E with D = Λ).

    λ = (4, 2, 1 | 0.4, 0.3), hidden 3, η = 0.5/λ_max: the slowest kept mode grows as e^{2ηλ_3 n} = e^{0.25 n}, so after
    400 steps the map's deficit on it is ≈ e^{−100}/u0, far below the 1e-9 asserted on the loss, which only the top-3
    principal subspace attains (Baldi & Hornik 1989). The encoder's weight on the discarded directions dies out
    (measured e^{−0.025 n}: 1e-2 at 100 steps, 7e-6 at 400), asserted as a fall by more than 100×. The encoder alone is R M^{1/2} Qᵀ with M = I only up to the
    encoder–decoder imbalance: its start O(scale²·n) and GD's per-step change of order η²‖E‖² (the exact identity of
    P17/`deep_linear_general_init`), measured 2e-3 here; asserted within 1e-2."""
    q, sxx = _spectrum_task([4.0, 2.0, 1.0, 0.4, 0.3])
    pre = dl.pretrain_layerwise(jax.random.key(3), sxx, (5, 3, 2), steps=400)
    w1 = np.asarray(pre.params[0])
    m = np.linalg.eigvalsh(w1 @ w1.T)
    np.testing.assert_allclose(m, 1.0, atol=1e-2)  # M → I up to the imbalance
    early = dl.pretrain_layerwise(jax.random.key(3), sxx, (5, 3, 2), steps=100)
    leak = lambda p: np.linalg.norm(np.asarray(p.params[0]) @ q[:, 3:])  # weight outside the top-3 subspace
    assert leak(pre) < 1e-2 * leak(early)
    np.testing.assert_allclose(pre.reconstruction_loss, pre.optimal_loss, rtol=1e-9)
    np.testing.assert_allclose(pre.optimal_loss, [0.5 * (0.4 + 0.3)], rtol=1e-12)
    assert pre.steps == 400 and pre.params[1].shape == (2, 3)
    assert np.std(np.asarray(pre.params[1])) < 0.05  # the output layer keeps its small random start


def test_pretraining_tolerance_stops_at_the_first_crossing():
    _, sxx = _spectrum_task([3.0, 1.0, 0.5, 0.2])
    widths = (4, 4, 4, 2)
    pre = dl.pretrain_layerwise(jax.random.key(1), sxx, widths, steps=2000, tolerance=0.05)
    target = pre.optimal_loss + 0.05 * (pre.zero_loss - pre.optimal_loss)
    assert np.all(np.asarray(pre.reconstruction_loss) <= np.asarray(target))
    # the same key and the first layer's step count reproduce the first layer exactly
    n1 = dl.pretrain_layerwise(jax.random.key(1), sxx, (4, 4, 2), steps=2000, tolerance=0.05)
    chex.assert_trees_all_close(n1.params[0], pre.params[0], atol=0, rtol=0)
    with pytest.raises(ParameterError, match="steps"):
        dl.pretrain_layerwise(jax.random.key(1), sxx, widths, steps=3, tolerance=1e-6)
    with pytest.raises(ParameterError, match="hidden layer"):
        dl.pretrain_layerwise(jax.random.key(1), sxx, (4, 2), steps=10)
    with pytest.raises(ParameterError, match="sigma_xx"):
        dl.pretrain_layerwise(jax.random.key(1), sxx[:3, :3], widths, steps=10)


def test_tanh_network_training_is_plain_gradient_descent():
    """train_tanh: the network is x¹ = W_1 x, x^{l+1} = W tanh(x^l), y = W_out x^L; one engine step is W ← W − η∇L."""
    widths = (5, 6, 6, 6, 3)
    p = dl.tanh_orthogonal_params(jax.random.key(0), widths, 1.3)
    for w in p[1:-1]:  # gain-scaled orthogonal hidden layers
        np.testing.assert_allclose(np.linalg.svd(np.asarray(w), compute_uv=False), 1.3, rtol=1e-12)
    x = jax.random.normal(jax.random.key(1), (20, 5))
    y = jax.random.normal(jax.random.key(2), (20, 3))

    def by_hand(ws):
        h = x @ ws[0].T
        for w in ws[1:-1]:
            h = jnp.tanh(h) @ w.T
        return 0.5 * jnp.mean(jnp.sum((y - h @ ws[-1].T) ** 2, axis=-1))

    np.testing.assert_allclose(0.5 * np.mean(np.sum((y - dl.TanhNetwork(p)(x)) ** 2, -1)), by_hand(p), rtol=1e-13)
    lrs = jnp.array([0.05, 0.2])
    res = dl.train_tanh(jax.tree.map(lambda w: jnp.stack([w, w]), p), x, y, lrs, steps=1)
    grads = jax.grad(by_hand)(p)
    for i, lr in enumerate(lrs):
        want = tuple(w - lr * g for w, g in zip(p, grads, strict=True))
        chex.assert_trees_all_close(tuple(w[i] for w in res.params), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.loss[:, 0], by_hand(p), rtol=1e-13)
    with pytest.raises(ParameterError, match="learning_rate"):
        dl.train_tanh(jax.tree.map(lambda w: jnp.stack([w, w]), p), x, y, jnp.ones(3), steps=1)
    with pytest.raises(ParameterError, match="the data needs"):
        dl.train_tanh(jax.tree.map(lambda w: jnp.stack([w, w]), p), x[:, :4], y, lrs, steps=1)
