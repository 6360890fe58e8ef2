"""The App. D.2 linearisation terms of parity_pair_dynamics (experiments/streaming_parity/linearisation.py) against
independent computations: explicit sequences and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np

from experiments.streaming_parity.linearisation import pair_terms
from theory import streaming_parity as th
from toymodels import streaming_parity as tm

L, LR, B = 4, 0.05, 4


def _net(activation="relu", gain=1.0, seed=0):
    cfg = tm.RNNConfig(hidden=8, activation=activation, batch_size=B, learning_rate=LR, gain=gain)
    fam = tm.Epochs(cfg, L, dtype=jnp.dtype(jnp.float64))
    state = fam.init(jax.random.key(seed), {"gain": jnp.asarray(gain), "fraction": jnp.asarray(1.0)}, None)
    p = tm.to_params(state["params"])
    # nonzero biases, so that the test does not rest on the zero initial biases
    p = p._replace(b_hh=0.1 * jnp.sin(jnp.arange(8.0)), b_o=jnp.asarray([0.2, -0.1]))
    return cfg, p


def _pair_loss(p, cfg, s1, s2):
    """The network's per-epoch loss on the pair's 2N points, built from explicit sequences s_α + c."""
    n = L - max(len(s1), len(s2))
    total = 0.0
    for s in (s1, s2):
        for c in th.prefix_strings(n):
            bits = [int(x) for x in s + c]
            w = -(-(2 ** len(bits)) // B) / 2 ** len(bits)
            out = tm.final_outputs(p, jnp.asarray([bits]), cfg)
            total = total + w * tm.sequence_loss(out, jnp.asarray([sum(bits) % 2]))[0]
    return total


def test_own_pull_is_the_first_order_change_of_the_distance_under_the_pairs_gradient():
    cfg, p = _net()
    labels = th.prefix_strings(L)
    s1, s2 = "1", "10"
    i, j = np.array([labels.index(s1)]), np.array([labels.index(s2)])
    H = np.asarray(tm.prefix_hidden_states(p, cfg, L)[0])
    own = pair_terms(p, cfg, H, i, j, L=L, lr=LR, batch_size=B)["own"][0]
    g = jax.grad(_pair_loss)(p, cfg, s1, s2)

    def dist(q):
        h = tm.prefix_hidden_states(q, cfg, L)[0]
        return float(jnp.sum((h[j[0]] - h[i[0]]) ** 2))

    eps = 1e-6
    step = lambda sign: jax.tree.map(lambda x, y: x - sign * eps * LR * y, p, g)  # noqa: E731
    fd = (dist(step(1)) - dist(step(-1))) / (2 * eps)
    assert abs(own) > 1e-6
    np.testing.assert_allclose(own, fd, rtol=1e-6)


def test_linearisation_ratio_is_second_order_for_tanh_and_zero_within_one_relu_region():
    labels = th.prefix_strings(L)
    i, j = np.array([labels.index("01")]), np.array([labels.index("10")])  # equal parity: agreeing
    u = np.cos(np.arange(8.0))
    u /= np.linalg.norm(u)

    def terms(cfg, p, eps):
        H = np.array(tm.prefix_hidden_states(p, cfg, L)[0])
        H[j[0]] = H[i[0]] + eps * u
        return pair_terms(p, cfg, H, i, j, L=L, lr=LR, batch_size=B)

    cfg, p = _net("tanh")
    r = [terms(cfg, p, eps)["ratio"][0] for eps in (1e-2, 5e-3)]
    np.testing.assert_allclose(r[1] / r[0], 0.5, rtol=0.02)  # remainder / first order ∝ ‖dh‖
    assert r[0] > 1e-5
    cfg, p = _net("relu")
    t = terms(cfg, p, 1e-9)
    assert t["ratio"][0] < 1e-6
    # ⟨w⟩ of an agreeing pair (equal parity) is the mean squared difference of the outputs after each continuation
    H = np.array(tm.prefix_hidden_states(p, cfg, L)[0])
    y = lambda h: np.asarray(tm.prefix_hidden_states(p, cfg, L - 2, h0=jnp.asarray(h))[1])  # noqa: E731
    h1 = H[i[0]]
    expected = np.mean(np.sum((y(h1 + 1e-9 * u) - y(h1)) ** 2, axis=1))
    np.testing.assert_allclose(t["w"][0], expected, rtol=1e-5)
    assert t["eq20"][0] < 0  # Eq. 20 moves an agreeing pair together
