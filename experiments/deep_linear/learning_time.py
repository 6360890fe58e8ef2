"""``deep_linear_learning_time``: three learning-time laws, each a simulate stage and a checks stage.

(a) the 1/s law with its log factor at depth 2 (docs/families/deep_linear.md P3); (b) the finite depth delay at
the best stable learning rate (P10); (c) random orthogonal vs scaled-Gaussian initialisation with depth (P11).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.analysis import first_crossing, first_true
from experiments.contract import Check, Result, RunContext, register
from experiments.deep_linear import figures
from experiments.deep_linear.settings import LearningTimeConfig
from theory import deep_linear as th
from toymodels import deep_linear as dl

__all__ = ["run_learning_time"]

P10_COLUMNS = (
    "depth",
    "steps_sim",
    "steps_recursion",
    "best_c",
    "lr",
    "steps_flow",
    "steps_eq17",
    "max_abs_diff_all_c",
)


# ---- (a) 1/s law with its log factor: depth 2, decoupled, u0 = 1e-6 (P3)
def simulate_half_times(cfg: LearningTimeConfig, k_task, k_init, ctx: RunContext) -> dict:
    s = np.asarray(cfg.singular_values, float)
    task = dl.synthetic_task(k_task, s, len(s), len(s))
    s = np.asarray(task.singular_values)
    u0, lr = cfg.initial_strength, cfg.lr
    t_half = np.asarray(th.learning_time(s, u0, depth=2))
    n_steps = int(np.ceil(1.2 * t_half.max() / lr))
    params = dl.init_params(k_init, (len(s), len(s), len(s)), "decoupled", task=task, initial_strength=u0)
    ctx.log(f"  1/s law: {n_steps} GD steps")
    traj = dl.train(params, task, lr, steps=n_steps, progress=ctx.progress)
    u = np.asarray(traj.records["modes"]).T  # (r, T)
    grid = np.geomspace(s.min() * 0.8, s.max() * 1.25, 200)
    return {
        "p3_s": s,
        "p3_n_half_sim": first_true(u >= (s / 2)[:, None], axis=-1),  # first step with u >= s/2 (integer)
        # Interpolated crossing (the discrete path is a sample of the modified flow, inflecting at s/2, so linear
        # interpolation adds no first-order error). Neglected: second-order lag, relative O(ηs) of the lag itself.
        "p3_n_half_interpolated": first_crossing(np.asarray(traj.steps, float), u, s / 2),
        "p3_n_half_flow": t_half / lr,
        "p3_n_half_recursion": np.asarray(th.discrete_learning_steps(s, u0, lr, depth=2, fraction=0.5)),
        "p3_grid_s": grid,
        "p3_grid_t_half": np.asarray(th.learning_time(grid, u0, depth=2)),
    }


def half_time_checks(cfg: LearningTimeConfig, a: dict) -> list[Check]:
    s, u0, lr = a["p3_s"], cfg.initial_strength, cfg.lr
    n_sim, n_flow = a["p3_n_half_sim"], a["p3_n_half_flow"]
    # First-order lag of GD behind the flow (theory.discretisation_error's derivation): Δt = (η/2) ln(f/f0),
    # f = u^(1/2)(s − u), i.e. ½ ln(f_half/f0) steps; the first crossing is an integer, hence +1 step.
    a_half, a0 = np.sqrt(s / 2), np.sqrt(u0)
    lag_steps = 0.5 * np.log(a_half * (s - s / 2) / (a0 * (s - u0)))
    formula = Check.at_most(
        "half_time_vs_formula",
        float(np.max(np.abs(a["p3_n_half_interpolated"] - (n_flow + lag_steps)))),
        float(np.max(lag_steps * lr * s)),
        "max_α |n_half,sim − (t_half(s_α)/η + lag_α)| in steps (crossing interpolated between steps), t_half = "
        "ln((s−u0)/u0)/(2s) (eq. 11), lag_α = ½ ln(f(a_half)/f(a0)) the first-order discretisation lag (≈ λs/2 "
        "relative, docs/families/deep_linear.md §7); tolerance max_α lag_α·ηs_α, the size of the neglected "
        "second-order lag",
    )
    recursion = Check.at_most(
        "half_time_exact_recursion",
        float(np.max(np.abs(n_sim - a["p3_n_half_recursion"]))),
        0.0,
        "max_α |n_half,sim − n_half,recursion| in steps: full network vs the exact discrete mode recursion",
    )
    ts = n_sim * lr * s
    spread = float(ts.max() / ts.min())
    spread_theory = float((n_flow * s).max() / (n_flow * s).min())
    # The simulated t_half·s differs from the flow's by the relative lag ≈ ηs/2 (largest for s_max) plus ±1 step of
    # integer crossing, so the spread ratio can move by at most η(s_max − s_min)/2 + 1/min(n_half).
    spread_check = Check.at_most(
        "t_half_times_s_spread",
        abs(spread / spread_theory - 1.0),
        lr * (s.max() - s.min()) / 2 + 1.0 / float(n_sim.min()),
        "|spread_sim / spread_theory − 1|, spread = max/min over s of t_half·s (theory ln((s−u0)/u0)/2 = "
        f"{spread_theory:.4f}: t_half·s is NOT constant, 7467…6215 steps·λ for s = 3…0.25 at λ = 1e-3); tolerance "
        "η(s_max − s_min)/2 + 1/min n_half from the discretisation lag and integer crossings",
    )
    return [formula, recursion, spread_check]


# ---- (b) finite depth delay at the best stable learning rate (P10)
def simulate_delay_depth(cfg: LearningTimeConfig, depth: int, k_init, ctx: RunContext) -> tuple:
    """One row of P10_COLUMNS: steps to all u_α ≥ 0.99 s_α at the best of the rates c / (D s_max^(2−2/D))."""
    sd = np.linspace(0.5, 1.5, cfg.delay_modes)[::-1]
    task_d = dl.make_task(np.diag(sd))
    cs = np.asarray(cfg.delay_c, float)
    lrs = cs / (depth * sd.max() ** (2.0 - 2.0 / depth))
    p0 = dl.init_params(
        k_init, (cfg.delay_modes,) * (depth + 1), "decoupled", task=task_d, initial_strength=cfg.delay_u0
    )
    batch = jax.tree.map(lambda w: jnp.broadcast_to(w, (len(cs),) + w.shape), p0)
    ctx.log(f"  finite depth delay: depth {depth}, {len(cs)} rates × {cfg.max_steps} steps")
    tr = dl.train(batch, task_d, lrs, steps=cfg.max_steps, progress=ctx.progress)
    ok = np.all(np.asarray(tr.records["modes"]) >= 0.99 * sd, axis=-1)  # (C, T+1)
    steps_sim = first_true(ok, axis=-1, missing=np.inf)
    rec = np.asarray(th.discrete_mode_trajectory(cfg.max_steps, sd[None, :], cfg.delay_u0, lrs[:, None], depth=depth))
    steps_rec = first_true(np.all(rec >= 0.99 * sd, axis=-1).T, axis=-1, missing=np.inf)  # rec: (T+1, C, r)
    best = int(np.argmin(steps_sim))
    t_flow = float(th.learning_time(sd.min(), cfg.delay_u0, depth=depth, fraction=0.99))
    t_inf = float(th.learning_time_infinite_depth(sd.min(), cfg.delay_u0, depth=depth, fraction=0.99))
    with np.errstate(invalid="ignore"):  # inf − inf where neither converged: those agree
        diff = np.where(steps_sim == steps_rec, 0.0, np.abs(steps_sim - steps_rec))
    b = best
    return (depth, steps_sim[b], steps_rec[b], cs[b], lrs[b], t_flow / lrs[b], t_inf / lrs[b], np.max(diff))


def delay_checks(cfg: LearningTimeConfig, rows: np.ndarray) -> list[Check]:
    s_min = 0.5  # the smallest of the delay_modes singular values, evenly spaced in [0.5, 1.5]
    checks = [
        Check.at_most(
            "delay_exact_recursion",
            float(np.nanmax(rows[:, 7])),
            1.0,
            "max over depths and rates of |steps_sim − steps_recursion| (criterion all u_α ≥ 0.99 s_α): full network "
            "vs exact per-mode recursion; tolerance 1 step for rounding at the threshold",
        )
    ]
    # flow prediction of the slowest mode: first-order lag ½ ln(f_f/f_0) ≤ 1 step here, +1 for the integer crossing
    d = rows[:, 0]
    a_f, a_0 = (0.99 * s_min) ** (1 / d), cfg.delay_u0 ** (1 / d)
    lag = 0.5 * np.abs(np.log(a_f ** (d - 1) * 0.01 * s_min / (a_0 ** (d - 1) * (s_min - cfg.delay_u0))))
    checks.append(
        Check.at_most(
            "delay_vs_flow_theory",
            float(np.max(np.abs(rows[:, 1] - rows[:, 5]) - lag)),
            2.0,
            "max over depths of |steps_sim − t_flow(D)/η| − lag_D at the best rate, t_flow from learning_time (₂F₁ "
            "closed form) for the slowest mode; lag_D = ½|ln(f_final/f_0)| is the first-order discretisation lag; "
            "tolerance 2 steps (integer crossing + criterion over all modes)",
        )
    )
    checks.append(
        Check.at_most(
            "delay_below_infinite_depth_limit",
            float(np.max(rows[:, 1] / rows[:, 6])),
            1.0,
            "max over depths of steps_sim / steps_eq17: with η ∝ 1/(D s_max^(2−2/D)) learning time stays below the "
            "depth-independent eq. 17 asymptote (finite depth delay)",
        )
    )
    if rows[-1, 0] >= 50 and len(rows) >= 2:
        checks.append(
            Check.at_most(
                "delay_saturates",
                float(rows[-1, 1] / rows[-2, 1]),
                1.2,
                f"steps(D={rows[-1, 0]:.0f}) / steps(D={rows[-2, 0]:.0f}) at the best rate "
                "(docs/families/deep_linear.md P10: < 1.2)",
            )
        )
    return checks


# ---- (c) orthogonal vs scaled Gaussian initialisation (P11)
SCHEMES = ("orthogonal", "scaled_gaussian")


def initial_spectra(cfg: LearningTimeConfig, widths: tuple, key) -> dict:
    """Singular values of W_tot(0) over many cheap draws per scheme (initialisation only, no training)."""
    many = jax.random.split(jax.random.fold_in(key, 7), cfg.spectrum_samples)
    out = {}
    for scheme in SCHEMES:
        w_tot = jax.vmap(lambda k, sc=scheme: dl.end_to_end(dl.init_params(k, widths, sc)))(many)
        out[scheme] = np.linalg.svd(np.asarray(w_tot), compute_uv=False)
    return out


def simulate_initialisation(cfg: LearningTimeConfig, depth: int, task, k_p11, ctx: RunContext) -> tuple:
    """(spectra of W_tot(0), (depth, steps orthogonal, steps scaled Gaussian)) at the best rate, median over seeds.

    Rectangular task (N3 < N1, like the paper's 784 → 10): on a square task a balanced init such as random
    orthogonal keeps sign det(W_tot) fixed, so seeds with the wrong sign stall near a singular map.
    """
    widths = (cfg.init_width,) * depth + (cfg.init_out,)
    keys = jax.random.split(jax.random.fold_in(k_p11, depth), cfg.init_seeds)
    spectra = initial_spectra(cfg, widths, keys[0])
    # every (scheme, seed, rate) triple of this depth in one vmapped run
    n_c = len(cfg.init_c)
    p0 = [jax.vmap(lambda k, sc=sc: dl.init_params(k, widths, sc))(keys) for sc in SCHEMES]
    pb = jax.tree.map(lambda *xs: jnp.repeat(jnp.concatenate(xs), n_c, axis=0), *p0)
    lrs = np.tile(np.asarray(cfg.init_c) / depth, len(SCHEMES) * cfg.init_seeds)
    ctx.log(f"  initialisation: depth {depth}, {len(lrs)} runs (2 schemes × seeds × rates) × {cfg.max_steps} steps")
    tr = dl.train(pb, task, lrs, steps=cfg.max_steps, progress=ctx.progress)
    loss = np.asarray(tr.loss)
    conv = np.nan_to_num(loss, nan=np.inf) < 1e-3 * loss[:, :1]
    st = first_true(conv, axis=-1, missing=np.inf).reshape(len(SCHEMES), cfg.init_seeds, n_c)
    best = np.median(np.min(st, axis=2), axis=1)  # best rate per seed, median over seeds
    return spectra, (depth, best[0], best[1])


def initialisation_checks(cfg: LearningTimeConfig, rows: np.ndarray, isometry_err: list, gauss_sq: list) -> list:
    isometry = Check.at_most(
        "orthogonal_isometry",
        float(np.max(isometry_err)),
        1e-12,
        "max |σ_i(W_tot(0)) − 1| for random orthogonal init: products of orthogonal matrices are exactly "
        "isometric (dynamical isometry); tolerance float64 rounding",
    )
    # E[σ²] of a product of scaled Gaussians is exactly 1 at any depth; tolerance 4 standard errors of the mean
    per_seed = [sq.mean(axis=-1) for sq in gauss_sq]
    means = np.asarray([p.mean() for p in per_seed])
    ses = np.asarray([p.std(ddof=1) / np.sqrt(len(p)) for p in per_seed])
    mean_sq = Check.at_most(
        "gaussian_product_mean_sq_singular_value",
        float(np.max(np.abs(means - 1.0) / np.maximum(ses, 1e-12))),
        4.0,
        "max over depths of |mean σ²(W_tot(0)) − 1| in standard errors: scaled Gaussian layers preserve the norm "
        "only on average, E[σ²] = 1 at every depth (docs/families/deep_linear.md §4, P12); tolerance 4 standard "
        "errors over spectrum_samples draws",
    )
    # E[mean σ⁴] is exact at finite width (theory.gaussian_product_moments, Wick's theorem): D + 1 + O(D²/n) for
    # square layers, the Fuss–Catalan heavy tail that an orthogonal product (σ⁴ = 1) or a norm-only argument misses
    # Beyond D ≈ n/4 the finite-width moments grow exponentially (exact 290 at D = 64, n = 32, against D + 1 = 65) and
    # the sample mean of σ⁴ over a few hundred draws is ruled by rare large draws (z from −6.6 to +0.4 over three
    # key sets at D = 64): its standard error is no tolerance there, so those depths are left out.
    widths_of = lambda d: (cfg.init_width,) * d + (cfg.init_out,)
    tested = [i for i, d in enumerate(rows[:, 0]) if d <= cfg.init_width / 4]
    exact4 = np.asarray([th.gaussian_product_moments(widths_of(int(rows[i, 0])))[1] for i in tested])
    per4 = [(gauss_sq[i] ** 2).mean(axis=-1) for i in tested]
    m4 = np.asarray([p.mean() for p in per4])
    se4 = np.asarray([p.std(ddof=1) / np.sqrt(len(p)) for p in per4])
    fourth = Check.at_most(
        "gaussian_product_fourth_moment",
        float(np.max(np.abs(m4 - exact4) / np.maximum(se4, 1e-12))),
        4.0,
        "max over depths D ≤ width/4 of |mean σ⁴(W_tot(0)) − E[mean σ⁴]| in standard errors, E exact at this width by "
        f"Wick's theorem (theory.gaussian_product_moments: {', '.join(f'{x:.3g}' for x in exact4)} at depths "
        f"{', '.join(f'{rows[i, 0]:.0f}' for i in tested)}; ≈ D + 1, growing with depth, while orthogonal products "
        "give 1: Fig. 6B's heavy tail, P12); tolerance 4 standard errors over spectrum_samples draws. Deeper products "
        "are too heavy-tailed for a standard error (left out)",
    )
    deepest = rows[np.argmax(rows[:, 0])]
    slower = Check.at_least(
        "gaussian_slower_than_orthogonal",
        float(deepest[2] / deepest[1]),
        5.0,
        f"steps(scaled Gaussian) / steps(orthogonal) at the deepest depth D={deepest[0]:.0f}, best rate each "
        "(docs/families/deep_linear.md P11: ≥ 5×; products of Gaussian layers have most singular values near 0, "
        "orthogonal ones none)",
    )
    converges = Check.at_most(
        "orthogonal_converges",
        float(np.max(rows[:, 1])),
        float(cfg.max_steps),
        "max over depths of steps to loss < 1e-3 L0 from random orthogonal init (converges at every depth)",
    )
    return [isometry, mean_sq, fourth, slower, converges]


@register(
    "deep_linear_learning_time",
    "half-learning time vs s (1/s law with its log factor), finite depth delay "
    "at the best stable rate, and orthogonal vs scaled-Gaussian initialisation",
    LearningTimeConfig,
    figures=figures.learning_time,
)
def run_learning_time(cfg: LearningTimeConfig, seed: int, ctx: RunContext) -> Result:
    k_task, k_init, k_p11 = jax.random.split(jax.random.PRNGKey(seed), 3)
    arrays = simulate_half_times(cfg, k_task, k_init, ctx)
    checks = half_time_checks(cfg, arrays)
    ts = arrays["p3_n_half_sim"] * cfg.lr * arrays["p3_s"]
    metrics = {"t_half_times_s": dict(zip([f"{x:g}" for x in arrays["p3_s"]], ts.tolist(), strict=True))}

    rows = np.asarray([simulate_delay_depth(cfg, d, k_init, ctx) for d in cfg.delay_depths], float)
    checks += delay_checks(cfg, rows)

    task11 = dl.synthetic_task(k_p11, np.linspace(1.5, 0.5, cfg.init_out), cfg.init_width, cfg.init_out)
    results = [simulate_initialisation(cfg, d, task11, k_p11, ctx) for d in cfg.init_depths]
    rows11 = np.asarray([row for _, row in results], float)
    isometry_err = [float(np.max(np.abs(sp["orthogonal"] - 1.0))) for sp, _ in results]
    checks += initialisation_checks(cfg, rows11, isometry_err, [sp["scaled_gaussian"] ** 2 for sp, _ in results])

    arrays.update({"p10_rows": rows, "p10_columns": np.array(P10_COLUMNS), "p11_rows": rows11})
    arrays["p11_columns"] = np.array(["depth", "steps_orthogonal", "steps_scaled_gaussian"])
    metrics.update({"p10": rows.tolist(), "p11": rows11.tolist()})
    return Result(checks, arrays, metrics=metrics)
