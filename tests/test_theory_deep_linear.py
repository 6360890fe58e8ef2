"""theory.deep_linear against independent computations: ODE solves, scipy's ₂F₁, limits, recursions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp
from scipy.special import hyp2f1

from theory import deep_linear as th
from theory.common import ParameterError


def _ode(s, u0, depth, ts):
    """Reference: a tight DOP853 solve of du/dt = D u^(2-2/D) (s - u) (docs/families/deep_linear.md, eq. 15)."""
    rhs = lambda t, u: depth * np.abs(u) ** (2 - 2 / depth) * (s - u)
    sol = solve_ivp(rhs, (0, ts[-1]), [u0], t_eval=ts, rtol=1e-12, atol=1e-15, method="DOP853")
    return sol.y[0]


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 7, 20])
@pytest.mark.parametrize("u0", [1e-6, 0.3, 2.5])
def test_mode_strength_matches_ode(depth, u0):
    s = 1.5
    ts = np.linspace(0, 40.0 if depth < 7 else 400.0, 201)
    got = np.asarray(th.mode_strength(ts, s, u0, depth=depth))
    # the ODE solver's own error at rtol 1e-12 over these horizons is < 1e-9
    np.testing.assert_allclose(got, _ode(s, u0, depth, ts), atol=1e-9, rtol=0)


def test_depth2_is_the_logistic_eq12():
    s, u0 = 2.0, 1e-4
    t = np.linspace(0, 10, 50)
    expected = s * np.exp(2 * s * t) / (np.exp(2 * s * t) - 1 + s / u0)  # paper eq. 12 as printed
    np.testing.assert_allclose(th.mode_strength(t, s, u0), expected, rtol=1e-13)


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
def test_limits(depth):
    s = np.array([0.5, 1.0, 3.0])
    u0 = 1e-3
    np.testing.assert_allclose(th.mode_strength(0.0, s, u0, depth=depth), u0, rtol=1e-12)
    np.testing.assert_allclose(th.mode_strength(1e4, s, u0, depth=depth), s, rtol=1e-12)
    if depth >= 2:  # u = 0 is an (unstable) fixed point only with a hidden layer
        assert float(th.mode_strength(5.0, 1.0, 0.0, depth=depth)) == 0.0
    np.testing.assert_allclose(th.mode_strength(np.linspace(0, 5, 7), 1.0, 1.0, depth=depth), 1.0, rtol=1e-14)


@pytest.mark.parametrize("depth", [3, 4, 6, 10, 30, 99])
def test_deep_learning_time_matches_the_hyp2f1_form(depth):
    # docs/families/deep_linear.md §3: t = (1/N)[I(uf) − I(u0)], I(u) = u^{1−p}/((1−p)s) ₂F₁(1, 1−p; 2−p; u/s), p = 2 − 2/N
    s, u0, uf = 1.5, 1e-3, 0.99 * 1.5
    p = 2 - 2 / depth
    i_ = lambda u: u ** (1 - p) / ((1 - p) * s) * hyp2f1(1, 1 - p, 2 - p, u / s)
    ref = (i_(uf) - i_(u0)) / depth
    got = float(th.learning_time(s, u0, depth=depth, fraction=0.99))
    assert abs(got - ref) / ref < 1e-12


def test_learning_time_p8_numbers():
    # docs/families/deep_linear.md P8: s = 1.5, u0 = 1e-3, uf = 0.99 s, λ = 1e-3: N = 5 → 14520.2 steps, N = 20 → 18759.4
    assert float(th.learning_time(1.5, 1e-3, depth=5, fraction=0.99)) / 1e-3 == pytest.approx(14520.2, abs=0.1)
    assert float(th.learning_time(1.5, 1e-3, depth=20, fraction=0.99)) / 1e-3 == pytest.approx(18759.4, abs=0.1)


def test_learning_time_depth_non_monotone():
    # docs/families/deep_linear.md §3: with s = 1.5, u0 = 1e-3 (to 0.99 s): N = 2 → 3.97, N = 10 → 21.3, N = 99 → 6.0 (units of τ)
    got = [float(th.learning_time(1.5, 1e-3, depth=n, fraction=0.99)) for n in (2, 10, 99)]
    np.testing.assert_allclose(got, [3.97, 21.3, 6.0], rtol=5e-3)


def test_eq17_is_only_asymptotic():
    # docs/families/deep_linear.md §3: eq. 17 is 12 % off at N = 99 (s = 1.5, u0 = 1e-3, uf = 0.99 s) and the gap shrinks with N
    gaps = []
    for n in (10, 99, 1000):
        exact = float(th.learning_time(1.5, 1e-3, depth=n, fraction=0.99))
        approx = float(th.learning_time_infinite_depth(1.5, 1e-3, depth=n, fraction=0.99))
        gaps.append(abs(approx - exact) / exact)
    assert 0.10 < gaps[1] < 0.14
    assert gaps[0] > gaps[1] > gaps[2]


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.1, 5.0), log_u0=st.floats(-8, -0.5), frac=st.floats(0.05, 0.995), depth=st.integers(1, 12))
def test_learning_time_inverts_mode_strength(s, log_u0, frac, depth):
    u0 = 10**log_u0 * s
    if u0 >= frac * s:
        return
    t = th.learning_time(s, u0, depth=depth, fraction=frac)
    np.testing.assert_allclose(th.mode_strength(t, s, u0, depth=depth), frac * s, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(s=st.floats(0.1, 5.0), log_u0=st.floats(-8, 0.5), depth=st.integers(1, 8))
def test_mode_strength_monotone_and_bounded(s, log_u0, depth):
    u0 = 10**log_u0 * s
    t = np.linspace(0, 50 / s**2, 64)
    u = np.asarray(th.mode_strength(t, s, u0, depth=depth))
    lo, hi = min(u0, s), max(u0, s)
    assert np.all(u >= lo * (1 - 1e-12)) and np.all(u <= hi * (1 + 1e-12))
    d = np.diff(u) * np.sign(s - u0)
    assert np.all(d >= -1e-12 * s)


def test_vectorised_broadcasting_and_jit():
    t = jnp.linspace(0, 5, 11)[:, None]
    s = jnp.array([0.5, 1.0, 2.0])
    u = th.mode_strength(t, s, 1e-3, depth=3)
    assert u.shape == (11, 3)
    jitted = jax.jit(lambda tt, ss: th.mode_strength(tt, ss, 1e-3, depth=3))
    np.testing.assert_allclose(jitted(t, s), u, rtol=1e-13)
    per_s = jax.vmap(lambda ss: th.mode_strength(t[:, 0], ss, 1e-3, depth=3))(s)
    np.testing.assert_allclose(per_s.T, u, rtol=1e-13)
    # array-valued depth selects the right branch per element
    mixed = th.mode_strength(1.0, 1.0, 1e-2, depth=np.array([1, 2, 3]))
    single = [float(th.mode_strength(1.0, 1.0, 1e-2, depth=d)) for d in (1, 2, 3)]
    np.testing.assert_allclose(mixed, single, rtol=1e-13)


def test_half_time_formula():
    s, u0 = np.array([3.0, 0.25]), 1e-6
    np.testing.assert_allclose(th.learning_time(s, u0), np.log((s - u0) / u0) / (2 * s), rtol=1e-14)
    # docs/families/deep_linear.md P3 quotes GD: n_half·s = 7467 … 6215 for s = 3 … 0.25, λ = 1e-3, u0 = 1e-6. The flow is earlier by
    # the discretisation lag ≈ λs/2 relative (7457 for s = 3); the exact recursion reproduces those numbers.
    n_half = np.asarray(th.discrete_learning_steps(s, u0, 1e-3))
    np.testing.assert_allclose(n_half * s, [7467, 6215], atol=1.5)
    np.testing.assert_allclose(th.learning_time(s, u0) * s / 1e-3 / (n_half * s), 1 - 1e-3 * s / 2, atol=2e-4)


# ---------------------------------------------------------------------------------------------- discrete time
def test_discrete_recursion_half_steps_formula():
    # docs/families/deep_linear.md §6.5: n_half ≈ ln((s−u0)/u0) / (2 ln(1 + λs)) within 1 step for λs ∈ {0.001 … 0.3}
    for lam_s in (1e-3, 1e-2, 0.1, 0.3):
        s, u0 = 1.0, 1e-6
        n = int(th.discrete_learning_steps(s, u0, lam_s / s, fraction=0.5))
        pred = np.log((s - u0) / u0) / (2 * np.log1p(lam_s))
        assert abs(n - pred) <= 1.0, (lam_s, n, pred)


def test_discrete_trajectory_and_steps_agree():
    traj = np.asarray(th.discrete_mode_trajectory(3000, 1.0, 1e-3, 1e-2, depth=3))
    n = int(th.discrete_learning_steps(1.0, 1e-3, 1e-2, depth=3, fraction=0.9))
    assert traj[n] >= 0.9 and traj[n - 1] < 0.9


def test_discretisation_error_matches_the_fit_depth2():
    # docs/families/deep_linear.md §7: max_t |u_GD − u_flow|/s ≈ 0.106 λs ln(s/u0) (an empirical fit); first order gives ≈ 0.12
    for lam_s in (1e-3, 1e-2):
        pred = float(th.discretisation_error(1.0, 1e-6, lam_s, depth=2))
        fit = 0.106 * lam_s * np.log(1e6)
        assert 0.9 < pred / fit < 1.3


def test_discretisation_error_predicts_recursion_gap():
    s, u0, lr = 2.0, 1e-3, 1e-3
    for depth in (2, 3, 4):
        t_end = 1.3 * float(th.learning_time(s, u0, depth=depth, fraction=0.999))
        n = int(t_end / lr)
        rec = np.asarray(th.discrete_mode_trajectory(n, s, u0, lr, depth=depth))
        flow = np.asarray(th.mode_strength(np.arange(n + 1) * lr, s, u0, depth=depth))
        measured = np.max(np.abs(rec - flow))
        pred = float(th.discretisation_error(s, u0, lr, depth=depth))
        h = lr * depth * s ** (2 - 2 / depth)
        assert abs(measured / pred - 1) < 5 * h  # second-order terms are O(h) relative


def test_stability_bound_values():
    assert float(th.max_stable_learning_rate(2.0, 2)) == pytest.approx(0.5)  # 1/s for D = 2
    assert float(th.max_stable_learning_rate(1.0, 4)) == pytest.approx(0.5)
    assert float(th.max_stable_learning_rate(1.5, 1)) == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------------- network level
def test_network_map_initial_and_final():
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    v, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    s = np.array([3.0, 2.0, 1.0, 0.5])
    sigma = (u * s) @ v[:, :4].T
    pred = th.network_map([0.0, 100.0], sigma, 1e-3)
    assert pred.maps.shape == (2, 4, 6)
    np.testing.assert_allclose(pred.maps[1], sigma, atol=1e-12)
    np.testing.assert_allclose(np.linalg.svd(pred.maps[0], compute_uv=False), 1e-3, rtol=1e-10)
    np.testing.assert_allclose(pred.loss[0], 0.5 * np.sum((s - 1e-3) ** 2), rtol=1e-12)
    assert abs(float(pred.loss[1])) < 1e-20
    yy = sigma @ sigma.T + np.eye(4)  # irreducible part ½ tr(I) = 2
    assert float(th.network_map(100.0, sigma, 1e-3, sigma_yy=yy).loss[0]) == pytest.approx(2.0)


def test_network_map_batches_over_initial_strengths():
    sigma = np.diag([3.0, 2.0, 1.0])
    u0 = np.array([[1e-3, 2e-3, 3e-3], [1e-4, 1e-4, 1e-2]])  # two "seeds"
    t = np.linspace(0, 5, 9)
    batched = th.network_map(t, sigma, u0)
    assert batched.loss.shape == (2, 9) and batched.maps.shape == (2, 9, 3, 3)
    for i in range(2):
        single = th.network_map(t, sigma, u0[i])
        np.testing.assert_allclose(batched.loss[i], single.loss, rtol=1e-13)
        np.testing.assert_allclose(batched.maps[i], single.maps, rtol=1e-13, atol=1e-15)


def test_effective_initial_strength_balanced_equals_u0():
    rng = np.random.default_rng(1)
    u, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    s = np.array([2.0, 1.0, 0.5])
    sigma = (u[:, :3] * s) @ v.T
    a = np.sqrt(np.array([1e-3, 2e-3, 3e-3]))
    w1 = np.diag(a) @ v.T
    w2 = u[:, :3] @ np.diag(a)
    np.testing.assert_allclose(th.effective_initial_strength(w1, w2, sigma), a**2, rtol=1e-12)


def test_hierarchy_spectrum_matches_exact_tree_covariance():
    # docs/families/deep_linear.md P13 / §6.1: eigenvalues of C_ij = q^d(i,j) for the binary tree
    for levels, p in [(3, 0.15), (5, 0.1), (4, 0.25)]:
        q = 1 - 2 * p
        n = 2**levels
        i = np.arange(n)[:, None]
        j = np.arange(n)[None, :]
        lca_depth = np.array(
            [[levels - int(np.floor(np.log2(a ^ b))) - 1 if a != b else levels for b in range(n)] for a in range(n)]
        )
        dist = 2 * (levels - lca_depth)
        c = q ** dist.astype(float)
        eig = np.sort(np.linalg.eigvalsh(c))[::-1]
        got = np.asarray(th.hierarchy_singular_values(levels, p, 1)) ** 2
        np.testing.assert_allclose(got, eig, rtol=1e-12, atol=1e-12)
        del i, j
    # docs/families/deep_linear.md §6.1 example: L = 5, p = 0.1, N_f = 1000
    s = np.asarray(th.hierarchy_singular_values(5, 0.1, 1000))
    np.testing.assert_allclose(s[[0, 1, 2, 4, 8, 16]], [81.0, 56.0, 46.5, 37.5, 28.7, 19.0], atol=0.06)


def test_from_summed_convention_reproduces_saxe_gd_step():
    # one GD step with λ on Saxe's summed loss equals one step with η = λ on ours with √P-scaled data
    rng = np.random.default_rng(2)
    x = np.eye(4)  # one-hot items: white under sums
    y = rng.normal(size=(4, 3))
    w = rng.normal(size=(3, 4)) * 0.1
    lam = 0.05
    saxe = w + lam * (y.T @ x - w @ x.T @ x)  # ΔW = λ(Σ31 − W Σ11)
    xs, ys = th.from_summed_convention(x, y)
    sxx, syx, _ = th.correlations(xs, ys)
    ours = w + lam * (np.asarray(syx) - w @ np.asarray(sxx))
    np.testing.assert_allclose(ours, saxe, rtol=1e-13)


# ---------------------------------------------------------------------------------------------- bad input
def _ode_ab(s, a0, b0, d, ts):
    """Reference: DOP853 solve of ȧ = b(s − d ab), ḃ = a(s − d ab) (Saxe et al. Fig. 2, App. A; App. E for d)."""
    rhs = lambda t, z: [z[1] * (s - d * z[0] * z[1]), z[0] * (s - d * z[0] * z[1])]
    return solve_ivp(rhs, (0, ts[-1]), [a0, b0], t_eval=ts, rtol=1e-13, atol=1e-15, method="DOP853").y


# P6 starting points (s = 2), the mirror basin, a tiny start and a0·b0 < 0
@pytest.mark.parametrize(
    "a0, b0", [(0.3, 0.01), (0.01, 0.3), (1.0, 0.2), (0.05, 0.04), (2.0, -0.5), (-0.3, -0.2), (-1.5, 0.4), (1e-4, 2e-4)]
)
@pytest.mark.parametrize("d", [1.0, 0.5, 2.0])
def test_unbalanced_trajectory_matches_ode(a0, b0, d):
    ts = np.linspace(0, 15, 301)
    got = th.unbalanced_mode_trajectory(ts, 2.0, a0, b0, input_variance=d)
    a, b = _ode_ab(2.0, a0, b0, d, ts)
    # docs/families/deep_linear.md P6: ≤ 1e-9 absolute (the solver's own error at rtol 1e-13 is ~1e-12)
    np.testing.assert_allclose(got.a, a, atol=1e-9, rtol=0)
    np.testing.assert_allclose(got.b, b, atol=1e-9, rtol=0)
    np.testing.assert_allclose(got.u, a * b, atol=1e-9, rtol=0)
    # the flow conserves the imbalance (the hyperbolas of Fig. 2)
    np.testing.assert_allclose(got.a**2 - got.b**2, a0**2 - b0**2, atol=1e-12)


def test_papers_printed_appendix_a_formula_is_off_by_two():
    """With a = √c0 cosh(θ/2), b = √c0 sinh(θ/2) the product is (c0/2) sinh θ; the printed c0 sinh θ with
    τθ̇ = s − c0 sinh θ does not solve the flow (docs/families/deep_linear.md §2.2)."""
    s, a0, b0 = 2.0, 1.0, 0.2
    c0 = a0**2 - b0**2
    theta0 = 2 * np.arctanh(b0 / a0)
    sol = solve_ivp(lambda t, th_: [s - c0 * np.sinh(th_[0])], (0, 1.0), [theta0], rtol=1e-12, atol=1e-14)
    printed = c0 * np.sinh(sol.y[0, -1])
    exact = float(th.unbalanced_mode_trajectory(1.0, s, a0, b0).u)
    assert abs(printed - exact) > 0.1


def test_unbalanced_balanced_limit_is_the_logistic_and_mirror_symmetric():
    t = np.linspace(0, 10, 101)
    np.testing.assert_allclose(
        th.unbalanced_mode_trajectory(t, 1.5, 0.02, 0.02).u, th.mode_strength(t, 1.5, 4e-4), rtol=1e-12
    )
    # small random start: u0_eff = ((a0 + b0)/2)², the growing solution of §2.4
    late = th.unbalanced_mode_trajectory(3.0, 1.5, 1e-4, 3e-4).u
    np.testing.assert_allclose(late, th.mode_strength(3.0, 1.5, 4e-8), rtol=1e-6)
    up, down = th.unbalanced_mode_trajectory(t, 1.5, 0.3, -0.1), th.unbalanced_mode_trajectory(t, 1.5, -0.3, 0.1)
    np.testing.assert_allclose(up.a, -down.a, rtol=1e-13)
    np.testing.assert_allclose(up.u, down.u, rtol=1e-13)


@given(
    s=st.floats(0.2, 3.0),
    a0=st.floats(-2.0, 2.0),
    b0=st.floats(-2.0, 2.0),
    frac=st.floats(0.05, 0.99),
    d=st.floats(0.3, 3.0),
)
@settings(max_examples=40, deadline=None)
def test_unbalanced_learning_time_inverts_trajectory(s, a0, b0, frac, d):
    if abs(a0 + b0) < 1e-3 or a0 * b0 >= frac * s / d:
        return
    t = float(th.unbalanced_learning_time(s, a0, b0, fraction=frac, input_variance=d))
    assert t > 0
    u = float(th.unbalanced_mode_trajectory(t, s, a0, b0, input_variance=d).u)
    assert abs(u * d / s - frac) < 1e-9


def test_unbalanced_discrete_recursion_contracts_imbalance_p17():
    tr = th.unbalanced_discrete_trajectory(2000, 1.0, 0.5, 0.05, 0.01, input_variance=1.5)
    a, b = np.asarray(tr.a), np.asarray(tr.b)
    kappa = a**2 - b**2
    factor = 1 - 0.01**2 * (1.0 - 1.5 * a[:-1] * b[:-1]) ** 2
    np.testing.assert_allclose(kappa[1:], kappa[:-1] * factor, rtol=1e-13)
    assert kappa[-1] < kappa[0] * (1 - 1e-5)  # it does contract (the flow would conserve it)
    np.testing.assert_allclose(tr.u[-1], 1.0 / 1.5, rtol=1e-10)  # fixed point s/d


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("d", [0.5, 3.0])
def test_mode_strength_non_white_matches_ode(depth, d):
    """App. E: du/dt = D u^(2−2/D)(s − d u) for inputs with variance d along the mode (aligned Σxx)."""
    ts = np.linspace(0, 40, 101)
    rhs = lambda t, u: depth * np.abs(u) ** (2 - 2 / depth) * (1.5 - d * u)
    ref = solve_ivp(rhs, (0, 40), [1e-3], t_eval=ts, rtol=1e-12, atol=1e-15, method="DOP853").y[0]
    np.testing.assert_allclose(th.mode_strength(ts, 1.5, 1e-3, depth=depth, input_variance=d), ref, atol=1e-9)
    t_half = float(th.learning_time(1.5, 1e-3, depth=depth, input_variance=d))
    u_half = float(th.mode_strength(t_half, 1.5, 1e-3, depth=depth, input_variance=d))
    assert abs(u_half * d / 1.5 - 0.5) < 1e-10


def test_non_white_depth2_rate_uses_s_not_s_over_d():
    t = np.linspace(0, 5, 21)
    s, d, u0 = 1.2, 3.0, 1e-3
    expected = (s / d) / (1 + ((s / d) / u0 - 1) * np.exp(-2 * s * t))  # docs/families/deep_linear.md §2.3
    np.testing.assert_allclose(th.mode_strength(t, s, u0, input_variance=d), expected, rtol=1e-12)


def _lambda_balanced(rng, n1, n2, n3, lam, scale):
    """W1 = O D1 Aᵀ, W2 = B D2 Oᵀ with D2² − D1² = λ (docs/families/deep_linear.md §6.2), random O, A, B."""
    o = np.linalg.qr(rng.normal(size=(n2, n2)))[0]
    a = np.linalg.qr(rng.normal(size=(n1, n2)))[0]
    b = np.linalg.qr(rng.normal(size=(n3, n2)))[0]
    d1 = scale * rng.uniform(0.5, 1.5, n2) + np.sqrt(max(-lam, 0.0))
    return (o * d1) @ a.T, (b * np.sqrt(d1**2 + lam)) @ o.T


def _ode_two_layer(sigma, w1, w2, ts, rtol=1e-13):
    n2, n1 = w1.shape

    def rhs(_, y):
        a, b = y[: n2 * n1].reshape(n2, n1), y[n2 * n1 :].reshape(-1, n2)
        e = sigma - b @ a
        return np.concatenate([(b.T @ e).ravel(), (e @ a.T).ravel()])

    y = solve_ivp(
        rhs, (0, ts[-1]), np.concatenate([w1.ravel(), w2.ravel()]), t_eval=ts, rtol=rtol, atol=1e-15, method="DOP853"
    ).y
    return np.stack([y[n2 * n1 :, i].reshape(-1, n2) @ y[: n2 * n1, i].reshape(n2, n1) for i in range(len(ts))])


@pytest.mark.parametrize(
    "dims, lam", [((5, 4, 6), 0.0), ((6, 6, 6), 0.0), ((5, 4, 6), 0.7), ((6, 4, 5), -0.7), ((4, 3, 8), 3.0)]
)
def test_two_layer_solution_matches_ode_p14(dims, lam):
    rng = np.random.default_rng(sum(dims))
    n1, n2, n3 = dims
    sigma = rng.normal(size=(n3, n1))
    w1, w2 = _lambda_balanced(rng, n1, n2, n3, lam, 0.3)
    ts = np.linspace(0, 20, 41)
    sol = th.two_layer_solution(ts, sigma, w1, w2)
    assert abs(float(sol.balance) - lam) < 1e-12
    # P14: ≤ 1e-10; the DOP853 reference at rtol 1e-13 carries ~3e-11 itself on these 20 time units
    np.testing.assert_allclose(sol.network_map, _ode_two_layer(sigma, w1, w2, ts), atol=1e-9, rtol=0)
    np.testing.assert_allclose(sol.input_gram[0], w1.T @ w1, atol=1e-13)
    np.testing.assert_allclose(sol.output_gram[0], w2 @ w2.T, atol=1e-13)
    # restarts do not matter: chunk lengths 0.3 and the default agree to rounding
    other = th.two_layer_solution(ts, sigma, w1, w2, max_chunk=0.3)
    np.testing.assert_allclose(sol.network_map, other.network_map, atol=1e-12)


def test_two_layer_solution_limits():
    rng = np.random.default_rng(7)
    sigma = rng.normal(size=(5, 6))
    w1, w2 = _lambda_balanced(rng, 6, 3, 5, 0.0, 1e-3)
    left, s, right_t = np.linalg.svd(sigma, full_matrices=False)
    late = np.asarray(th.two_layer_solution(200.0, sigma, w1, w2).network_map[0])
    # Baldi–Hornik: the flow ends at the best rank-N2 approximation (P14, second part)
    np.testing.assert_allclose(late, (left[:, :3] * s[:3]) @ right_t[:3], atol=1e-10)
    # a decoupled balanced start is the logistic of every mode (network_map)
    task_w1 = (np.sqrt(1e-3) * right_t[:3]).copy()
    task_w2 = (left[:, :3] * np.sqrt(1e-3)).copy()
    ts = np.linspace(0, 8, 17)
    exact = th.two_layer_solution(ts, sigma, task_w1, task_w2).network_map
    u0 = np.array([1e-3, 1e-3, 1e-3, 0.0, 0.0])
    decoupled = th.network_map(ts, sigma, u0).maps
    np.testing.assert_allclose(exact, decoupled, atol=1e-11)


@pytest.mark.parametrize("q", [0.0, 0.01, 1.0, 4.0, 50.0])
def test_tanh_mean_field_integrals_match_quad(q):
    from scipy.integrate import quad

    gauss = lambda f: quad(
        lambda z: f(z) * np.exp(-z * z / 2) / np.sqrt(2 * np.pi), -40, 40, limit=400, epsabs=1e-15, epsrel=1e-13
    )[0]
    ref_map = gauss(lambda z: np.tanh(np.sqrt(q) * z) ** 2)
    ref_chi = gauss(lambda z: (1 - np.tanh(np.sqrt(q) * z) ** 2) ** 2)
    np.testing.assert_allclose(th.tanh_variance_map(q, 1.3), 1.69 * ref_map, atol=1e-12)
    np.testing.assert_allclose(th.tanh_jacobian_gain(q, 1.3), 1.69 * ref_chi, atol=1e-12)


def test_tanh_fixed_point_and_critical_gain():
    g = np.array([0.5, 0.99, 1.0, 1.01, 1.1, 2.0])
    q_inf = np.asarray(th.tanh_variance_fixed_point(g))
    assert np.all(q_inf[:3] == 0) and np.all(q_inf[3:] > 0)
    np.testing.assert_allclose(th.tanh_variance_map(q_inf[3:], g[3:]), q_inf[3:], rtol=1e-10)
    # just above g_c, q∞ ≈ (g² − 1)/2 (map ≈ g²(q − 2q²)), so the transition is continuous at g_c = 1
    np.testing.assert_allclose(q_inf[3], (1.01**2 - 1) / (2 * 1.01**2), rtol=0.05)
    # the recursion converges to it; at g = 1 it decays like 1/(2l)
    traj = np.asarray(th.tanh_variance_trajectory(1.0, np.array([1.1, 1.0]), 2000))
    np.testing.assert_allclose(traj[-1, 0], q_inf[4], rtol=1e-8)
    assert abs(traj[-1, 1] * 2 * 2000 - 1) < 0.05
    # χ(0) = g²: at vanishing signal the Jacobian product is the linear network's g^(2(depth−1))
    np.testing.assert_allclose(th.tanh_jacobian_mean_squared(1e-14, 0.9, 50), 0.81**49, rtol=1e-9)
    assert th.TANH_CRITICAL_GAIN == 1.0


@pytest.mark.parametrize("depth", [1, 2, 4, 7])
def test_end_to_end_flow_of_a_balanced_network_p15(depth):
    """P15: the chain rule over a balanced (not decoupled) deep net equals Arora et al.'s fractional-power formula,
    and u_rᵀẆ_e v_r equals the singular-value velocity −D(σ_r²)^(1−1/D)⟨∇L, u_r v_rᵀ⟩ (both to 1e-10)."""
    rng = np.random.default_rng(depth)
    n = 5
    sig = rng.uniform(0.3, 2.0, n)
    bases = [np.linalg.qr(rng.normal(size=(n, n)))[0] for _ in range(depth + 1)]
    layers = [(bases[j + 1] * sig ** (1 / depth)) @ bases[j].T for j in range(depth)]  # W_{j+1}ᵀW_{j+1} = W_jW_jᵀ
    for j in range(depth - 1):
        np.testing.assert_allclose(layers[j + 1].T @ layers[j + 1], layers[j] @ layers[j].T, atol=1e-12)
    sigma_yx = rng.normal(size=(n, n))

    def product(ws):
        out = np.eye(n)
        for w in ws:
            out = w @ out
        return out

    w_e = product(layers)
    grad_e = w_e - sigma_yx  # ∇L of ½‖Σyx − W_e‖² (whitened inputs)
    chain = np.zeros((n, n))
    for j in range(depth):  # Ẇ_j = −(W_D⋯W_{j+1})ᵀ ∇L (W_{j−1}⋯W_1)ᵀ, then dW_e = Σ_j W_D⋯W_{j+1} Ẇ_j W_{j−1}⋯W_1
        above, below = product(layers[j + 1 :]), product(layers[:j])
        chain += above @ (-above.T @ grad_e @ below.T) @ below
    np.testing.assert_allclose(th.end_to_end_velocity(w_e, grad_e, depth=depth), chain, atol=1e-10)
    s, s_dot = th.singular_value_velocity(w_e, grad_e, depth=depth)
    u, _, vt = np.linalg.svd(w_e)
    np.testing.assert_allclose(s_dot, np.einsum("ir,ij,rj->r", u, chain, vt), atol=1e-10)
    if depth > 1:  # the exponent is on σ²: σ^(1−1/D) instead would be off
        wrong = -depth * np.asarray(s) ** (1 - 1 / depth) * np.einsum("ir,ij,rj->r", u, grad_e, vt)
        assert np.max(np.abs(wrong - s_dot)) > 1e-3


def test_float32_deviation_is_within_the_recommended_rtol_p18():
    """P18: the P2 run (balanced decoupled start, u0 = 1e-6, η = 1e-3, 6·10⁴ steps) in float32 stays within 1e-3·s of
    float64 (the rtol the notes recommend for float32 comparisons; they measured ≤ 3.2e-4·s), and does differ."""
    from toymodels import deep_linear as dl

    s = np.array([3.0, 1.5, 0.75])
    runs = {}
    for dtype in (jnp.float32, jnp.float64):
        task = dl.synthetic_task(jax.random.key(11), s, 3, 3, dtype=dtype)
        params = dl.init_params(
            jax.random.key(12), (3, 3, 3), "decoupled", task=task, initial_strength=1e-6, dtype=dtype
        )
        runs[dtype] = np.asarray(dl.train(params, task, 1e-3, steps=60_000, n_records=600).records["modes"], float)
    gap = np.max(np.abs(runs[jnp.float32] - runs[jnp.float64]) / s)
    assert 1e-7 < gap <= 1e-3, gap


def test_plateau_linearisation_is_the_linearised_gd_recursion_p16():
    rng = np.random.default_rng(3)
    w1, w2, beta = 1e-3 * rng.normal(size=(6, 5)), 1e-3 * rng.normal(size=6), rng.normal(size=5)
    lr, n = 0.05, 300
    got_w1, got_w2 = th.plateau_two_layer_trajectory(n, w1, w2, beta, lr)
    a, b = w1.copy(), w2.copy()
    for k in range(n):  # GD with the error frozen at β (the plateau)
        a, b = a + lr * np.outer(b, beta), b + lr * a @ beta
        if k in (0, 99, n - 1):
            np.testing.assert_allclose(got_w1[k + 1], a, rtol=1e-10, atol=1e-18)
            np.testing.assert_allclose(got_w2[k + 1], b, rtol=1e-10, atol=1e-18)
    # scale-free: σ × the draw gives σ × the trajectory
    s1, _ = th.plateau_two_layer_trajectory(n, 10 * w1, 10 * w2, beta, lr)
    np.testing.assert_allclose(s1, 10 * got_w1, rtol=1e-12)


def test_gaussian_product_moments_p12():
    """Wick's-theorem moments of products of scaled Gaussian layers: Wishart 2 + 1/n at D = 1, Fuss–Catalan D + 1 as
    n → ∞, and a Monte Carlo estimate at small width (4 standard errors)."""
    from toymodels import deep_linear as dl

    assert th.gaussian_product_moments((8, 8)) == (1.0, 2.0 + 1 / 8)
    for d in (1, 2, 5, 10):
        m2, m4 = th.gaussian_product_moments((10**6,) * (d + 1))
        assert m2 == pytest.approx(1.0) and m4 == pytest.approx(d + 1, rel=1e-4)
    widths = (8, 8, 8, 8)
    keys = jax.random.split(jax.random.key(0), 20_000)
    w = jax.vmap(lambda k: dl.end_to_end(dl.init_params(k, widths, "scaled_gaussian")))(keys)
    sq = np.linalg.svd(np.asarray(w), compute_uv=False) ** 2
    m4 = (sq**2).mean(axis=1)
    assert abs(m4.mean() - th.gaussian_product_moments(widths)[1]) < 4 * m4.std() / np.sqrt(len(m4))


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: th.mode_strength(1.0, -1.0, 1e-3), "singular_value"),
        (lambda: th.mode_strength(-1.0, 1.0, 1e-3), "t"),
        (lambda: th.mode_strength(1.0, 1.0, -1e-3), "initial_strength"),
        (lambda: th.mode_strength(1.0, 1.0, 1e-3, depth=0), "depth"),
        (lambda: th.mode_strength(1.0, 1.0, 1e-3, depth=2.5), "depth"),
        (lambda: th.mode_strength(np.nan, 1.0, 1e-3), "t"),
        (lambda: th.learning_time(1.0, 1e-3, fraction=1.0), "fraction"),
        (lambda: th.learning_time(1.0, 0.8, fraction=0.5), "initial_strength"),
        (lambda: th.discrete_mode_trajectory(10, 1.0, 1e-3, 1.5), "learning_rate"),
        (lambda: th.network_map(1.0, np.ones(3), 1e-3), "sigma_yx"),
        (lambda: th.network_map(1.0, np.eye(3), [1e-3, 1e-3]), "initial_strengths"),
        (lambda: th.hierarchy_singular_values(3, 0.7, 10), "flip_prob"),
        (lambda: th.mode_strength(1.0, 1.0, 1e-3, input_variance=0.0), "input_variance"),
        (lambda: th.unbalanced_mode_trajectory(1.0, 1.0, 0.3, -0.3), "a0 \\+ b0"),
        (lambda: th.unbalanced_mode_trajectory(1.0, 1.0, np.nan, 0.3), "a0"),
        (lambda: th.unbalanced_mode_trajectory(1.0, 0.0, 0.1, 0.3), "singular_value"),
        (lambda: th.unbalanced_learning_time(1.0, 1.0, 0.9, fraction=0.5), "a0 \\* b0"),
        (lambda: th.unbalanced_discrete_trajectory(10, 1.0, 0.1, 0.1, -1e-3), "learning_rate"),
        (lambda: th.two_layer_solution(1.0, np.eye(3), np.eye(3), 2 * np.eye(3) + 0.1 * np.ones((3, 3))), "balanced"),
        (lambda: th.two_layer_solution(1.0, np.eye(3), np.eye(2, 3), np.eye(3)), "w2"),
        (lambda: th.tanh_variance_map(-0.1, 1.0), "q"),
        (lambda: th.gaussian_product_moments((8,)), "widths"),
        (lambda: th.plateau_two_layer_trajectory(5, np.ones((2, 3)), np.ones(2), np.ones(3), 1.0), "learning_rate"),
        (lambda: th.plateau_two_layer_trajectory(5, np.ones((2, 3)), np.ones(3), np.ones(3), 0.1), "w2"),
        (lambda: th.tanh_variance_trajectory(1.0, 0.0, 10), "gain"),
        (lambda: th.tanh_variance_trajectory(1.0, 1.0, 0), "depth"),
    ],
)
def test_bad_input_names_parameter(call, word):
    with pytest.raises(ParameterError, match=word):
        call()


def test_discrete_recursion_beyond_the_stability_bound_only_when_asked():
    """Above η = 2/(D s^(2−2/D)) the recursion still holds (2-cycles around s); it is refused unless allow_unstable."""
    s, u0, depth = 1.0, 0.5, 2
    lr = 1.05 * float(th.max_stable_learning_rate(s, depth))
    with pytest.raises(ParameterError, match="stability bound"):
        th.discrete_mode_trajectory(50, s, u0, lr, depth=depth)
    u = np.asarray(th.discrete_mode_trajectory(400, s, u0, lr, depth=depth, allow_unstable=True))
    a = np.sqrt(u0)
    for _ in range(400):  # the scalar map a ← a + η a (s − a²), by hand
        a = a + lr * a * (s - a * a)
    np.testing.assert_allclose(u[-1], a * a, rtol=1e-12)
    assert abs(u[-1] - u[-2]) > 1e-3 and abs(u[-1] - u[-3]) < 1e-9  # a 2-cycle, not convergence
