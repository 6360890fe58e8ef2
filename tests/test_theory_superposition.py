"""Closed forms of theory.superposition against known geometries, direct optimisation and Monte Carlo."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from theory import superposition as th
from theory.common import ParameterError, enable_float64


def polygon(k, m=2):
    a = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(a), np.sin(a)])


def tetrahedron():
    v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float).T
    return v / np.sqrt(3)


def block(*mats):
    m = sum(a.shape[0] for a in mats)
    n = sum(a.shape[1] for a in mats)
    W = np.zeros((m, n))
    r = c = 0
    for a in mats:
        W[r : r + a.shape[0], c : c + a.shape[1]] = a
        r, c = r + a.shape[0], c + a.shape[1]
    return W


# ---------------------------------------------------------------------------------------------- geometry
@pytest.mark.parametrize(
    "W, expected",
    [
        (np.eye(3), 1.0),
        (np.array([[1.0, -1.0]]), 1 / 2),
        (polygon(3), 2 / 3),
        (polygon(5), 2 / 5),
        (tetrahedron(), 3 / 4),
    ],
)
def test_feature_dimensionality_uniform_polytopes(W, expected):
    np.testing.assert_allclose(th.feature_dimensionality(W), expected, rtol=1e-12)
    # a uniform polytope uses all of its k dims: D* = k / ℓ as well
    np.testing.assert_allclose(th.dimensions_per_feature(W), expected, rtol=1e-12)


def test_feature_dimensionality_tegum_product_zero_column_and_batch():
    # digon ⊕ triangle ⊕ dedicated ⊕ dropped feature, in 1 + 2 + 1 dims, scaled norms
    W = block(np.array([[0.9, -0.9]]), 1.3 * polygon(3), np.array([[1.0]]), np.zeros((0, 1)))
    D = np.asarray(th.feature_dimensionality(W))
    np.testing.assert_allclose(D, [1 / 2, 1 / 2, 2 / 3, 2 / 3, 2 / 3, 1.0, 0.0], atol=1e-12)
    size, rank, pred = th.polytope_structure(W, norm_threshold=0.5)
    np.testing.assert_array_equal(size, [2, 2, 3, 3, 3, 1, 0])
    np.testing.assert_array_equal(rank, [1, 1, 2, 2, 2, 1, 0])
    np.testing.assert_allclose(pred, D, atol=1e-12)
    batch = np.stack([W, 2 * W])  # D is scale invariant; batched over the leading axis
    np.testing.assert_allclose(th.feature_dimensionality(batch), np.stack([D, D]), atol=1e-12)


def square_antiprism():
    # two squares at heights ±h, the upper one turned by 45°; h² = 1/3 makes the 8 unit vectors a tight frame in 3-d
    a = np.pi / 2 * np.arange(4)
    h = np.sqrt(1 / 3)
    r = np.sqrt(1 - h**2)
    low = np.stack([r * np.cos(a), r * np.sin(a), -h * np.ones(4)])
    up = np.stack([r * np.cos(a + np.pi / 4), r * np.sin(a + np.pi / 4), h * np.ones(4)])
    return np.concatenate([low, up], axis=1)


def test_group_dimensionality_sums_to_rank_for_tight_frames_only():
    # antipodal pair of unequal norms ⊕ square antiprism ⊕ a stray feature weakly overlapping nothing (< 0.05)
    A = square_antiprism()
    np.testing.assert_allclose(A @ A.T, 8 / 3 * np.eye(3), atol=1e-12)  # tight: D = 3/8 each
    W = block(np.array([[0.8, -1.2]]), A, np.array([[1.0]]))
    W[0, -1] = 0.04  # residual overlap with the pair: moves D_i, not D^grp
    Dg = th.group_dimensionality(W)
    np.testing.assert_allclose(Dg[:2].sum(), 1.0, atol=1e-12)  # a pair sums to k = 1 whatever the norms
    np.testing.assert_allclose(Dg[2:10], 3 / 8, atol=1e-12)
    assert abs(np.asarray(th.feature_dimensionality(W))[-1] - 1.0) > 1e-3
    np.testing.assert_allclose(Dg[-1], 1.0, rtol=1e-12)
    # squares pulled apart (h² = 0.6): no longer tight, the group mean falls below 3/8 by more than half the gap to
    # 4/11 (the resolution of the geometry experiment's check)
    h = np.sqrt(0.6)
    B = A.copy()
    B[:2] *= np.sqrt(1 - h**2) / np.sqrt(2 / 3)
    B[2] = np.sign(B[2]) * h
    mean = th.group_dimensionality(B).mean()
    assert 3 / 8 - mean > (3 / 8 - 4 / 11) / 2, mean
    with pytest.raises(ParameterError, match="W"):
        th.group_dimensionality(np.ones(3))


def test_welch_bound_attained_by_tight_frames_and_random_overlap():
    np.testing.assert_allclose(th.mean_squared_overlap(polygon(5)), th.welch_bound(5, 2), rtol=1e-12)
    np.testing.assert_allclose(th.mean_squared_overlap(tetrahedron()), th.welch_bound(4, 3), rtol=1e-12)
    rng = np.random.default_rng(0)
    V = rng.normal(size=(20, 400))
    ov = float(th.mean_squared_overlap(V))
    # E(û·v̂)² = 1/m; the mean over 400·399 pairs has relative sd ≈ sqrt(2/m)/sqrt(400) ≈ 0.8 %; 5 % is > 5 sd
    assert abs(ov * 20 - 1) < 0.05
    assert ov >= float(th.welch_bound(400, 20))
    np.testing.assert_allclose(th.welch_bound_log_slope(1000, 100), -1 - 100 / 900)


# ---------------------------------------------------------------------------------------------- linear optimum
def test_feature_moments():
    mean, second, var = th.feature_moments(0.75, value_range=(0.0, 2.0))
    np.testing.assert_allclose([mean, second, var], [0.25, 1 / 3, 1 / 3 - 1 / 16])


def test_linear_optimum_matches_direct_optimisation():
    imp = 0.7 ** np.arange(8)
    m, S = 3, 0.2
    opt = th.linear_optimum(imp, m, sparsity=S)
    np.testing.assert_array_equal(np.asarray(opt.kept), np.arange(8) < m)
    np.testing.assert_allclose(th.linear_model_loss(opt.W, opt.b, imp, sparsity=S), opt.loss, rtol=1e-12)

    def loss(params):
        return th.linear_model_loss(params[0], params[1], imp, sparsity=S)

    sched = optax.cosine_decay_schedule(0.05, 4000, alpha=1e-3)
    tx = optax.adam(sched)

    @jax.jit
    def solve(key):
        params = (0.5 * jax.random.normal(key, (m, 8)), jnp.zeros(8))

        def step(c, _):
            p, s = c
            u, s = tx.update(jax.grad(loss)(p), s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, tx.init(params)), None, length=4000)
        return loss(p)

    found = np.asarray(jax.vmap(solve)(jax.random.split(jax.random.key(0), 6)))
    # no model beats the optimum; the best restart reaches it (Adam's end step 5e-5 leaves < 1e-6 relative)
    assert found.min() >= float(opt.loss) * (1 - 1e-10)
    assert found.min() <= float(opt.loss) * (1 + 1e-6)


def test_linear_optimum_orders_by_importance_times_variance():
    # feature 0 is the most important but almost never active: its I·Var is the smallest, so it is dropped
    opt = th.linear_optimum([3.0, 1.0, 0.9], 2, sparsity=[0.99, 0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(opt.kept), [False, True, True])


# ---------------------------------------------------------------------------------------------- phase diagram
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_expected_loss_2x1_matches_monte_carlo(seed):
    rng = np.random.default_rng(seed)
    W, b = rng.normal(size=2), rng.normal(size=2) * 0.3
    imp, p = np.array([1.0, rng.uniform(0.1, 5)]), rng.uniform(0.05, 1)
    exact = float(th.expected_loss_2x1(W, b, imp, p))
    N = 1_000_000
    x = rng.random((N, 2)) * (rng.random((N, 2)) < p)
    y = np.maximum(x @ np.outer(W, W) + b, 0)
    ell = ((x - y) ** 2 * imp).sum(1)
    se = ell.std() / np.sqrt(N)
    assert abs(exact - ell.mean()) < 5 * se  # 5 standard errors of the Monte-Carlo mean


def test_phase_energies_closed_forms_and_optimum():
    r, p = np.array([0.3, 2.0]), np.array([0.05, 0.5])
    E = th.phase_energies(r, p)
    var = p / 3 - p * p / 4
    np.testing.assert_allclose(
        E.not_represented,
        th.expected_loss_2x1([1.0, 0.0], np.stack([0 * p, p / 2], -1), np.stack([1 + 0 * r, r], -1), p),
        rtol=1e-12,
    )
    np.testing.assert_allclose(E.dedicated, var, rtol=1e-12)
    # Elhage et al.'s fixed antipodal pair (w = ±1, b = 0) has loss p²(1+r)/6; optimising can only lower it
    fixed = p * p * (1 + r) / 6
    np.testing.assert_allclose(th.expected_loss_2x1([1.0, -1.0], [0.0, 0.0], np.stack([1 + 0 * r, r], -1), p), fixed)
    assert np.all(np.asarray(E.superposition) <= fixed + 1e-15)
    np.testing.assert_allclose(
        th.expected_loss_2x1(E.params[:, :2], E.params[:, 2:], np.stack([1 + 0 * r, r], -1), p),
        E.superposition,
        rtol=1e-10,
    )
    # against an independent optimiser (scipy, from the fixed pair): same optimum to 1e-6 relative
    from scipy.optimize import minimize

    for k in range(2):
        f = jax.jit(
            lambda t, k=k: th.expected_loss_2x1(
                jnp.stack([jnp.abs(t[0]), -jnp.abs(t[1])]), t[2:], jnp.array([1.0, r[k]]), p[k]
            )
        )
        g = jax.jit(jax.grad(f))
        sol = minimize(
            lambda t, f=f: float(f(t)),
            np.array([1.0, 1.0, 0.0, 0.0]),
            jac=lambda t, g=g: np.asarray(g(t)),
            method="L-BFGS-B",
            options={"ftol": 1e-15, "gtol": 1e-12},
        )
        assert float(E.superposition[k]) <= sol.fun * (1 + 1e-6)


def test_phase_diagram_limits():
    # dense features: no superposition; the more important feature gets the dimension
    E = th.phase_energies([0.5, 2.0], [1.0, 1.0])
    np.testing.assert_array_equal(th.predicted_phase(E), [0, 1])
    # very sparse, comparable importance: superposition
    assert th.predicted_phase(th.phase_energies(1.0, 0.01)) == 2
    np.testing.assert_array_equal(th.classify_phase_2x1(np.array([[1, -1.0], [1, 0.1], [0.1, 1.0]])), [2, 0, 1])


# ---------------------------------------------------------------------------------------------- scaling law
def test_weak_superposition_loss_and_exponent():
    p = np.asarray(th.power_law_frequencies(50, 1.5))
    np.testing.assert_allclose(p.sum(), 1.0)
    var = p * 4 / 3 - p * p
    np.testing.assert_allclose(th.weak_superposition_loss([0, 7, 50], p), [var.sum() / 50, var[7:].sum() / 50, 0.0])
    # asymptotically L ∝ m^−(α−1): local slope at 1 ≪ m ≪ n
    p = th.power_law_frequencies(10**6, 1.5)
    ms = np.array([100, 1000])
    L = np.asarray(th.weak_superposition_loss(ms, p))
    slope = np.log(L[1] / L[0]) / np.log(10)
    assert abs(slope + float(th.weak_superposition_exponent(1.5))) < 0.02
    assert th.STRONG_SUPERPOSITION_EXPONENT == 1.0
    np.testing.assert_allclose(th.strong_superposition_exponent([0.0, 1.0, 1.5, 1.75, 2.0]), [1, 1, 1, 1.5, 2])
    np.testing.assert_allclose(th.strongly_represented_fraction(1000, [10, 44, 45, 100]), [0.05, 0.968, 1, 1])
    with pytest.raises(ParameterError, match="alpha"):
        th.strong_superposition_exponent(-0.5)
    # the large models' frequency laws (App. B.1): normalised, decreasing, the stated shapes
    for law in th.FREQUENCY_LAWS:
        p = np.asarray(th.frequency_law(10240, law))
        assert abs(p.sum() - 1) < 1e-9 and np.all(np.diff(p) <= 0)
    p = np.asarray(th.frequency_law(10240, "exponential", scale=400.0))
    np.testing.assert_allclose(p[400] / p[0], np.exp(-1.0), rtol=1e-9)
    np.testing.assert_allclose(th.frequency_law(100, "power"), th.power_law_frequencies(100, 1.2))
    np.testing.assert_allclose(np.asarray(th.frequency_law(4, "linear")), [0.4, 0.3, 0.2, 0.1])
    with pytest.raises(ParameterError, match="law"):
        th.frequency_law(10, "zipf")
    with pytest.raises(ParameterError, match="m"):
        th.strongly_represented_fraction(100, 0)


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: th.feature_moments(1.0), "sparsity"),
        (lambda: th.feature_moments(-0.1), "sparsity"),
        (lambda: th.linear_optimum([1.0, 2.0], 0), "m must"),
        (lambda: th.linear_optimum([1.0, -2.0], 1), "importance"),
        (
            lambda: th.linear_optimum([1.0, 2.0], 1, sparsity=[0.1, 0.2, 0.3]),
            "sparsity must be a scalar or have length",
        ),
        (lambda: th.feature_dimensionality(np.ones(3)), "W must have shape"),
        (lambda: th.feature_dimensionality(np.ones((0, 3))), "m >= 1"),
        (lambda: th.phase_energies(-1.0, 0.5), "relative_importance"),
        (lambda: th.phase_energies(1.0, 0.0), "density"),
        (lambda: th.power_law_frequencies(0, 1.5), "n must"),
        (lambda: th.weak_superposition_loss(3, [0.1, 0.5]), "decreasing"),
        (lambda: th.weak_superposition_exponent(0.5), "alpha"),
        (lambda: th.welch_bound(3, 5), "n >= m"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


# ---------------------------------------------------------------------------------------------- loss by pattern
def test_expected_loss_by_pattern_equals_exact_2x1():
    with enable_float64():
        rng = np.random.default_rng(4)
        for _ in range(3):
            W, b = rng.normal(size=(1, 2)), rng.normal(size=2) * 0.3
            imp, p = np.array([1.0, rng.uniform(0.1, 5)]), rng.uniform(0.05, 1)
            exact = float(th.expected_loss_2x1(W, b, imp, p))
            # n = 2 has no |S| >= 3 pattern: no Monte Carlo at all
            assert float(th.expected_loss_by_pattern(W, b, imp, [p, p])) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_expected_loss_by_pattern_matches_monte_carlo(seed):
    with enable_float64():
        rng = np.random.default_rng(seed)
        W, b = rng.normal(size=(2, 5)), rng.normal(size=5) * 0.2
        imp, p = rng.uniform(0.5, 1.5, 5), rng.uniform(0.05, 0.3, 5)
        # Pr(|S| >= 3) < 0.1 here, so the function's own Monte-Carlo error (that share over √65536) stays below
        # the plain mean's s.e. at 2^20 samples
        val = float(th.expected_loss_by_pattern(W, b, imp, p, mc_samples=1 << 16))
        N = 1 << 20
        x = rng.random((N, 5)) * (rng.random((N, 5)) < p)
        ell = (imp * (x - np.maximum(x @ (W.T @ W) + b, 0)) ** 2).sum(1)
        se = ell.std() / np.sqrt(N)
        # the plain Monte-Carlo mean's 5 s.e. dominates the function's own (stratified, |S| >= 3 only) error
        assert abs(val - ell.mean()) < 5 * se


def test_expected_loss_by_pattern_two_digons_closed_form():
    with enable_float64():
        p, p0 = 0.05, 0.02
        W = np.array([[0.0, 1, 0, -1, 0], [0, 0, 1, 0, -1]])
        b = np.array([p0 / 2, 0, 0, 0, 0])
        probs = np.array([p0, p, p, p, p])
        # dropped feature: Var x_0 = p0/3 − p0²/4; each antipodal pair errs by min(x_a, x_b) when both are on:
        # 2 p² E[min²] = p²/3 per pair
        closed = p0 / 3 - p0**2 / 4 + 2 * p**2 / 3
        # |S| >= 3 patterns (Monte Carlo) carry Pr ≈ 1e-4 of loss O(1): error ≲ 1e-4 · 1/√16384 ≈ 1e-6
        assert float(th.expected_loss_by_pattern(W, b, np.ones(5), probs)) == pytest.approx(closed, abs=1e-5)


def test_expected_loss_by_pattern_rejects_bad_input():
    with pytest.raises(ParameterError, match="n <= 12"):
        th.expected_loss_by_pattern(np.ones((2, 13)), np.zeros(13), np.ones(13), np.full(13, 0.1))
    with pytest.raises(ParameterError, match="probabilities"):
        th.expected_loss_by_pattern(np.ones((2, 3)), np.zeros(3), np.ones(3), [0.1, 0.2, 1.5])
    with pytest.raises(ParameterError, match="b must have a last axis of length n = 3"):
        th.expected_loss_by_pattern(np.ones((2, 3)), np.zeros(4), np.ones(3), np.full(3, 0.1))
    with pytest.raises(ParameterError, match="mc_samples"):
        th.expected_loss_by_pattern(np.ones((2, 3)), np.zeros(3), np.ones(3), np.full(3, 0.1), mc_samples=0)


def test_pentagon_digon_energies_geometries():
    with enable_float64():
        E = th.pentagon_digon_energies([0.1, 1.0], steps=800, mc_samples=256)
        Wp = np.asarray(E.pentagon_W)
        # r = 1: the regular pentagon, every D_i = 2/5, and it beats the two digons
        np.testing.assert_allclose(np.asarray(th.feature_dimensionality(Wp[1])), 0.4, atol=2e-3)
        assert float(E.pentagon[1]) < float(E.digon[1])
        # r = 0.1: feature 0 so sparse that dropping it (two digons) wins; the digon is at its closed form
        assert float(E.digon[0]) < float(E.pentagon[0]) * (1 - 1e-3) or np.linalg.norm(Wp[0][:, 0]) < 0.5
        closed = 0.005 / 3 - 0.005**2 / 4 + 2 * 0.05**2 / 3
        assert float(E.digon[0]) == pytest.approx(closed, rel=5e-3)
        np.testing.assert_array_equal(np.asarray(E.digon_W)[:, :, 0], 0.0)
    with pytest.raises(ParameterError, match="relative_density \\* density"):
        th.pentagon_digon_energies(30.0)
    with pytest.raises(ParameterError, match="relative_density"):
        th.pentagon_digon_energies(-1.0)


def test_fixed_phase_energies_closed_forms():
    with enable_float64():
        r, p = np.array([0.3, 2.0]), np.array([0.05, 0.5])
        F = th.fixed_phase_energies(r, p)
        imp = np.stack([np.ones_like(r), r], -1)
        # each closed form is the exact expected loss of its configuration
        np.testing.assert_allclose(F.superposition, th.expected_loss_2x1([1.0, -1.0], [0.0, 0.0], imp, p), rtol=1e-12)
        np.testing.assert_allclose(
            F.not_represented, th.expected_loss_2x1([1.0, 0.0], np.stack([0 * p, p / 2], -1), imp, p), rtol=1e-12
        )
        np.testing.assert_allclose(
            F.dedicated, th.expected_loss_2x1([0.0, 1.0], np.stack([p / 2, 0 * p], -1), imp, p), rtol=1e-12
        )
        # optimising the antipodal branch never loses
        assert np.all(np.asarray(th.phase_energies(r, p).superposition) <= np.asarray(F.superposition) + 1e-12)


def test_phase_energies_3x2_configurations():
    with enable_float64():
        r, p = np.array([0.2, 1.0, 5.0]), np.array([0.02, 0.1, 0.5])
        E = th.phase_energies_3x2(r, p)
        F = th.phase_energies_3x2(r, p, optimise=False)
        var = p / 3 - p * p / 4
        np.testing.assert_allclose(np.asarray(F.energies), np.stack([r * var, var, p * p * (1 + r) / 6, p * p / 3], -1))
        assert np.all(np.asarray(E.energies) <= np.asarray(F.energies) + 1e-12)
        # every energy is the expected loss of the returned weights (|S| = 3 by Monte Carlo, p³ ≤ 0.125 of the weight;
        # at 2^20 points its spread over keys is ≲ 5e-4 relative)
        imp = np.stack([np.ones_like(r), np.ones_like(r), r], -1)[:, None, :]
        probs = np.repeat(p[:, None, None], 3, -1) * np.ones((1, 4, 3))
        L = np.asarray(th.expected_loss_by_pattern(E.W, E.b, imp, probs, mc_samples=1 << 20))
        np.testing.assert_allclose(L, np.asarray(E.energies), rtol=2e-3)
        # the fixed configurations classify as themselves
        np.testing.assert_array_equal(th.classify_phase_3x2(np.asarray(F.W)), np.broadcast_to(np.arange(4), (3, 4)))
        # sparse and important extra feature: superposition; dense: no superposition
        ph = th.predicted_phase_3x2(th.phase_energies_3x2([0.3, 3.0, 0.3], [0.01, 0.01, 1.0]))
        np.testing.assert_array_equal(ph, [2, 3, 0])
    with pytest.raises(ParameterError, match="must have shape"):
        th.classify_phase_3x2(np.ones((2, 4)))
