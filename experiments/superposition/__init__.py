"""Toy models of superposition: simulations against the closed forms of :mod:`theory.superposition`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``superposition_linear``: dense features (S = 0), n = 20, m = 5, I_i = 0.7^i (Elhage et al. §2): the
  ReLU and linear models reach the linear optimum's loss and keep exactly the top-m features.
* ``superposition_phase_diagram``: n = 2, m = 1 models over density × relative importance; the learned
  phase (best of several seeds, judged by the exact expected loss) against the analytic phase.
* ``superposition_geometry``: feature dimensionality D_i and dimensions per feature D* across sparsity
  (uniform importance), the polytopes behind the sticky fractions, and the paper's WᵀW heat maps
  (n = 20, m = 5, I_i = 0.7^i across sparsity).
* ``superposition_scaling``: Liu, Liu & Gore's toy model (p_i ∝ i^−α, weight decay/growth γ): loss vs
  width in the weak (γ > 0) and strong (γ < 0) regimes against the unlearned-feature law and the 1/m law,
  and the interference of the learned embeddings against the Welch bound.

Every model of an experiment trains in one vmapped, jitted ``lax.scan`` (:func:`toymodels.superposition.
train`); sizes differ between ``--quick`` (CI) and the full (paper-like) configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from experiments.analysis import fit_power_law
from experiments.contract import Check, Result, RunContext, pyplot, register, require, setting
from experiments.sweep import train_sweep
from theory import superposition as th
from toymodels import superposition as tm

__all__ = [
    "LinearConfig",
    "PhaseConfig",
    "GeometryConfig",
    "ScalingConfig",
    "run_linear",
    "run_phase_diagram",
    "run_geometry",
    "run_scaling",
]

PHASE_COLOURS = ("#d9d9d9", "#4c72b0", "#dd8452")  # not represented, dedicated, superposition


def _validate_training(cfg):
    for name in ("steps", "batch_size", "n_records"):
        require(getattr(cfg, name) >= 1, f"{name} must be an integer >= 1; got {getattr(cfg, name)}")
    require(cfg.steps % cfg.n_records == 0, f"steps ({cfg.steps}) must be a multiple of n_records ({cfg.n_records})")
    require(cfg.lr > 0, f"lr must be > 0; got {cfg.lr}")


def _validate_sizes(n, m):
    require(n >= 1, f"n must be an integer >= 1; got {n}")
    require(m >= 1, f"m must be an integer >= 1; got {m}")


# ==============================================================================================
# superposition_linear
# ==============================================================================================
@dataclass(frozen=True)
class LinearConfig:
    n: int = setting(20, "number of features")
    m: int = setting(5, "hidden dimensions")
    importance_decay: float = setting(0.7, "importance I_i = importance_decay**i (Elhage et al. §2 uses 0.7)")
    seeds: int = setting(4, "independent models per activation")
    steps: int = setting(6000, "Adam steps")
    batch_size: int = setting(1024, "fresh samples per step")
    lr: float = setting(
        1e-2,
        "peak Adam step (warm-up 5 %, cosine decay to 5 %); the paper's 1e-3 needs ~10× more "
        "steps to expel the 6th feature to the accuracy checked here",
    )
    n_records: int = setting(60, "loss records over training")
    eval_samples: int = setting(1 << 17, "samples for the Monte-Carlo loss of the ReLU model")

    def validate(self):
        _validate_sizes(self.n, self.m)
        require(self.m < self.n, f"m must be < n for the top-m theory to bite; got m={self.m}, n={self.n}")
        require(0 < self.importance_decay < 1, f"importance_decay must lie in (0, 1); got {self.importance_decay}")
        require(self.seeds >= 1, f"seeds must be >= 1; got {self.seeds}")
        _validate_training(self)


def _linear_full() -> LinearConfig:
    return LinearConfig(seeds=10, steps=20000, n_records=100, eval_samples=1 << 20)


@register(
    "superposition_linear",
    "dense features (S=0): ReLU and linear toy models reach the linear optimum's "
    "loss and keep exactly the m most important features",
    LinearConfig,
    quick=LinearConfig,
    full=_linear_full,
)
def run_linear(cfg: LinearConfig, seed: int, ctx: RunContext) -> Result:
    imp = cfg.importance_decay ** np.arange(cfg.n)
    opt = th.linear_optimum(imp, cfg.m)
    L_star = float(opt.loss)
    kept = np.asarray(opt.kept)
    probs = np.ones((cfg.seeds, cfg.n))
    checks, arrays, curves, WtW = [], {"importance": imp, "optimum_loss": L_star}, {}, {}
    key = jax.random.key(seed)
    for k, activation in enumerate(("linear", "relu")):
        ctx.log(f"  {activation}: {cfg.seeds} models, {cfg.steps} steps")
        res = tm.train(
            jax.random.fold_in(key, k),
            importance=imp,
            probabilities=probs,
            m=cfg.m,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            activation=activation,
            schedule="warmup_cosine",
            warmup_steps=cfg.steps // 20,
            n_records=cfg.n_records,
            records_per_chunk=max(1, cfg.n_records // 10),
            progress=ctx.progress,
            dtype=np.float64,
        )
        W, b = np.asarray(res.params.W), np.asarray(res.params.b)
        if activation == "linear":
            loss = np.asarray(th.linear_model_loss(W, b, imp))  # exact expectation
            how = "exact expected loss (closed form of the linear model)"
        else:
            # Monte Carlo with common random numbers: L_sim = L* + mean(ℓ_sim − ℓ_opt) on the same samples, which
            # removes the sampling noise of the shared part (ℓ_opt is the optimum's loss, expectation L* exactly).
            n_eval = cfg.eval_samples
            stacked = tm.Params(
                np.concatenate([W, np.asarray(opt.W)[None]]), np.concatenate([b, np.asarray(opt.b)[None]])
            )
            lk = jax.random.fold_in(key, 100)
            per = np.asarray(tm.evaluate_loss(lk, stacked, imp, 1.0, n_samples=n_eval, common_samples=True))
            loss = L_star + per[:-1] - per[-1]
            how = "Monte-Carlo loss on common samples, referenced to the optimum's exact loss"
        excess = (loss - L_star) / L_star
        norms = np.linalg.norm(W, axis=1)
        represented = norms > 0.5
        mismatches = int(np.sum(represented != kept[None, :]))
        # Tolerance of the loss check. Adam's final-step jitter (η_T = 0.05·lr per parameter) costs ΔL ≈
        # Σ_{kept} I_i σ² (2η_T)² ≈ 1e-7 relative; what remains is the slow expulsion of feature m+1, whose norm
        # decays at a rate set by its small importance gap (measured residual ≈ 1e-4 relative at the quick size).
        # 1e-3 bounds that residual and is far below the cost of keeping a wrong feature (I_m σ²/L* ≈ 0.27), so a
        # model with the wrong kept set cannot pass. Monte-Carlo error of the ReLU difference is ~0 near the
        # optimum (the outputs coincide on the common samples).
        tol = 1e-3
        checks.append(
            Check.at_most(
                f"{activation}_loss_excess",
                float(np.max(np.abs(excess))),
                tol,
                f"max over {cfg.seeds} seeds of |L_sim − L*|/L*, L* = Σ_(i≥m) I_i/12 = {L_star:.6g} ({how}). Tolerance "
                f"1e-3 ≫ Adam's final-step jitter (~1e-7) and the slow expulsion of feature m+1 (~1e-4), ≪ the cost of "
                f"keeping a wrong feature "
                f"({float(imp[cfg.m - 1] / 12 / L_star):.2f} relative).",
            )
        )
        checks.append(
            Check.at_most(
                f"{activation}_top_m_features",
                mismatches,
                0,
                f"features whose 'represented' status (‖W_i‖ > 0.5) differs from the theory (exactly the {cfg.m} most "
                f"important), summed over seeds; must be 0",
            )
        )
        M = np.einsum("smi,smj->sij", W, W)
        P = np.asarray(opt.W).T @ np.asarray(opt.W)
        proj_err = float(np.max(np.abs(M - P)))
        checks.append(
            Check.at_most(
                f"{activation}_WtW_projection",
                proj_err,
                0.05,
                "max |WᵀW − P| over entries and seeds, P the projection on the top-m coordinates (optimum unique in M "
                "since the importances are distinct). For entries touching a kept feature j the loss weighs δM_ij² by at "
                "least I_j σ² ≥ 0.7^(m−1)/12, so an excess ≤ 1e-3·L* (the loss check) bounds them by "
                "sqrt(1e-3·L*·12/0.7^(m−1)) ≈ 0.048; hence 0.05. Entries between two dropped features carry weights "
                "down to I_(n−1) and are not bounded by the loss: for them 0.05 is a margin, not a derivation.",
            )
        )
        curves[activation] = (res.steps, np.asarray(res.loss))
        WtW[activation] = M[0]
        arrays[f"{activation}_W"] = W
        arrays[f"{activation}_b"] = b
        arrays[f"{activation}_loss"] = loss
        arrays[f"{activation}_loss_curve"] = np.asarray(res.loss)

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    ax = axes[0]
    for act, (steps, rec) in curves.items():
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
    ax.step(idx, kept.astype(float), where="mid", color="k", ls="--", label="theory: top-m kept")
    ax.set(xlabel="feature i (importance 0.7^i)", ylabel="‖W_i‖", title="which features are kept")
    ax.legend(fontsize=8)
    for ax, act in zip(axes[2:], ("linear", "relu"), strict=True):
        im = ax.imshow(WtW[act], cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set(title=f"WᵀW, {act} model (seed 0)", xlabel="feature j", ylabel="feature i")
    fig.colorbar(im, ax=axes[2:], shrink=0.8)
    return Result(checks, arrays, {"linear_optimum": fig}, {"optimum_loss": L_star})


# ==============================================================================================
# superposition_phase_diagram
# ==============================================================================================
@dataclass(frozen=True)
class PhaseConfig:
    grid: int = setting(10, "grid points per axis (density and relative importance, both log-spaced)")
    density_min: float = setting(0.01, "smallest feature density 1 − S (largest is 1)")
    importance_range: float = setting(10.0, "relative importance r of the extra feature spans [1/x, x]")
    seeds: int = setting(3, "models per cell; the one with the lowest exact expected loss is classified")
    steps: int = setting(4000, "Adam steps")
    batch_size: int = setting(1024, "fresh samples per step")
    lr: float = setting(1e-3, "Adam step (constant, as in Elhage et al.)")
    weight_decay: float = setting(0.01, "decoupled weight decay on W and b (torch AdamW default used by the paper)")
    n_records: int = setting(20, "loss records over training")
    min_agreement: float = setting(0.9, "required fraction of interior cells whose learned phase is the analytic one")

    def validate(self):
        require(self.grid >= 3, f"grid must be >= 3; got {self.grid}")
        require(0 < self.density_min < 1, f"density_min must lie in (0, 1); got {self.density_min}")
        require(self.importance_range > 1, f"importance_range must be > 1; got {self.importance_range}")
        require(self.seeds >= 1, f"seeds must be >= 1; got {self.seeds}")
        require(0 < self.min_agreement <= 1, f"min_agreement must lie in (0, 1]; got {self.min_agreement}")
        _validate_training(self)


def _phase_full() -> PhaseConfig:
    return PhaseConfig(grid=24, seeds=8, steps=10000, n_records=50)


def _interior(phase: np.ndarray) -> np.ndarray:
    """Cells whose 8 neighbours all share their analytic phase (away from the theoretical boundaries)."""
    pad = np.pad(phase, 1, mode="edge")
    same = np.ones(phase.shape, bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            same &= pad[1 + di : 1 + di + phase.shape[0], 1 + dj : 1 + dj + phase.shape[1]] == phase
    return same


@register(
    "superposition_phase_diagram",
    "n=2, m=1 toy models over density × relative importance: learned phase "
    "vs the analytic phase from the exact expected losses of the three configurations",
    PhaseConfig,
    quick=PhaseConfig,
    full=_phase_full,
)
def run_phase_diagram(cfg: PhaseConfig, seed: int, ctx: RunContext) -> Result:
    dens = np.geomspace(cfg.density_min, 1.0, cfg.grid)
    rel = np.geomspace(1 / cfg.importance_range, cfg.importance_range, cfg.grid)
    P, R = np.meshgrid(dens, rel, indexing="ij")  # axis 0: density, axis 1: importance
    energies = th.phase_energies(R, P)
    phase_th = th.predicted_phase(energies)
    e_opt = np.minimum(
        np.minimum(np.asarray(energies.not_represented), np.asarray(energies.dedicated)),
        np.asarray(energies.superposition),
    )

    cells = cfg.grid * cfg.grid
    imp = np.repeat(np.stack([np.ones(cells), R.ravel()], axis=1), cfg.seeds, axis=0)
    probs = np.repeat(np.stack([P.ravel(), P.ravel()], axis=1), cfg.seeds, axis=0)
    ctx.log(f"  {imp.shape[0]} models (n=2, m=1), {cfg.steps} steps")
    res = train_sweep(
        ctx,
        "train",
        tm.job(
            importance=imp,
            probabilities=probs,
            m=1,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            weight_decay=cfg.weight_decay,
            bias_decay=cfg.weight_decay,
            n_records=cfg.n_records,
        ),
        jax.random.key(seed),
        records_per_chunk=max(1, cfg.n_records // 10),
    )
    W = np.asarray(res.params.W, float)[:, 0, :]
    b = np.asarray(res.params.b, float)
    exact = np.asarray(th.expected_loss_2x1(W, b, imp, probs[:, 0])).reshape(cells, cfg.seeds)
    best = np.argmin(exact, axis=1)
    W_best = W.reshape(cells, cfg.seeds, 2)[np.arange(cells), best]
    phase_sim = th.classify_phase_2x1(W_best).reshape(cfg.grid, cfg.grid)
    loss_best = exact[np.arange(cells), best].reshape(cfg.grid, cfg.grid)
    interior = _interior(phase_th)
    agree = phase_sim == phase_th
    frac = float(np.mean(agree[interior]))
    rel_excess = (loss_best - e_opt) / e_opt
    checks = [
        Check.at_least(
            "phase_agreement_interior",
            frac,
            cfg.min_agreement,
            f"fraction of the {int(interior.sum())} grid cells away from the analytic boundaries (all 8 neighbours in "
            f"the same analytic phase) whose learned phase (best of {cfg.seeds} seeds by exact expected loss, "
            f"‖w_i‖ > 0.5 = represented) equals the analytic phase. Required {cfg.min_agreement}: the learned phase "
            f"is the argmin of the same expected loss, so misses come only from seeds stuck in a worse basin.",
        ),
        Check.at_most(
            "median_loss_excess",
            float(np.median(rel_excess)),
            0.01,
            "median over cells of (exact expected loss of the best trained model − analytic optimum)/optimum. At "
            "lr 1e-3 Adam's jitter on (w, b) is ≲1e-3 per step, a ≲1e-3 relative excess (quadratic in it, so far "
            "less at the optimum's curvature); weight decay 0.01 shifts the optimum by O(γ·lr/grad) ≲ 1e-3; "
            "0.01 bounds both.",
        ),
        Check.at_least(
            "learned_not_below_optimum",
            float(np.min(rel_excess)),
            -1e-6,
            "min over cells of the same relative excess: no trained model may beat the analytic optimum (both are "
            "exact expectations; −1e-6 allows for the optimiser's convergence of the superposition branch).",
        ),
    ]
    arrays = {
        "density": dens,
        "relative_importance": rel,
        "phase_theory": phase_th,
        "phase_learned": phase_sim,
        "interior": interior,
        "energy_not_represented": np.asarray(energies.not_represented),
        "energy_dedicated": np.asarray(energies.dedicated),
        "energy_superposition": np.asarray(energies.superposition),
        "loss_best": loss_best,
        "W_best": W_best,
    }

    plt = pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    cmap = ListedColormap(PHASE_COLOURS)
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    ext = [np.log10(rel[0]), np.log10(rel[-1]), np.log10(dens[0]), np.log10(dens[-1])]
    for ax, ph, title in (
        (axes[0], phase_sim, f"learned (best of {cfg.seeds} seeds)"),
        (axes[1], phase_th, "theory (exact expected losses)"),
    ):
        ax.imshow(ph, origin="lower", cmap=cmap, vmin=0, vmax=2, extent=ext, aspect="auto", interpolation="nearest")
        ax.set(xlabel="log10 relative importance r of feature 2", ylabel="log10 feature density 1 − S", title=title)
    yy, xx = np.nonzero(~agree)
    dx = (ext[1] - ext[0]) / (cfg.grid - 1)
    dy = (ext[3] - ext[2]) / (cfg.grid - 1)
    axes[0].scatter(ext[0] + xx * dx, ext[2] + yy * dy, marker="x", color="k", s=25, label="≠ theory")
    axes[0].legend(loc="lower right", fontsize=8)
    axes[1].legend(
        handles=[Patch(color=c, label=lab) for c, lab in zip(PHASE_COLOURS, th.PHASES, strict=True)],
        loc="lower right",
        fontsize=8,
    )
    ax = axes[2]
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
    return Result(
        checks, arrays, {"phase_diagram": fig}, {"agreement_interior": frac, "agreement_all": float(np.mean(agree))}
    )


# ==============================================================================================
# superposition_geometry
# ==============================================================================================
@dataclass(frozen=True)
class GeometryConfig:
    n: int = setting(100, "features (uniform importance) for the feature-dimensionality sweep")
    m: int = setting(10, "hidden dimensions for the feature-dimensionality sweep")
    densities: int = setting(16, "feature densities 1 − S, log-spaced from 1 to density_min")
    density_min: float = setting(0.003, "smallest density")
    heatmap_sparsities: tuple = setting(
        (0.0, 0.7, 0.9, 0.97, 0.99, 0.997), "sparsities of the n=20, m=5, I=0.7^i models shown as WᵀW heat maps"
    )
    steps: int = setting(6000, "Adam steps")
    batch_size: int = setting(512, "fresh samples per step")
    lr: float = setting(1e-3, "Adam step (constant)")
    weight_decay: float = setting(0.01, "decoupled weight decay on W and b")
    n_records: int = setting(20, "loss records over training")
    max_polytope: int = setting(8, "largest group (features) counted as a polytope; bigger groups are diffuse")

    def validate(self):
        _validate_sizes(self.n, self.m)
        require(self.densities >= 2, f"densities must be >= 2; got {self.densities}")
        require(0 < self.density_min < 1, f"density_min must lie in (0, 1); got {self.density_min}")
        require(
            all(0 <= s < 1 for s in self.heatmap_sparsities),
            f"heatmap_sparsities must lie in [0, 1); got {self.heatmap_sparsities}",
        )
        _validate_training(self)


def _geometry_full() -> GeometryConfig:
    return GeometryConfig(n=200, m=20, densities=40, density_min=0.001, steps=10000, batch_size=1024, n_records=50)


@register(
    "superposition_geometry",
    "feature dimensionality vs dimensions per feature across sparsity: sticky "
    "fractions and the polytopes behind them; the paper's WᵀW heat maps",
    GeometryConfig,
    quick=GeometryConfig,
    full=_geometry_full,
)
def run_geometry(cfg: GeometryConfig, seed: int, ctx: RunContext) -> Result:
    key = jax.random.key(seed)
    dens = np.geomspace(1.0, cfg.density_min, cfg.densities)
    ctx.log(f"  feature-dimensionality sweep: {cfg.densities} models, n={cfg.n}, m={cfg.m}")
    res = train_sweep(
        ctx,
        "train",
        tm.job(
            importance=np.ones(cfg.n),
            probabilities=np.repeat(dens[:, None], cfg.n, 1),
            m=cfg.m,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            weight_decay=cfg.weight_decay,
            bias_decay=cfg.weight_decay,
            n_records=cfg.n_records,
        ),
        key,
        records_per_chunk=max(1, cfg.n_records // 10),
    )
    W = np.asarray(res.params.W, float)
    D = np.asarray(th.feature_dimensionality(W))
    Dstar = np.asarray(th.dimensions_per_feature(W))
    live = np.linalg.norm(W, axis=1) > 0.5
    sizes, ranks, pred = (np.stack(a) for a in zip(*(th.polytope_structure(w) for w in W), strict=True))
    small = live & (sizes >= 1) & (sizes <= cfg.max_polytope)
    # Polytope theory: a feature in a uniform polytope of ℓ features spanning k dimensions, orthogonal to the other
    # groups, has D = k/ℓ exactly. Residual overlaps with other groups are below the linking threshold (0.05), which
    # changes D_i by at most Σ_j overlap² / Σ ≈ ℓ_other·0.05² relative, < 0.05 for the ≤ 8-feature groups counted.
    close = np.abs(D - pred) <= 0.05
    frac_poly = float(np.mean(close[small])) if small.any() else float("nan")
    sticky = np.array(list(th.STICKY_FRACTIONS.values()))
    on_sticky = np.min(np.abs(D[..., None] - sticky), axis=-1) <= 0.02
    sticky_share = float(np.mean(on_sticky[small])) if small.any() else float("nan")

    imp20 = 0.7 ** np.arange(20)
    sp = np.asarray(cfg.heatmap_sparsities, float)
    ctx.log(f"  WᵀW heat maps: {len(sp)} models, n=20, m=5")
    res20 = tm.train(
        jax.random.fold_in(key, 1),
        importance=imp20,
        probabilities=np.repeat((1 - sp)[:, None], 20, 1),
        m=5,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        bias_decay=cfg.weight_decay,
        n_records=cfg.n_records,
        progress=ctx.progress,
    )
    W20 = np.asarray(res20.params.W, float)
    dense_dstar = float(np.asarray(th.dimensions_per_feature(W20[np.argmin(sp)])))
    n_rep20 = (np.linalg.norm(W20, axis=1) > 0.5).sum(axis=1)

    checks = [
        Check.at_least(
            "polytope_dimensionality",
            frac_poly,
            0.9,
            f"fraction of the {int(small.sum())} represented features lying in groups of ≤ {cfg.max_polytope} "
            "interfering features whose measured D_i is within 0.05 of k/ℓ (ℓ features of the group spanning k "
            "dims) — the tegum-product prediction. Residual overlaps with other groups are < 0.05 by construction, "
            "moving D_i by < 0.05; 0.9 leaves room for non-uniform (distorted) polytopes.",
        ),
        Check.at_most(
            "dense_dims_per_feature",
            abs(dense_dstar - 1.0),
            0.02,
            f"|D* − 1| for the n=20, m=5, I=0.7^i model at S = {sp.min():g}: the linear optimum keeps 5 features "
            "at unit norm, D* = m/‖W‖² = 1. 0.02 covers weight decay 0.01's shrinkage of the norms "
            "(‖W_i‖² ≈ 1 − O(γ) ≈ 0.99).",
        ),
        Check.at_least(
            "superposition_grows_with_sparsity",
            float(n_rep20[np.argmax(sp)] - n_rep20[np.argmin(sp)]),
            1,
            "represented features (‖W_i‖ > 0.5) at the sparsest minus at the densest heat-map model: the theory "
            f"predicts exactly m = 5 when dense and superposition (> m) when sparse; got {n_rep20.tolist()}.",
        ),
    ]
    arrays = {
        "density": dens,
        "D": D,
        "D_star": Dstar,
        "represented": live,
        "group_size": sizes,
        "group_rank": ranks,
        "predicted_D": pred,
        "W": W,
        "heatmap_sparsity": sp,
        "W20": W20,
    }

    plt = pyplot()
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
    for name, v in th.STICKY_FRACTIONS.items():
        ax.axhline(v, color="C3", lw=0.7, ls=":")
        ax.text(x[-1] * 1.05, v, name, fontsize=7, va="center", color="C3")
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
    fig2, axes2 = plt.subplots(2, len(sp), figsize=(2.6 * len(sp), 5.2))
    axes2 = np.asarray(axes2).reshape(2, len(sp))
    for j in range(len(sp)):
        im = axes2[0, j].imshow(W20[j].T @ W20[j], cmap="RdBu_r", vmin=-1, vmax=1)
        axes2[0, j].set(title=f"S = {sp[j]:g}", xticks=[], yticks=[])
        norms = np.linalg.norm(W20[j], axis=0)
        Dj = np.asarray(th.feature_dimensionality(W20[j]))
        axes2[1, j].barh(np.arange(20), norms, color=np.where(Dj > 0.9, "C0", "C3"))
        axes2[1, j].invert_yaxis()
        axes2[1, j].set(xlabel="‖W_i‖ (red: superposed)", xlim=(0, 1.3))
    axes2[0, 0].set_ylabel("WᵀW (features i, j)")
    axes2[1, 0].set_ylabel("feature i (I = 0.7^i)")
    fig2.colorbar(im, ax=axes2[0].tolist(), shrink=0.8)
    return Result(
        checks,
        arrays,
        {"feature_dimensionality": fig, "WtW_heatmaps": fig2},
        {"polytope_fraction": frac_poly, "sticky_share": sticky_share, "represented_n20": n_rep20.tolist()},
    )


# ==============================================================================================
# superposition_scaling
# ==============================================================================================
@dataclass(frozen=True)
class ScalingConfig:
    n: int = setting(1000, "features (as in Liu et al.)")
    widths: tuple = setting((16, 23, 32, 45, 64), "hidden dimensions m (paper: 10 … 100)")
    alpha: float = setting(1.5, "feature frequencies p_i ∝ i^(−alpha) (paper convention; code exponent 1 + α')")
    weak_decay: float = setting(0.1, "weight decay γ > 0 of the weak-superposition runs")
    strong_decay: float = setting(-1.0, "weight decay γ < 0 (norm-to-one growth) of the strong runs")
    seeds: int = setting(1, "models per (width, regime)")
    steps: int = setting(2000, "Adam steps (paper: 20,000 with 2000 warm-up + cosine to 5 %; here 10 % warm-up)")
    batch_size: int = setting(256, "fresh samples per step (paper: 2048)")
    lr: float = setting(1e-2, "peak Adam step")
    n_records: int = setting(20, "loss records over training")
    eval_samples: int = setting(1 << 16, "Monte-Carlo samples for the final loss")

    def validate(self):
        require(self.n >= 2, f"n must be an integer >= 2; got {self.n}")
        require(
            len(self.widths) >= 3 and all(1 <= w < self.n for w in self.widths),
            f"widths must be >= 3 integers in [1, n); got {self.widths}",
        )
        require(self.alpha > 1, f"alpha must be > 1 (weak-regime exponent alpha − 1 > 0); got {self.alpha}")
        require(self.weak_decay >= 0, f"weak_decay must be >= 0; got {self.weak_decay}")
        require(self.strong_decay < 0, f"strong_decay must be < 0; got {self.strong_decay}")
        require(self.seeds >= 1, f"seeds must be >= 1; got {self.seeds}")
        _validate_training(self)


def _scaling_full() -> ScalingConfig:
    return ScalingConfig(
        n=1000,
        widths=(10, 15, 25, 39, 63, 100),
        seeds=3,
        steps=20000,
        batch_size=2048,
        n_records=100,
        eval_samples=1 << 18,
    )


@register(
    "superposition_scaling",
    "Liu, Liu & Gore's toy model: loss vs width in the weak (γ>0) and strong "
    "(γ<0) superposition regimes against the unlearned-feature law and the 1/m law; interference vs Welch",
    ScalingConfig,
    quick=ScalingConfig,
    full=_scaling_full,
)
def run_scaling(cfg: ScalingConfig, seed: int, ctx: RunContext) -> Result:
    n = cfg.n
    ms = np.asarray(sorted(cfg.widths))
    p = np.asarray(th.power_law_frequencies(n, cfg.alpha))
    imp = np.full(n, 1.0 / n)  # plain MSE, as in the paper's code
    regimes = (("weak", cfg.weak_decay), ("strong", cfg.strong_decay))
    widths = np.tile(np.repeat(ms, cfg.seeds), 2)
    decay = np.repeat([g for _, g in regimes], len(ms) * cfg.seeds)
    ctx.log(f"  {widths.size} models, n={n}, widths {ms.tolist()}, {cfg.steps} steps")
    res = train_sweep(
        ctx,
        "train",
        tm.job(
            importance=imp,
            probabilities=p,
            m=int(ms.max()),
            widths=widths,
            weight_decay=decay,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            schedule="warmup_cosine",
            warmup_steps=cfg.steps // 10,
            init="liu",
            value_range=(0.0, 2.0),
            n_records=cfg.n_records,
        ),
        jax.random.key(seed),
        records_per_chunk=max(1, cfg.n_records // 10),
    )
    L = np.asarray(
        tm.evaluate_loss(
            jax.random.key(seed + 1), res.params, imp, p, n_samples=cfg.eval_samples, value_range=(0.0, 2.0)
        ),
        float,
    )
    W = np.asarray(res.params.W, float)
    norms = np.linalg.norm(W, axis=1)
    rep = norms > 0.5
    var = p * 4 / 3 - p * p
    L_unlearned = np.where(rep, 0.0, var).sum(axis=1) / n  # Liu et al.: activated-but-unlearned features
    shape = (2, len(ms), cfg.seeds)
    L, L_unlearned, frac_rep = L.reshape(shape), L_unlearned.reshape(shape), rep.mean(axis=1).reshape(shape)
    overlap = np.array(
        [float(th.mean_squared_overlap(W[k][:, rep[k]])) if rep[k].sum() > 1 else np.nan for k in range(W.shape[0])]
    ).reshape(shape)
    L_weak_th = np.asarray(th.weak_superposition_loss(ms, p))
    Lm = L.mean(axis=2)
    k_weak, se_weak, _ = fit_power_law(ms, Lm[0])
    k_weak_th, _, _ = fit_power_law(ms, L_weak_th)
    k_unl, _, _ = fit_power_law(ms, L_unlearned[0].mean(axis=1))
    k_strong, se_strong, _ = fit_power_law(ms, Lm[1])
    k_ov, se_ov, _ = fit_power_law(ms, np.nanmean(overlap[1], axis=1))
    welch_slope = np.asarray(th.welch_bound_log_slope(n, ms))
    welch = np.asarray(th.welch_bound(n, ms))
    top = np.argsort(-p)
    weak_rel = np.abs(L[0] - L_unlearned[0]) / L[0]
    ctx.log(f"  strong exponent {k_strong:.3f} ± {se_strong:.3f}; overlap exponent {k_ov:.3f} ± {se_ov:.3f}")
    checks = [
        Check.at_most(
            "weak_loss_vs_unlearned_features",
            float(np.max(weak_rel)),
            0.35,
            "weak regime: max over widths of |L − L_unlearned|/L with L_unlearned = (1/n) Σ_(i not represented) "
            "Var(x_i), Var = (4/3)p_i − p_i² (Liu et al.'s activated-but-unlearned features; represented = "
            "‖W_i‖ > 0.5). L_unlearned is a lower bound; the represented features add their residual error "
            "(norms shrunk by the decay, small overlaps). Not derived: 0.35 is the claim 'unlearned features carry "
            "most of the loss'; the measured value is reported.",
        ),
        Check.at_most(
            "weak_exponent",
            abs(k_weak - k_unl),
            3 * se_weak + 0.1,
            f"|fitted exponent of L(m) − exponent of L_unlearned(m)| (weak law evaluated on the learned represented "
            f"set; {k_unl:.3f}). The top-m form of the same law gives {k_weak_th:.3f} over these widths and "
            f"−(α−1) = {-(cfg.alpha - 1):.3f} asymptotically. Tolerance: 3 standard errors of the fit + 0.1.",
        ),
        Check.at_most(
            "strong_exponent",
            max(0.0, k_strong - (-1.0), float(welch_slope.min()) - k_strong),
            3 * se_strong + 0.1,
            f"distance of the fitted strong-regime exponent from the band [Welch slope −1 − m/(n−m) at m_max = "
            f"{welch_slope.min():.3f}, −1] (Liu et al.: L ∝ 1/m; finite n steepens it as the Welch bound does). "
            "Tolerance: 3 standard errors of the fit + 0.1 for the loss's subleading terms.",
        ),
        Check.at_least(
            "strong_overlap_above_welch",
            float(np.nanmin(np.nanmean(overlap[1], axis=1) / welch)),
            1.0,
            "strong regime: min over widths of (mean squared overlap of the learned unit embeddings)/(Welch bound "
            "(n−m)/(m(n−1))). The Welch bound is a theorem for any n unit vectors in m dims, so the ratio must be "
            "≥ 1; how close it gets measures how tightly training packs the features (the fitted overlap exponent "
            "is reported in the metrics against the Welch slope).",
        ),
        Check.at_least(
            "strong_all_features_represented",
            float(frac_rep[1].min()),
            0.95,
            "strong regime: smallest fraction of features with ‖W_i‖ > 0.5 (Liu et al.: γ < 0 represents all).",
        ),
    ]
    arrays = {
        "widths": ms,
        "probabilities": p,
        "loss": L,
        "loss_unlearned": L_unlearned,
        "loss_weak_theory": L_weak_th,
        "fraction_represented": frac_rep,
        "overlap": overlap,
        "welch": welch,
        "top_features": top[: ms.max()],
    }
    metrics = {
        "weak_exponent": k_weak,
        "weak_exponent_unlearned": k_unl,
        "weak_exponent_theory_finite_n": k_weak_th,
        "weak_exponent_asymptotic": -(cfg.alpha - 1),
        "strong_exponent": k_strong,
        "strong_exponent_se": se_strong,
        "overlap_exponent": k_ov,
        "overlap_exponent_se": se_ov,
        "overlap_exponent_welch_mean": float(np.mean(welch_slope)),
        "welch_slope": welch_slope.tolist(),
    }

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    ax = axes[0]
    ax.loglog(ms, Lm[0], "o", color="C0", label=f"weak (γ = {cfg.weak_decay:g}), simulation")
    ax.loglog(ms, L_weak_th, "-", color="C0", label="theory: top-m represented, rest at their mean")
    ax.loglog(ms, L_unlearned[0].mean(axis=1), "x", color="C0", ms=8, label="theory: from the learned represented set")
    ax.loglog(ms, Lm[1], "s", color="C1", label=f"strong (γ = {cfg.strong_decay:g}), simulation")
    c = Lm[1][0] * ms[0]
    ax.loglog(ms, c / ms, "--", color="C1", label="∝ 1/m (strong theory)")
    ax.set(
        xlabel="hidden dimension m", ylabel="test loss (MSE per feature)", title=f"loss vs width, n={n}, α={cfg.alpha}"
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.loglog(ms, np.nanmean(overlap[1], axis=1), "s", color="C1", label="strong: mean (Ŵ_i·Ŵ_j)², simulation")
    ax.loglog(ms, np.asarray(th.welch_bound(n, ms)), "-", color="k", label="Welch bound (n−m)/(m(n−1))")
    ax.loglog(ms, np.asarray(th.random_overlap(ms)), ":", color="k", label="random unit vectors 1/m")
    ax.set(xlabel="hidden dimension m", ylabel="mean squared overlap", title="interference of the embeddings")
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.semilogx(ms, frac_rep[0].mean(axis=1), "o-", label="weak")
    ax.semilogx(ms, frac_rep[1].mean(axis=1), "s-", label="strong")
    ax.semilogx(ms, ms / n, "k--", label="m/n (no superposition)")
    ax.set(xlabel="hidden dimension m", ylabel="fraction of features with ‖W_i‖ > 0.5", title="represented features")
    ax.legend(fontsize=7)
    return Result(checks, arrays, {"scaling": fig}, metrics)
