"""``superposition_robustness``: Liu, Liu & Gore's large toy models (App. B.1, Figs. 1, 7, 8), loss vs width for three
feature-frequency laws in the strong (γ = −1) and weak (γ = 0.1) regimes.

Stages: :func:`simulate` (one sweep per width of every (law, γ, seed) model, W's rate 0.02·(8/m)^0.25 and b's 2.0/m
without decay, 5 % warm-up then cosine, Adam ε matching the authors' ×100 loss scale; test loss on ``eval_batches`` ×
batch fresh samples, sparse sampler), :func:`measure` (Eq. 4, ν, overlaps, κ²), :func:`fits` (per seed, α_m over the
widths the paper fits: all for the exponential law, from the third width for the power and linear laws) and
:func:`checks`.

The per-law exponents (Fig. 1d) and Eq. 4 in the weak regime (Fig. 8b) are checks at the paper's n = 10240. Below
it they are reported: at n = 256 the strong loss falls faster than 1/m (α_m ≈ 2.3 for the exponential law, 1.4 for
the other two) and the weak runs keep up to ≈ 10 m rows above norm 1, finite-size effects documented in
``docs/families/superposition.md``.
"""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.superposition import figures
from experiments.superposition.scaling import VALUE_RANGE, _exponents, _mean_se, train_and_measure
from experiments.superposition.settings import RobustnessConfig
from theory import superposition as th
from toymodels import superposition as tm

__all__ = ["run_robustness", "simulate", "measure", "fits", "checks", "PAPER_EXPONENTS", "FIT_FROM"]

#: Liu et al.'s strong-regime exponents at n = 10240 (App. D.1): value and stated error, per law
PAPER_EXPONENTS = {"exponential": (1.01, 0.05), "power": (1.0, 0.1), "linear": (0.89, 0.05)}
#: the paper's n: the per-law exponent checks apply there (below it they are reported, see :func:`checks`)
PAPER_N = 10240
#: index of the first width in the paper's fits (App. D.1: "from the third point" for the power and linear laws)
FIT_FROM = {"exponential": 0, "power": 2, "linear": 2}


def frequencies(cfg: RobustnessConfig) -> np.ndarray:
    """(len(laws), n) frequencies, Σ p_i = 1 (activation density E = 1); ℓ = n/25.6 keeps 10240/400."""
    return np.stack([np.asarray(th.frequency_law(cfg.n, law), float) for law in cfg.laws])


def grid(cfg: RobustnessConfig):
    """(law index, γ, seed) of every model of one width, law slowest."""
    li, g, s = np.meshgrid(
        np.arange(len(cfg.laws)), [cfg.strong_decay, cfg.weak_decay], np.arange(cfg.seeds), indexing="ij"
    )
    return li.ravel(), g.ravel(), s.ravel()


def simulate(cfg: RobustnessConfig, seed: int, ctx: RunContext) -> dict:
    """Test loss (widths, models), loss curves, row norms and sampler cut-offs of every (width, law, γ, seed)."""
    n, P = cfg.n, frequencies(cfg)
    li, gamma, _ = grid(cfg)
    imp = np.full(n, 1.0 / n)
    ctx.log(
        f"  {len(cfg.widths)} widths × {li.size} models (law × γ × seed), n={n}, {cfg.steps} steps, batch {cfg.batch_size}"
    )
    per_width = []
    for j, m in enumerate(cfg.widths):
        job = tm.job(
            importance=imp,
            probabilities=P[li],
            m=int(m),
            weight_decay=gamma,
            steps=cfg.steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.lr * (8.0 / m) ** 0.25,
            bias_learning_rate=2.0 / m,
            schedule="warmup_cosine",
            warmup_steps=max(1, int(cfg.warmup_fraction * cfg.steps)),
            init="liu",
            value_range=VALUE_RANGE,
            n_records=cfg.n_records,
            sampler="sparse",
            adam_eps=cfg.adam_eps,
        )
        key = jax.random.fold_in(jax.random.key(seed), j)
        per_width.append(
            train_and_measure(
                ctx,
                f"train_m{m}",
                job,
                key,
                seed,
                cfg.n_records,
                n_eval=cfg.eval_batches * cfg.batch_size,
                chunk=cfg.batch_size,
                sampler="sparse",
            )
        )
    return {k: np.stack([w[k] for w in per_width]) for k in per_width[0]}


def _cells(cfg: RobustnessConfig, x) -> np.ndarray:
    """(widths, models, …) → (laws, 2 regimes [strong, weak], widths, seeds, …)."""
    x = np.asarray(x).reshape(len(cfg.widths), len(cfg.laws), 2, cfg.seeds, *np.shape(x)[2:])
    return np.moveaxis(x, 0, 2)


def measure(cfg: RobustnessConfig, sim: dict) -> dict:
    """Per (law, regime, width, seed): test loss; Eq. 4 with the measured represented set (Fig. 8b); ϕ_{1/2}, ν = the
    number of strongly represented rows (‖W_i‖ > 1, Fig. 8c); their mean squared overlap and κ²(ν, m) (Fig. 8d)."""
    n, ms = cfg.n, np.asarray(cfg.widths, float)
    P = frequencies(cfg)  # (laws, n)
    norms = _cells(cfg, sim["norms"])  # (laws, 2, W, S, n)
    var = (4.0 / 3.0) * P - P * P  # Var(x_i) for v ~ U(0, 2)
    eq4 = np.sum((norms <= 0.5) * var[:, None, None, None, :], axis=-1) / n
    nu = _cells(cfg, sim["nu"]).astype(float)
    m = ms[None, None, :, None]
    return {
        "loss": _cells(cfg, sim["loss"]),
        "loss_curve": _cells(cfg, sim["loss_curve"]),
        "loss_eq4": eq4,
        "phi_half": (norms > 0.5).mean(axis=-1),
        "nu": nu,
        "overlap_strong": _cells(cfg, sim["overlap_strong"]),
        "overlap_all": _cells(cfg, sim["overlap_all"]),
        "kappa2": np.where(nu > m, (nu - m) / (m * np.maximum(nu - 1, 1)), np.nan),
        "overflow": int(np.sum(sim["overflow"])),
    }


def fits(cfg: RobustnessConfig, meas: dict) -> dict:
    """Per (law, regime, seed): α_m = −(exponent of L(m)) over the widths the paper fits for that law."""
    ms = np.asarray(cfg.widths, float)
    L = meas["loss"]
    am = np.stack([-_exponents(ms[FIT_FROM[law] :], L[k][:, FIT_FROM[law] :]) for k, law in enumerate(cfg.laws)])
    return {"alpha_m": am}  # (laws, 2, seeds)


def checks(cfg: RobustnessConfig, meas: dict, fit: dict) -> list[Check]:
    am = fit["alpha_m"]
    ms = np.asarray(cfg.widths, float)
    out = [
        Check.at_most(
            "sampler_exact",
            meas["overflow"],
            0,
            "steps × features (training and test batches) whose sparse-sampler slots could have cut off present "
            "entries (Binomial quantile at tail 1e-14); 0: every batch had exactly Eq. 1's law.",
        )
    ]
    if cfg.n >= PAPER_N:
        for k, law in enumerate(cfg.laws):
            ks, ses = _mean_se(am[k, 0])
            kw, sew = _mean_se(am[k, 1])
            paper, err = PAPER_EXPONENTS[law]
            out.append(
                Check.at_most(
                    f"strong_exponent_{law}",
                    abs(ks - paper),
                    3 * np.hypot(ses, err),
                    f"{law} frequencies, γ = {cfg.strong_decay:g}: α_m = {ks:.3f} ± {ses:.3f} (s.e. over {cfg.seeds} "
                    f"seeds, each fitted over m ≥ {cfg.widths[FIT_FROM[law]]} as App. D.1) against the paper's "
                    f"{paper} ± {err} (Fig. 1d: 'loss ∝ 1/m across all three'). Tolerance: 3 × √(s.e.² + the paper's "
                    "stated error²).",
                )
            )
            out.append(
                Check.at_least(
                    f"strong_rejects_weak_{law}",
                    abs(ks - kw) / np.hypot(ses, sew),
                    3.0,
                    f"{law} frequencies: the weak runs (γ = {cfg.weak_decay:g}) give α_m = {kw:.3f} ± {sew:.3f} over "
                    "the same widths; the strong exponent's distance from it in combined standard errors must be ≥ 3, "
                    "or the check above could not tell the regimes apart.",
                )
            )
        share = meas["loss_eq4"][:, 1] / meas["loss"][:, 1]
        out.append(
            Check.at_least(
                "weak_loss_is_unlearned_features",
                float(np.min(share)),
                0.8,
                f"weak regime (γ = {cfg.weak_decay:g}, Fig. 8b): smallest share of the test loss carried by Eq. 4 with "
                "the measured represented set (‖W_i‖ > 1/2) over laws, widths and seeds; ≥ 0.8 as in "
                "superposition_scaling. The strong runs represent every feature, so there the share is ≈ 0.",
            )
        )
    nu_over_m = meas["nu"][:, 0] / ms[None, :, None]
    # ν's growth with m per (law, seed), over the widths where ν is below n/2 on average (unsaturated): an untrained
    # model has ν ≈ n·P(χ²_m > m) ≈ 0.41 n … 0.46 n over the quick widths, an exponent of 0.07
    growth = []
    for k in range(len(cfg.laws)):
        ok = meas["nu"][k, 0].mean(-1) < cfg.n / 2
        rows = meas["nu"][k, 0][ok].T  # (seeds, widths)
        growth.append(
            [np.polyfit(np.log(ms[ok]), np.log(r), 1)[0] if ok.sum() >= 2 and np.all(r > 0) else np.nan for r in rows]
        )
    growth = np.asarray(growth)  # (laws, seeds)
    g_mean, g_se = _mean_se(growth)
    g_z = float(np.max((1.0 - g_mean) / g_se))
    m_ov = meas["overlap_strong"][:, 0] * ms[None, :, None]  # (laws, W, S)
    m_ov_mean = np.nanmean(m_ov, -1)
    m_ov_se = np.nanstd(m_ov, -1, ddof=1) / np.sqrt(cfg.seeds)
    z = (m_ov_mean - 1.0) / m_ov_se
    weak_max = float(np.max(meas["nu"][:, 1] / ms[None, :, None]))
    out += [
        Check.at_least(
            "strong_represents_more_than_m",
            float(np.min(nu_over_m)),
            2.0,
            f"strong regime (Fig. 8c): smallest ν/m over laws, widths and seeds, ν = |{{‖W_i‖ > 1}}|: the strongly "
            "represented rows are 'much larger [in number] than m'. ≥ 2 is a margin, not derived. ν against m²/2 "
            f"is reported, and so is the weak runs' largest ν/m ({weak_max:.2f}): at n = 10240 the paper finds them "
            "near m, at n = 256 they are not (a finite-size effect, see the module docstring).",
        ),
        Check.at_most(
            "strong_count_grows_at_least_as_m",
            g_z,
            3.0,
            "strong regime (Fig. 8c: ν 'much larger than m but bounded by some value around m²/2', i.e. growing "
            "between m and m²): per law, the exponent of ν in m fitted per seed over the widths where ν < n/2 on "
            f"average ({', '.join(f'{law} {g:.2f} ± {e:.2f}' for law, g, e in zip(cfg.laws, g_mean, g_se, strict=True))}); "
            "checked: the largest (1 − exponent)/s.e. must be ≤ 3. An untrained model (ν ≈ n·P(χ²_m > m), nearly "
            "flat in m) gives ≈ 0.07 and fails; the upper side (≤ 2) is reported, not checked.",
        ),
        Check.at_most(
            "strong_rows_overlap_at_most_random",
            float(np.nanmax(z)),
            3.0,
            "strong regime (Fig. 8d): the mean squared overlap of the strongly represented directions lies between "
            "κ²(ν, m) = (ν − m)/(m(ν − 1)) (the Welch bound, a theorem) and 1/m (random directions), 'close to κ², "
            "which is close to 1/m'. Checked: the largest (m·overlap − 1)/s.e. over laws and widths (mean and "
            f"standard error over seeds) must be ≤ 3; m·overlap spans [{np.nanmin(m_ov_mean):.2f}, "
            f"{np.nanmax(m_ov_mean):.2f}], overlap/κ² is reported.",
        ),
    ]
    return out


def summary_metrics(cfg: RobustnessConfig, meas: dict, fit: dict) -> dict:
    am, se = _mean_se(fit["alpha_m"])
    ms = np.asarray(cfg.widths, float)
    ratio = meas["overlap_strong"][:, 0] / meas["kappa2"][:, 0]
    paper_gap = {
        law: round(float((am[k, 0] - PAPER_EXPONENTS[law][0]) / np.hypot(se[k, 0], PAPER_EXPONENTS[law][1])), 2)
        for k, law in enumerate(cfg.laws)
    }
    weak = meas["loss_eq4"][:, 1] / meas["loss"][:, 1]
    return {
        "strong_minus_paper_in_combined_errors": paper_gap,
        "weak_loss_share_eq4_min": float(np.min(weak)),
        "nu_weak_over_m_max": float(np.max(meas["nu"][:, 1] / ms[None, :, None])),
        "alpha_m_strong": dict(zip(cfg.laws, am[:, 0].round(4).tolist(), strict=True)),
        "alpha_m_strong_se": dict(zip(cfg.laws, se[:, 0].round(4).tolist(), strict=True)),
        "alpha_m_weak": dict(zip(cfg.laws, am[:, 1].round(4).tolist(), strict=True)),
        "alpha_m_weak_se": dict(zip(cfg.laws, se[:, 1].round(4).tolist(), strict=True)),
        "paper_strong": {law: PAPER_EXPONENTS[law][0] for law in cfg.laws},
        "nu_strong_mean": dict(zip(cfg.laws, meas["nu"][:, 0].mean(-1).round(1).tolist(), strict=True)),
        "m_squared_over_2": (ms**2 / 2).tolist(),
        "overlap_strong_over_kappa2": dict(zip(cfg.laws, np.nanmean(ratio, -1).round(3).tolist(), strict=True)),
        "phi_half_weak_mean": dict(zip(cfg.laws, meas["phi_half"][:, 1].mean(-1).round(4).tolist(), strict=True)),
        "m_over_n": (ms / cfg.n).tolist(),
    }


@register(
    "superposition_robustness",
    "Liu, Liu & Gore's large toy models (App. B.1, Figs. 1, 8): loss ∝ 1/m in strong superposition for exponential, "
    "power-law and linear feature frequencies, against the weak regime",
    RobustnessConfig,
    figures=figures.robustness,
    slow=True,
)
def run_robustness(cfg: RobustnessConfig, seed: int, ctx: RunContext) -> Result:
    meas = measure(cfg, simulate(cfg, seed, ctx))
    fit = fits(cfg, meas)
    metrics = summary_metrics(cfg, meas, fit)
    ctx.log(f"  α_m strong {metrics['alpha_m_strong']}; weak {metrics['alpha_m_weak']}")
    arrays = {k: v for k, v in meas.items() if k != "overflow"}
    arrays.update(widths=np.asarray(cfg.widths), alpha_m=fit["alpha_m"], probabilities=frequencies(cfg))
    return Result(checks(cfg, meas, fit), arrays, metrics=metrics)
