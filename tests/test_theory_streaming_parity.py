"""Automata and the merger theory of van Rossem & Saxe 2025 (theory/streaming_parity.py).

Each closed form or reduced system is checked against an independent computation: the free-parameter losses the
paper reduces (Eq. 14, Eq. 37) trained by gradient flow with SciPy's DOP853 at rtol 1e-11 (its global error is
≲ 1e-9 relative over these horizons), against the reductions integrated by :func:`rk4` (4th order, step 5e-3: error
≲ 1e-10). Tolerances 1e-8 are those errors with a factor ≥ 10 of margin.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from theory import streaming_parity as th
from theory.common import ParameterError
from toymodels import streaming_parity as tm

FLOW_RTOL = 1e-8


def _extract(aut, max_length=6):
    params, cfg = tm.dfa_rnn(aut.transitions, aut.outputs)
    hidden, outputs = tm.prefix_hidden_states(params, cfg, max_length)
    raw = th.extract_automaton(np.asarray(hidden), np.asarray(outputs))
    return raw, th.minimize(raw)


def test_constructed_parity_rnn_extracts_to_two_state_parity_automaton():
    raw, m = _extract(th.parity_automaton())
    # 4 (state, last bit) units + the initial state before minimisation, 2 after
    assert raw.n_states == 5 and raw.conflicts == 0
    assert m.n_states == 2 and m.complete
    assert th.computes_parity(m)
    np.testing.assert_array_equal(m.transitions[m.initial], [m.initial, 1 - m.initial])


@pytest.mark.parametrize("modulus", [3, 4])
def test_constructed_mod_counter_rnn_extracts_to_its_minimal_automaton(modulus):
    ref = th.mod_counter_automaton(modulus)
    for order in ("label", "index"):
        params, cfg = tm.dfa_rnn(ref.transitions, ref.outputs)
        hidden, outputs = tm.prefix_hidden_states(params, cfg, 6)
        raw = th.extract_automaton(np.asarray(hidden), np.asarray(outputs), order=order)
        m = th.minimize(raw)
        assert m.n_states == modulus and m.complete and raw.conflicts == 0
        assert not th.computes_parity(m)
        bits = np.random.default_rng(1).integers(0, 2, 200)
        np.testing.assert_array_equal(th.run_automaton(m, bits), th.run_automaton(ref, bits))


def test_merge_distance_pools_checkpoints_with_sample_std():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(3, 7, 4))
    expected = 0.01 * np.linalg.norm(h.reshape(21, 4).std(axis=0, ddof=1))
    assert th.merge_distance(h) == pytest.approx(expected, rel=1e-14)
    assert th.merge_distance(h[0], 0.1) == pytest.approx(0.1 * np.linalg.norm(h[0].std(axis=0, ddof=1)), rel=1e-14)


def test_greedy_grouping_joins_the_first_leader_closer_than_the_threshold():
    # 3 prefixes (L = 1): '' at 0, '0' at 0.6, '1' at 1.2 on a line; threshold 1: label order visits '0', '1', ''
    hidden = np.array([[0.0], [0.6], [1.2]])
    outputs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    aut = th.extract_automaton(hidden, outputs, threshold=1.0, order="label")
    assert aut.n_states == 1  # '1' joins '0' (0.6 < 1), then '' joins '0' (0.6 < 1)
    aut = th.extract_automaton(hidden, outputs, threshold=1.0, order="index")
    assert aut.n_states == 2  # '' leads, '0' joins it, '1' is 1.2 from the leader ''


def test_minimize_merges_equivalent_states_and_keeps_distinct_ones():
    # 4-state machine that is parity twice over (states 0,2 even; 1,3 odd)
    aut = th.Automaton(np.array([[2, 1], [3, 0], [0, 3], [1, 2]]), np.array([0, 1, 0, 1]), 0)
    m = th.minimize(aut)
    assert m.n_states == 2 and th.computes_parity(m)
    # a partial tree (undefined transitions) does not compute parity
    tree = th.Automaton(np.array([[1, 2], [-1, -1], [-1, -1]]), np.array([0, 0, 1]), 0)
    assert not th.computes_parity(th.minimize(tree))


def test_prefix_indexing_and_agreeing_pairs():
    assert th.prefix_index([]) == 0 and th.prefix_index([1]) == 2 and th.prefix_index([0, 1]) == 4
    labels = th.prefix_strings(3)
    assert labels[th.prefix_index([1, 1, 0])] == "110"
    np.testing.assert_array_equal(th.prefix_lengths(2), [0, 1, 1, 2, 2, 2, 2])
    pairs = th.agreeing_pairs(3)
    assert all(labels[i].count("1") % 2 == labels[j].count("1") % 2 for i, j in pairs)
    # 14 non-empty prefixes up to length 3: 7 even, 7 odd → 2·C(7,2) = 42 agreeing pairs
    assert len(pairs) == 42


def test_continuation_count():
    # L = 3: prefixes of lengths 1 and 2 share the continuations of length 0 and 1 → 3
    assert th.continuation_count(1, 2, 3) == 3
    np.testing.assert_array_equal(th.continuation_count([1, 3, 4], [1, 1, 1], 3), [7, 1, 0])


# ---- the interaction model at the moving midpoint (Eq. 20) against gradient flow on its loss (Eq. 14) ----------
def _midpoint_flow(h1, h2, ybar, D, y1, y2, rates, T, ts):
    """Gradient flow on Eq. 14 (P = 1, so the Ansatz of Eq. 17 is exact), SciPy DOP853 at rtol 1e-11."""
    r1, r2, ry = rates
    shapes = [h1.shape, h2.shape, ybar.shape, D.shape]
    sizes = [int(np.prod(s)) for s in shapes]
    grad = jax.jit(jax.grad(th.midpoint_loss, argnums=(0, 1, 2, 3)))

    def unpack(z):
        return [p.reshape(s) for p, s in zip(np.split(z, np.cumsum(sizes)[:-1]), shapes, strict=True)]

    def f(_, z):
        g = grad(*unpack(z), y1, y2)
        return np.concatenate([-r * np.ravel(x) for r, x in zip((r1, r2, ry, ry), g, strict=True)])

    z0 = np.concatenate([np.ravel(x) for x in (h1, h2, ybar, D)])
    sol = solve_ivp(f, (0, T), z0, method="DOP853", rtol=1e-11, atol=1e-13, dense_output=True)
    out = []
    for t in ts:
        a, b, _, d = unpack(sol.sol(t))
        dh = b - a
        dy = d[..., 0] * dh
        gap = y2 - y1
        out.append([dh @ dh, np.mean(np.sum(dy**2, -1)), np.mean(np.sum(dy**2, -1) - np.sum(dy * gap, -1))])
    return np.array(out)


@pytest.mark.parametrize("agree", [True, False])
def test_midpoint_system_equals_gradient_flow_on_its_loss(agree):
    rng = np.random.default_rng(0)
    N, K = 5, 2
    r1, r2, ry = 1 / 0.7, 1 / 1.3, 1 / 0.9
    y1 = rng.normal(size=(N, K))
    y2 = y1.copy() if agree else rng.normal(size=(N, K))
    h1, h2 = np.array([0.3]), np.array([-0.5])
    D = rng.normal(size=(N, K, 1)) * 0.5
    if not agree:
        # dy_i = 0.1 (y*₂ − y*₁) + noise: <w> < 0, the pair moves apart, so dh never passes through 0, where the
        # three-scalar system (in ‖dh‖²) is singular
        D = (0.1 * (y2 - y1) / (h2 - h1))[..., None] + 0.01 * D
    T, ts = 40.0, np.linspace(0, 40.0, 9)
    S = _midpoint_flow(h1, h2, rng.normal(size=(N, K)), D, y1, y2, (r1, r2, ry), T, ts)
    if not agree:
        assert S[0, 2] < 0
    tau_h, tau_y = 1 / (r1 + r2), 1 / ry
    gap = float(np.mean(np.sum((y2 - y1) ** 2, -1)))

    def rhs(s):
        return jnp.stack(th.midpoint_rhs(*s, tau_h=tau_h, tau_y=tau_y, n=N, target_gap=gap))

    _, traj = th.rk4(rhs, jnp.asarray(S[0]), T, 8000, 8)
    np.testing.assert_allclose(np.asarray(traj), S, rtol=0, atol=FLOW_RTOL * np.abs(S).max())
    # final distance (Eq. 5) after the flow has settled
    ah = th.a_high(S[0, 0], S[0, 1], tau_h=tau_h, tau_y=tau_y, n=N)
    al = th.a_low(tau_h=tau_h, tau_y=tau_y, n=N, target_gap=gap)
    late = _midpoint_flow(h1, h2, rng.normal(size=(N, K)) * 0, D, y1, y2, (r1, r2, ry), 400.0, [400.0])
    assert late[0, 0] == pytest.approx(float(th.final_distance(ah, al)), rel=1e-8, abs=1e-12)
    assert bool(th.merges(ah, al)) == agree
    if agree:  # Eq. 35 and the invariant Eq. 22
        np.testing.assert_allclose(th.agreeing_trajectory(ts, S[0, 0], ah, tau_y=tau_y, n=N), S[:, 0], rtol=1e-8)
        dy2 = th.dy2_from_dh2(S[:, 0], S[0, 0], S[0, 1], tau_h=tau_h, tau_y=tau_y, n=N)
        np.testing.assert_allclose(dy2, S[:, 1], rtol=1e-8, atol=1e-14)


def test_merger_condition_critical_count_and_saddle():
    dh2, dy2, tau_h, tau_y = 0.5, 0.02, 2.0, 1.0
    n_c = float(th.critical_count(dh2, dy2, tau_h=tau_h, tau_y=tau_y))
    assert n_c == pytest.approx(tau_h * dh2**2 / (tau_y * dy2))
    below = th.a_high(dh2, dy2, tau_h=tau_h, tau_y=tau_y, n=0.99 * n_c)
    above = th.a_high(dh2, dy2, tau_h=tau_h, tau_y=tau_y, n=1.01 * n_c)
    assert float(below) > 0 > float(above)
    assert (
        float(th.final_distance(below, 0.0)) == pytest.approx(float(below))
        and float(th.final_distance(above, 0.0)) == 0
    )
    # disagreeing: never merges, positive final distance, one eigenvalue of each sign (Eq. 32)
    al = th.a_low(tau_h=tau_h, tau_y=tau_y, n=3, target_gap=0.1)
    assert float(th.final_distance(above, al)) > 0 and not bool(th.merges(above, al))
    lp, lm = th.saddle_eigenvalues(above, al, tau_y=tau_y, n=3)
    assert float(lp) > 0 > float(lm)
    # the general form equals Eq. 6 when every decoder rate is equal
    g = th.a_high_general(dh2, jnp.full(7, dy2), tau_h=tau_h, tau_y=tau_y)
    assert float(g) == pytest.approx(float(th.a_high(dh2, dy2, tau_h=tau_h, tau_y=tau_y, n=7)), rel=1e-14)
    # Eq. 35 at A_high = 0 is h0/(1 + h0 t/(2Nτ_y))
    t = np.array([0.0, 1.0, 100.0])
    np.testing.assert_allclose(th.agreeing_trajectory(t, 0.5, 0.0, tau_y=1.0, n=2), 0.5 / (1 + 0.5 * t / 4), rtol=1e-12)


# ---- the fixed expansion point model (Eq. 42) against gradient flow on Eq. 37 ------------------------------------
@pytest.mark.parametrize("agree", [True, False])
def test_fixed_point_system_equals_gradient_flow_and_diverges_before_merging(agree):
    rng = np.random.default_rng(1)
    N, K = 4, 2
    e1, e2, ey, eb = 0.02, 0.2, 0.02, 0.005  # the authors' Fig. 10: lr·length for lengths 1 and 10, lr, lr/4
    y1 = rng.normal(size=(N, K))
    y2 = y1.copy() if agree else rng.normal(size=(N, K))
    b, d = rng.normal(size=(N, K)) * 0.1, rng.normal(size=(N, K)) * 0.1
    grad = jax.jit(jax.grad(th.fixed_point_vector_loss, argnums=(0, 1, 2, 3)))
    split = lambda z: (z[0], z[1], z[2 : 2 + N * K].reshape(N, K), z[2 + N * K :].reshape(N, K))  # noqa: E731

    def f(_, z):
        g = grad(*split(z), y1, y2)
        return np.concatenate([[-e1 * g[0], -e2 * g[1]], -eb * np.ravel(g[2]), -ey * np.ravel(g[3])])

    z0 = np.concatenate([[0.1, -0.05], b.ravel(), d.ravel()])
    T, ts = 1000.0, np.linspace(0, 1000.0, 11)
    sol = solve_ivp(f, (0, T), z0, method="DOP853", rtol=1e-11, atol=1e-14, dense_output=True)
    S = np.array([np.asarray(th.fixed_point_state(*split(sol.sol(t)), y1, y2)[0]) for t in ts])
    z0s, (y11, y12, y22) = th.fixed_point_state(*split(z0), y1, y2)
    kw = dict(eta_h1=e1, eta_h2=e2, eta_y=ey, eta_b=eb, n=N, y11=y11, y12=y12, y22=y22)
    _, traj = th.rk4(lambda z: th.fixed_point_rhs(z, **kw), z0s, T, 20000, 10)
    np.testing.assert_allclose(np.asarray(traj), S, rtol=0, atol=FLOW_RTOL * np.abs(S).max())
    loss = [float(th.fixed_point_vector_loss(*split(sol.sol(t)), y1, y2)) for t in ts]
    np.testing.assert_allclose(th.fixed_point_loss(jnp.asarray(S), y11=y11, y22=y22), loss, rtol=1e-12, atol=1e-15)
    dist = (S[:, 1] - S[:, 0]) ** 2
    assert dist.max() > 10 * dist[0]  # both move apart first (Fig. 10) ...
    if agree:
        assert dist[-1] < 0.5 * dist.max()  # ... the agreeing pair then comes back together


def test_random_starts_follow_the_authors_law():
    z = np.asarray(th.fixed_point_random_starts(jax.random.key(0), 20000, 0.05))
    assert z.shape == (20000, 9)
    np.testing.assert_array_equal(z[:, [2, 3, 4, 7, 8]], 0.0)  # cross terms 0 (Eq. 45)
    # h₁ ~ N(0, 0.05²): sample std within 5 standard errors (0.05/√(2n) each) of 0.05; ⟨‖Dv‖²⟩ has mean 0.05²
    assert abs(z[:, 0].std() - 0.05) < 5 * 0.05 / np.sqrt(2 * 20000)
    assert abs(z[:, 6].mean() / 0.05**2 - 1) < 5 * np.sqrt(2 / 20000)


def test_equal_representation_rates_only_shrink_an_agreeing_pair():
    """Eqs. 48–49: with 1/τ_h1 = 1/τ_h2, d(h₂ − h₁)/dt = −½(h₂ − h₁)⟨‖Dv‖²⟩/τ_h, so the distance never grows."""
    rng = np.random.default_rng(2)
    y = rng.normal(size=(3, 2))
    z0, (y11, y12, y22) = th.fixed_point_state(
        0.1, -0.05, rng.normal(size=(3, 2)) * 0.1, rng.normal(size=(3, 2)) * 0.1, y, y
    )
    kw = dict(eta_h1=0.1, eta_h2=0.1, eta_y=0.02, eta_b=0.005, n=3, y11=y11, y12=y12, y22=y22)
    _, traj = th.rk4(lambda z: th.fixed_point_rhs(z, **kw), z0, 2000.0, 20000, 200)
    dist = np.asarray((traj[:, 1] - traj[:, 0]) ** 2)
    assert np.all(np.diff(dist) <= 1e-15 * dist[0]) and dist[-1] < 0.01 * dist[0]


# ---- Eq. 8–9 and the closure of the prefix tree ------------------------------------------------------------------
def test_fit_initial_scaling_recovers_g_and_scaling_condition():
    m = np.repeat(np.arange(1, 8), 5)
    dh2 = 0.3 * 0.2**m * np.exp(np.random.default_rng(3).normal(0, 0.01, m.size))
    c_h, G, resid = th.fit_initial_scaling(m, dh2)
    assert c_h == pytest.approx(0.3, rel=0.02) and G == pytest.approx(0.2, rel=0.01) and resid < 0.02
    # C < N G^(n−m): more continuations and longer prefixes merge
    assert not bool(th.scaling_merges(1, 1, G=0.2, C=10.0)) and bool(th.scaling_merges(1, 2, G=0.2, C=10.0))
    assert not bool(th.scaling_merges(2, 1, G=0.2, C=10.0)) and bool(th.scaling_merges(3, 1, G=0.2, C=10.0))


def test_closing_the_tree_under_parity_merges_gives_the_parity_automaton():
    L = 4
    labels = th.prefix_strings(L)
    par = np.array([s.count("1") % 2 for s in labels])
    # merging every pair of length-L prefixes with a shorter prefix of the same parity closes the tree
    pairs = [(i, 1 + par[i]) for i in range(1, len(labels)) if len(labels[i]) == L]
    cls = th.merge_closure(pairs, L)
    q = th.quotient_automaton(cls, L)
    assert q.complete and th.computes_parity(q) and th.minimize(q).n_states == 2
    # right congruence: merging '0' with '1' (disagreeing) is propagated to all their extensions
    cls = th.merge_closure([(1, 2)], 2)
    assert cls[3] == cls[5] and cls[4] == cls[6]
    assert not th.computes_parity(th.quotient_automaton(cls, 2))
    # no merges: a tree, not finite, not parity
    q = th.quotient_automaton(th.merge_closure(np.zeros((0, 2)), L), L)
    assert not q.complete and not th.computes_parity(q)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: th.a_high(-1.0, 0.1, tau_h=1.0, tau_y=1.0, n=3), "dh2_0"),
        (lambda: th.a_low(tau_h=1.0, tau_y=0.0, n=3, target_gap=0.1), "tau_y"),
        (lambda: th.midpoint_rhs(1.0, -0.1, 0.0, tau_h=1.0, tau_y=1.0, n=2), "dy2"),
        (lambda: th.fixed_point_rhs(jnp.zeros(8), eta_h1=1, eta_h2=1, eta_y=1, eta_b=1, n=1, y11=1, y12=1, y22=1), "z"),
        (lambda: th.scaling_merges(1, 1, G=1.5, C=1.0), "G"),
        (lambda: th.fixed_point_random_starts(jax.random.key(0), 10, 0.0), "scale"),
        (lambda: th.merge_closure([[0, 99]], 2), "pairs"),
        (lambda: th.rk4(lambda y: y, 1.0, 1.0, 10, 3), "n_steps"),
        (lambda: th.prefix_index([0, 2]), "bits"),
        (lambda: th.mod_counter_automaton(1), "modulus"),
        (lambda: th.extract_automaton(np.zeros((6, 3)), np.zeros((6, 2))), "hidden"),
        (lambda: th.extract_automaton(np.zeros((7, 3)), np.zeros((7, 2)), order="random"), "order"),
        (lambda: th.Automaton(np.array([[0, 5]]), np.array([0])), "transitions"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
