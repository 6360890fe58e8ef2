"""The midpoint model's linearisation in the trained network (App. D.2, Fig. 13) and its Eq. 20 against the measured
motion of pairs where that linearisation holds.

For a pair (s₁, s₂) at one record, with h̄ the midpoint, dh = h₂ − h₁ and f_c the map from a state to the output after
the continuation c (every c the two share, |c| ≤ L − max(m₁, m₂)):

* **linearisation ratio** r = ‖f_c(h_α) − f_c(h̄) ∓ ½D_c dh‖ / ‖½D_c dh‖ over all (c, α) (root of summed squares), D_c
  the Jacobian at h̄ (a JVP). The paper's App. D.2 divides the second-order Taylor term by the first; for ReLU the
  second derivative vanishes almost everywhere, so the finite remainder of Eq. 13 takes its place (for a smooth map
  it equals the second-order term to leading order in ‖dh‖).
* **Eq. 20's first line** d‖dh‖²/dt = −½(1/τ_h)⟨w_i⟩, ⟨w_i⟩ = ⟨‖D_c dh‖² − (D_c dh)ᵀ(y*₂,c − y*₁,c)⟩_c, with the
  network's own rate per epoch 1/τ_h = 2N·lr·(κ₁ω̄₁ + κ₂ω̄₂): κ_α = ‖∇_θ vᵀh(s_α)‖² (v = dh/‖dh‖) the representation
  kernel, ω̄_α the mean per-epoch loss weight of s_α's continuation points (App. C.1's per-length batches), 2N from
  Eq. 14's mean over the 2N points (the same mapping as the measured-state Eq. 42).
* **the pair's own pull, exact**: −lr·⟨∇_θ‖dh‖², ∇_θ L_pair⟩, L_pair = Σ_(α,c) ω·MSE(y(s_α c)) the network's loss on
  the pair's 2N points. The free-vector model says this always brings an agreeing pair together.
* **measured**: (‖dh‖²(t_(k+1)) − ‖dh‖²(t_k))/Δt between consecutive evaluated records.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from theory import streaming_parity as th
from toymodels import streaming_parity as tm

__all__ = ["pair_terms", "sample_pairs", "compare", "loss_weights", "padded_rows"]

#: a distance counts only if it is this many float32 rounding units of the states (eps · ‖h‖) above zero
FLOAT32_FLOOR = 100 * float(np.finfo(np.float32).eps)


def sample_pairs(pairs, merged, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """n pairs of one network, half among those that end merged and half among the others (App. D.2 averages 100
    random pairs split by their end; stratified here so that both groups are populated); returns (pair indices,
    ends merged)."""
    a, b = np.flatnonzero(merged), np.flatnonzero(~merged)
    pick = np.concatenate([rng.choice(a, min(n // 2, a.size), replace=False), rng.choice(b, n - n // 2, False)])
    return pick, merged[pick]


@partial(jax.jit, static_argnames=("rcfg", "n"))
def _expansion(p, rcfg, n, hbar, dh, h1, h2):
    """f_c(h̄), D_c dh, f_c(h₁), f_c(h₂) for every continuation c of length ≤ n (prefix order)."""
    f = lambda h: tm.prefix_hidden_states(p, rcfg, n, h0=h)[1]  # noqa: E731

    def one(hb, u, a, b):
        y, jv = jax.jvp(f, (hb,), (u,))
        return y, jv, f(a), f(b)

    return jax.vmap(one)(hbar, dh, h1, h2)


def _recurrent(p):
    return (p.W_hh, p.W_xh, p.b_xh, p.b_hh)


@partial(jax.jit, static_argnames=("rcfg",))
def _kernel(p, rcfg, bits, v):
    """κ = ‖∇_θ vᵀh(s)‖² over the recurrent weights for each sequence (rows of ``bits``, one length)."""
    return jax.vmap(lambda b, u: tm.representation_rate(p, rcfg, b, u))(bits, v)


@partial(jax.jit, static_argnames=("rcfg", "n"))
def _own_rate(p, rcfg, n, bits1, bits2, omega, lr):
    """−lr·⟨∇_θ‖h(s₂) − h(s₁)‖², ∇_θ L_pair⟩ per pair (rows of ``bits1``, ``bits2``; one length each)."""
    N = 2 ** (n + 1) - 1
    clen = jnp.asarray(th.prefix_lengths(n)[:N])
    cpar = jnp.asarray([x.count("1") % 2 for x in th.prefix_strings(n)[:N]])

    def one(b1, b2):
        def states(q):
            return tm.run_rnn(q, b1[None], rcfg)[-1, 0], tm.run_rnn(q, b2[None], rcfg)[-1, 0]

        def loss(q):
            total = 0.0
            for b, h in zip((b1, b2), states(q), strict=True):
                y = tm.prefix_hidden_states(q, rcfg, n, h0=h)[1]
                total = total + jnp.sum(omega[b.shape[0] + clen] * tm.sequence_loss(y, (jnp.sum(b) + cpar) % 2))
            return total

        def dist(q):
            h1, h2 = states(q)
            return jnp.sum((h2 - h1) ** 2)

        gl, gd = jax.grad(loss)(p), jax.grad(dist)(p)
        return -lr * sum(jnp.sum(x * y) for x, y in zip(jax.tree.leaves(gl), jax.tree.leaves(gd), strict=True))

    return jax.vmap(one)(bits1, bits2)


def loss_weights(L: int, batch_size: int) -> np.ndarray:
    """Per-epoch loss weight of one sequence of length ℓ = 0 … 2L (App. C.1's per-length batches: ⌈2^ℓ/B⌉/2^ℓ; ℓ = 0,
    the empty sequence, is no data point). Indexed by the length of a prefix plus its continuation."""
    return np.array([-(-(2**ell) // batch_size) / 2**ell if ell else 0.0 for ell in range(2 * L + 1)])


def _bits(labels, idx) -> np.ndarray:
    return np.asarray([[int(ch) for ch in labels[k]] for k in idx], np.int32)


def padded_rows(fn, *arrays):
    """``fn`` on arrays padded (the last row repeated) to the next power of two rows, then cut back: a bounded
    number of compilations per shape across groups of pairs, records and networks, at most twice the rows."""
    k = arrays[0].shape[0]
    size = 1 << (k - 1).bit_length()
    pad = lambda x: np.concatenate([x, np.repeat(x[-1:], size - k, axis=0)]) if k < size else x  # noqa: E731
    return jax.tree.map(lambda x: np.asarray(x)[:k], fn(*(jnp.asarray(pad(np.asarray(x))) for x in arrays)))


def pair_terms(params, rcfg, H, i, j, *, L: int, lr: float, batch_size: int) -> dict:
    """The terms of the module docstring for pairs (i, j) (prefix indices, len(s_i) ≤ len(s_j)) at one record.

    ``params`` the network's weights there (float64), ``H`` (2^(L+1) − 1, P) its recorded states. Returns per pair:
    ``ratio``, ``dh2``, ``w``, ``eq20`` (Eq. 20's d‖dh‖²/dt per epoch), ``own`` (the pair's own pull per epoch) and
    ``scale`` (max ‖h_α‖, for the float32 floor)."""
    labels, lengths = th.prefix_strings(L), th.prefix_lengths(L)
    parity = np.array([x.count("1") % 2 for x in labels])
    omega = loss_weights(L, batch_size)
    m1, m2 = lengths[i], lengths[j]
    h1, h2 = np.asarray(H[i], float), np.asarray(H[j], float)
    dh = h2 - h1
    dist = np.linalg.norm(dh, axis=1)
    v = dh / np.maximum(dist, 1e-300)[:, None]
    out = {k: np.zeros(i.size) for k in ("ratio", "w", "eq20", "own")}
    out["dh2"], out["scale"] = dist**2, np.maximum(np.linalg.norm(h1, axis=1), np.linalg.norm(h2, axis=1))
    kappa = np.zeros((i.size, 2))
    for col, idx in enumerate((i, j)):
        for m in np.unique(lengths[idx]):
            g = np.flatnonzero(lengths[idx] == m)
            kappa[g, col] = padded_rows(lambda b, u: _kernel(params, rcfg, b, u), _bits(labels, idx[g]), v[g])
    for n in np.unique(L - m2):
        g = np.flatnonzero(L - m2 == n)
        y, jv, y1, y2 = padded_rows(
            lambda *x, n=int(n): _expansion(params, rcfg, n, *x), 0.5 * (h1 + h2)[g], dh[g], h1[g], h2[g]
        )
        rem = np.sum((y1 - y + 0.5 * jv) ** 2, axis=(1, 2)) + np.sum((y2 - y - 0.5 * jv) ** 2, axis=(1, 2))
        out["ratio"][g] = np.sqrt(rem / np.maximum(2 * np.sum((0.5 * jv) ** 2, axis=(1, 2)), 1e-300))
        N = 2 ** (n + 1) - 1
        cpar, clen = parity[:N], lengths[:N]
        gap = np.eye(2)[(parity[j[g]][:, None] + cpar) % 2] - np.eye(2)[(parity[i[g]][:, None] + cpar) % 2]
        out["w"][g] = np.mean(np.sum(jv**2, axis=2) - np.sum(jv * gap, axis=2), axis=1)
        w1, w2 = omega[m1[g][:, None] + clen].mean(axis=1), omega[m2[g][:, None] + clen].mean(axis=1)
        inv_tau = 2 * N * lr * (kappa[g, 0] * w1 + kappa[g, 1] * w2)
        out["eq20"][g] = -0.5 * inv_tau * out["w"][g]
    for a, b in {(int(x), int(y)) for x, y in zip(m1, m2, strict=True)}:
        g = np.flatnonzero((m1 == a) & (m2 == b))
        n = int(L - b)
        fn = lambda b1, b2, n=n: _own_rate(params, rcfg, n, b1, b2, jnp.asarray(omega), lr)  # noqa: E731
        out["own"][g] = padded_rows(fn, _bits(labels, i[g]), _bits(labels, j[g]))
    return out


def compare(terms: dict, agree: np.ndarray, interval: float, valid_ratio: float) -> dict:
    """Eq. 20 (trapezoid of its rates at both ends) and the pair's own pull against the measured change of ‖dh‖²
    over each interval between evaluated records, on the intervals where the linearisation ratio is ≤
    ``valid_ratio`` at both ends and both distances are above the float32 floor. ``terms`` hold (pairs, records)
    arrays of :func:`pair_terms`; ``agree`` (pairs,) marks agreeing pairs.

    Per interval the tolerance is the linearisation error itself: Eq. 20 agrees if |pred − meas| ≤ (2r + r²)|meas|,
    r the larger ratio of the two ends (‖dy‖² enters ⟨w⟩ squared, so a relative error r in dy allows 2r + r²).
    Returns per group (``agreeing``, ``disagreeing``) a summary dict and the log10 ratios |Eq. 20|/|measured| and
    |own|/|measured| of every interval (``<group>_log_eq20``, ``<group>_log_own``)."""
    r = terms["ratio"]
    dh2 = terms["dh2"]
    floor = (FLOAT32_FLOOR * terms["scale"]) ** 2
    ok = (
        (r[:, :-1] <= valid_ratio)
        & (r[:, 1:] <= valid_ratio)
        & (dh2[:, :-1] > floor[:, :-1])
        & (dh2[:, 1:] > floor[:, 1:])
    )
    meas = (dh2[:, 1:] - dh2[:, :-1]) / interval
    pred = 0.5 * (terms["eq20"][:, :-1] + terms["eq20"][:, 1:])
    own = 0.5 * (terms["own"][:, :-1] + terms["own"][:, 1:])
    tol = 2 * np.maximum(r[:, :-1], r[:, 1:]) + np.maximum(r[:, :-1], r[:, 1:]) ** 2
    res = {"intervals": int(ok.sum())}
    for name, sel in (("agreeing", agree[:, None] & ok), ("disagreeing", ~agree[:, None] & ok)):
        if not sel.any():
            continue
        p, m, o, t = pred[sel], meas[sel], own[sel], tol[sel]
        ratio = np.log10(np.abs(p) / np.maximum(np.abs(m), 1e-300))
        own_ratio = np.log10(np.abs(o) / np.maximum(np.abs(m), 1e-300))
        res[f"{name}_log_eq20"], res[f"{name}_log_own"] = ratio, own_ratio
        res[name] = {
            "intervals": int(sel.sum()),
            "within_tolerance": float(np.mean(np.abs(p - m) <= t * np.abs(m))),
            "sign_agrees": float(np.mean(np.sign(p) == np.sign(m))),
            "log10_eq20_over_measured": np.percentile(ratio, [10, 50, 90]).tolist(),
            "own_sign_agrees_with_eq20": float(np.mean(np.sign(o) == np.sign(p))),
            "own_shrinks": float(np.mean(o < 0)),
            "measured_shrinks": float(np.mean(m < 0)),
            "log10_own_over_measured": np.percentile(own_ratio, [10, 50, 90]).tolist(),
            "median_tolerance": float(np.median(t)),
        }
    return res
