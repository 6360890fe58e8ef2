"""``deep_linear_general_init``: two-layer networks from random λ-balanced (non-decoupled) starts against the exact
matrix Riccati solution :func:`theory.deep_linear.two_layer_solution` (Fukumizu 1998; Braun et al. 2022; Dominé et al.
2025).

Every network is trained by full-batch GD with its weights recorded at every step. Three comparisons: the closed form
against an independent RK4 solve of the flow (a posteriori RK4 error), GD against the closed form (first-order
discretisation error from the variational equation, as ``deep_linear_phase_portrait``), and the change of the
imbalance W2ᵀW2 − W1W1ᵀ, which the flow conserves and GD changes by exactly η²(W1EᵀEW1ᵀ − W2ᵀEEᵀW2) per step.

A second part is silent alignment (Atanasov, Bordelon & Pehlevan 2022; docs/families/deep_linear.md §6.3, P16): a
scalar-output net from one small Gaussian draw at several scales σ, against the plateau linearisation
:func:`theory.deep_linear.plateau_two_layer_trajectory`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.deep_linear import figures
from experiments.deep_linear.settings import GeneralInitConfig
from theory import deep_linear as th
from toymodels import deep_linear as dl

__all__ = ["run_general_init", "rk4_flow"]

STORED_POINTS = 1000


def _flow(params, sigma_yx):
    """Gradient flow of the whitened two-layer loss: (Ẇ1, Ẇ2) = (W2ᵀE, EW1ᵀ), E = Σyx − W2W1."""
    w1, w2 = params
    e = sigma_yx - w2 @ w1
    return (w2.T @ e, e @ w1.T)


@partial(jax.jit, static_argnames=("steps", "with_error"))
def rk4_flow(params, sigma_yx, dt, lr, *, steps: int, with_error: bool = True):
    """RK4 solve (step dt, ``steps`` steps, every step returned) of the flow and, if ``with_error``, of the first-order
    global error δ of GD with step ``lr``: δ̇ = J δ − (lr/2) J f (Euler's local error is −(lr²/2) J f)."""
    f = partial(_flow, sigma_yx=sigma_yx)
    add = lambda x, y, c: jax.tree.map(lambda a, b: a + c * b, x, y)

    def rhs(state):
        z, d = state
        fz, jd = jax.jvp(f, (z,), (d,))
        if not with_error:
            return fz, jax.tree.map(jnp.zeros_like, d)
        _, jf = jax.jvp(f, (z,), (fz,))
        return fz, add(jd, jf, -0.5 * lr)

    def step(state, _):
        k1 = rhs(state)
        k2 = rhs(add(state, k1, dt / 2))
        k3 = rhs(add(state, k2, dt / 2))
        k4 = rhs(add(state, k3, dt))
        inc = jax.tree.map(lambda a, b, c, e: (a + 2 * b + 2 * c + e) / 6, k1, k2, k3, k4)
        new = add(state, inc, dt)
        return new, new

    zero = jax.tree.map(jnp.zeros_like, params)
    _, path = jax.lax.scan(step, (params, zero), None, length=steps)
    return jax.tree.map(lambda x0, xs: jnp.concatenate([x0[None], xs]), (params, zero), path)


def simulate(cfg: GeneralInitConfig, key, ctx: RunContext) -> dict:
    k_task, k_init = jax.random.split(key)
    task = dl.synthetic_task(k_task, np.asarray(cfg.singular_values, float), cfg.n_in, cfg.n_out)
    widths = (cfg.n_in, cfg.hidden, cfg.n_out)
    lams = np.repeat(np.asarray(cfg.balances, float), cfg.seeds)
    keys = jax.random.split(k_init, len(lams))
    nets = [
        dl.init_params(k, widths, "lambda_balanced", scale=cfg.init_scale, balance=lam)
        for k, lam in zip(keys, lams, strict=True)
    ]
    params = tuple(jnp.stack(layer) for layer in zip(*nets, strict=True))
    s_task = np.asarray(task.singular_values)
    t_end = cfg.duration * float(th.learning_time(s_task[cfg.hidden - 1], cfg.init_scale**2, fraction=0.99))
    steps = int(np.ceil(t_end / cfg.lr))
    ctx.log(f"  {len(lams)} networks ({len(cfg.balances)} λ × {cfg.seeds} seeds) × {steps} GD steps (η = {cfg.lr:g})")
    res = dl.train(params, task, cfg.lr, steps=steps, record_weights=True, progress=ctx.progress)
    w1, w2 = (np.asarray(x) for x in res.records["weights"])  # (B, T+1, …)
    t = np.asarray(res.steps) * cfg.lr
    sigma_yx = np.asarray(task.sigma_yx)
    # the maps are compared on every `grid`-th step (≈ STORED_POINTS points, the stored grid too); the imbalance
    # identity is checked at every step
    grid = max(1, steps // STORED_POINTS)
    tg = t[::grid]

    ctx.log("  exact solution (Riccati) and RK4 flow with the first-order error")
    closed = np.stack([np.asarray(th.two_layer_solution(tg, sigma_yx, a, b).network_map) for a, b in nets])
    z, delta = jax.vmap(lambda p: rk4_flow(p, task.sigma_yx, cfg.lr, cfg.lr, steps=steps))(params)
    z2, _ = jax.vmap(lambda p: rk4_flow(p, task.sigma_yx, 2 * cfg.lr, cfg.lr, steps=steps // 2, with_error=False))(
        params
    )
    rk_map = np.asarray(z[1] @ z[0])
    rk_map2 = np.asarray(z2[1] @ z2[0])
    delta_map = np.asarray(delta[1] @ z[0] + z[1] @ delta[0])

    # imbalance: B_n − B_0 against Σ_{j<n} η²(W1EᵀEW1ᵀ − W2ᵀEEᵀW2)_j, all from the recorded weights
    imb = np.swapaxes(w2, -1, -2) @ w2 - w1 @ np.swapaxes(w1, -1, -2)
    e = sigma_yx - w2 @ w1
    et = np.swapaxes(e, -1, -2)
    change = cfg.lr**2 * (w1 @ et @ e @ np.swapaxes(w1, -1, -2) - np.swapaxes(w2, -1, -2) @ e @ et @ w2)
    predicted = np.concatenate([np.zeros_like(change[:, :1]), np.cumsum(change[:, :-1], axis=1)], axis=1)
    scale = np.maximum(np.max(np.sum(w1**2, axis=(-2, -1)), axis=1), np.max(np.sum(w2**2, axis=(-2, -1)), axis=1))
    left, right = np.asarray(task.left[:, : len(s_task)]), np.asarray(task.right[:, : len(s_task)])
    modes = lambda m: np.einsum("ia,...ij,ja->...a", left, m, right)
    # NTK on the whitened inputs e_i: K((e_i, a), (e_j, b)) = δ_ij [W2W2ᵀ]_ab + δ_ab [W1ᵀW1]_ij (§6.2), reported
    v1, v2 = w1[:, ::grid], w2[:, ::grid]
    eye_in, eye_out = np.eye(cfg.n_in), np.eye(cfg.n_out)
    ntk = np.einsum("ij,ntab->ntiajb", eye_in, v2 @ np.swapaxes(v2, -1, -2)) + np.einsum(
        "ntij,ab->ntiajb", np.swapaxes(v1, -1, -2) @ v1, eye_out
    )
    ntk = ntk.reshape(ntk.shape[:2] + (cfg.n_in * cfg.n_out,) * 2)
    return {
        "lams": lams,
        "s": s_task,
        "t": tg,
        "map_gd": (w2 @ w1)[:, ::grid],
        "map_closed": closed,
        "map_rk4": rk_map[:, ::grid],
        "rk4_richardson": np.max(np.linalg.norm(rk_map[:, ::2][:, : rk_map2.shape[1]] - rk_map2, axis=(-2, -1))) / 15,
        "delta_map": delta_map[:, ::grid],
        "imbalance_gap": np.max(np.abs(imb - imb[:, :1] - predicted), axis=(-2, -1)) / scale[:, None],
        "grid": grid,
        "imbalance_drift": np.max(np.abs(imb[:, -1] - imb[:, 0]), axis=(-2, -1)) / scale,
        "modes_gd": modes((w2 @ w1)[:, ::grid]),
        "modes_closed": modes(closed),
        "ntk_change": np.linalg.norm(ntk - ntk[:, :1], axis=(-2, -1)) / np.linalg.norm(ntk[:, -1:], axis=(-2, -1)),
        "truncation_gap": np.linalg.norm(
            (w2 @ w1)[:, -1] - (left[:, : cfg.hidden] * s_task[: cfg.hidden]) @ right[:, : cfg.hidden].T, axis=(-2, -1)
        ),
    }


def _alignment(w1: np.ndarray, b_hat: np.ndarray) -> np.ndarray:
    """cos² between the top eigenvector of W1ᵀW1 (the NTK's input block) and β̂, per time point."""
    _, vecs = np.linalg.eigh(np.einsum("tij,tik->tjk", w1, w1))
    return (vecs[:, :, -1] @ b_hat) ** 2


def simulate_alignment(cfg: GeneralInitConfig, key, ctx: RunContext) -> dict:
    """Scalar-output net N → N → 1 on whitened inputs, target β with ‖β‖ = s, from σ × one Gaussian draw."""
    n, s = cfg.align_width, cfg.align_target
    k_beta, k_init = jax.random.split(key)
    beta = np.array(jax.random.normal(k_beta, (n,)))
    beta *= s / np.linalg.norm(beta)
    b_hat = beta / s
    task = dl.make_task(beta[None, :])
    base = dl.init_params(k_init, (n, n, 1), "gaussian", scale=1.0)
    scales = np.asarray(cfg.align_scales, float)
    params = tuple(jnp.stack([sc * w for sc in scales]) for w in base)
    ctx.log(f"  silent alignment: {len(scales)} scales × {cfg.align_steps} GD steps, width {n}")
    res = dl.train(params, task, cfg.align_lr, steps=cfg.align_steps, record_weights=True, progress=ctx.progress)
    w1, w2 = (np.asarray(x) for x in res.records["weights"])  # (σ, T+1, N, N), (σ, T+1, 1, N)
    loss = np.asarray(res.loss)
    k_final = s * (np.eye(n) + np.outer(b_hat, b_hat))  # balanced end point: |w2|² = s, W1ᵀW1 = s β̂β̂ᵀ
    out = {
        k: []
        for k in (
            "cos2_sim",
            "cos2_plateau",
            "n_align",
            "n_align_plateau",
            "n_half",
            "loss_at_align",
            "kernel_at_align",
            "u_at_align",
        )
    }
    for i, sc in enumerate(scales):
        lw1, _ = th.plateau_two_layer_trajectory(cfg.align_steps, sc * base[0], sc * base[1][0], beta, cfg.align_lr)
        c_sim, c_lin = _alignment(w1[i], b_hat), _alignment(np.asarray(lw1), b_hat)
        na, nl = int(np.argmax(c_sim > 0.99)), int(np.argmax(c_lin > 0.99))
        kern = np.sum(w2[i, na] ** 2) * np.eye(n) + w1[i, na].T @ w1[i, na]
        out["cos2_sim"].append(c_sim)
        out["cos2_plateau"].append(c_lin)
        out["n_align"].append(na)
        out["n_align_plateau"].append(nl)
        out["n_half"].append(int(np.argmax(loss[i] < 0.5 * loss[i, 0])))
        out["loss_at_align"].append(loss[i, na] / loss[i, 0])
        out["kernel_at_align"].append(np.linalg.norm(kern) / np.linalg.norm(k_final))
        out["u_at_align"].append(float(w2[i, na, 0] @ w1[i, na] @ b_hat) / s)
    arrays = {f"align_{k}": np.asarray(v) for k, v in out.items()}
    arrays["align_scales"], arrays["align_loss"] = scales, loss
    return arrays


def alignment_checks(cfg: GeneralInitConfig, a: dict) -> list[Check]:
    scales, lr, s = a["align_scales"], cfg.align_lr, cfg.align_target
    small = scales <= 1e-3
    u = np.abs(a["align_u_at_align"][small])
    n_lin = a["align_n_align_plateau"][small]
    # ordered by scale, largest first among the small ones
    order = np.argsort(-scales[small])
    sc, n_half = scales[small][order], a["align_n_half"][small][order]
    predicted = np.log(sc[:-1] ** 2 / sc[1:] ** 2) / (2 * np.log(1 + lr * s))  # consecutive scales
    kern = a["align_kernel_at_align"][small][order]
    exponent = np.log(kern[0] / kern[1:]) / np.log(sc[0] / sc[1:])
    return [
        Check.at_most(
            "alignment_matches_plateau_linearisation",
            float(np.max(np.abs(a["align_n_align"][small] - n_lin))),
            float(1 + np.max(n_lin * u)),
            "max over σ ≤ 1e-3 of |n_align,sim − n_align,plateau|, n_align the first step where the top eigenvector of "
            "W1ᵀW1 has cos² > 0.99 with β̂; the plateau linearisation (theory.deep_linear.plateau_two_layer_trajectory) "
            "gives the same step for every σ (scale-free), so this is also the σ-independence of silent alignment. "
            "Tolerance: 1 step (integer crossing) plus n_align × u/s at alignment, the neglected relative term",
        ),
        Check.at_most(
            "half_time_grows_as_log_inverse_scale",
            float(np.max(np.abs(np.diff(n_half) - predicted))),
            2.0,
            "max over consecutive σ ≤ 1e-3 of |Δn_half − ln(σ₁²/σ₂²) / (2 ln(1 + ηs))|: the half-loss step grows by the "
            "discrete logistic's ln(1/u0) term, u0_eff ∝ σ², while n_align stays put, so alignment precedes learning "
            "by more as σ → 0; tolerance 2 steps (two integer crossings)",
        ),
        Check.at_most(
            "kernel_at_alignment_scales_as_scale_squared",
            float(np.max(np.abs(exponent - 2.0))),
            float(2 * np.log10(1 + np.max(u)) + 1e-3),
            "max |d log(‖K‖/‖K_final‖) / d log σ − 2| at alignment between the scales ≤ 1e-3, K = |w2|²I + W1ᵀW1 the NTK "
            "on whitened inputs: on the plateau every weight is linear in the initial draw, so the kernel is still "
            "O(σ²) when it has aligned (the loss deficit likewise). Tolerance: the neglected O(u/s) term in log10 "
            "(two scales) plus 1e-3",
        ),
    ]


def checks_of(cfg: GeneralInitConfig, a: dict) -> tuple[list[Check], dict]:
    s_max = float(a["s"].max())
    f_max = max(np.sqrt(s_max**2 + lam**2 / 4) for lam in cfg.balances)
    h = 2 * cfg.lr * f_max
    ode_gap = float(np.max(np.linalg.norm(a["map_closed"] - a["map_rk4"], axis=(-2, -1))))
    ode_tol = max(2.0 * float(a["rk4_richardson"]), 1e-11)
    err = np.max(np.linalg.norm(a["map_gd"] - a["map_closed"], axis=(-2, -1)), axis=1)
    pred = np.max(np.linalg.norm(a["delta_map"], axis=(-2, -1)), axis=1)
    ratio = err / pred
    n_steps = len(a["t"]) - 1
    checks = [
        Check.at_most(
            "closed_form_matches_ode",
            ode_gap,
            ode_tol,
            f"max over networks and times (every {a['grid']}th step) of ‖W2W1 closed form − W2W1 RK4‖_F: the Riccati "
            "solution (chunked restarts) "
            "vs an independent RK4 solve of the flow at step η (docs/families/deep_linear.md P14); tolerance 2× the "
            "a posteriori RK4 error |RK4(η) − RK4(2η)|/15 (floor 1e-11)",
        ),
        Check.at_most(
            "gd_error_first_order",
            float(np.max(np.abs(ratio - 1.0))),
            5.0 * h,
            "max over networks of |max_t‖W2W1_GD − W2W1_exact‖ / max_t‖δ‖ − 1|, δ the first-order global error of GD "
            "(variational equation δ̇ = Jδ − (η/2)Jf, RK4): GD from random λ-balanced starts, not aligned with the "
            "task, follows the exact solution up to its predicted discretisation error; neglected terms O(h) "
            "relative, tolerance 5h, h = 2η max f, f = √(s² + λ²/4) (F's largest eigenvalue)",
        ),
        Check.at_most(
            "imbalance_change_exact",
            float(np.max(a["imbalance_gap"])),
            1e-12,
            "max over networks and steps of |B_n − B_0 − Σ_{j<n} η²(W1EᵀEW1ᵀ − W2ᵀEEᵀW2)_j| / max‖W‖², "
            "B = W2ᵀW2 − W1W1ᵀ, E = Σyx − W2W1: the flow conserves B (§1.6), GD changes it by exactly this per step "
            "(the matrix form of P17); tolerance float64 rounding over the run (ε√n · few ≈ "
            f"{2.2e-16 * np.sqrt(n_steps) * 5:.0e}). A conserved B would miss by "
            f"{float(np.max(a['imbalance_drift'])):.1e}",
        ),
    ]
    lams = np.asarray(cfg.balances, float)
    per_lam = lambda x: {f"{lam:g}": float(np.max(x.reshape(len(lams), -1)[i])) for i, lam in enumerate(lams)}
    metrics = {
        "error_ratio_range": [float(ratio.min()), float(ratio.max())],
        "h": h,
        "rk4_error_estimate": float(a["rk4_richardson"]),
        "imbalance_drift_max": float(np.max(a["imbalance_drift"])),
        "ntk_change_by_lambda": per_lam(a["ntk_change"][:, -1]),
        "final_distance_to_rank_truncation_by_lambda": per_lam(a["truncation_gap"]),
    }
    return checks, metrics


@register(
    "deep_linear_general_init",
    "two-layer networks from random λ-balanced (non-decoupled) starts vs the exact matrix Riccati solution "
    "(Fukumizu 1998, Braun et al. 2022, Dominé et al. 2025), an RK4 solve and the exact GD imbalance change",
    GeneralInitConfig,
    figures=figures.general_init,
)
def run_general_init(cfg: GeneralInitConfig, seed: int, ctx: RunContext) -> Result:
    k_main, k_align = jax.random.split(jax.random.PRNGKey(seed))
    a = simulate(cfg, k_main, ctx)
    checks, metrics = checks_of(cfg, a)
    al = simulate_alignment(cfg, k_align, ctx)
    checks += alignment_checks(cfg, al)
    metrics["silent_alignment"] = {
        f"sigma={sc:g}": {
            "n_align": int(al["align_n_align"][i]),
            "n_align_plateau": int(al["align_n_align_plateau"][i]),
            "n_half": int(al["align_n_half"][i]),
            "loss_at_align_over_L0": float(al["align_loss_at_align"][i]),
            "kernel_at_align_over_final": float(al["align_kernel_at_align"][i]),
        }
        for i, sc in enumerate(al["align_scales"])
    }
    arrays = {k: a[k] for k in ("t", "modes_gd", "modes_closed", "ntk_change")}  # all on the comparison grid
    arrays["imbalance_gap"] = a["imbalance_gap"][:, :: a["grid"]]
    arrays["error_gd"] = np.linalg.norm(a["map_gd"] - a["map_closed"], axis=(-2, -1))
    arrays["error_predicted"] = np.linalg.norm(a["delta_map"], axis=(-2, -1))
    arrays.update({"lams": a["lams"], "s": a["s"], "truncation_gap": a["truncation_gap"]})
    arrays.update(al)
    return Result(checks, arrays, metrics=metrics)
