"""``superposition_scaling``: Liu, Liu & Gore's small toy models (App. B.2), loss vs width over α × γ.

Stages: :func:`simulate` (one sweep per width of every (α, γ, seed) model, then the test loss), :func:`measure`
(row norms: ϕ_{1/2}, ϕ₁; Eq. 4 with the measured represented set; the overlaps of the strongly represented rows and of
all rows), :func:`fits` (per seed, the power-law exponent α_m of L(m) and of the other laws; mean and standard error
over seeds) and :func:`checks`.

Each check's tolerance is three standard errors over seeds of the quantity it tests (the seed-to-seed spread of a
fitted exponent, not the fit's own residual), and each can fail in the other regime: the strong exponent must be
separated from the weak one at the same widths, Eq. 4 gives no loss in the strong regime, ϕ₁ growing like m/n (slope
1) fails the m² law.
"""

from __future__ import annotations

import jax
import numpy as np

from experiments.analysis import fit_power_law
from experiments.contract import Check, Result, RunContext, register
from experiments.superposition import figures
from experiments.superposition.settings import ScalingConfig
from experiments.sweep import train_sweep
from theory import superposition as th
from toymodels import superposition as tm

__all__ = ["run_scaling", "simulate", "measure", "fits", "checks", "grid", "train_and_measure", "row_measures"]

VALUE_RANGE = (0.0, 2.0)  # Eq. 1: v ~ U(0, 2)


def grid(cfg: ScalingConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α, γ, seed) of every model of one width, α slowest; the same order at every width."""
    a, g, s = np.meshgrid(cfg.alphas, cfg.decays, np.arange(cfg.seeds), indexing="ij")
    return a.ravel(), g.ravel(), s.ravel()


def frequencies(cfg: ScalingConfig) -> np.ndarray:
    """(len(alphas), n) feature frequencies p_i ∝ i^(−α), Σ_i p_i = 1 (activation density E = 1)."""
    return np.stack([np.asarray(th.power_law_frequencies(cfg.n, a), float) for a in cfg.alphas])


def _outputs(result) -> dict:
    p = result.state["params"]
    W, b = (p["W"], p["b"]) if isinstance(p, dict) else (p.W, p.b)
    return {"W": W, "b": b, "overflow": result.state["overflow"], "loss_curve": result.records["loss"]}


def row_measures(W: np.ndarray) -> dict:
    """Per model (W: (models, m, n), column i = Liu et al.'s row W_i): norms ‖W_i‖, and the mean squared overlap
    of the unit directions Ŵ_i·Ŵ_j (i ≠ j) over the strongly represented rows (‖W_i‖ > 1, Fig. 5d) and over every
    row (Fig. 17); ν, the number of strongly represented rows."""
    norms = np.linalg.norm(W, axis=1)
    strong, every = [], []
    for k in range(W.shape[0]):
        U = W[k] / np.maximum(norms[k], 1e-12)
        sel = norms[k] > 1.0
        strong.append(float(th.mean_squared_overlap(U[:, sel])) if sel.sum() > 1 else np.nan)
        every.append(float(th.mean_squared_overlap(U[:, norms[k] > 1e-6])))
    return {
        "norms": norms.astype(np.float32),
        "overlap_strong": np.asarray(strong),
        "overlap_all": np.asarray(every),
        "nu": (norms > 1.0).sum(axis=1),
    }


def simulate(cfg: ScalingConfig, seed: int, ctx: RunContext) -> dict:
    """Every (width, α, γ, seed) model: row measures, test loss, loss curve and sampler cut-offs, each with leading
    axes (widths, models) (models in :func:`grid` order).

    One sweep per width (each compiled at its own m, so narrow models do not pay for the widest), plain MSE
    (importance 1/n), W ~ N(0, 1/m), b ~ N(0, 1), Adam with Liu et al.'s warm-up + cosine schedule and decay rule;
    the test loss on ``eval_samples`` fresh samples, common to every model.
    """
    n = cfg.n
    P = frequencies(cfg)
    alpha, gamma, _ = grid(cfg)
    ai = np.searchsorted(np.asarray(cfg.alphas), alpha)
    imp = np.full(n, 1.0 / n)
    ctx.log(
        f"  {len(cfg.widths)} widths × {alpha.size} models (α × γ × seed), n={n}, {cfg.steps} steps, "
        f"batch {cfg.batch_size}"
    )
    per_width = []
    for j, m in enumerate(cfg.widths):
        job = tm.job(
            importance=imp,
            probabilities=P[ai],
            m=int(m),
            weight_decay=gamma,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.lr,
            schedule="warmup_cosine",
            warmup_steps=cfg.steps // 10,
            init="liu",
            value_range=VALUE_RANGE,
            n_records=cfg.n_records,
            sampler="sparse",
        )
        key = jax.random.fold_in(jax.random.key(seed), j)
        per_width.append(train_and_measure(ctx, f"train_m{m}", job, key, seed, cfg.n_records, n_eval=cfg.eval_samples))
    return {k: np.stack([w[k] for w in per_width]) for k in per_width[0]}


def train_and_measure(
    ctx: RunContext, name: str, job, key, seed: int, n_records: int, *, n_eval: int, chunk: int = 4096, sampler="dense"
) -> dict:
    """Train one width's sweep (resumable under ``name``), then the test loss of every model on ``n_eval`` fresh
    samples common to all (key ``seed + 1``), the :func:`row_measures`, the loss curves and the sampler's cut-offs
    (training, plus the test batches with ``sampler="sparse"``)."""
    res = train_sweep(ctx, name, job, key, outputs=_outputs, records_per_chunk=max(1, n_records // 5))
    params = tm.Params(jax.numpy.asarray(res["W"]), jax.numpy.asarray(res["b"]))
    setting = job.settings
    test, over = tm.evaluate_loss(
        jax.random.key(seed + 1),
        params,
        setting["importance"],
        setting["probabilities"],
        n_samples=n_eval,
        chunk=chunk,
        value_range=VALUE_RANGE,
        common_samples=True,
        sampler=sampler,
        return_overflow=True,
    )
    return {
        **row_measures(np.asarray(res["W"], float)),
        "loss": np.asarray(test, float),
        "loss_curve": np.asarray(res["loss_curve"], float),
        "overflow": np.asarray(res["overflow"]) + np.asarray(over),
    }


def _cells(cfg: ScalingConfig, x: np.ndarray) -> np.ndarray:
    """(widths, models, …) → (α, γ, widths, seeds, …)."""
    A, G, S = len(cfg.alphas), len(cfg.decays), cfg.seeds
    x = np.asarray(x).reshape(len(cfg.widths), A, G, S, *np.shape(x)[2:])
    return np.moveaxis(x, 0, 2)


def measure(cfg: ScalingConfig, sim: dict) -> dict:
    """Per (α, γ, width, seed): test loss, Eq. 4 with the measured represented set, ϕ_{1/2}, ϕ₁, overlaps, ν."""
    n, ms = cfg.n, np.asarray(cfg.widths, float)
    P = frequencies(cfg)
    norms = _cells(cfg, sim["norms"])  # (A, G, W, S, n)
    var = (4.0 / 3.0) * P - P * P  # Var(x_i) for v ~ U(0, 2): ⟨v²⟩p_i − ⟨v⟩²p_i²
    unrepresented = norms <= 0.5
    eq4 = np.sum(unrepresented * var[:, None, None, None, :], axis=-1) / n  # Eq. 4 (per feature: / n, plain MSE)
    nu = _cells(cfg, sim["nu"]).astype(float)
    m = ms[None, None, :, None]
    kappa2 = np.where(nu > m, (nu - m) / (m * np.maximum(nu - 1, 1)), np.nan)  # Eq. 5 squared, ν strong rows
    return {
        "loss": _cells(cfg, sim["loss"]),
        "loss_eq4": eq4,
        "phi_half": (norms > 0.5).mean(axis=-1),
        "phi_one": (norms > 1.0).mean(axis=-1),
        "nu": nu,
        "overlap_strong": _cells(cfg, sim["overlap_strong"]),
        "overlap_all": _cells(cfg, sim["overlap_all"]),
        "kappa2": kappa2,
        "random_ratio": np.where(nu > m, (nu - 1) / np.maximum(nu - m, 1e-12), np.nan),
        "overflow": int(np.sum(sim["overflow"])),
    }


def _exponents(ms, y) -> np.ndarray:
    """Fitted power-law exponent of y over widths for every leading index; y (…, widths, seeds) → (…, seeds)."""
    y = np.moveaxis(np.asarray(y, float), -2, -1)  # (…, seeds, widths)
    flat = y.reshape(-1, y.shape[-1])
    k = [fit_power_law(ms, row)[0] if np.all(np.isfinite(row) & (row > 0)) else np.nan for row in flat]
    return np.asarray(k).reshape(y.shape[:-1])


def _mean_se(k) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error over the last (seed) axis."""
    k = np.asarray(k, float)
    return k.mean(axis=-1), k.std(axis=-1, ddof=1) / np.sqrt(k.shape[-1])


def fits(cfg: ScalingConfig, meas: dict) -> dict:
    """Per seed, α_m = −(exponent of L(m)), of Eq. 4's loss, of ϕ₁ (widths with m²/2n < 1) and of the overlaps."""
    ms = np.asarray(cfg.widths, float)
    below = ms**2 / (2 * cfg.n) < 1
    out = {
        "alpha_m": -_exponents(ms, meas["loss"]),  # (A, G, S)
        "alpha_m_eq4": -_exponents(ms, meas["loss_eq4"]),
        "phi_one_exponent": _exponents(ms[below], meas["phi_one"][:, :, below]),
        "overlap_all_exponent": _exponents(ms, meas["overlap_all"]),
    }
    gs = list(cfg.decays).index(cfg.strong_decay)
    ok = np.all(np.isfinite(meas["overlap_strong"][:, gs]), axis=(0, 2))  # widths with > 1 strong row in every run
    out["overlap_strong_exponent"] = _exponents(ms[ok], meas["overlap_strong"][:, :, ok])
    out["overlap_strong_widths"] = ms[ok]
    return out


def checks(cfg: ScalingConfig, meas: dict, fit: dict) -> list[Check]:
    alphas, decays = list(cfg.alphas), list(cfg.decays)
    a1 = alphas.index(cfg.flat_alpha)
    gw, gs = decays.index(cfg.weak_decay), decays.index(cfg.strong_decay)
    am = fit["alpha_m"]
    ks, ses = _mean_se(am[a1, gs])
    kw, sew = _mean_se(am[a1, gw])
    share = meas["loss_eq4"][:, gw] / meas["loss"][:, gw]  # (A, W, S)
    ms = np.asarray(cfg.widths, float)
    m_ov_seeds = meas["overlap_strong"][:, gs] * ms[None, :, None]  # (A, W, S)
    m_ov, m_ov_se = np.nanmean(m_ov_seeds, -1), np.nanstd(m_ov_seeds, -1, ddof=1) / np.sqrt(cfg.seeds)
    z_ov = (m_ov - 1.0) / m_ov_se
    k_phi, se_phi = _mean_se(fit["phi_one_exponent"][:, gs].reshape(-1))
    k_ov, se_ov = _mean_se(fit["overlap_strong_exponent"][:, gs].reshape(-1))
    k_all, se_all = _mean_se(fit["overlap_all_exponent"][:, gs].reshape(-1))
    return [
        Check.at_most(
            "sampler_exact",
            meas["overflow"],
            0,
            "steps × features whose sparse-sampler slots could have cut off present entries (Binomial quantile "
            "at tail 1e-14 per feature and step); 0 means every batch had exactly Eq. 1's law.",
        ),
        Check.at_most(
            "strong_flat_exponent",
            abs(ks - 1.0),
            3 * ses,
            f"strong regime (γ = {cfg.strong_decay:g}), flat frequencies (α = {cfg.flat_alpha:g}): |α_m − 1| with "
            f"α_m = {ks:.3f} (Result 2: L ∝ 1/m). Tolerance: 3 standard errors of α_m over {cfg.seeds} seeds "
            "(each seed's own power-law fit over the widths).",
        ),
        Check.at_least(
            "strong_rejects_weak_exponent",
            abs(ks - kw) / np.hypot(ses, sew),
            3.0,
            f"the same widths and α in the weak regime (γ = {cfg.weak_decay:.3g}) give α_m = {kw:.3f}: the strong "
            "exponent's distance from it in combined standard errors over seeds must be ≥ 3, or the strong check "
            "above could not tell the regimes apart.",
        ),
        Check.at_least(
            "weak_loss_is_unlearned_features",
            float(np.min(share)),
            0.8,
            f"weak regime (γ = {cfg.weak_decay:.3g}): smallest share of the test loss carried by Eq. 4 with the "
            "measured represented set (‖W_i‖ > 1/2), (1/n) Σ_unrepresented (4/3 p_i − p_i²), over every α, width "
            "and seed. The bound 0.8 is the claim that activated-but-unlearned features carry the loss, read as "
            "'at least 80 %'; the rest is the represented features' residual. In the strong regime every feature "
            "is represented and this share is 0. (The exponent of L then differs from Eq. 4's by the slope of this "
            "share in ln m, so it is reported, not checked again.)",
        ),
        Check.at_most(
            "phi_one_grows_as_m_squared",
            abs(k_phi - 2.0),
            3 * se_phi,
            f"strong regime: exponent of ϕ₁ = |{{‖W_i‖ > 1}}|/n against m over the widths with m²/2n < 1, fitted per "
            f"(α, seed): {k_phi:.3f} against Fig. 16's min(1, m²/2n) (exponent 2; ϕ₁ ~ m/n would give 1). "
            "Tolerance: 3 standard errors over the fits.",
        ),
        Check.at_most(
            "strong_rows_overlap_at_most_one_over_m",
            float(np.nanmax(z_ov)),
            3.0,
            f"strong regime: the mean squared overlap of the strongly represented directions (‖W_i‖ > 1) lies "
            f"between κ²(ν, m) = (ν − m)/(m(ν − 1)) (Welch, ν = their number: a theorem) and 1/m, Fig. 5d's value "
            f"(that of random directions). Checked: the largest (m·overlap − 1)/s.e. over (α, width), mean and "
            f"standard error over seeds, must be ≤ 3; m·overlap ranges over [{np.nanmin(m_ov):.2f}, "
            f"{np.nanmax(m_ov):.2f}]. Its exponent in m, {k_ov:.3f} ± {se_ov:.3f}, is reported: it is shallower than −1 "
            "where ν is only a few times m, as κ² is.",
        ),
        Check.at_most(
            "all_rows_overlap_one_over_m",
            abs(k_all + 1.0),
            3 * se_all,
            f"strong regime: exponent of the mean squared overlap of all n directions against m, per (α, seed): "
            f"{k_all:.3f} against Fig. 17's 'robustly 1/m'. Tolerance: 3 standard errors over the fits.",
        ),
        Check.at_least(
            "strong_represents_all",
            float(np.min(meas["phi_half"][:, gs])),
            0.95,
            f"strong regime (γ = {cfg.strong_decay:g}): smallest ϕ_1/2 (fraction with ‖W_i‖ > 1/2) over α, widths "
            "and seeds (Fig. 3: small γ gives ϕ_1/2 ≈ 1; the weak regime gives ≈ m/n).",
        ),
    ]


def summary_metrics(cfg: ScalingConfig, meas: dict, fit: dict) -> dict:
    """α_m per (α, γ) (mean, standard error over seeds) beside the paper's α − 1, 1 and 2(α − 1); ϕ₁ against
    min(1, m²/2n); the strong rows' overlap against κ² and against random directions."""
    am, se = _mean_se(fit["alpha_m"])
    gs, gw = list(cfg.decays).index(cfg.strong_decay), list(cfg.decays).index(cfg.weak_decay)
    ms = np.asarray(cfg.widths, float)
    ratio = meas["overlap_strong"][:, gs] / meas["kappa2"][:, gs]
    return {
        "alpha_m": am.tolist(),
        "alpha_m_se": se.tolist(),
        "alphas": list(cfg.alphas),
        "decays": list(cfg.decays),
        "alpha_m_weak": dict(zip(map(str, cfg.alphas), am[:, gw].round(4).tolist(), strict=True)),
        "alpha_m_strong": dict(zip(map(str, cfg.alphas), am[:, gs].round(4).tolist(), strict=True)),
        "weak_paper_alpha_minus_1": [a - 1 for a in cfg.alphas],
        "strong_paper_max_1_2_alpha_minus_1": np.asarray(th.strong_superposition_exponent(cfg.alphas)).tolist(),
        "alpha_m_weak_minus_eq4": (am[:, gw] - _mean_se(fit["alpha_m_eq4"])[0][:, gw]).tolist(),
        "phi_one_strong_mean": np.mean(meas["phi_one"][:, gs], axis=(0, 2)).tolist(),
        "phi_one_paper": np.asarray(th.strongly_represented_fraction(cfg.n, ms)).tolist(),
        "overlap_strong_over_kappa2": np.nanmean(ratio, axis=(0, 2)).tolist(),
        "random_over_kappa2": np.nanmean(meas["random_ratio"][:, gs], axis=(0, 2)).tolist(),
        "phi_one_exponent": float(np.nanmean(fit["phi_one_exponent"][:, gs])),
        "overlap_strong_exponent": float(np.nanmean(fit["overlap_strong_exponent"][:, gs])),
        "overlap_all_exponent": float(np.nanmean(fit["overlap_all_exponent"][:, gs])),
    }


@register(
    "superposition_scaling",
    "Liu, Liu & Gore's small toy models over α × γ (App. B.2): α_m vs α in the weak and strong regimes (Figs. 4b, "
    "5e), Eq. 4, ϕ₁ vs min(1, m²/2n) (Fig. 16), overlaps vs 1/m and κ² (Figs. 5d, 17)",
    ScalingConfig,
    figures=figures.scaling,
    slow=True,
)
def run_scaling(cfg: ScalingConfig, seed: int, ctx: RunContext) -> Result:
    meas = measure(cfg, simulate(cfg, seed, ctx))
    fit = fits(cfg, meas)
    metrics = summary_metrics(cfg, meas, fit)
    ctx.log(f"  α_m weak {metrics['alpha_m_weak']}; strong {metrics['alpha_m_strong']}")
    arrays = {k: v for k, v in meas.items() if k != "overflow"}
    arrays.update({k: v for k, v in fit.items()})
    arrays["widths"] = np.asarray(cfg.widths)
    arrays["alphas"] = np.asarray(cfg.alphas)
    arrays["decays"] = np.asarray(cfg.decays)
    return Result(checks(cfg, meas, fit), arrays, metrics=metrics)
