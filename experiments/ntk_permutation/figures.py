"""Figures of the NTK permutation experiments, drawn only from the saved arrays (``arrays.npz``) and the settings.

One function per experiment, ``(arrays, cfg) -> {file stem: Figure}``; ``python -m experiments plot NAME`` redraws
them without recomputing anything.
"""

from __future__ import annotations

import numpy as np

from experiments.ntk_permutation.common import LABEL, PARAMS
from experiments.style import paper_title, pyplot

__all__ = ["kernel_agreement", "gp_recovery", "ensemble_convergence", "ensemble_complexity"]

PAPER = "Giapitzakis, Back de Luca & Fountoulakis 2025"


# ---- ntk_kernel_agreement --------------------------------------------------------------------------------------
def _kernel_curves(ax, arrays: dict, cfg) -> None:
    rho = arrays["rho"]
    for tag in PARAMS:
        ax.plot(rho, arrays[f"ntk_rho_{tag}"], label=f"NTK {LABEL[tag]}" + (" / n" if tag == "B" else ""))
    ax.plot(rho, arrays["nngp_rho_A"], "k--", label="NNGP K")
    ax.plot(
        arrays["cosine_binary"].ravel()[::7],
        arrays["theta_A"].ravel()[::7] * cfg.k / 2,
        ".",
        ms=3,
        color="C0",
        alpha=0.4,
        label="binary inputs (A), rescaled to d = 2",
    )
    ax.set(xlabel="cosine ρ between unit inputs (d = 2)", ylabel="kernel value", title="arc-cosine kernels")
    ax.legend(fontsize=7)


def _kernel_rates(ax, arrays: dict, cfg) -> None:
    for tag in PARAMS:
        ms, ses = arrays[f"ms_error_{tag}"], arrays[f"ms_error_se_{tag}"]
        widths = np.asarray(cfg.widths, float)
        ax.errorbar(widths, np.sqrt(ms), yerr=0.5 * ses / np.sqrt(ms), fmt="o", label=f"empirical NTK {LABEL[tag]}")
        c = np.exp(np.mean(np.log(ms) + np.log(widths)))
        ax.plot(widths, np.sqrt(c / widths), "--", color="gray")
    ax.plot([], [], "--", color="gray", label="theory ∝ n^−1/2")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="hidden width n",
        ylabel="RMS relative error ‖Θ_n − Θ⊗I‖_F/‖Θ⊗I‖_F",
        title=f"finite width → infinite width (k = {cfg.k})",
    )
    ax.legend(fontsize=8)


def kernel_agreement(arrays: dict, cfg) -> dict:
    """Arc-cosine kernels vs cosine; RMS error of the empirical NTK vs width; one network's NTK entry by entry."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    _kernel_curves(axes[0], arrays, cfg)
    _kernel_rates(axes[1], arrays, cfg)
    ax = axes[2]
    theta = arrays["theta_A"]
    ax.plot(theta.ravel(), arrays["empirical_ntk_A"].ravel(), ".", ms=2, alpha=0.5, label=f"n = {max(cfg.widths)}")
    lim = [theta.min(), theta.max()]
    ax.plot(lim, lim, "k-", lw=1, label="y = x")
    ax.set(xlabel="closed-form Θ_A(x, x')", ylabel="empirical NTK, output 0", title="(A) entry by entry")
    ax.legend(fontsize=8)
    return {"kernel_agreement": fig}


# ---- ntk_gp_recovery -------------------------------------------------------------------------------------------
def _basis_means(ax, arrays: dict) -> None:
    for tag, ls in (("A", "-"), ("B", "--")):
        for k in arrays["basis_k"]:
            s = np.arange(2, k + 1)
            on, off = arrays[f"basis_on_{tag}_k{k}"], arrays[f"basis_off_{tag}_k{k}"]
            (line,) = ax.plot(s, on, ls, label=f"{tag}: k={k}" if tag == "A" else None)
            ax.plot(s, off, ls, color=line.get_color())
    ax.axhline(0, color="k", lw=0.8)
    ax.set(
        xlabel="ones in the input s",
        ylabel="GP mean at t → ∞",
        title="'on' (> 0) and 'off' (< 0) means; solid (A), dashed (B)",
    )
    ax.legend(fontsize=7)


def gp_recovery(arrays: dict, cfg) -> dict:
    """Closed-form t → ∞ means vs s; per-network signal-to-noise vs k; the finite-time sign flip."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    _basis_means(axes[0], arrays)
    ax = axes[1]
    for tag in ("A", "B"):
        ax.plot(arrays["z_k"], arrays[f"z_off_{tag}"], label=f"z_off, 2-hot, {LABEL[tag]}")
        ax.plot(arrays["z_k"], arrays[f"z_on_{tag}"], ":", label=f"z_on, 2-hot, {LABEL[tag]}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="k",
        ylabel="margin / s.d. of one network",
        title="per-network signal-to-noise (bottleneck: z_off)",
    )
    ax.legend(fontsize=7)
    ax = axes[2]
    u, u_star = arrays["u"], float(arrays["u_star"])
    ax.plot(u, arrays["flip_on"], label="on-mean A_t + B_t")
    ax.plot(u, arrays["flip_off"] * 10, label="off-mean B_t × 10")
    ax.plot(u, arrays["accuracy_t"], "k-", lw=1, label="accuracy of sign(μ_t), 2-hot inputs")
    ax.axvline(u_star, color="C3", ls=":", label=f"u* = {u_star:.2f}")
    ax.axhline(0, color="gray", lw=0.6)
    ax.set(xlabel="slow-mode e-folds u = ηλ_⊥t/N", ylabel="value", title=f"finite training time, (A), k = {cfg.flip_k}")
    ax.legend(fontsize=7)
    return {"gp_recovery": fig}


# ---- ntk_ensemble_convergence ----------------------------------------------------------------------------------
def _convergence_errors(ax, arrays: dict, cfg) -> None:
    Ms = arrays["members_grid"]
    n_coord = arrays["test_inputs"].shape[0] * cfg.k
    for j, tag in enumerate(PARAMS):
        for width in cfg.widths:
            ax.plot(
                Ms,
                np.sqrt(arrays[f"ms_error_{tag}_n{width}"] / n_coord),
                "o" if j == 0 else "s",
                ms=4,
                alpha=0.8,
                label=f"{tag}, n={width}",
            )
        ax.plot(
            Ms,
            np.sqrt(arrays[f"predicted_ms_error_{tag}"] / n_coord),
            "k-" if j == 0 else "k--",
            label=f"GP: √(tr Σ/(nM)) {tag}",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="ensemble size M",
        ylabel="RMS(ȳ_M − μ) per coordinate",
        title=f"ensemble mean → GP mean ∝ M^−1/2 (k={cfg.k})",
    )
    ax.legend(fontsize=7, ncol=2)


def _convergence_trajectory(ax, arrays: dict) -> None:
    x, target = arrays["test_inputs"], arrays["test_targets"]
    for j, tag in enumerate(PARAMS):
        ybar_T, mu_T = arrays[f"trajectory_mean_{tag}"], arrays[f"trajectory_theory_{tag}"]
        steps = arrays[f"trajectory_steps_{tag}"]
        two = x.sum(axis=1) == 2
        i0 = int(np.argmax(two))
        on_c, off_c = np.nonzero(target[i0] == 1)[0][0], np.nonzero(target[i0] == 0)[0][0]
        ax.plot(steps, ybar_T[:, i0, off_c] * 10, "o", ms=3, color=f"C{j}", label=f"off × 10, ensemble {tag}")
        ax.plot(steps, mu_T[:, i0, off_c] * 10, "-", color=f"C{j}", label=f"off × 10, GP {tag}")
        ax.plot(steps, ybar_T[:, i0, on_c], "^", ms=3, color=f"C{j + 2}", label=f"on, ensemble {tag}")
        ax.plot(steps, mu_T[:, i0, on_c], "--", color=f"C{j + 2}", label=f"on, GP {tag}")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="GD step", ylabel="mean output", title="one 2-hot input during training")
    ax.legend(fontsize=7, ncol=2)


def ensemble_convergence(arrays: dict, cfg) -> dict:
    """Error of the ensemble mean vs M; finite-width effects vs n; one 2-hot input's mean during training."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    _convergence_errors(axes[0], arrays, cfg)
    ax = axes[1]
    ws = list(cfg.widths)
    for tag in PARAMS:
        ax.plot(ws, list(arrays[f"var_ratio_{tag}"]), "o-", label=f"member variance / GP, {tag}")
        ax.plot(
            ws,
            [arrays[f"z_{tag}_n{w_}"][-1] / 10 for w_ in ws],
            "x--",
            label=f"z of ‖ȳ_M − μ‖², M={cfg.members}, {tag} (/10)",
        )
    ax.axhline(1, color="k", lw=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xscale="log", xlabel="hidden width n", ylabel="ratio / z", title="finite-width effects")
    ax.legend(fontsize=7)
    _convergence_trajectory(axes[2], arrays)
    return {"ensemble_convergence": fig}


# ---- ntk_ensemble_complexity -----------------------------------------------------------------------------------
def _complexity_theory(ax, arrays: dict, cfg) -> None:
    ks_th = arrays["theory_k"]
    for tag, col in (("A", "C0"), ("B", "C1")):
        ax.plot(ks_th, arrays[f"theory_M1_{tag}"], "-", color=col, label=f"M_1 one input {tag}")
        ax.plot(ks_th, arrays[f"theory_Mall_{tag}"], "--", color=col, label=f"M_all all inputs (union) {tag}")
        ax.plot(ks_th, arrays[f"theory_crude_{tag}"], ":", color=col, label=f"crude k² bound {tag}")
        rows = arrays[f"sim_rows_{tag}"]
        ax.plot(rows[:, 0], rows[:, 1], "o", color=col, mfc="none", label=f"trained, one input {tag}")
        ax.plot(rows[:, 0], rows[:, 3], "s", color=col, label=f"trained, all inputs {tag}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="k",
        ylabel=f"ensemble size M for success prob. {1 - cfg.delta}",
        title="ensemble complexity: theory vs trained ensembles",
    )
    ax.legend(fontsize=6, ncol=2)


def _complexity_fig1(ax, arrays: dict) -> None:
    rr = arrays["repo_first_passage"]
    for level_r, mk in ((0.9, "o"), (0.999, "s")):
        sel = rr[:, 1] == level_r
        ax.fill_between(
            rr[sel, 0], rr[sel, 3], rr[sel, 5], alpha=0.25, label=f"(B) GP surrogate 10–90 %, acc ≥ {level_r}"
        )
        ax.plot(rr[sel, 0], rr[sel, 4], "-", lw=1)
        ax.plot(rr[sel, 0], rr[sel, 2], mk, color="k", label=f"public code, acc ≥ {level_r}")
    ax.plot(arrays["fig1_k"], arrays["fig1_M1_A"], "C0--", label="(A) GP, expected accuracy 0.9")
    ax.set(
        yscale="log",
        xlabel="k",
        ylabel="members until the accuracy threshold",
        title="paper Fig. 1: public code vs GP surrogate",
    )
    ax.legend(fontsize=6)


def _complexity_accuracy(ax, arrays: dict, cfg) -> None:
    for j, k in enumerate(cfg.sim_ks):
        for tag, mk in (("A", "o"), ("B", "s")):
            Ms = arrays[f"members_grid_{tag}"]
            ax.plot(Ms, arrays[f"sim_acc_{tag}_k{k}"], mk, ms=3, color=f"C{j}", label=f"trained {tag}, k={k}")
            ax.plot(Ms, arrays[f"theory_accuracy_{tag}_k{k}"], "-", color=f"C{j}", lw=1)
    ax.set(
        xscale="log",
        xlabel="ensemble size M",
        ylabel="exact-match accuracy, 2-hot inputs",
        title="accuracy vs M: trained (markers) vs Φ(√M z_on)²Φ(√M z_off)^(k−2)",
    )
    ax.legend(fontsize=6, ncol=2)


def _complexity_repo_accuracy(ax, arrays: dict) -> None:
    Mgrid, logged = arrays["repo_gp_members"], arrays["repo_accuracy_logged"]
    for j, k in enumerate(dict.fromkeys(int(k) for k in logged[:, 0])):
        rows = logged[logged[:, 0] == k]
        ax.plot(Mgrid, arrays[f"repo_gp_accuracy_B_k{k}"], "-", color=f"C{j}", label=f"(B) GP, k={k}")
        ax.plot(Mgrid, arrays[f"repo_gp_accuracy_A_k{k}"], ":", color=f"C{j}", label=f"(A) GP, k={k}")
        ax.plot(rows[:, 1], rows[:, 2], "o", color=f"C{j}", label=f"public code, k={k}")
    ax.set(xlabel="ensemble size M", ylabel="accuracy on 2-hot inputs", title="public code's logged accuracy")
    ax.legend(fontsize=6, ncol=2)


def ensemble_complexity(arrays: dict, cfg) -> dict:
    """Ensemble complexity vs k; the paper's Fig. 1 (public code vs GP surrogate); accuracy vs M, trained and
    logged."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(22, 4.6))
    _complexity_theory(axes[0], arrays, cfg)
    _complexity_fig1(axes[1], arrays)
    _complexity_accuracy(axes[2], arrays, cfg)
    _complexity_repo_accuracy(axes[3], arrays)
    paper_title(fig, "ntk_ensemble_complexity", f"{PAPER}, Fig. 1 (second panel here)")
    return {"ensemble_complexity": fig}
