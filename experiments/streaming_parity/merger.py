"""``parity_merger``: the reduced merger dynamics against its closed form and the merger condition N_c; the
distances of agreeing prefixes in trained RNNs against the theory (the gap is reported, not checked)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.streaming_parity import figures
from experiments.streaming_parity.common import generalises, rnn_cfg, train_one_length
from experiments.streaming_parity.settings import MergerConfig
from theory import streaming_parity as th

__all__ = [
    "run_merger",
    "simulate_reduced",
    "predict_reduced",
    "reduced_checks",
    "simulate_rnn",
    "rnn_distances",
    "metrics",
]

#: records of the reduced model's trajectory
N_RECORDS = 200


def _particle_descent(cfg: MergerConfig, n_max: int, n_steps: int, every: int):
    """The jitted gradient descent ``simulate(n) -> (h, y)`` recorded every ``every`` of ``n_steps`` steps."""
    a, b = cfg.rate_h, cfg.rate_y
    grad = jax.grad(th.reduced_particle_loss, argnums=(0, 1))

    @jax.jit
    def simulate(n):
        """Gradient descent on the particle model with the first n of n_max continuations active (vmapped over n)."""
        w = (jnp.arange(n_max) < n).astype(float)
        g0 = jnp.full(n_max, np.sqrt(cfg.y0 / cfg.h0))

        def step(c, _):
            d, g = c
            gd, gg = grad(d, g, w)
            return (d - a * cfg.dt * gd, g - b * cfg.dt * gg), None

        def block(c, _):
            c, _ = jax.lax.scan(step, c, None, length=every)
            d, g = c
            return c, (d**2, jnp.sum(w * g**2) / n * d**2)

        _, (h, y) = jax.lax.scan(block, (jnp.sqrt(cfg.h0), g0), None, length=n_steps // every)
        return h, y

    return simulate


def simulate_reduced(cfg: MergerConfig, ctx: RunContext) -> dict:
    """(a) The reduced two-representation dynamics by gradient descent on its exact particle realisation."""
    counts = np.asarray(cfg.counts, int)
    n_c = float(th.critical_count(cfg.h0, cfg.y0, cfg.rate_h, cfg.rate_y))
    n_steps = int(round(cfg.t_max / cfg.dt))
    ctx.log(f"  reduced model: N in {counts.tolist()}, N_c = {n_c:.2f}, {n_steps} gradient steps each")
    every = max(1, n_steps // N_RECORDS)
    simulate = _particle_descent(cfg, int(counts.max()), n_steps, every)
    times = cfg.dt * every * np.arange(1, n_steps // every + 1)
    sim_h, sim_y = map(np.asarray, jax.vmap(simulate)(jnp.asarray(counts)))
    return {"times": times, "counts": counts, "sim_h": sim_h, "sim_y": sim_y}


def predict_reduced(cfg: MergerConfig, sim: dict) -> dict:
    """The closed-form trajectories, final distances and N_c; the curve h∞(N)/h0 drawn in the figure."""
    a, b = cfg.rate_h, cfg.rate_y
    counts = sim["counts"]
    th_h, th_y = jax.vmap(lambda n: th.merger_trajectory(sim["times"], cfg.h0, cfg.y0, a, b, n))(counts.astype(float))
    Ns = np.linspace(0, counts.max(), 200)
    return {
        "theory_h": np.asarray(th_h),
        "theory_y": np.asarray(th_y),
        "theory_final_h": np.asarray(th.final_distance(cfg.h0, cfg.y0, a, b, counts.astype(float))),
        "n_critical": np.asarray(float(th.critical_count(cfg.h0, cfg.y0, a, b))),
        "curve_N": Ns,
        "curve_final_h": np.asarray(th.final_distance(cfg.h0, cfg.y0, a, b, Ns)) / cfg.h0,
    }


def reduced_checks(cfg: MergerConfig, sim: dict, pred: dict) -> list[Check]:
    a, b = cfg.rate_h, cfg.rate_y
    counts, sim_h, th_h = sim["counts"], sim["sim_h"], pred["theory_h"]
    n_c = float(pred["n_critical"])
    # explicit Euler on a contracting flow: global error ≤ dt·t_max·max|ḧ|/2, and |ḧ| ≤ rate²·h0 with the largest
    # rate aN·y0/h0 + b·h0 (the initial one; both decay). The tolerance 2·dt·t_max·rate² (relative to h0) is that
    # bound times 4: a stated margin for the rate estimate, not a fitted number (observed use: ~2e-4 of it)
    rate = a * counts * cfg.y0 / cfg.h0 + b * cfg.h0
    tol_traj = 2 * cfg.dt * cfg.t_max * rate**2  # relative to h0
    err_traj = np.max(np.abs(sim_h - th_h), axis=1) / cfg.h0
    final_pred = pred["theory_final_h"]
    # distance left at t_max: for N < N_c the approach is exponential at rate |κ|aN (κ < 0), for N > N_c also
    # exponential; both are below the Euler tolerance at t_max when exp(-|κ| a N t_max) is negligible
    err_final = np.abs(sim_h[:, -1] - final_pred) / cfg.h0
    residual = np.exp(-np.abs(cfg.y0 / cfg.h0 - b * cfg.h0 / (a * counts)) * a * counts * cfg.t_max)
    merged_sim = sim_h[:, -1] < 1e-3 * cfg.h0
    merged_th = counts >= n_c
    return [
        Check.at_most(
            "reduced_trajectory_vs_closed_form",
            float(np.max(err_traj / tol_traj)),
            1.0,
            "max over N and t of |h_sim − h_theory|/h0 divided by the explicit-Euler bound "
            "2·dt·t_max·(aN y0/h0 + b h0)², 4× the Euler bound dt·t_max·max|ḧ|/2 (the particle model "
            "realises the reduced ODE exactly; the only error is the time discretisation)",
        ),
        Check.at_most(
            "final_distance_vs_merger_condition",
            float(np.max(err_final / (tol_traj + residual))),
            1.0,
            "|h_sim(t_max) − max(0, h0 − aNy0/(bh0))|/h0 relative to the Euler bound plus the "
            "residual exp(−|κ|aN t_max) of the exponential approach",
        ),
        Check.at_least(
            "merger_condition_classification",
            float(np.mean(merged_sim == merged_th)),
            1.0,
            f"fraction of counts N where the simulation merges (h < 1e-3 h0 at t_max) exactly "
            f"when N >= N_c = b h0²/(a y0) = {n_c:.2f} (exact)",
        ),
    ]


def simulate_rnn(cfg: MergerConfig, seed: int, ctx: RunContext) -> dict:
    """(b) Trained RNNs: squared distances of agreeing prefix pairs at every checkpoint."""
    L = cfg.train_length
    res, key_eval = train_one_length(cfg, seed, ctx)
    hid = np.asarray(res.records["hidden"][:, 0], float)  # (S, C, N, P)
    perfect, _ = generalises(key_eval, jax.tree.map(lambda x: x[:, 0], res.params), rnn_cfg(cfg), cfg.eval_length, 64)
    pairs = th.agreeing_pairs(L)
    dist = np.sum((hid[:, :, pairs[:, 0]] - hid[:, :, pairs[:, 1]]) ** 2, axis=-1)  # (S, C, pairs)
    return {
        "rnn_pair_distance": dist,
        "rnn_checkpoints": res.steps,
        "pairs": pairs,
        "rnn_perfect": perfect,
        "rnn_loss": np.asarray(res.loss[:, 0]),
        "rnn_final_spread": np.linalg.norm(hid[:, -1].std(axis=1), axis=-1),  # ||std over prefixes|| at the end
    }


def rnn_distances(cfg: MergerConfig, rnn: dict) -> dict:
    """Growth of agreeing-pair distances from the end of the loss plateau to the end of training, by prefix length."""
    L = cfg.train_length
    pairs, dist, loss = rnn["pairs"], rnn["rnn_pair_distance"], rnn["rnn_loss"]
    lengths = np.array([len(s) for s in th.prefix_strings(L)])
    mmax = np.maximum(lengths[pairs[:, 0]], lengths[pairs[:, 1]])
    # the theory forbids growth of an agreeing pair's distance (ḣ = −aNy ≤ 0); measure how often it grows
    # between the end of the loss plateau and the end of training
    start = np.array([int(np.argmax(loss[s] < 0.9 * loss[s, 0])) for s in range(cfg.seeds)])
    h_start = dist[np.arange(cfg.seeds), start]  # (S, pairs)
    h_end = dist[:, -1]
    n_groups = np.arange(2, L + 1)  # no two length-1 prefixes agree
    final_by_m = np.array(
        [
            [
                np.median(h_end[s, mmax == m] / np.maximum(h_start[s, mmax == m], 1e-12))
                if np.any(mmax == m)
                else np.nan
                for m in n_groups
            ]
            for s in range(cfg.seeds)
        ]
    )
    return {
        "rnn_grows": h_end > h_start,
        "rnn_short_pair": mmax <= 2,
        "rnn_distance_ratio_by_prefix_length": final_by_m,
        "rnn_continuations_by_prefix_length": np.asarray(th.continuation_count(n_groups, n_groups, L)),
    }


def metrics(cfg: MergerConfig, sim: dict, pred: dict, rnn: dict, dists: dict) -> dict:
    grows, short = dists["rnn_grows"], dists["rnn_short_pair"]
    h_end = rnn["rnn_pair_distance"][:, -1]
    return {
        "n_critical": float(pred["n_critical"]),
        "reduced_max_rel_error": float((np.max(np.abs(sim["sim_h"] - pred["theory_h"]), axis=1) / cfg.h0).max()),
        "rnn_generalises": (rnn["rnn_perfect"] == 1).tolist(),
        "rnn_fraction_agreeing_pairs_growing": float(grows.mean()),
        "rnn_fraction_short_pairs_growing": float(grows[:, short].mean()),
        "rnn_median_distance_ratio_by_prefix_length": np.nanmedian(
            dists["rnn_distance_ratio_by_prefix_length"], axis=0
        ).tolist(),
        "rnn_continuations_by_prefix_length": dists["rnn_continuations_by_prefix_length"].tolist(),
        "rnn_fraction_pairs_merged_end": float(np.mean(h_end < (0.1 * rnn["rnn_final_spread"])[:, None] ** 2)),
        "gap": "the attractive-only pairwise theory forbids growth of agreeing-pair distances; the measured "
        "fraction that grows is reported above",
    }


@register(
    "parity_merger",
    "representational merger: the reduced dynamics simulated by gradient descent vs its "
    "closed form and the merger condition N >= N_c; measured distances of agreeing prefixes in trained RNNs "
    "vs the theory's trajectories",
    MergerConfig,
    figures=figures.merger,
)
def run_merger(cfg: MergerConfig, seed: int, ctx: RunContext) -> Result:
    sim = simulate_reduced(cfg, ctx)
    pred = predict_reduced(cfg, sim)
    checks = reduced_checks(cfg, sim, pred)
    rnn = simulate_rnn(cfg, seed, ctx)
    dists = rnn_distances(cfg, rnn)
    arrays = {
        "times": sim["times"],
        "counts": sim["counts"],
        "sim_h": sim["sim_h"],
        "theory_h": pred["theory_h"],
        "sim_y": sim["sim_y"],
        "theory_y": pred["theory_y"],
        **{k: rnn[k] for k in ("rnn_pair_distance", "rnn_checkpoints", "pairs", "rnn_perfect")},
        **{k: pred[k] for k in ("n_critical", "curve_N", "curve_final_h")},
        **{k: dists[k] for k in ("rnn_distance_ratio_by_prefix_length", "rnn_continuations_by_prefix_length")},
    }
    return Result(checks, arrays, metrics=metrics(cfg, sim, pred, rnn, dists))
