"""``parity_merger_theory``: the paper's reduced interaction models against high-accuracy integration of the
free-parameter models they reduce, and against their closed forms (van Rossem & Saxe 2025, §3, §5, App. B).

* Eq. 20 (three scalars) against gradient flow on Eq. 14 with P = 1 (the Ansatz of Eq. 17 is then exact), SciPy's
  DOP853 at rtol 1e-11, for an agreeing and a disagreeing pair; Eq. 22 (invariant) and Eq. 35 (closed form).
* Eq. 5 (final distance) and Eq. 7 (merger condition) against the flow run to convergence, over a sweep of N.
* Eq. 32: the growth rate away from zero distance of a disagreeing pair started on the unstable direction.
* Eq. 42 (nine scalars) against gradient flow on Eq. 37, and Fig. 10 left: with 1/τ_h ∝ length (Eq. 51) an agreeing
  pair first moves apart and then merges, a disagreeing pair only moves apart; with equal rates the agreeing pair
  only approaches (Eqs. 48–49). Random starts as in the authors' ``theory_n_states`` give the fraction that first
  moves apart for pairs of lengths (1, 10), (3, 4), (5, 5).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

from experiments.contract import Check, Result, RunContext, register
from experiments.streaming_parity import figures
from experiments.streaming_parity.settings import MergerTheoryConfig
from theory import streaming_parity as th

__all__ = ["run_merger_theory"]

#: DOP853 tolerances of the reference flows; its global error over these horizons is ≲ 1e-9 relative
RTOL, ATOL = 1e-11, 1e-14
#: rates 1/τ_h1, 1/τ_h2, 1/τ_y of the midpoint pairs (arbitrary O(1) values, unequal on purpose)
MID_RATES = (1 / 0.7, 1 / 1.3, 1 / 0.9)
#: the authors' Fig. 10 initial scale (std of the initial hidden states, order 0.05 at gain 0.1)
INIT_SCALE = 0.05


def _flow(grad, z0, rates, T, ts):
    """Gradient flow dz/dt = −rates ⊙ ∇L(z) by DOP853; returns z at ``ts``."""

    def f(_, z):
        return -rates * np.asarray(grad(z))

    sol = solve_ivp(f, (0.0, T), z0, method="DOP853", rtol=RTOL, atol=ATOL, dense_output=True)
    return np.stack([sol.sol(t) for t in ts])


def _rk4_error(rhs, y0, T, n, n_out):
    """RK4 solution with n steps and its step-doubling error estimate |y_n − y_2n|·16/15 (both at n_out points)."""
    _, a = th.rk4(rhs, y0, T, n, n_out)
    _, b = th.rk4(rhs, y0, T, 2 * n, n_out)
    return np.asarray(b), np.abs(np.asarray(a) - np.asarray(b)) * 16 / 15


# ---- the midpoint model -------------------------------------------------------------------------------------------
def _midpoint_pair(cfg: MergerTheoryConfig, agree: bool, rng):
    """A pair as free parameters (h1, h2 scalars, ȳ (N, K), D (N, K, 1)) and its targets; the disagreeing one starts
    moving apart (⟨w⟩ < 0) so that dh never passes through 0, where the ‖dh‖² system is singular."""
    N, K = cfg.continuations, cfg.outputs
    y1 = rng.normal(size=(N, K))
    y2 = y1.copy() if agree else rng.normal(size=(N, K))
    h1, h2 = np.array([0.3]), np.array([-0.5])
    D = 0.5 * rng.normal(size=(N, K, 1))
    if not agree:
        D = (0.1 * (y2 - y1) / (h2 - h1))[..., None] + 0.02 * D
    return (h1, h2, rng.normal(size=(N, K)), D), (y1, y2)


def _midpoint_scalars(z, shapes, gap_vec):
    sizes = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
    h1, h2, _, D = (p.reshape(s) for p, s in zip(np.split(z, sizes), shapes, strict=True))
    dh = h2 - h1
    dy = D[..., 0] * dh
    dy2 = np.sum(dy**2, -1)
    return np.array([dh @ dh, dy2.mean(), (dy2 - np.sum(dy * gap_vec, -1)).mean()])


def midpoint(cfg: MergerTheoryConfig, ctx: RunContext) -> dict:
    """Eq. 20 by RK4 vs the flow on Eq. 14, both pair types; then their final distances (Eq. 5)."""
    rng = np.random.default_rng(0)
    r1, r2, ry = MID_RATES
    tau_h, tau_y = 1 / (r1 + r2), 1 / ry
    ts = np.linspace(0, cfg.t_max, 61)
    out = {"times": ts}
    for name, agree in (("agree", True), ("disagree", False)):
        params, (y1, y2) = _midpoint_pair(cfg, agree, rng)
        shapes = [p.shape for p in params]
        sizes = np.cumsum([int(np.prod(s)) for s in shapes])[:-1]
        grad_fn = jax.jit(jax.grad(th.midpoint_loss, argnums=(0, 1, 2, 3)))
        grad = lambda z, sizes=sizes, shapes=shapes, y1=y1, y2=y2, g=grad_fn: np.concatenate(  # noqa: E731
            [np.ravel(x) for x in g(*(p.reshape(s) for p, s in zip(np.split(z, sizes), shapes, strict=True)), y1, y2)]
        )
        rates = np.concatenate([np.full(int(np.prod(s)), r) for s, r in zip(shapes, (r1, r2, ry, ry), strict=True)])
        z0 = np.concatenate([np.ravel(p) for p in params])
        flow = np.stack([_midpoint_scalars(z, shapes, y2 - y1) for z in _flow(grad, z0, rates, cfg.t_max, ts)])
        gap = float(np.mean(np.sum((y2 - y1) ** 2, -1)))
        kw = dict(tau_h=tau_h, tau_y=tau_y, n=cfg.continuations, target_gap=gap)
        rhs = lambda s, kw=kw: jnp.stack(th.midpoint_rhs(*s, **kw))  # noqa: E731
        traj, err = _rk4_error(rhs, jnp.asarray(flow[0]), cfg.t_max, cfg.rk4_steps, 60)
        ah = th.a_high(flow[0, 0], flow[0, 1], tau_h=tau_h, tau_y=tau_y, n=cfg.continuations)
        al = th.a_low(tau_h=tau_h, tau_y=tau_y, n=cfg.continuations, target_gap=gap)
        out[f"{name}_flow"], out[f"{name}_ode"], out[f"{name}_rk4_err"] = flow, traj, err
        out[f"{name}_final_theory"] = float(th.final_distance(ah, al))
        out[f"{name}_a_high"], out[f"{name}_a_low"] = float(ah), float(al)
        if agree:
            out["agree_closed_form"] = np.asarray(
                th.agreeing_trajectory(ts, flow[0, 0], ah, tau_y=tau_y, n=cfg.continuations)
            )
            out["agree_invariant"] = np.asarray(
                th.dy2_from_dh2(flow[:, 0], flow[0, 0], flow[0, 1], tau_h=tau_h, tau_y=tau_y, n=cfg.continuations)
            )
    ctx.log(f"  midpoint model: A_high = {out['agree_a_high']:.3g} (agreeing), A_low = {out['disagree_a_low']:.3g}")
    return out


def merger_sweep(cfg: MergerTheoryConfig) -> dict:
    """Eq. 20 (agreeing, reduced exactly to Eq. 34) from one start with N continuations, run until converged: merged
    iff N > N_c (Eq. 6–7); the final distance against max(0, A_high) (Eq. 5)."""
    dh2, dy2, tau_h, tau_y = 1.0, 0.045, 1.0, 1.0  # N_c = 22.2: no N of the sweep sits on the boundary
    ns = np.asarray(cfg.n_sweep, float)
    n_c = float(th.critical_count(dh2, dy2, tau_h=tau_h, tau_y=tau_y))
    finals = []
    for n in ns:
        ah = float(th.a_high(dh2, dy2, tau_h=tau_h, tau_y=tau_y, n=n))
        rate = abs(ah) / (2 * n * tau_y)  # Eq. 34's linear rate at the end point (|A_high| ≥ 0.01 on this sweep)
        T = 40.0 / rate  # e^{-40}: converged to double precision

        def f(_, s, n=n):
            return np.array(th.midpoint_rhs(s[0], s[1], s[1], tau_h=tau_h, tau_y=tau_y, n=n)[:2])

        sol = solve_ivp(f, (0, T), [dh2, dy2], method="DOP853", rtol=RTOL, atol=1e-300)
        finals.append(sol.y[0, -1])
    theory = np.maximum(0.0, np.asarray(th.a_high(dh2, dy2, tau_h=tau_h, tau_y=tau_y, n=ns)))
    return {"sweep_n": ns, "sweep_final": np.asarray(finals), "sweep_theory": theory, "n_critical": n_c}


def saddle(cfg: MergerTheoryConfig) -> dict:
    """A disagreeing pair started at tiny distance on the unstable direction of Eq. 23 (⟨w⟩ = c‖dh‖², c = −2τ_hλ₊):
    its measured growth rate against λ₊ (Eq. 32, corrected: :func:`theory.streaming_parity.saddle_eigenvalues`)."""
    tau_h, tau_y, n, gap = 1.0, 1.0, float(cfg.continuations), 0.3
    dh2_0, dy2_0 = 0.5, 0.2  # a reference start fixing A_high through the invariant (Eq. 22)
    ah = float(th.a_high(dh2_0, dy2_0, tau_h=tau_h, tau_y=tau_y, n=n))
    al = float(th.a_low(tau_h=tau_h, tau_y=tau_y, n=n, target_gap=gap))
    lam = float(th.saddle_eigenvalues(ah, al, tau_y=tau_y, n=n)[0])
    h = 1e-9
    dy2 = float(th.dy2_from_dh2(h, dh2_0, dy2_0, tau_h=tau_h, tau_y=tau_y, n=n))
    s0 = [h, dy2, -2.0 * tau_h * lam * h]
    t_end = 2.0 / lam  # growth by e² ≈ 7: still in the linear regime (h ≲ 1e-8)

    def f(_, s):
        return np.array(th.midpoint_rhs(*s, tau_h=tau_h, tau_y=tau_y, n=n, target_gap=gap))

    sol = solve_ivp(f, (0, t_end), s0, method="DOP853", rtol=RTOL, atol=1e-300)
    measured = float(np.log(sol.y[0, -1] / h) / t_end)
    printed = (ah + np.sqrt(ah**2 + 4 * al**2)) / (2 * n * tau_y)
    return {
        "saddle_lambda": lam,
        "saddle_measured": measured,
        "saddle_eq32_printed": printed,
        "saddle_a_high": ah,
        "saddle_a_low": al,
    }


# ---- the fixed expansion point model ------------------------------------------------------------------------------
def _fixed_rates(cfg, lengths):
    return dict(eta_h1=cfg.lr * lengths[0], eta_h2=cfg.lr * lengths[1], eta_y=cfg.lr, eta_b=0.25 * cfg.lr)


def fixed_point(cfg: MergerTheoryConfig, ctx: RunContext) -> dict:
    """Eq. 42 by RK4 vs the flow on Eq. 37 (vectors b_i, d_i = D_i v) for an agreeing and a disagreeing pair with the
    Fig. 10 rates; then random starts (the authors' theory_n_states initial conditions)."""
    rng = np.random.default_rng(1)
    N, K = cfg.continuations, cfg.outputs
    rates = _fixed_rates(cfg, cfg.lengths)
    ts = np.linspace(0, cfg.fixed_t_max, 101)
    out = {"fixed_times": ts}
    grad_fn = jax.jit(jax.grad(th.fixed_point_vector_loss, argnums=(0, 1, 2, 3)))
    split = lambda z: (z[0], z[1], z[2 : 2 + N * K].reshape(N, K), z[2 + N * K :].reshape(N, K))  # noqa: E731
    for name, agree in (("agree", True), ("disagree", False)):
        y1 = rng.normal(size=(N, K))
        y2 = y1.copy() if agree else rng.normal(size=(N, K))
        z0 = np.concatenate([[INIT_SCALE, -INIT_SCALE / 2], INIT_SCALE * rng.normal(size=2 * N * K)])
        grad = lambda z, y1=y1, y2=y2: np.concatenate([np.ravel(x) for x in grad_fn(*split(z), y1, y2)])  # noqa: E731
        r = np.concatenate(
            [[rates["eta_h1"], rates["eta_h2"]], np.full(N * K, rates["eta_b"]), np.full(N * K, rates["eta_y"])]
        )
        flow = np.stack(
            [np.asarray(th.fixed_point_state(*split(z), y1, y2)[0]) for z in _flow(grad, z0, r, cfg.fixed_t_max, ts)]
        )
        zs, (y11, y12, y22) = th.fixed_point_state(*split(z0), y1, y2)
        rhs = lambda z, y=(y11, y12, y22): th.fixed_point_rhs(z, n=N, y11=y[0], y12=y[1], y22=y[2], **rates)  # noqa: E731
        traj, err = _rk4_error(rhs, zs, cfg.fixed_t_max, cfg.fixed_steps, 100)
        out[f"fixed_{name}_flow"], out[f"fixed_{name}_ode"], out[f"fixed_{name}_rk4_err"] = flow, traj, err
    out.update(random_starts(cfg))
    ctx.log(f"  fixed-expansion model: {cfg.random_starts} random starts per pair type")
    return out


#: pair types of the random-start table: (length 1, length 2, agree)
PAIR_TYPES = ((1, 10, True), (3, 4, True), (5, 5, True), (1, 10, False))


def random_starts(cfg: MergerTheoryConfig) -> dict:
    """The authors' ``theory_n_states`` initial conditions (h_α ~ N(0, s), ⟨‖Dv‖²⟩, ⟨‖b‖²⟩ ~ N(0, s)², cross terms 0,
    N = 1, scalar targets 1 or 0): the fraction of starts whose distance first grows, and that end merged."""
    key = jax.random.key(2)
    fractions, merged = [], []
    for k, (l1, l2, agree) in enumerate(PAIR_TYPES):
        z0 = th.fixed_point_random_starts(jax.random.fold_in(key, k), cfg.random_starts, INIT_SCALE)
        y2 = 1.0 if agree else 0.0
        rates = _fixed_rates(cfg, (l1, l2))
        rhs = lambda z, rates=rates, y2=y2: th.fixed_point_rhs(z, n=1, y11=1.0, y12=y2, y22=y2**2, **rates)  # noqa: E731
        _, traj = th.rk4(rhs, z0, cfg.fixed_t_max, cfg.fixed_steps, 200)
        dist = np.asarray((traj[..., 1] - traj[..., 0]) ** 2)  # (T, n)
        fractions.append(float(np.mean(dist.max(axis=0) > dist[0] * (1 + 1e-9))))
        merged.append(float(np.mean(dist[-1] < 1e-3 * dist[0])))
    return {"random_first_grow": np.asarray(fractions), "random_merged": np.asarray(merged)}


def checks(cfg: MergerTheoryConfig, mid: dict, sweep: dict, sad: dict, fix: dict) -> list[Check]:
    out = []
    for name in ("agree", "disagree"):
        flow, ode, err = mid[f"{name}_flow"], mid[f"{name}_ode"], mid[f"{name}_rk4_err"]
        scale = np.abs(flow).max(axis=0)
        out.append(
            Check.at_most(
                f"midpoint_{name}_vs_flow",
                float(np.max(np.abs(ode - flow) / scale)),
                float(10 * (np.max(err / scale) + 1e-9)),
                f"{name}ing pair: max over t of |Eq. 20 (RK4) − gradient flow on Eq. 14 (DOP853, rtol 1e-11)| per "
                "variable, relative to its largest value; tolerance 10 × (the RK4 step-doubling error + 1e-9, the "
                "reference flow's error)",
            )
        )
    flow = mid["agree_flow"]
    out.append(
        Check.at_most(
            "eq35_closed_form_vs_flow",
            float(np.max(np.abs(mid["agree_closed_form"] - flow[:, 0]) / flow[0, 0])),
            1e-8,
            "agreeing pair: max |Eq. 35 − flow| / ‖dh(0)‖² (the flow's error ≲ 1e-9 relative; margin 10)",
        )
    )
    out.append(
        Check.at_most(
            "eq22_invariant_vs_flow",
            float(np.max(np.abs(mid["agree_invariant"] - flow[:, 1]) / flow[0, 1])),
            1e-8,
            "agreeing pair: max |Eq. 22 (⟨‖dy‖²⟩ from ‖dh‖²) − flow| / ⟨‖dy(0)‖²⟩ (flow error ≲ 1e-9; margin 10)",
        )
    )
    for name in ("agree", "disagree"):
        final, theory = mid[f"{name}_flow"][-1, 0], mid[f"{name}_final_theory"]
        out.append(
            Check.at_most(
                f"eq5_final_distance_{name}",
                float(abs(final - theory) / max(mid[f"{name}_flow"][:, 0].max(), 1e-300)),
                1e-6,
                f"{name}ing pair: |‖dh(t_max)‖² − Eq. 5| / max‖dh‖² (A_high = {mid[f'{name}_a_high']:.3g}, A_low = "
                f"{mid[f'{name}_a_low']:.3g}); t_max is ≥ 30 relaxation times (residual ≲ e^-30 ≈ 1e-13), flow error "
                "≲ 1e-9: tolerance 1e-6",
            )
        )
    merged = sweep["sweep_final"] < 1e-12
    predicted = sweep["sweep_n"] > sweep["n_critical"]
    out.append(
        Check.at_least(
            "eq7_merger_condition_sweep",
            float(np.mean(merged == predicted)),
            1.0,
            f"fraction of N in {sweep['sweep_n'].astype(int).tolist()} where the converged flow merges (‖dh‖² < 1e-12) "
            f"exactly when N > N_c = {sweep['n_critical']:.2f} (Eq. 7; exact)",
        )
    )
    err = np.abs(sweep["sweep_final"] - sweep["sweep_theory"])
    out.append(
        Check.at_most(
            "eq5_final_distance_sweep",
            float(err.max()),
            1e-8,
            "max over N of |converged ‖dh‖² − max(0, A_high)| with ‖dh(0)‖² = 1 (flow error ≲ 1e-9; margin 10)",
        )
    )
    out.append(
        Check.at_most(
            "eq32_unstable_eigenvalue",
            float(abs(sad["saddle_measured"] / sad["saddle_lambda"] - 1)),
            1e-3,
            f"disagreeing pair started at ‖dh‖² = 1e-9 on the unstable direction: |growth rate / λ₊ − 1| with λ₊ = "
            f"{sad['saddle_lambda']:.4g} = (A_high + √(A_high² + 4A_low²))/(4Nτ_y), half of Eq. 32 as printed (its "
            "Jacobian, Eq. 29, has −1/τ_h where Eq. 23 has −1/(2τ_h)); neglected terms O(‖dh‖²/A_high) ≲ 1e-8, "
            "tolerance 1e-3",
        )
    )
    for name in ("agree", "disagree"):
        flow, ode, err = fix[f"fixed_{name}_flow"], fix[f"fixed_{name}_ode"], fix[f"fixed_{name}_rk4_err"]
        scale = np.abs(flow).max(axis=0) + 1e-300
        out.append(
            Check.at_most(
                f"fixed_point_{name}_vs_flow",
                float(np.max(np.abs(ode - flow) / scale)),
                float(10 * (np.max(err / scale) + 1e-9)),
                f"{name}ing pair, rates lr·(1, 10), lr, lr/4: max |Eq. 42 (RK4) − gradient flow on Eq. 37 (DOP853)| "
                "per variable relative to its largest value; tolerance 10 × (RK4 step-doubling error + flow error)",
            )
        )
    d = (fix["fixed_agree_flow"][:, 1] - fix["fixed_agree_flow"][:, 0]) ** 2
    out.append(
        Check.at_least(
            "fig10_agreeing_pair_diverges_first",
            float(d.max() / d[0]),
            2.0,
            "agreeing pair with 1/τ_h ∝ length (1 vs 10): peak / initial squared distance; Fig. 10 (left) shows a "
            "transient divergence (> 2×: well above the 1e-9 integration error, below the observed growth)",
        )
    )
    out.append(
        Check.at_most(
            "fig10_agreeing_pair_then_merges",
            float(d[-1] / d.max()),
            0.5,
            "agreeing pair: final / peak squared distance after 1000 epochs-worth of time (Fig. 10 left: it comes back "
            "together; 0.5 = the distance has at least halved from its peak)",
        )
    )
    frac = fix["random_first_grow"]
    out.append(
        Check.at_most(
            "equal_rates_never_diverge",
            float(frac[2]),
            0.0,
            f"fraction of {cfg.random_starts} random agreeing (5, 5) starts whose distance ever grows: Eqs. 48–49 "
            "give d(h₂ − h₁)/dt = −½(h₂ − h₁)⟨‖Dv‖²⟩/τ_h for equal rates (exact 0)",
        )
    )
    out.append(
        Check.at_least(
            "divergence_grows_with_rate_difference",
            float(min(frac[0] - frac[1], frac[1] - frac[2])),
            float(2.0 / np.sqrt(cfg.random_starts)),
            "fraction first growing: (1, 10) − (3, 4) and (3, 4) − (5, 5), the smaller of the two; App. D.3: larger "
            "rate differences diverge more often. Tolerance 2/√n: twice the largest binomial standard error of a "
            "difference of two fractions",
        )
    )
    dd = (fix["fixed_disagree_flow"][:, 1] - fix["fixed_disagree_flow"][:, 0]) ** 2
    out.append(
        Check.at_least(
            "disagreeing_pair_never_merges",
            float(dd[-1] / dd[0]),
            1.0,
            "disagreeing pair (targets 1 vs 0 on its continuations): final / initial squared distance (Fig. 10: it "
            "only moves apart)",
        )
    )
    return out


@register(
    "parity_merger_theory",
    "the reduced interaction models (Eqs. 20, 42) against gradient flow on the free-parameter models they reduce "
    "(Eqs. 14, 37), and their closed forms: final distance (Eq. 5), merger condition (Eq. 7), saddle (Eq. 32), "
    "transient divergence of agreeing pairs with unequal rates (Fig. 10 left)",
    MergerTheoryConfig,
    figures=figures.merger_theory,
)
def run_merger_theory(cfg: MergerTheoryConfig, seed: int, ctx: RunContext) -> Result:
    mid = midpoint(cfg, ctx)
    sweep = merger_sweep(cfg)
    sad = saddle(cfg)
    fix = fixed_point(cfg, ctx)
    arrays = {**mid, **sweep, **sad, **fix}
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    metrics = {
        "random_start_pairs": [f"{a} vs {b} {'agree' if c else 'disagree'}" for a, b, c in PAIR_TYPES],
        "random_start_first_grow": fix["random_first_grow"].tolist(),
        "random_start_merged": fix["random_merged"].tolist(),
        "n_critical": sweep["n_critical"],
        "saddle_lambda": sad["saddle_lambda"],
        "saddle_measured_rate": sad["saddle_measured"],
        "saddle_eq32_as_printed": sad["saddle_eq32_printed"],
    }
    return Result(checks(cfg, mid, sweep, sad, fix), arrays, metrics=metrics)
