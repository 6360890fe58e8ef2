"""Figures of the superposition experiments, drawn only from the saved arrays (``arrays.npz``) and the settings.

One function per experiment, ``(arrays, cfg) -> {file stem: Figure}``; ``python -m experiments plot NAME`` calls the
same function on the arrays it loads, so the redrawn figures are the run's figures.
"""

from __future__ import annotations

import numpy as np

from experiments.style import paper_title, pyplot

__all__ = ["PHASE_COLOURS", "linear", "phase_diagram", "geometry", "pentagon", "scaling", "robustness"]

PHASE_COLOURS = ("#d9d9d9", "#4c72b0", "#dd8452")  # not represented, dedicated, superposition
ELHAGE = "Elhage et al. 2022"


def linear(arrays: dict, cfg) -> dict:
    """Loss curves against L*, the kept features, and WᵀW of both models (seed 0)."""
    plt = pyplot()
    L_star = float(arrays["optimum_loss"])
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    ax = axes[0]
    for act in ("linear", "relu"):
        steps, rec = arrays[f"{act}_loss_curve_steps"], arrays[f"{act}_loss_curve"]
        for s in range(rec.shape[0]):
            ax.plot(
                steps,
                rec[s],
                color="C0" if act == "linear" else "C1",
                alpha=0.5,
                label=f"{act} (simulation)" if s == 0 else None,
            )
    ax.axhline(L_star, color="k", ls="--", label="linear optimum L* (theory)")
    ax.set(
        xlabel="training step",
        ylabel="training loss Σ I_i (x_i − x'_i)² per sample",
        yscale="log",
        title="loss vs the linear optimum",
    )
    ax.legend(fontsize=8)
    ax = axes[1]
    idx = np.arange(cfg.n)
    for j, act in enumerate(("linear", "relu")):
        ax.bar(idx + (j - 0.5) * 0.35, np.linalg.norm(arrays[f"{act}_W"][0], axis=0), 0.35, label=f"{act} (seed 0)")
    ax.step(idx, arrays["kept"].astype(float), where="mid", color="k", ls="--", label="theory: top-m kept")
    ax.set(xlabel="feature i (importance 0.7^i)", ylabel="‖W_i‖", title="which features are kept")
    ax.legend(fontsize=8)
    for ax, act in zip(axes[2:], ("linear", "relu"), strict=True):
        W = arrays[f"{act}_W"]
        im = ax.imshow(np.einsum("smi,smj->sij", W, W)[0], cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set(title=f"WᵀW, {act} model (seed 0)", xlabel="feature j", ylabel="feature i")
    fig.colorbar(im, ax=axes[2:], shrink=0.8)
    paper_title(fig, "superposition_linear", f"{ELHAGE}, §2 'Demonstrating Superposition', dense features")
    return {"linear_optimum": fig}


def _phase_panel(ax, phase, ext, cmap, vmax, title):
    ax.imshow(phase, origin="lower", cmap=cmap, vmin=0, vmax=vmax, extent=ext, aspect="auto", interpolation="nearest")
    ax.set(xlabel="log10 relative importance r of the extra feature", ylabel="log10 feature density 1 − S", title=title)


def _mark_misses(ax, learned, theory, ext, grid):
    yy, xx = np.nonzero(learned != theory)
    dx = (ext[1] - ext[0]) / (grid - 1)
    dy = (ext[3] - ext[2]) / (grid - 1)
    ax.scatter(ext[0] + xx * dx, ext[2] + yy * dy, marker="x", color="k", s=25, label="≠ theory (optimised)")
    ax.legend(loc="lower right", fontsize=8)


def phase_diagram(arrays: dict, cfg) -> dict:
    """Learned and analytic phase (optimised and the paper's fixed configurations) over density × relative
    importance for n = 2, m = 1 and n = 3, m = 2; best trained loss vs the optimum."""
    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    dens, rel, loss_best = arrays["density"], arrays["relative_importance"], arrays["loss_best"]
    phase_sim, phase_th, e_opt = arrays["phase_learned"], arrays["phase_theory"], arrays["energy_optimum"]
    cmap = ListedColormap(PHASE_COLOURS)
    fig, axes = plt.subplots(1, 4, figsize=(21, 4.6))
    ext = [np.log10(rel[0]), np.log10(rel[-1]), np.log10(dens[0]), np.log10(dens[-1])]
    for ax, ph, title in (
        (axes[0], phase_sim, f"learned (best of {cfg.seeds} seeds)"),
        (axes[1], phase_th, "theory: optimised configurations"),
        (axes[2], arrays["phase_fixed"], "theory: the paper's fixed W = [1,0], [0,1], [1,−1]"),
    ):
        _phase_panel(ax, ph, ext, cmap, 2, title)
    _mark_misses(axes[0], phase_sim, phase_th, ext, cfg.grid)
    axes[1].legend(
        handles=[Patch(color=c, label=str(lab)) for c, lab in zip(PHASE_COLOURS, arrays["phase_names"], strict=True)],
        loc="lower right",
        fontsize=8,
    )
    ax = axes[3]
    for j in range(0, cfg.grid, max(1, cfg.grid // 4)):
        (line,) = ax.plot(dens, loss_best[:, j], "o", ms=4, label=f"trained, r={rel[j]:.2g}")
        ax.plot(dens, e_opt[:, j], "-", color=line.get_color(), lw=1)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="feature density 1 − S",
        ylabel="expected loss per sample",
        title="best trained loss (dots) vs analytic optimum (lines)",
    )
    ax.legend(fontsize=7)
    paper_title(fig, "superposition_phase_diagram", f"{ELHAGE}, 'Superposition as a Phase Change', n = 2, m = 1")
    figs = {"phase_diagram": fig}
    if "phase_learned_3x2" in arrays:
        colours = ("#d9d9d9", "#4c72b0", "#dd8452", "#55a868", "#000000")
        cmap3 = ListedColormap(colours)
        fig3, axes3 = plt.subplots(1, 3, figsize=(17, 4.8))
        learned3, theory3 = arrays["phase_learned_3x2"], arrays["phase_theory_3x2"]
        for ax, ph, title in (
            (axes3[0], learned3, f"learned (best of {cfg.seeds_3x2} seeds)"),
            (axes3[1], theory3, "theory: antipodal configurations optimised"),
            (axes3[2], arrays["phase_fixed_3x2"], "theory: the paper's fixed configurations"),
        ):
            _phase_panel(ax, ph, ext, cmap3, 4, title)
        _mark_misses(axes3[0], learned3, theory3, ext, cfg.grid)
        names = [str(n) for n in arrays["phase_names_3x2"]]
        fig3.legend(
            handles=[Patch(color=c, label=n) for c, n in zip(colours, names, strict=True)],
            loc="lower center",
            ncol=5,
            fontsize=8,
        )
        fig3.subplots_adjust(bottom=0.25)
        paper_title(fig3, "superposition_phase_diagram", f"{ELHAGE}, 'Superposition as a Phase Change', n = 3, m = 2")
        figs["phase_diagram_3x2"] = fig3
    return figs


def _feature_dimensionality(arrays: dict, cfg):
    plt = pyplot()
    dens, D, Dstar, live = arrays["density"], arrays["D"], arrays["D_star"], arrays["represented"]
    small, pred = arrays["in_small_group"], arrays["predicted_D"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [1.6, 1]})
    ax = axes[0]
    x = 1 / dens
    for k in range(len(dens)):
        d = D[k][live[k]]
        ax.scatter(
            np.full(d.shape, x[k]),
            d,
            s=8,
            alpha=0.35,
            color="C0",
            label="feature dimensionality D_i (simulation)" if k == 0 else None,
        )
    ax.plot(x, Dstar, "k-", lw=2, label="dimensions per feature D* = m/‖W‖²")
    if "sticky_D_star" in arrays:
        ax.plot(1 / arrays["sticky_density"], arrays["sticky_D_star"], "ks", ms=3, label="D*, fine grid")
    for name, v in zip(arrays["sticky_fraction_names"], arrays["sticky_fraction_values"], strict=True):
        ax.axhline(v, color="C3", lw=0.7, ls=":")
        ax.text(x[-1] * 1.05, v, str(name), fontsize=7, va="center", color="C3")
    ax.set(
        xscale="log",
        xlabel="1/(1 − S)  (inverse feature density)",
        ylabel="dimensions per feature",
        title=f"feature dimensionality, n={cfg.n}, m={cfg.m}; dotted: polytope fractions k/ℓ",
        ylim=(0, 1.1),
    )
    ax.legend(fontsize=8, loc="lower left")
    ax = axes[1]
    ax.hist(D[small], bins=60, range=(0, 1.05), color="C0", alpha=0.7, label="measured D_i (groups ≤ 8)")
    ax.hist(pred[small], bins=60, range=(0, 1.05), histtype="step", color="k", label="polytope theory k/ℓ")
    ax.set(xlabel="feature dimensionality", ylabel="number of features", title="sticky fractions")
    ax.legend(fontsize=8)
    paper_title(fig, "superposition_geometry", f"{ELHAGE}, 'The Geometry of Superposition', feature dimensionality")
    return fig


def interference(W: np.ndarray) -> np.ndarray:
    """Σ_{j≠i}(Ŵ_i·W_j)² per feature of W (..., m, n): 0 when feature i is orthogonal to the others, ≥ 1 when other
    features activate its direction as strongly as it does (Elhage et al.'s bar colouring)."""
    norms = np.linalg.norm(W, axis=-2)
    U = W / np.where(norms > 1e-9, norms, 1.0)[..., None, :]
    proj = np.einsum("...ki,...kj->...ij", U, W) ** 2
    return proj.sum(-1) - np.einsum("...ii->...i", proj)


def _heatmaps(arrays: dict, cfg):
    plt = pyplot()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    sp = arrays["heatmap_sparsity"]
    models = [("ReLU", arrays["W20"], arrays.get("b20"))]
    if "W20_linear" in arrays:
        models.insert(0, ("linear", arrays["W20_linear"], arrays.get("b20_linear")))
    rows = 2 * len(models)
    fig, axes = plt.subplots(rows, len(sp), figsize=(2.6 * len(sp), 2.6 * rows))
    axes = np.asarray(axes).reshape(rows, len(sp))
    norm = Normalize(0, 1)
    cmap = plt.get_cmap("plasma")
    for k, (name, W20, b20) in enumerate(models):
        sup = interference(W20)
        for j in range(len(sp)):
            img = W20[j].T @ W20[j]
            if b20 is not None:  # the paper's b column beside WᵀW, one blank column apart
                img = np.concatenate([img, np.full((20, 1), np.nan), b20[j][:, None]], axis=1)
            im = axes[2 * k, j].imshow(img, cmap="RdBu_r", vmin=-1, vmax=1)
            axes[2 * k, j].set(
                title=f"{name}, 1 − S = {1 - sp[j]:.3g}",
                xticks=[],
                yticks=[],
                xlabel="feature j" + ("  |  b" if b20 is not None else ""),
            )
            ax = axes[2 * k + 1, j]
            ax.barh(np.arange(20), np.linalg.norm(W20[j], axis=0), color=cmap(norm(np.minimum(sup[j], 1))))
            ax.invert_yaxis()
            ax.set(xlabel="‖W_i‖", xlim=(0, 1.3))
        axes[2 * k, 0].set_ylabel(f"{name}: WᵀW (i, j), b_i")
        axes[2 * k + 1, 0].set_ylabel("feature i (I = 0.7^i)")
    fig.set_layout_engine("none")
    fig.subplots_adjust(left=0.06, right=0.86, top=0.92, bottom=0.06, hspace=0.45, wspace=0.3)
    fig.colorbar(im, cax=fig.add_axes([0.89, 0.56, 0.012, 0.32]), label="WᵀW entry; b_i (last column)")
    fig.colorbar(
        ScalarMappable(norm, cmap),
        cax=fig.add_axes([0.89, 0.1, 0.012, 0.32]),
        label="bar colour: Σ_{j≠i}(Ŵ_i·W_j)², clipped at 1",
    )
    paper_title(
        fig, "superposition_geometry", f"{ELHAGE}, 'Demonstrating Superposition', n = 20, m = 5, linear vs ReLU"
    )
    return fig


def geometry(arrays: dict, cfg) -> dict:
    """Feature dimensionality and D* across sparsity; the n = 20, m = 5 WᵀW heat maps."""
    return {"feature_dimensionality": _feature_dimensionality(arrays, cfg), "WtW_heatmaps": _heatmaps(arrays, cfg)}


def _canonical(W: np.ndarray) -> np.ndarray:
    """Rotate (and reflect) a (2, 5) solution so feature 0 (or feature 1 when 0 is dropped) points along +x and
    feature 1 (or 2) lies in the upper half plane."""
    ref = 0 if np.linalg.norm(W[:, 0]) > 0.5 else 1
    a = np.arctan2(W[1, ref], W[0, ref])
    R = np.array([[np.cos(-a), -np.sin(-a)], [np.sin(-a), np.cos(-a)]])
    V = R @ W
    if V[1, ref + 1] < 0:
        V[1] *= -1
    return V


def pentagon(arrays: dict, cfg) -> dict:
    """Canonicalised best solutions across relative density; loss of every seed with the two geometries' theory
    curves and the crossover; the room feature 0's neighbours leave it."""
    plt = pyplot()
    r = arrays["relative_density"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ax = axes[0]
    cmap = plt.get_cmap("viridis")
    picks = np.unique(np.linspace(0, len(r) - 1, 6).round().astype(int))
    for i in picks:
        V = _canonical(arrays["W_best"][i])
        c = cmap(i / max(len(r) - 1, 1))
        for j in range(5):
            ax.plot([0, V[0, j]], [0, V[1, j]], color=c, lw=1, alpha=0.7)
        ax.scatter(V[0], V[1], color=c, s=18, label=f"r = {r[i]:.2g}")
        ax.scatter(V[0, 0], V[1, 0], color=c, s=70, marker="*", edgecolor="k", linewidth=0.4)
    ax.set(xlabel="hidden dim 1", ylabel="hidden dim 2", aspect="equal", title="best W_i (★: feature 0), canonicalised")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    names = [str(s) for s in arrays["geometry_names"]]
    colours = ("C1", "C0", "0.6")
    loss, geom = arrays["loss"], arrays["geometry"]
    for g, (name, col) in enumerate(zip(names, colours, strict=True)):
        rr, ll = np.broadcast_to(r[:, None], loss.shape)[geom == g], loss[geom == g]
        ax.scatter(rr, ll, s=10, color=col, alpha=0.6, label=f"trained: {name}")
    ax.plot(r, arrays["theory_pentagon"], color="C1", lw=1.5, label="theory: pentagon optimum")
    ax.plot(r, arrays["theory_digon"], color="C0", lw=1.5, label="theory: two-digon optimum")
    star = float(arrays["theory_crossover"])
    ax.axvline(star, color="k", ls="--", lw=1, label=f"theory crossover r* = {star:.3f} (1/{1 / star:.2f})")
    ax.axvline(1 / 2.5, color="k", ls=":", lw=1, label="paper: ~2.5× sparser (r = 0.4)")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="relative density r of feature 0 (its 1 − S over the others' 0.05)",
        ylabel="expected loss per sample",
        title="loss curves of the two geometries cross",
    )
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.plot(r, arrays["theory_gap"], color="k", lw=1.5, label="theory (pentagon optimum)")
    ok = arrays["best_geometry"] == 0
    ax.scatter(r[ok], arrays["best_gap"][ok], color="C1", s=20, zorder=3, label="trained, best seed (pentagons)")
    ax.axhline(144, color="0.5", ls=":", label="regular pentagon 144°")
    ax.set(
        xscale="log",
        xlabel="relative density r of feature 0",
        ylabel="angle between feature 0's neighbours (°)",
        title="the pentagon stretches",
    )
    from matplotlib.ticker import NullFormatter

    for a in axes[1:]:
        a.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=7)
    paper_title(fig, "superposition_pentagon", f"{ELHAGE}, 'Non-uniform superposition: perturbing a single feature'")
    return {"pentagon": fig}


def scaling(arrays: dict, cfg) -> dict:
    """Liu et al.'s small models: loss vs width, α_m vs α, ϕ₁ vs width, overlaps vs width, ϕ_1/2 over α × γ."""
    plt = pyplot()
    ms, alphas, decays = arrays["widths"], arrays["alphas"], list(arrays["decays"])
    gs, gw = decays.index(cfg.strong_decay), decays.index(cfg.weak_decay)
    L, eq4 = arrays["loss"], arrays["loss_eq4"]  # (A, G, W, S)
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(alphas)))
    fig, axes = plt.subplots(1, 5, figsize=(26, 4.6))
    ax = axes[0]
    for a, c, La, Ea in zip(alphas, colours, L, eq4, strict=True):
        ax.loglog(ms, La[gs].mean(-1), "s-", color=c, label=f"α = {a:g}")
        ax.loglog(ms, La[gw].mean(-1), "o--", color=c, mfc="none")
        ax.loglog(ms, Ea[gw].mean(-1), "x", color=c, ms=7)
    ax.set(
        xlabel="hidden dimension m",
        ylabel="test loss (MSE per feature)",
        title=f"■ strong γ={cfg.strong_decay:g}, ○ weak γ={cfg.weak_decay:.2g}, × Eq. 4",
    )
    ax.legend(fontsize=7, title="Figs. 4a / 5a")
    ax = axes[1]
    am = arrays["alpha_m"]  # (A, G, S)
    se = am.std(-1, ddof=1) / np.sqrt(am.shape[-1])
    ax.errorbar(alphas, am[:, gw].mean(-1), 3 * se[:, gw], fmt="o", color="C0", label=f"weak, γ = {cfg.weak_decay:.2g}")
    ax.errorbar(
        alphas, am[:, gs].mean(-1), 3 * se[:, gs], fmt="s", color="C1", label=f"strong, γ = {cfg.strong_decay:g}"
    )
    grid_a = np.linspace(min(alphas), max(alphas), 50)
    ax.plot(grid_a, grid_a - 1, "C0:", label="α − 1 (weak, Result 1)")
    ax.plot(grid_a, np.ones_like(grid_a), "C1--", label="1 (strong, flat)")
    ax.plot(grid_a, 2 * (grid_a - 1), "C1:", label="2(α − 1) (strong, skewed)")
    ax.set(xlabel="frequency exponent α", ylabel="α_m (L ∝ m^−α_m), ± 3 s.e. over seeds", title="Figs. 4b / 5e")
    ax.set_ylim(-0.5, 2.5)
    ax.legend(fontsize=7)
    ax = axes[2]
    for a, c, ph in zip(alphas, colours, arrays["phi_one"], strict=True):
        ax.loglog(ms, ph[gs].mean(-1), "s-", color=c, label=f"α = {a:g}")
    fine = np.geomspace(ms.min(), ms.max(), 50)
    ax.loglog(fine, np.minimum(1, fine**2 / (2 * cfg.n)), "k--", label="min(1, m²/2n)")
    ax.loglog(fine, fine / cfg.n, "k:", label="m/n")
    ax.set(
        xlabel="hidden dimension m", ylabel="ϕ₁ = fraction with ‖W_i‖ > 1", title=f"Fig. 16 (γ = {cfg.strong_decay:g})"
    )
    ax.legend(fontsize=7)
    ax = axes[3]
    for a, c, os_, oa in zip(alphas, colours, arrays["overlap_strong"], arrays["overlap_all"], strict=True):
        ax.loglog(ms, np.nanmean(os_[gs], -1), "s-", color=c, label=f"‖W_i‖ > 1, α = {a:g}")
        ax.loglog(ms, np.nanmean(oa[gs], -1), "^:", color=c, mfc="none")
    ax.loglog(fine, 1 / fine, "k--", label="1/m")
    k2 = np.nanmean(arrays["kappa2"][:, gs], axis=(0, 2))
    ax.loglog(ms, k2, "k+", ms=10, label="κ² (ν = strong rows)")
    ax.set(
        xlabel="hidden dimension m", ylabel="mean squared overlap (Ŵ_i·Ŵ_j)²", title="Figs. 5d (■) / 17 (△, all rows)"
    )
    ax.legend(fontsize=7)
    ax = axes[4]
    ph = arrays["phi_half"].mean(-1)[:, :, -1]  # widest
    im = ax.imshow(ph.T, origin="lower", aspect="auto", cmap="magma", vmin=0, vmax=1)
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas], fontsize=7)
    ax.set_yticks(range(len(decays)), [f"{g:.2f}" for g in decays], fontsize=7)
    ax.set(xlabel="α", ylabel="weight decay γ", title=f"Figs. 3 / 13: ϕ_1/2 at m = {ms[-1]}")
    fig.colorbar(im, ax=ax)
    paper_title(fig, "superposition_scaling", f"Liu, Liu & Gore 2025 (arXiv:2505.10465v4), small toy models, n={cfg.n}")
    return {"scaling": fig}


def robustness(arrays: dict, cfg) -> dict:
    """Liu et al.'s Fig. 1 (loss vs width per frequency law, strong and weak, and the laws) and Fig. 8b–c."""
    plt = pyplot()
    ms, L, am = arrays["widths"], arrays["loss"], arrays["alpha_m"]  # L (laws, 2, W, S); am (laws, 2, S)
    nl = len(cfg.laws)
    fig, axes = plt.subplots(1, nl + 2, figsize=(4.8 * (nl + 2), 4.4))
    ax = axes[0]
    for k, law in enumerate(cfg.laws):
        ax.loglog(np.arange(1, cfg.n + 1), arrays["probabilities"][k], label=law)
    ax.set(xlabel="feature rank i", ylabel="frequency p_i", title="frequency laws (Σ p_i = 1)", ylim=(1e-8, 1))
    ax.legend(fontsize=7)
    for k, (law, ax) in enumerate(zip(cfg.laws, axes[1 : nl + 1], strict=True)):
        for r, (name, marker, colour) in enumerate((("strong", "s", "C1"), ("weak", "o", "C0"))):
            y = L[k, r]
            a = am[k, r]
            ax.errorbar(
                ms,
                y.mean(-1),
                yerr=y.std(-1, ddof=1),
                fmt=marker + "-",
                color=colour,
                ms=4,
                label=f"{name} (γ = {(cfg.strong_decay, cfg.weak_decay)[r]:g}): α_m = {a.mean():.2f} ± "
                f"{a.std(ddof=1) / np.sqrt(a.size):.2f}",
            )
        ax.loglog(ms, L[k, 0, 0].mean() * ms[0] / ms, "k--", lw=1, label="∝ 1/m (through the first strong point)")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="hidden dimension m",
            ylabel="test loss (MSE per feature)",
            title=f"{law} frequencies",
        )
        ax.legend(fontsize=7)
    ax = axes[-1]
    for k, law in enumerate(cfg.laws):
        c = f"C{k + 2}"
        ax.loglog(ms, arrays["nu"][k, 0].mean(-1), "s-", color=c, ms=4, label=f"{law}, strong: ν = #‖W_i‖ > 1")
        ax.loglog(
            ms, arrays["phi_half"][k, 1].mean(-1) * cfg.n, "o:", color=c, ms=4, label=f"{law}, weak: #‖W_i‖ > 1/2"
        )
    ax.loglog(ms, np.minimum(cfg.n, ms**2 / 2), "k--", lw=1, label="min(n, m²/2)")
    ax.loglog(ms, ms, "k:", lw=1, label="m")
    ax.set(xlabel="hidden dimension m", ylabel="rows", title="represented rows (Fig. 8a, c)")
    ax.legend(fontsize=6)
    paper_title(
        fig,
        "superposition_robustness",
        f"Liu, Liu & Gore 2025, Figs. 1 and 8 (arXiv:2505.10465v4), n={cfg.n}, γ = {cfg.strong_decay:g} / "
        f"{cfg.weak_decay:g}",
    )
    return {"robustness": fig}
