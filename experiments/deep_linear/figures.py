"""Figures of the deep linear experiments, drawn only from the saved arrays and the settings.

Each function takes ``(arrays, cfg)`` as stored in ``arrays.npz`` and ``summary.json`` and returns
``{file stem: Figure}``; ``python -m experiments plot NAME`` redraws them without recomputing.
"""

from __future__ import annotations

import numpy as np

from experiments.style import paper_title, pyplot

__all__ = [
    "modes",
    "learning_time",
    "semantic",
    "phase_portrait",
    "general_init",
    "edge_of_chaos",
    "digits_depth",
    "pretraining",
]

SAXE = "Saxe, McClelland & Ganguli 2014"


def modes(a: dict, cfg) -> dict:
    plt = pyplot()
    s, depths = a["singular_values"], list(cfg.depths)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(s)))
    fig, axes = plt.subplots(1, len(depths), figsize=(4.2 * len(depths), 3.6), squeeze=False)
    for ax, d in zip(axes[0], depths, strict=True):
        t, u_sim, u_flow = a[f"t_D{d}"], a[f"u_sim_D{d}"], a[f"u_theory_D{d}"]
        for i in range(len(s)):
            ax.plot(t, u_sim[:, i], color=colors[i], lw=2.5, alpha=0.6, label=f"simulation, s={s[i]:g}")
            ax.plot(t, u_flow[:, i], color="k", lw=1, ls="--", label="theory" if i == 0 else None)
        ax.set_title(f"depth D = {d} (u0 = {cfg.initial_strength:g}, η = {cfg.lr:g})")
        ax.set_xlabel("time t = η · step")
        ax.set_ylabel("mode strength u_α(t)")
        ax.set_xscale("log")
    axes[0, 0].legend(fontsize=7)
    paper_title(fig, "deep_linear_modes", f"{SAXE}, eq. 12 and its deep analogue")
    fig.tight_layout()
    fig2, axes2 = plt.subplots(1, len(depths), figsize=(4.2 * len(depths), 3.2), squeeze=False)
    for ax, d in zip(axes2[0], depths, strict=True):
        gap, pred = np.abs(a[f"u_sim_D{d}"] - a[f"u_theory_D{d}"]), a[f"predicted_error_D{d}"]
        for i in range(len(s)):
            ax.plot(a[f"t_D{d}"], gap[:, i] / s[i], color=colors[i], label=f"|sim − theory|/s, s={s[i]:g}")
            ax.axhline(pred[i] / s[i], color=colors[i], ls=":", lw=1)
        ax.set_title(f"D = {d}: dotted = predicted max error")
        ax.set_xlabel("time t = η · step")
        ax.set_ylabel("|u_sim − u_theory| / s (dimensionless)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(1e-9, None)
    axes2[0, 0].legend(fontsize=7)
    fig2.tight_layout()
    return {"mode_trajectories": fig, "discretisation_error": fig2}


def _depth_ticks(ax, depths):
    """Log-scaled depth axis with a plain tick at every simulated depth."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(list(depths), [f"{d:.0f}" for d in depths])


def _half_time_figure(a: dict, cfg):
    plt = pyplot()
    s, grid, lr, u0 = a["p3_s"], a["p3_grid_s"], cfg.lr, cfg.initial_strength
    t_half_max = a["p3_n_half_flow"][np.argmax(s)] * lr
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.plot(grid, a["p3_grid_t_half"], "k--", label="theory: ln((s−u0)/u0) / 2s")
    ax.plot(grid, t_half_max * s.max() / grid, ":", color="gray", label="constant t·s (not the law)")
    ax.plot(s, a["p3_n_half_sim"] * lr, "o", color="C3", ms=7, label=f"simulation (η = {lr:g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("singular value s")
    ax.set_ylabel("half-learning time t_half (units of η·step)")
    ax.set_title(f"depth 2, u0 = {u0:g}")
    ax.legend(fontsize=8)
    paper_title(fig, "deep_linear_learning_time", f"{SAXE}, eq. 11")
    fig.tight_layout()
    return fig


def _delay_figure(rows: np.ndarray):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    ax.plot(rows[:, 0], rows[:, 1], "o", color="C0", ms=7, label="simulation (best c)")
    ax.plot(rows[:, 0], rows[:, 5], "k--", label="theory: learning_time / η (₂F₁)")
    ax.plot(rows[:, 0], rows[:, 6], ":", color="gray", label="eq. 17 asymptote / η")
    _depth_ticks(ax, rows[:, 0])
    ax.set_xlabel("depth D (number of weight matrices)")
    ax.set_ylabel("GD steps until all u_α ≥ 0.99 s_α")
    ax.set_title("finite depth delay (η = c / (D s_max^(2−2/D)))")
    ax.legend(fontsize=8)
    paper_title(fig, "deep_linear_learning_time", f"{SAXE}, Fig. 4 analogue on a synthetic task")
    fig.tight_layout()
    return fig


def _init_figure(rows: np.ndarray, cap: int):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    g = np.where(np.isfinite(rows[:, 2]), rows[:, 2], cap * 1.15)
    ax.plot(rows[:, 0], rows[:, 1], "o-", color="C3", label="random orthogonal")
    ax.plot(rows[:, 0], g, "s-", color="C0", label="scaled Gaussian (1/√n)")
    ax.axhline(cap, color="gray", ls=":", label=f"step cap {cap} (above = not converged)")
    _depth_ticks(ax, rows[:, 0])
    ax.set_yscale("log")
    ax.set_xlabel("depth D (number of weight matrices)")
    ax.set_ylabel("GD steps to loss < 1e-3 L0 (best rate)")
    ax.legend(fontsize=8)
    paper_title(fig, "deep_linear_learning_time", f"{SAXE}, Fig. 6A analogue")
    fig.tight_layout()
    return fig


def learning_time(a: dict, cfg) -> dict:
    return {
        "half_time_vs_s": _half_time_figure(a, cfg),
        "steps_vs_depth": _delay_figure(a["p10_rows"]),
        "initialisation_vs_depth": _init_figure(a["p11_rows"], cfg.max_steps),
    }


def _trajectories(a: dict, cfg):
    plt = pyplot()
    t, u, s = a["t"], a["u_sim"], a["s"]
    fig, ax = plt.subplots(figsize=(6, 4))
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(cfg.shown_modes)))
    for c, m in zip(colors, cfg.shown_modes, strict=True):
        ax.plot(t, u[0, :, m - 1], color=c, lw=2.5, alpha=0.65, label=f"mode {m} (s={s[m - 1]:.1f})")
        ax.plot(t, a["u_theory_seed0"][:, m - 1], "k--", lw=0.9)
    ax.plot([], [], "k--", label="theory (logistic, u0_eff)")
    ax.set_xlabel("time t = λ · step")
    ax.set_ylabel("mode strength u_α(t)")
    ax.set_title("hierarchical data, small random init (seed 0)")
    ax.legend(fontsize=7, ncol=2)
    paper_title(fig, "deep_linear_semantic", f"{SAXE}, Fig. 3")
    fig.tight_layout()
    return fig


def _delays(a: dict, cfg):
    plt = pyplot()
    modes_ = np.arange(1, len(a["s"]) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.errorbar(modes_, a["mean_delay"], yerr=a["sd_delay"], fmt="o", color="C0", capsize=2, label="simulation")
    ax.axhline(0, color="k", lw=0.8)
    ax.plot(modes_, cfg.lr * a["s"] / 2, "k:", label="discretisation lag λs/2 (theory)")
    ax.set_xlabel("mode index α")
    ax.set_ylabel("relative t_half delay (dimensionless)")
    ax.set_title(f"delay vs logistic with u0_eff ({cfg.n_seeds} seeds, mean ± s.d.)")
    ax.legend(fontsize=8)
    paper_title(fig, "deep_linear_semantic", f"{SAXE}, Fig. 3 (right)")
    fig.tight_layout()
    return fig


def _loss_and_spectrum(a: dict):
    plt = pyplot()
    t, s = a["t"], a["s"]
    fig, (ax3, ax4) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax3.plot(t, a["loss_sim"].mean(0), color="C2", lw=2.5, alpha=0.7, label="simulation (mean over seeds)")
    ax3.plot(t, a["loss_theory"].mean(0), "k--", label="theory: ½Σ(s−u(t))²")
    ax3.set_xlabel("time t = λ · step")
    ax3.set_ylabel("training loss L(t)")
    ax3.set_yscale("log")
    ax3.legend(fontsize=8)
    modes_ = np.arange(1, len(s) + 1)
    ax4.plot(modes_, s, "o", label="empirical singular values")
    ax4.plot(modes_, a["s_theory"][: len(s)], "k_", ms=12, mew=2, label="closed form √(N_f λ)")
    ax4.set_xlabel("mode index α")
    ax4.set_ylabel("singular value s_α of Σyx")
    ax4.legend(fontsize=8)
    fig.tight_layout()
    return fig


def semantic(a: dict, cfg) -> dict:
    return {
        "mode_trajectories": _trajectories(a, cfg),
        "delay_per_mode": _delays(a, cfg),
        "loss_and_spectrum": _loss_and_spectrum(a),
    }


def _portrait_panel(ax, s: float, d: float, sim: np.ndarray, flow: np.ndarray, colors, lim: float = 2.0):
    """Flow field of (a, b) ↦ (b(s − d ab), a(s − d ab)), hyperbolas a² − b² = c, the fixed curve ab = s/d, and
    the simulated (thick) and exact (dashed) trajectories, sim/flow of shape (T, K, 2)."""
    g = np.linspace(-lim, lim, 41)
    aa, bb = np.meshgrid(g, g)
    err = s - d * aa * bb
    ax.streamplot(aa, bb, bb * err, aa * err, color="0.75", density=0.9, linewidth=0.6, arrowsize=0.7)
    ax.contour(aa, bb, aa**2 - bb**2, levels=np.linspace(-3, 3, 13), colors="0.55", linewidths=0.4, linestyles=":")
    branch = np.linspace(s / d / lim, lim, 200)
    for sign in (1, -1):
        ax.plot(sign * branch, sign * (s / d) / branch, color="k", lw=1.6)
    for k, c in enumerate(colors):
        ax.plot(sim[:, k, 0], sim[:, k, 1], color=c, lw=3, alpha=0.55)
        ax.plot(flow[:, k, 0], flow[:, k, 1], "k--", lw=0.9)
        ax.plot(sim[0, k, 0], sim[0, k, 1], "o", color=c, ms=4)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("a (input → hidden weight of the mode)")
    ax.set_ylabel("b (hidden → output weight)")


def phase_portrait(a: dict, cfg) -> dict:
    plt = pyplot()
    n_starts = len(a["starts"])
    colors = plt.cm.tab10(np.arange(n_starts) % 10)
    fig, axes = plt.subplots(2, 2, figsize=(10, 10))
    for row, name in enumerate(("white", "nonwhite")):
        s, d = a[f"{name}_s"], a[f"{name}_d"]
        for m in range(2):
            ax = axes[row, m]
            _portrait_panel(ax, s[m], d[m], a[f"{name}_sim"][:, :, m], a[f"{name}_flow"][:, :, m], colors)
            label = "whitened inputs" if name == "white" else "non-white inputs, aligned (App. E)"
            ax.set_title(f"{label}: s = {s[m]:g}, d = {d[m]:g}; ab = s/d in black", fontsize=9)
    axes[0, 0].plot([], [], color="C0", lw=3, alpha=0.55, label=f"full network, GD (η = {cfg.lr:g})")
    axes[0, 0].plot([], [], "k--", lw=0.9, label="exact flow (App. A, corrected)")
    axes[0, 0].plot([], [], "k:", lw=0.6, label="hyperbolas a² − b² = const")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    paper_title(fig, "deep_linear_phase_portrait", f"{SAXE}, Fig. 2 (τ = 1)")
    fig.tight_layout()

    fig2, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, ls in (("white", "-"), ("nonwhite", "--")):
        t = a[f"{name}_t"]
        gap = np.linalg.norm(a[f"{name}_sim"] - a[f"{name}_flow"], axis=-1)  # (T, K, mode)
        pred = np.linalg.norm(a[f"{name}_first_order"], axis=-1)
        for k, c in enumerate(colors):
            ax1.plot(t, gap[:, k, 0], color=c, ls=ls, lw=1.2)
            ax1.plot(t, pred[:, k, 0], color="k", ls=":", lw=0.7)
        ax2.plot(t, np.max(a[f"{name}_imbalance_gap"], axis=(1, 2)), ls=ls, color="C3", label=f"{name} task")
    ax1.set_yscale("log")
    ax1.set_ylim(1e-7, None)
    ax1.set_xlabel("time t = η · step")
    ax1.set_ylabel("‖(a, b)_GD − (a, b)_flow‖ (mode 1)")
    ax1.set_title("GD vs exact flow; dotted: first-order prediction ‖δ‖", fontsize=9)
    ax2.set_yscale("log")
    ax2.set_xlabel("time t = η · step")
    ax2.set_ylabel("|κ_n − κ_0 Π(1 − η²(s − d u)²)| / max(a² + b²)")
    ax2.set_title("imbalance κ = a² − b²: exact per-step contraction (P17)", fontsize=9)
    ax2.legend(fontsize=8)
    fig2.tight_layout()
    return {"phase_portrait": fig, "errors": fig2}


def general_init(a: dict, cfg) -> dict:
    plt = pyplot()
    lams, t, s = a["lams"], a["t"], a["s"]
    uniq = list(dict.fromkeys(lams.tolist()))
    fig, axes = plt.subplots(1, len(uniq), figsize=(4.2 * len(uniq), 3.6), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(s)))
    for ax, lam in zip(axes[0], uniq, strict=True):
        k = int(np.flatnonzero(lams == lam)[0])
        for i in range(len(s)):
            ax.plot(t, a["modes_gd"][k, :, i], color=colors[i], lw=2.5, alpha=0.6, label=f"GD, s = {s[i]:g}")
            ax.plot(t, a["modes_closed"][k, :, i], "k--", lw=0.9)
        ax.set_title(f"λ = {lam:g} (first seed)", fontsize=9)
        ax.set_xlabel("time t = η · step")
        ax.set_ylabel("u_αᵀ W2W1 v_α")
    axes[0, 0].plot([], [], "k--", label="exact (matrix Riccati)")
    axes[0, 0].legend(fontsize=7)
    paper_title(fig, "deep_linear_general_init", "Braun et al. 2022; Dominé et al. 2025 (random λ-balanced starts)")
    fig.tight_layout()

    fig2, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
    lam_colors = plt.cm.tab10(np.arange(len(uniq)))
    for j, lam in enumerate(uniq):
        for n, k in enumerate(np.flatnonzero(lams == lam)):
            ax1.plot(t, a["error_gd"][k], color=lam_colors[j], lw=1.2, label=f"λ = {lam:g}" if n == 0 else None)
            ax1.plot(t, a["error_predicted"][k], "k:", lw=0.7)
            ax2.plot(t, a["ntk_change"][k], color=lam_colors[j], lw=1.2, label=f"λ = {lam:g}" if n == 0 else None)
    ax1.set_yscale("log")
    ax1.set_ylim(1e-8, None)
    ax1.set_xlabel("time t = η · step")
    ax1.set_ylabel("‖W2W1_GD − W2W1_exact‖_F")
    ax1.set_title(f"GD (η = {cfg.lr:g}) vs exact; dotted: first-order prediction", fontsize=9)
    ax1.legend(fontsize=7)
    ax2.set_xlabel("time t = η · step")
    ax2.set_ylabel("‖K(t) − K(0)‖_F / ‖K(T)‖_F")
    ax2.set_title("movement of the NTK K (rich: ≈ 1, lazy: ≪ 1)", fontsize=9)
    ax2.legend(fontsize=7)
    fig2.tight_layout()
    fig3, (bx1, bx2) = plt.subplots(1, 2, figsize=(11, 3.8))
    steps = np.arange(a["align_loss"].shape[1])
    for i, sc in enumerate(a["align_scales"]):
        c = f"C{i}"
        bx1.plot(steps, a["align_cos2_sim"][i], color=c, lw=2.5, alpha=0.6, label=f"σ = {sc:g}")
        bx1.plot(steps, a["align_cos2_plateau"][i], "k--", lw=0.8)
        bx2.plot(steps, a["align_loss"][i] / a["align_loss"][i, 0], color=c, label=f"σ = {sc:g}")
        bx2.axvline(a["align_n_align"][i], color=c, ls=":", lw=1)
    bx1.plot([], [], "k--", lw=0.8, label="plateau linearisation")
    bx1.axhline(0.99, color="gray", lw=0.6)
    bx1.set_xlabel("GD step")
    bx1.set_ylabel("cos²(top eigenvector of W1ᵀW1, β̂)")
    bx1.set_title("alignment of the NTK with the task", fontsize=9)
    bx1.legend(fontsize=7)
    bx2.set_xlabel("GD step")
    bx2.set_ylabel("loss / initial loss")
    bx2.set_title("loss; dotted: alignment step (cos² > 0.99)", fontsize=9)
    bx2.legend(fontsize=7)
    paper_title(fig3, "deep_linear_general_init", "silent alignment, Atanasov, Bordelon & Pehlevan 2022")
    fig3.tight_layout()
    return {"mode_strengths": fig, "errors_and_representation": fig2, "silent_alignment": fig3}


def edge_of_chaos(a: dict, cfg) -> dict:
    plt = pyplot()
    gains, inputs = list(cfg.gains), list(cfg.input_variances)
    fig, axes = plt.subplots(len(gains), len(inputs), figsize=(3.4 * len(inputs), 1.9 * len(gains)), squeeze=False)
    bins = np.linspace(-12, 2, 57)
    for i, g in enumerate(gains):
        for j, q in enumerate(inputs):
            ax = axes[i, j]
            k = int(np.flatnonzero((a["jac_gains"] == g) & (a["jac_inputs"] == q))[0])
            ax.hist(np.log10(np.maximum(a["singular_values"][k], 1e-12)), bins=bins, color="C0")
            ax.axvspan(-1, 1, color="C2", alpha=0.12)
            ax.set_title(f"g = {g:g}, q¹ = {q:g}", fontsize=8)
            if i == len(gains) - 1:
                ax.set_xlabel("log10 singular value of J")
            if j == 0:
                ax.set_ylabel("count")
    paper_title(fig, "deep_linear_edge_of_chaos", f"{SAXE}, Fig. 7 (tanh, {cfg.depth} layers, N = {cfg.width})")
    fig.tight_layout()

    fig2, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 3.9))
    q_out = a["q_out_sim"]
    ax1.plot(a["q_in"], a["q_out_theory"], "k-", label="mean field, eq. 48")
    ax1.errorbar(a["q_in"], q_out.mean(0), yerr=q_out.std(0), fmt="o", ms=4, color="C0", label="simulation (± s.d.)")
    ax1.plot(a["q_in"], a["q_in"], ":", color="gray", label="q_out = q_in")
    ax1.set_xlabel("q_in (input population variance)")
    ax1.set_ylabel("q_out after one layer")
    ax1.set_title("variance map at g = 1 (Fig. 8 left)", fontsize=9)
    ax1.legend(fontsize=7)
    g_map, tail = a["map_gains"], a["q_tail_sim"]
    ax2.errorbar(g_map, tail.mean(0), yerr=tail.std(0), fmt="o", ms=4, color="C0", label="simulation, layers 26–30")
    ax2.plot(g_map, a["q_tail_theory"], "k-", lw=1, label=f"mean field at depth {cfg.map_depth}")
    ax2.plot(g_map, a["q_infinity"], "r--", lw=1, label="q^∞(g), eq. 49")
    ax2.axvline(1.0, color="gray", ls=":", label="g_c = 1")
    ax2.set_xlabel("gain g")
    ax2.set_ylabel("population variance q")
    ax2.set_title("Fig. 8 right (q¹ = 1)", fontsize=9)
    ax2.legend(fontsize=7)
    for j, q in enumerate(inputs):
        sel = a["jac_inputs"] == q
        g = a["jac_gains"][sel]
        sim = a["mean_sq_predicted"][sel] * np.exp(a["log_ratio"][:, sel].mean(0))
        ax3.plot(g, a["mean_sq_predicted"][sel], "-", color=f"C{j}", lw=1)
        ax3.plot(g, sim, "o", color=f"C{j}", ms=4, label=f"q¹ = {q:g}")
    ax3.plot([], [], "k-", lw=1, label="mean field Π χ(q^l)")
    ax3.set_yscale("log")
    ax3.set_xlabel("gain g")
    ax3.set_ylabel("tr(JJᵀ)/N (mean squared singular value)")
    ax3.set_title(f"end-to-end Jacobian, {cfg.depth} layers", fontsize=9)
    ax3.legend(fontsize=7)
    paper_title(fig2, "deep_linear_edge_of_chaos", f"{SAXE}, Fig. 8 and the Jacobian's mean squared singular value")
    fig2.tight_layout()
    out = {"jacobian_spectra": fig, "variance_map_and_gain": fig2}
    if "train_steps" in a:
        out["learning_time_vs_depth"] = _tanh_training(a, cfg)
    return out


def _tanh_training(a: dict, cfg):
    plt = pyplot()
    best = np.min(a["train_steps"], axis=-1)
    depths, gains = a["train_depths"], a["train_gains"]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(gains)))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for j, g in enumerate(gains):
        ok = np.isfinite(best[:, j])
        ax1.plot(depths[ok], best[ok, j], "o-", color=colors[j], label=f"g = {g:g}")
        if (~ok).any():
            ax1.plot(depths[~ok], np.full((~ok).sum(), cfg.train_steps), "x", color=colors[j], ms=8)
        ax2.plot(depths, a["train_mean_sq_predicted"][:, j], "o-", color=colors[j], label=f"g = {g:g}")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.set_xlabel("tanh layers N_l")
    ax1.set_ylabel("GD steps to the loss threshold (fastest rate)")
    ax1.set_title(f"learning time vs depth ({cfg.train_samples} digits; × = not reached)", fontsize=9)
    ax1.legend(fontsize=7)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("tanh layers N_l")
    ax2.set_ylabel("mean field Π χ(q^l) at the start (q¹ = 1)")
    ax2.set_title("gradient propagation through the initial network", fontsize=9)
    paper_title(fig, "deep_linear_edge_of_chaos", f"{SAXE}, §4: learning near the edge of chaos (no paper figure)")
    fig.tight_layout()
    return fig


_SCHEME_STYLE = {
    "decoupled": ("C0", "decoupled, u0 = 0.001 (Fig. 4)"),
    "scaled_gaussian": ("C3", "scaled Gaussian 1/√N"),
    "orthogonal": ("C1", "random orthogonal"),
    "pretrained": ("C2", "greedy pretraining (fine-tuning steps)"),
}


def digits_depth(a: dict, cfg) -> dict:
    plt = pyplot()
    layers, rates, steps = a["layers"], a["rates"], a["steps"]
    schemes = [str(x) for x in a["schemes"]]
    best = np.min(steps, axis=-1)
    best_rate = rates[np.argmin(steps, axis=-1)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, sc in enumerate(schemes):
        color, label = _SCHEME_STYLE[sc]
        ok = np.isfinite(best[:, i])
        ax1.plot(layers[ok], best[ok, i], "o-", color=color, label=label)
        if (~ok).any():
            ax1.plot(layers[~ok], np.full((~ok).sum(), cfg.max_steps), "x", color=color, ms=8)
        ax2.plot(layers[ok], best_rate[ok, i], "o-", color=color, label=label)
    depth = layers - 1
    s = a["singular_values"]
    ax2.plot(layers, 2.0 / (depth * s[0] ** (2 - 2 / depth)), "k--", lw=1, label="stability bound 2/(D s_max^(2−2/D))")
    rec = np.min(a["steps_recursion"], axis=-1)
    ax1.plot(layers, rec, "k:", lw=1.2, label="decoupled: exact mode recursion")
    ax1.set_xlabel("number of layers N_l")
    ax1.set_ylabel("GD steps to the loss threshold (fastest rate)")
    ax1.set_yscale("log")
    ax1.set_title("learning time vs depth (× = not reached)")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("number of layers N_l")
    ax2.set_ylabel("fastest learning rate η")
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_title("optimal learning rate vs depth")
    ax2.legend(fontsize=7)
    paper_title(fig, "deep_linear_digits_depth", f"{SAXE}, Figs. 4 and 6A, on scikit-learn digits")
    fig.tight_layout()
    return {"depth": fig}


def pretraining(a: dict, cfg) -> dict:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    k = 16
    sxx = a["sigma_xx"][20 : 20 + k, 20 : 20 + k]
    im = axes[0].imshow(sxx, cmap="RdBu_r", vmin=-np.abs(sxx).max(), vmax=np.abs(sxx).max())
    axes[0].set_title(f"raw Σxx, pixels 20–{20 + k - 1}")
    axes[0].set_xlabel("pixel")
    axes[0].set_ylabel("pixel")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    c = a["vt_sigma_v"]
    d = np.sqrt(np.diag(c))
    im = axes[1].imshow(c / np.outer(d, d), cmap="RdBu_r", vmin=-1, vmax=1)
    axes[1].set_title("VᵀΣxxV / √(diag ⊗ diag), nearly diagonal")
    axes[1].set_xlabel("task mode β")
    axes[1].set_ylabel("task mode α")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    ax = axes[2]
    rates, steps = a["rates"], a["steps"]
    t = a["loss_steps"]
    for i, (label, color, offset) in enumerate(
        (("pretrained (curve starts after pretraining)", "C3", a["pretrain_steps"]), ("small random, std 0.01", "k", 0))
    ):
        j = int(np.argmin(steps[i])) if np.isfinite(steps[i]).any() else 0
        ax.plot(t + offset + 1, a["loss"][i, j], color=color, label=f"{label}, η = {rates[j]:.3g}")
    ax.axhline(a["threshold"], color="C2", ls=":", lw=1, label="loss threshold")
    ax.axhline(a["optimal_loss"], color="grey", ls="--", lw=1, label="least-squares optimum L*")
    ax.set_xscale("log")
    ax.set_xlabel("GD step + 1 (pretraining steps included)")
    ax.set_ylabel("training loss ½ E‖y − ŷ‖²")
    ax.set_title(f"{cfg.layers}-layer linear net, fastest rate each")
    ax.legend(fontsize=7)
    paper_title(fig, "deep_linear_pretraining", f"{SAXE}, Fig. 5, on scikit-learn digits")
    fig.tight_layout()
    return {"pretraining": fig}
