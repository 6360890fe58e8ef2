"""``superposition_phase_diagram``: n = 2, m = 1 and n = 3, m = 2 models over density × relative importance.

Stages: :func:`predict` (the exact expected losses of the three n = 2 configurations, optimised and at the paper's
fixed weights, and the analytic phase), :func:`simulate` (``seeds`` models per grid cell), :func:`select_best` (the
lowest exact expected loss of each cell, classified); the same for n = 3, m = 2 (:func:`predict_3x2`,
:func:`simulate_3x2`, :func:`select_best_3x2`: four configurations, the antipodal ones optimised) and
:func:`checks`.
"""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.superposition import figures
from experiments.superposition.settings import PhaseConfig, elhage_sweep
from theory import superposition as th
from theory.common import enable_float64

__all__ = [
    "run_phase_diagram",
    "predict",
    "simulate",
    "select_best",
    "predict_3x2",
    "simulate_3x2",
    "select_best_3x2",
    "checks",
]


def _grid(cfg: PhaseConfig):
    dens = np.geomspace(cfg.density_min, 1.0, cfg.grid)
    rel = np.geomspace(1 / cfg.importance_range, cfg.importance_range, cfg.grid)
    P, R = np.meshgrid(dens, rel, indexing="ij")  # axis 0: density, axis 1: importance
    return dens, rel, P, R


def _interior(phase: np.ndarray) -> np.ndarray:
    """Cells whose 8 neighbours all share their analytic phase (away from the theoretical boundaries)."""
    pad = np.pad(phase, 1, mode="edge")
    same = np.ones(phase.shape, bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            same &= pad[1 + di : 1 + di + phase.shape[0], 1 + dj : 1 + dj + phase.shape[1]] == phase
    return same


def predict(cfg: PhaseConfig) -> dict:
    """Exact expected loss of each configuration per cell, the analytic phase (argmin) and the optimum's loss."""
    dens, rel, P, R = _grid(cfg)
    energies = th.phase_energies(R, P)
    phase_th = th.predicted_phase(energies)
    e_opt = np.minimum(
        np.minimum(np.asarray(energies.not_represented), np.asarray(energies.dedicated)),
        np.asarray(energies.superposition),
    )
    fixed = th.fixed_phase_energies(R, P)
    return {
        "density": dens,
        "relative_importance": rel,
        "phase_theory": phase_th,
        "phase_fixed": th.predicted_phase(fixed),
        "interior": _interior(phase_th),
        "energy_not_represented": np.asarray(energies.not_represented),
        "energy_dedicated": np.asarray(energies.dedicated),
        "energy_superposition": np.asarray(energies.superposition),
        "energy_optimum": e_opt,
    }


def simulate(cfg: PhaseConfig, seed: int, ctx: RunContext) -> dict:
    """``seeds`` models per cell (feature 1 importance 1, feature 2 importance r, both density 1 − S)."""
    _, _, P, R = _grid(cfg)
    cells = cfg.grid * cfg.grid
    imp = np.repeat(np.stack([np.ones(cells), R.ravel()], axis=1), cfg.seeds, axis=0)
    probs = np.repeat(np.stack([P.ravel(), P.ravel()], axis=1), cfg.seeds, axis=0)
    ctx.log(f"  {imp.shape[0]} models (n=2, m=1), {cfg.steps} steps")
    res = elhage_sweep(cfg, ctx, jax.random.key(seed), importance=imp, probabilities=probs, m=1)
    W = np.asarray(res.params.W, float)[:, 0, :]
    b = np.asarray(res.params.b, float)
    return {"W": W, "b": b, "importance": imp, "probabilities": probs}


def select_best(cfg: PhaseConfig, sim: dict) -> dict:
    """Per cell, the seed with the lowest exact expected loss: its weights, loss and learned phase."""
    cells = cfg.grid * cfg.grid
    W, b, imp, probs = sim["W"], sim["b"], sim["importance"], sim["probabilities"]
    exact = np.asarray(th.expected_loss_2x1(W, b, imp, probs[:, 0])).reshape(cells, cfg.seeds)
    best = np.argmin(exact, axis=1)
    W_best = W.reshape(cells, cfg.seeds, 2)[np.arange(cells), best]
    phase_sim = th.classify_phase_2x1(W_best).reshape(cfg.grid, cfg.grid)
    loss_best = exact[np.arange(cells), best].reshape(cfg.grid, cfg.grid)
    return {"phase_learned": phase_sim, "loss_best": loss_best, "W_best": W_best}


def predict_3x2(cfg: PhaseConfig) -> dict:
    """n = 3, m = 2: the four configurations' losses (antipodal ones optimised, and all at the paper's fixed weights),
    the phase of the optimum (its weights classified as the trained ones are) and of the fixed theory."""
    _, _, P, R = _grid(cfg)
    with enable_float64():
        E = th.phase_energies_3x2(R, P)
        F = th.phase_energies_3x2(R, P, optimise=False)
    best = th.predicted_phase_3x2(E)
    W_opt = np.take_along_axis(np.asarray(E.W), best[..., None, None, None], axis=-3)[..., 0, :, :]
    phase = th.classify_phase_3x2(W_opt)
    return {
        "phase_theory_3x2": phase,
        "phase_fixed_3x2": th.predicted_phase_3x2(F),
        "interior_3x2": _interior(phase),
        "energies_3x2": np.asarray(E.energies),
        "energies_fixed_3x2": np.asarray(F.energies),
        "energy_optimum_3x2": np.min(np.asarray(E.energies), axis=-1),
    }


def simulate_3x2(cfg: PhaseConfig, seed: int, ctx: RunContext) -> dict:
    """``seeds`` n = 3, m = 2 models per cell (features 1, 2 importance 1, the extra one r; all density 1 − S)."""
    _, _, P, R = _grid(cfg)
    cells = cfg.grid * cfg.grid
    imp = np.repeat(np.stack([np.ones(cells), np.ones(cells), R.ravel()], axis=1), cfg.seeds_3x2, axis=0)
    probs = np.repeat(np.repeat(P.ravel()[:, None], 3, axis=1), cfg.seeds_3x2, axis=0)
    ctx.log(f"  {imp.shape[0]} models (n=3, m=2), {cfg.steps} steps")
    key = jax.random.fold_in(jax.random.key(seed), 1)
    res = elhage_sweep(cfg, ctx, key, importance=imp, probabilities=probs, m=2, name="train_3x2")
    return {
        "W": np.asarray(res.params.W, float),
        "b": np.asarray(res.params.b, float),
        "importance": imp,
        "probabilities": probs,
    }


def select_best_3x2(cfg: PhaseConfig, sim: dict) -> dict:
    """Per cell, the seed with the lowest expected loss (:func:`theory.superposition.expected_loss_by_pattern`)."""
    cells = cfg.grid * cfg.grid
    with enable_float64():
        loss = np.asarray(
            th.expected_loss_by_pattern(
                sim["W"], sim["b"], sim["importance"], sim["probabilities"], mc_samples=cfg.mc_samples
            )
        ).reshape(cells, cfg.seeds_3x2)
    best = np.argmin(loss, axis=1)
    W_best = sim["W"].reshape(cells, cfg.seeds_3x2, 2, 3)[np.arange(cells), best]
    return {
        "phase_learned_3x2": th.classify_phase_3x2(W_best).reshape(cfg.grid, cfg.grid),
        "loss_best_3x2": loss[np.arange(cells), best].reshape(cfg.grid, cfg.grid),
        "W_best_3x2": W_best,
    }


def checks(cfg: PhaseConfig, pred: dict, learned: dict) -> list[Check]:
    return _checks_2x1(cfg, pred, learned) + _checks_3x2(cfg, pred, learned)


def _checks_3x2(cfg: PhaseConfig, pred: dict, learned: dict) -> list[Check]:
    interior = pred["interior_3x2"]
    agree = learned["phase_learned_3x2"] == pred["phase_theory_3x2"]
    rel = (learned["loss_best_3x2"] - pred["energy_optimum_3x2"]) / pred["energy_optimum_3x2"]
    return [
        Check.at_least(
            "phase_agreement_interior_3x2",
            float(np.mean(agree[interior])),
            cfg.min_agreement,
            f"n = 3, m = 2: fraction of the {int(interior.sum())} interior cells (8 neighbours in the same theory "
            f"phase) whose best of {cfg.seeds_3x2} seeds has the configuration of the optimum of the four (antipodal "
            "ones optimised, each an exact n = 2, m = 1 problem), both classified alike (‖W_i‖ > 1/2, antipodal "
            f"cosine < −0.9). Required {cfg.min_agreement}, as for n = 2; a trained triangle (all three in joint "
            "superposition, not among the paper's four) counts as a miss.",
        ),
        Check.at_most(
            "median_loss_excess_3x2",
            float(np.median(rel)),
            0.01,
            "n = 3, m = 2: median over cells of (expected loss of the best trained model − optimum of the four "
            "configurations)/optimum; the same Adam-jitter and weight-decay bound as for n = 2 (the trained loss "
            f"sums the |S| = 3 pattern by Monte Carlo on {cfg.mc_samples} points: about 1 % at density 1, where "
            "that pattern carries all the weight, and far less at the sparser densities that make up the median).",
        ),
    ]


def _checks_2x1(cfg: PhaseConfig, pred: dict, learned: dict) -> list[Check]:
    interior = pred["interior"]
    agree = learned["phase_learned"] == pred["phase_theory"]
    frac = float(np.mean(agree[interior]))
    rel_excess = (learned["loss_best"] - pred["energy_optimum"]) / pred["energy_optimum"]
    return [
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


@register(
    "superposition_phase_diagram",
    "n=2, m=1 and n=3, m=2 toy models over density × relative importance: learned phase vs the analytic "
    "phase from the exact expected losses of the configurations (optimised; the paper's fixed ones shown)",
    PhaseConfig,
    figures=figures.phase_diagram,
    slow=True,
)
def run_phase_diagram(cfg: PhaseConfig, seed: int, ctx: RunContext) -> Result:
    pred = {**predict(cfg), **predict_3x2(cfg)}
    learned = {**select_best(cfg, simulate(cfg, seed, ctx)), **select_best_3x2(cfg, simulate_3x2(cfg, seed, ctx))}
    agree = learned["phase_learned"] == pred["phase_theory"]
    agree3 = learned["phase_learned_3x2"] == pred["phase_theory_3x2"]
    rel3 = (learned["loss_best_3x2"] - pred["energy_optimum_3x2"]) / pred["energy_optimum_3x2"]
    metrics = {
        "agreement_interior": float(np.mean(agree[pred["interior"]])),
        "agreement_all": float(np.mean(agree)),
        "agreement_fixed_theory_all": float(np.mean(learned["phase_learned"] == pred["phase_fixed"])),
        "theory_vs_fixed_theory": float(np.mean(pred["phase_theory"] == pred["phase_fixed"])),
        "agreement_all_3x2": float(np.mean(agree3)),
        "agreement_fixed_theory_all_3x2": float(np.mean(learned["phase_learned_3x2"] == pred["phase_fixed_3x2"])),
        "theory_vs_fixed_theory_3x2": float(np.mean(pred["phase_theory_3x2"] == pred["phase_fixed_3x2"])),
        "min_loss_excess_3x2": float(np.min(rel3)),
        "learned_other_3x2": int(np.sum(learned["phase_learned_3x2"] == 4)),
    }
    keys = ("density", "relative_importance", "phase_theory", "phase_learned", "interior")
    keys += ("energy_not_represented", "energy_dedicated", "energy_superposition", "energy_optimum")
    keys += ("loss_best", "W_best", "phase_fixed")
    keys += ("phase_theory_3x2", "phase_fixed_3x2", "phase_learned_3x2", "interior_3x2", "energies_3x2")
    keys += ("energies_fixed_3x2", "energy_optimum_3x2", "loss_best_3x2", "W_best_3x2")
    both = {**pred, **learned}
    arrays = {k: both[k] for k in keys}
    arrays["phase_names"] = np.array(th.PHASES)  # the phases' names in index order (legend of the figure)
    arrays["phase_names_3x2"] = np.array(th.PHASES_3X2 + ("other",))
    return Result(checks(cfg, pred, learned), arrays, metrics=metrics)
