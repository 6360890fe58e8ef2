"""``superposition_phase_diagram``: n = 2, m = 1 models over density × relative importance, learned vs analytic phase.

Stages: :func:`predict` (the exact expected losses of the three configurations and the analytic phase),
:func:`simulate` (``seeds`` models per grid cell), :func:`select_best` (the lowest exact expected loss of each cell,
classified) and :func:`checks`.
"""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.superposition import figures
from experiments.superposition.settings import PhaseConfig, elhage_sweep
from theory import superposition as th

__all__ = ["run_phase_diagram", "predict", "simulate", "select_best", "checks"]


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
    return {
        "density": dens,
        "relative_importance": rel,
        "phase_theory": phase_th,
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


def checks(cfg: PhaseConfig, pred: dict, learned: dict) -> list[Check]:
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
    "n=2, m=1 toy models over density × relative importance: learned phase "
    "vs the analytic phase from the exact expected losses of the three configurations",
    PhaseConfig,
    figures=figures.phase_diagram,
)
def run_phase_diagram(cfg: PhaseConfig, seed: int, ctx: RunContext) -> Result:
    pred = predict(cfg)
    learned = select_best(cfg, simulate(cfg, seed, ctx))
    agree = learned["phase_learned"] == pred["phase_theory"]
    metrics = {"agreement_interior": float(np.mean(agree[pred["interior"]])), "agreement_all": float(np.mean(agree))}
    keys = ("density", "relative_importance", "phase_theory", "phase_learned", "interior")
    keys += ("energy_not_represented", "energy_dedicated", "energy_superposition", "energy_optimum")
    keys += ("loss_best", "W_best")
    both = {**pred, **learned}
    arrays = {k: both[k] for k in keys}
    arrays["phase_names"] = np.array(th.PHASES)  # the phases' names in index order (legend of the figure)
    return Result(checks(cfg, pred, learned), arrays, metrics=metrics)
