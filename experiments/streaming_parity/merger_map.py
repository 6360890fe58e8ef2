"""``parity_merger_map``: which agreeing pairs merge (Fig. 7), against the merger condition evaluated on the network
at initialisation (Eqs. 6–9).

Measured: for every pair of agreeing training sequences, whether its final distance is below the merge threshold
(App. C.1: 0.01 × ‖std‖ of the representations pooled over all records), as a map over the lengths (m₁, m₂).

Theory, from the initial network only (never from the outcome being predicted):

* **Eq. 6 with rates from the gradient kernels** (no free constant): A_high = ‖dh(0)‖² − Σ_c (τ_y,c/τ_h)‖dy_c(0)‖²/‖dh(0)‖²
  (:func:`theory.streaming_parity.a_high_general`) with ‖dy_c(0)‖² the output differences after every shared
  continuation c, 1/τ_h = 1/τ_h1 + 1/τ_h2 from the representation kernels and 1/τ_y,c the decoder kernel averaged over
  continuations of c's length (:func:`toymodels.streaming_parity.representation_rate`, ``decoder_rate``); merge iff
  A_high < 0. Evaluated on a stratified sample of pairs.
* **Eq. 9 with one calibrated constant**: merge iff C < N·G^(−m), i.e. ‖dh(0)‖²/N < θ with ‖dh(0)‖² measured (it
  replaces c_h G^m of Eq. 8). θ is calibrated on the first network as the largest ‖dh(0)‖²/N of its merged pairs (Eq. 9
  as a necessary condition: no merger of that network violates it) and tested on the others (held out).
* **Eq. 8**: ‖dh(0)‖² against the number of recurrent steps since the two sequences last differed (their common suffix
  k, which equals min(m₁, m₂) when one sequence ends the other), with G the per-step shrinkage of squared distances by
  the initial recurrent map.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.streaming_parity import figures
from experiments.streaming_parity.common import Pairs, initial_params, squared_distances, train
from experiments.streaming_parity.settings import MergerMapConfig
from theory import streaming_parity as th
from toymodels import streaming_parity as tm

__all__ = ["run_merger_map", "measured_mergers", "initial_quantities", "kernel_theory", "onset"]

#: a row of the map counts as merging when at least this fraction of its agreeing pairs merged (rows hold ≥ 10³ pairs,
#: so 1 % is ≥ 10 pairs: not a stray one)
ONSET_LEVEL = 0.01
#: agreeing pairs sampled per (m₁, m₂) cell for the kernel-rate theory
PAIRS_PER_CELL = 60


def measured_mergers(cfg: MergerMapConfig, seed: int, ctx: RunContext, pairs: Pairs) -> dict:
    """Train the networks; per network the pooled threshold and which pairs end closer than it."""

    def reduce(res) -> dict:
        hid = np.asarray(res.records["hidden"][:, 0, 0])  # (S, R, n, P)
        thr = np.array([th.merge_distance(h, cfg.merge_factor) for h in hid])
        merged = np.stack([pairs.distances(h[-1]) < t for h, t in zip(hid, thr, strict=True)])
        return {"threshold": thr, "merged": merged, "final_loss": np.asarray(res.records["loss"][:, 0, 0, -1])}

    return train(cfg, seed, ctx, outputs=reduce, record_states=True)


def initial_quantities(cfg: MergerMapConfig, seed: int, s: int, pairs: Pairs) -> dict:
    """Network s at initialisation (float64 evaluation of its float32 weights): every pair's ‖dh(0)‖², the states and
    outputs of every sequence, and G, the per-step shrinkage of squared distances (median over pairs and bits of
    ‖h(s₁x) − h(s₂x)‖²/‖h(s₁) − h(s₂)‖², the paper's 'average decrease of representational distances when applying
    the recurrent map'; the median, because ReLU maps some pairs onto one point)."""
    p32, _ = initial_params(cfg, seed, s=s)
    p = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), p32)
    H, Y = (np.asarray(x) for x in tm.prefix_hidden_states(p, cfg.rnn(), cfg.train_length))
    D2 = squared_distances(H)
    dh2 = D2[pairs.i, pairs.j]
    inner = (pairs.m2 < cfg.train_length) & (dh2 > 0)  # both have children (and are not one point)
    ratios = [D2[2 * pairs.i[inner] + 1 + x, 2 * pairs.j[inner] + 1 + x] / dh2[inner] for x in (0, 1)]
    G = float(np.median(np.concatenate(ratios)))
    return {"params": p, "H": H, "Y": Y, "dh2": dh2, "G": G}


def _continuation_sums(Y, i, j, L, kappa_y):
    """Σ_c ‖y(s_i c) − y(s_j c)‖²/κ_y(|c|) over the continuations c with |s_j c| ≤ L (s_i is the shorter)."""
    lengths = th.prefix_lengths(L)
    out = np.zeros(len(i))
    for q, (a, b) in enumerate(zip(i, j, strict=True)):
        ma, mb = lengths[a], lengths[b]
        va, vb = a - (2**ma - 1), b - (2**mb - 1)
        for n in range(L - mb + 1):
            c = np.arange(2**n)
            ia, ib = 2 ** (ma + n) - 1 + va * 2**n + c, 2 ** (mb + n) - 1 + vb * 2**n + c
            out[q] += np.sum((Y[ia] - Y[ib]) ** 2) / kappa_y[n]
    return out


def kernel_theory(cfg: MergerMapConfig, init: dict, pairs: Pairs, rng) -> dict:
    """Eq. 6 from the initial network with rates from its gradient kernels, on a stratified sample of agreeing pairs."""
    L, rcfg, p, H, Y = cfg.train_length, cfg.rnn(), init["params"], init["H"], init["Y"]
    cell = (pairs.m1 - 1) * L + (pairs.m2 - 1)
    pick = []
    for c in np.unique(cell[pairs.agree]):
        members = np.flatnonzero(pairs.agree & (cell == c))
        pick.append(rng.choice(members, min(PAIRS_PER_CELL, members.size), replace=False))
    pick = np.concatenate(pick)
    i, j = pairs.i[pick], pairs.j[pick]
    dh = H[j] - H[i]
    dh2 = np.sum(dh**2, axis=1)
    v = dh / np.sqrt(dh2)[:, None]
    labels = th.prefix_strings(L)
    bits = lambda k: np.array([int(ch) for ch in labels[k]], np.int32)  # noqa: E731
    rate_h = {}
    for m in range(1, L + 1):  # one compiled rate per sequence length, vmapped over the pairs
        fn = jax.jit(jax.vmap(lambda b, u: tm.representation_rate(p, rcfg, b, u)))
        for side, idx in (("i", i), ("j", j)):
            sel = np.flatnonzero(th.prefix_lengths(L)[idx] == m)
            if sel.size:
                rate_h[(side, m)] = (
                    sel,
                    np.asarray(fn(jnp.asarray(np.stack([bits(k) for k in idx[sel]])), jnp.asarray(v[sel]))),
                )
    kappa_h = np.zeros(pick.size)
    for sel, r in rate_h.values():
        kappa_h[sel] += r
    kappa_y = np.zeros(L + 1)
    for n in range(L):
        fn = jax.jit(jax.vmap(lambda h, u, e, c: tm.decoder_rate(p, rcfg, h, u, e, c)))
        ok = np.flatnonzero(pairs.m2[pick] <= L - n)
        if ok.size == 0:  # no agreeing pair of non-empty sequences has a continuation this long
            kappa_y[n] = kappa_y[n - 1]
            continue
        k = rng.choice(ok, min(cfg.rate_samples, ok.size), replace=False)
        c = rng.integers(0, 2, (k.size, n)).astype(np.int32)
        hm = 0.5 * (H[i[k]] + H[j[k]])
        dy = []
        for q in range(k.size):  # the direction of the output difference after the sampled continuation
            cc = jnp.asarray(c[q])
            g = lambda x, cc=cc, n=n: (tm.run_rnn(p, cc[None], rcfg, h0=x[None])[-1, 0] if n else x) @ p.W_o.T + p.b_o  # noqa: E731
            dy.append(np.asarray(jax.jvp(g, (jnp.asarray(hm[q]),), (jnp.asarray(v[k[q]]),))[1]))
        e = np.stack(dy) / np.maximum(np.linalg.norm(dy, axis=1, keepdims=True), 1e-300)
        kappa_y[n] = float(np.mean(fn(jnp.asarray(hm), jnp.asarray(v[k]), jnp.asarray(e), jnp.asarray(c))))
    kappa_y[L] = kappa_y[L - 1]
    S = _continuation_sums(Y, i, j, L, np.maximum(kappa_y, 1e-300))
    a_high = dh2 - kappa_h * S / dh2
    return {"pick": pick, "a_high": a_high, "kappa_y": kappa_y, "kappa_h": kappa_h, "dh2": dh2}


def onset(pairs: Pairs, merged, select) -> int:
    """Smallest min(m₁, m₂) whose agreeing pairs (among ``select``) merge at a rate ≥ 1 % (L + 1 if none)."""
    for m in range(1, pairs.L + 1):
        row = select & (pairs.m1 == m)
        if row.any() and np.mean(merged[row]) >= ONSET_LEVEL:
            return m
    return pairs.L + 1


def predict(cfg: MergerMapConfig, sim: dict, inits: list, pairs: Pairs) -> dict:
    """Eq. 9 calibrated on network 0, applied to every network; Eq. 8's fit of ‖dh(0)‖² against the common suffix."""
    agree = pairs.agree
    N = pairs.n_continuations
    score = [init["dh2"] / N for init in inits]
    merged = sim["merged"]
    theta = float(score[0][agree & merged[0]].max()) if (agree & merged[0]).any() else 0.0
    pred = np.stack([(sc <= theta) & agree for sc in score])
    k = pairs.common_suffix()
    fit_k = (k <= 4) & (inits[0]["dh2"] > 0)  # ‖dh(0)‖ ≳ 1e-6 ≫ float64 rounding of states of norm ~1
    c_h, G_fit, resid = th.fit_initial_scaling(k[fit_k], inits[0]["dh2"][fit_k])
    c_min, G_min, resid_min = th.fit_initial_scaling(pairs.m1[fit_k], inits[0]["dh2"][fit_k])
    mean_by_k = np.array([np.median(inits[0]["dh2"][k == q]) for q in range(pairs.L)])
    return {
        "theta": theta,
        "predicted": pred,
        "G_map": np.array([init["G"] for init in inits]),
        "G_fit_suffix": G_fit,
        "fit_residual_suffix": resid,
        "G_fit_min_length": G_min,
        "fit_residual_min_length": resid_min,
        "dh2_by_suffix": mean_by_k,
        "c_h": c_h,
    }


def checks(cfg: MergerMapConfig, sim: dict, pred: dict, ker: dict, pairs: Pairs) -> list[Check]:
    agree, merged, predicted = pairs.agree, sim["merged"], pred["predicted"]
    S = merged.shape[0]
    onsets = np.array([onset(pairs, merged[s], agree) for s in range(S)])
    pred_onsets = np.array([onset(pairs, predicted[s], agree) for s in range(S)])
    held = np.arange(1, S)
    no_no = np.array([np.mean(~merged[s][agree & ~predicted[s]]) for s in held])
    recall = np.array([np.mean(predicted[s][agree & merged[s]]) for s in held])
    counts = (merged & agree).sum(axis=1)
    cv = float(counts.std(ddof=1) / counts.mean())
    km, kp = ker["merged"], ker["a_high"] < 0
    return [
        Check.at_least(
            "mergers_start_at_a_length_threshold",
            float(onsets.min()),
            2.0,
            f"smallest, over {S} networks, first row min(m₁, m₂) of the Fig. 7 map with ≥ {ONSET_LEVEL:.0%} of its agreeing "
            "pairs merged (Fig. 7: mergers only start once min(m₁, m₂) reaches a threshold; 1 would mean no threshold)",
        ),
        Check.at_most(
            "eq9_onset_held_out",
            float(np.max(np.abs(pred_onsets[held] - onsets[held]))),
            1.0,
            f"largest |predicted − measured| first merging row over the {held.size} held-out networks; prediction: "
            f"‖dh(0)‖²/N < θ (Eq. 9 with ‖dh(0)‖² measured at initialisation, θ = {pred['theta']:.3g} calibrated on "
            "network 0 as its merged pairs' largest value); tolerance ±1 row",
        ),
        Check.at_least(
            "eq9_predicted_non_mergers_do_not_merge",
            float(no_no.min()),
            0.95,
            "smallest, over held-out networks, fraction of agreeing pairs predicted not to merge by Eq. 9 that do not "
            "merge (one-sided: the paper notes that pairs meeting the condition may never come close); 0.95 as stated "
            f"for this test (predicting that nothing merges scores {1 - merged[held][:, agree].mean():.2f})",
        ),
        Check.at_least(
            "eq9_recall_held_out",
            float(recall.min()),
            float(1 - 2 * cv),
            "smallest, over held-out networks, fraction of merged agreeing pairs that Eq. 9 predicted to merge; the "
            "calibration makes it 1 on network 0; on the others it may fall short by what differs between networks: "
            f"tolerance 1 − 2 × the coefficient of variation ({cv:.3f}) of the number of merged agreeing pairs over the "
            f"{S} networks of this run",
        ),
        Check.at_most(
            "eq8_initial_distances_shrink_as_G_per_step",
            float(abs(np.log(pred["G_fit_suffix"] / pred["G_map"][0]))),
            float(3 * np.std(np.log(pred["G_map"]), ddof=1)) if S > 2 else float("nan"),
            "network 0: |log(G fitted to ‖dh(0)‖² ∝ G^k over the pairs' common-suffix lengths k ≤ 4 / G of its recurrent "
            "map)| (Eq. 8, with k = min(m₁, m₂) for pairs where one sequence ends the other); tolerance 3 × the "
            f"standard deviation of log G over the {S} networks",
        ),
        Check.at_least(
            "kernel_theory_non_mergers_do_not_merge",
            float(np.mean(~km[~kp])) if (~kp).any() else 1.0,
            0.95,
            f"network 0, {kp.size} sampled agreeing pairs: fraction predicted not to merge by Eq. 6 with rates from the "
            "gradient kernels at initialisation (no free constant) that do not merge (one-sided, 0.95 as above)",
        ),
    ]


def metrics(cfg: MergerMapConfig, sim: dict, pred: dict, ker: dict, pairs: Pairs) -> dict:
    agree, merged, predicted = pairs.agree, sim["merged"], pred["predicted"]
    S = merged.shape[0]
    sel = np.zeros(pairs.i.size, bool)
    sel[ker["pick"]] = True
    kp = np.zeros(pairs.i.size, bool)
    kp[ker["pick"]] = ker["a_high"] < 0
    return {
        "measured_onset": [onset(pairs, merged[s], agree) for s in range(S)],
        "eq9_onset": [onset(pairs, predicted[s], agree) for s in range(S)],
        "kernel_theory_onset": onset(pairs, kp, sel & agree),
        "kernel_theory_precision": float(np.mean(ker["merged"][ker["a_high"] < 0])),
        "kernel_theory_fraction_predicted": float(np.mean(ker["a_high"] < 0)),
        "merged_agreeing_pairs": [int((merged[s] & agree).sum()) for s in range(S)],
        "merged_disagreeing_pairs": [int((merged[s] & ~agree).sum()) for s in range(S)],
        "eq9_theta": pred["theta"],
        "eq9_precision_held_out": [float(np.mean(merged[s][predicted[s]])) for s in range(1, S)],
        "G_recurrent_map": pred["G_map"].tolist(),
        "G_fit_common_suffix": pred["G_fit_suffix"],
        "G_fit_min_length": pred["G_fit_min_length"],
        "fit_log_residual_common_suffix": pred["fit_residual_suffix"],
        "fit_log_residual_min_length": pred["fit_residual_min_length"],
        "decoder_rates_by_continuation_length": ker["kappa_y"].tolist(),
        "gap": "Eq. 6 with the kernel rates at initialisation predicts mergers from min(m1, m2) = "
        f"{onset(pairs, kp, sel & agree)} (measured {onset(pairs, merged[0], agree)}), precision "
        f"{float(np.mean(ker['merged'][ker['a_high'] < 0])):.2f}: its scale is off, so Eq. 9's constant is calibrated",
    }


@register(
    "parity_merger_map",
    "fraction of agreeing pairs that merge over their lengths (m1, m2) (Fig. 7) against the merger condition "
    "evaluated on the network at initialisation: Eq. 6 with kernel rates, Eq. 9 with one constant calibrated on one "
    "network and tested on the others, Eq. 8's scaling of the initial distances",
    MergerMapConfig,
    figures=figures.merger_map,
)
def run_merger_map(cfg: MergerMapConfig, seed: int, ctx: RunContext) -> Result:
    pairs = Pairs(cfg.train_length)
    sim = measured_mergers(cfg, seed, ctx, pairs)
    inits = [initial_quantities(cfg, seed, s, pairs) for s in range(cfg.seeds)]
    ctx.log("  merger condition at initialisation: kernel rates on sampled pairs of network 0")
    ker = kernel_theory(cfg, inits[0], pairs, np.random.default_rng(seed))
    ker["merged"] = sim["merged"][0][ker["pick"]]
    pred = predict(cfg, sim, inits, pairs)
    S = cfg.seeds
    arrays = {
        "measured_map": np.stack([pairs.by_lengths(sim["merged"][s], pairs.agree) for s in range(S)]),
        "eq9_map": np.stack([pairs.by_lengths(pred["predicted"][s], pairs.agree) for s in range(S)]),
        "kernel_map": _sampled_map(pairs, ker),
        "threshold": sim["threshold"],
        "final_loss": sim["final_loss"],
        "dh2_by_suffix": pred["dh2_by_suffix"],
        "G_map": pred["G_map"],
        "c_h": np.asarray(pred["c_h"]),
        "G_fit_suffix": np.asarray(pred["G_fit_suffix"]),
        "kappa_y": ker["kappa_y"],
    }
    return Result(checks(cfg, sim, pred, ker, pairs), arrays, metrics=metrics(cfg, sim, pred, ker, pairs))


def _sampled_map(pairs: Pairs, ker: dict) -> np.ndarray:
    values = np.zeros(pairs.i.size)
    sel = np.zeros(pairs.i.size, bool)
    values[ker["pick"]] = ker["a_high"] < 0
    sel[ker["pick"]] = True
    return pairs.by_lengths(values, sel)
