"""Automaton extraction/minimisation and the reduced merger theory (theory/streaming_parity.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import streaming_parity as th
from theory.common import ParameterError
from toymodels import streaming_parity as tm


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
    raw, m = _extract(ref)
    assert m.n_states == modulus and m.complete and raw.conflicts == 0
    assert not th.computes_parity(m)
    bits = np.random.default_rng(1).integers(0, 2, 200)
    np.testing.assert_array_equal(th.run_automaton(m, bits), th.run_automaton(ref, bits))


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
    pairs = th.agreeing_pairs(3)
    par = [labels[i].count("1") % 2 == labels[j].count("1") % 2 for i, j in pairs]
    assert all(par)
    # 14 non-empty prefixes up to length 3: 7 even, 7 odd → 2·C(7,2) = 42 agreeing pairs
    assert len(pairs) == 42


def test_continuation_count():
    # all sequences of length ≤ 4: prefixes of length 2 share continuations of length 0, 1, 2 → 1 + 2 + 4
    assert th.continuation_count(2, 1, 4) == 7
    assert th.continuation_count(5, 1, 4) == 0
    np.testing.assert_array_equal(th.continuation_count(np.array([1, 2, 3]), 1, 3), [7, 3, 1])


def test_closed_form_matches_finite_difference_simulation_of_the_reduced_dynamics():
    """Gradient descent on the particle realisation (δ, g_c) with a small step against the closed form.

    Explicit Euler has global error O(dt); with dt = 1e-4, t = 20 and rates ≤ aN y0/h0 + b h0 ≈ 4.6, the bound
    dt·t·rate² ≈ 0.04·h0 is loose; the observed error is ~1e-4, so 1e-3·h0 tests the equations, not the bound.
    """
    a, b, h0, y0 = 1.0, 2.0, 1.0, 0.09
    dt, n = 1e-4, 200_000
    grad = jax.grad(th.reduced_particle_loss, argnums=(0, 1))
    for N in (3, 31):
        w = jnp.ones(N)

        def step(c, _, w=w):
            d, g = c
            gd, gg = grad(d, g, w)
            return (d - a * dt * gd, g - b * dt * gg), d**2

        (d, g), hs = jax.lax.scan(step, (jnp.sqrt(h0), jnp.full(N, 0.3)), None, length=n)
        t = dt * np.arange(0, n, 20_000)
        h_th, _ = th.merger_trajectory(t, h0, y0, a, b, N)
        np.testing.assert_allclose(np.asarray(hs)[::20_000], np.asarray(h_th), atol=1e-3 * h0)
        assert abs(float(d**2) - float(th.final_distance(h0, y0, a, b, N))) < 1e-3 * h0


def test_closed_form_matches_rk4_and_general_ode_with_unequal_weights_runs():
    a, b, h0, y0, N = 0.5, 1.0, 2.0, 0.3, 7
    t, h, y = th.integrate_merger_ode(h0, y0, a, b, jnp.ones(N), 10.0, 2000)
    h_c, y_c = th.merger_trajectory(t, h0, y0, a, b, N)
    # RK4 at dt = 5e-3 on rates ≤ O(1): global error ~ dt⁴ ≈ 1e-9
    np.testing.assert_allclose(h, h_c, rtol=1e-7)
    np.testing.assert_allclose(y[:, 0], y_c, rtol=1e-6, atol=1e-12)
    _, h2, _ = th.integrate_merger_ode(h0, y0, a, b, jnp.array([1.0, 0.5, 0.25]), 10.0, 2000)
    assert np.all(np.diff(np.asarray(h2)) <= 0)  # attractive only: h never grows


def test_merger_condition_and_boundary():
    h0, y0, a, b = 1.0, 0.1, 1.0, 1.0
    n_c = float(th.critical_count(h0, y0, a, b))
    assert n_c == pytest.approx(10.0)
    assert float(th.final_distance(h0, y0, a, b, 9.0)) > 0 and float(th.final_distance(h0, y0, a, b, 10.0)) == 0
    # κ = 0 exactly at N_c: h decays like 1/t, finite everywhere
    h, _ = th.merger_trajectory(np.array([0.0, 1.0, 100.0]), h0, y0, a, b, n_c)
    assert np.all(np.isfinite(h)) and h[0] == pytest.approx(h0) and h[-1] < 0.1
    assert float(th.critical_train_length(n_c)) == 1 + np.ceil(np.log2(11))
    # the boundary moves one-for-one with L
    assert float(th.merger_boundary(8, n_c) - th.merger_boundary(7, n_c)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: th.critical_count(-1.0, 0.1, 1.0, 1.0), "h0"),
        (lambda: th.merger_trajectory(1.0, 1.0, 0.1, 1.0, 0.0, 3), "b"),
        (lambda: th.prefix_index([0, 2]), "bits"),
        (lambda: th.mod_counter_automaton(1), "modulus"),
        (lambda: th.extract_automaton(np.zeros((6, 3)), np.zeros((6, 2))), "hidden"),
        (lambda: th.Automaton(np.array([[0, 5]]), np.array([0])), "transitions"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ParameterError, match=match):
        call()
