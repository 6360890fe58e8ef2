"""``ntk_ensemble_convergence``: ensembles of M trained networks against the GP: error of the ensemble mean vs M
(predicted exactly from ``gp_covariance``), member variance, the mean's trajectory over training, vs width.

Stages: :func:`simulate` trains one ensemble per parameterisation and width; :func:`predict` evaluates the GP
(t → ∞ and along the recorded GD steps); :func:`checks` compares them at the widest width.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from experiments.analysis import fit_power_law
from experiments.contract import Check, Result, RunContext, register
from experiments.ntk_permutation import figures
from experiments.ntk_permutation.common import LABEL, PARAMS, derangement, unseen_inputs
from experiments.ntk_permutation.settings import ConvergenceConfig
from theory import ntk_permutation as th
from toymodels import ntk_permutation as tm

__all__ = ["run_ensemble_convergence", "setup", "simulate", "predict", "checks"]


def _error_statistic(sigma, members, blocks=1):
    """Mean and s.d. of ‖ē − 0‖² averaged over ``blocks`` independent M-member ensembles.

    With e ~ N(0, Σ⊗I_k/M) over Q = n·k coordinates: E‖e‖² = k·tr Σ/M and Var‖e‖² = 2k·tr(Σ²)/M² (exact for
    Gaussian vectors); averaging B independent blocks divides the variance by B.
    """
    k_tr = np.trace(sigma)
    k_tr2 = np.sum(sigma * sigma)
    return k_tr / members, np.sqrt(2 * k_tr2 / blocks) / members


def setup(cfg: ConvergenceConfig, seed: int) -> dict:
    """Test inputs (all unseen ones), the permutation, its targets and the grid of block sizes M."""
    key = jax.random.key(seed)
    x = unseen_inputs(cfg.k)
    perm = derangement(jax.random.fold_in(key, 1), cfg.k)
    Ms = 2 ** np.arange(int(np.log2(cfg.members)) + 1)
    return {"test_inputs": x, "permutation": perm, "test_targets": x[:, perm], "members_grid": Ms}


def _train_width(cfg: ConvergenceConfig, key, net, width: int, data: dict, pred: dict, tag: str, ctx) -> dict:
    """One ensemble of ``members`` networks: its squared-error statistics per block size and its member variance;
    at the widest width also the recorded mean output over training."""
    k, M, x, Ms = cfg.k, cfg.members, data["test_inputs"], data["members_grid"]
    mu, sigma = pred[f"gp_mean_{tag}"], pred[f"gp_covariance_{tag}"]
    ctx.log(f"  {tag}: M={M} networks of width {width}")
    widest = width == max(cfg.widths)
    res = tm.train(
        jax.random.fold_in(key, width),
        data["permutation"],
        members=M,
        width=width,
        net=net,
        residual=cfg.residual,
        n_records=None if widest else 1,
        record_inputs=x if widest else None,
        progress=ctx.progress,
    )
    out = np.asarray(tm.ensemble_outputs(res.params, x, net), float)  # (M, n, k)
    # error of the mean of blocks of m members, averaged over the M/m disjoint blocks
    ms_err, z = [], []
    for m in Ms:
        blocks = out.reshape(M // m, m, *out.shape[1:]).mean(axis=1)
        e2 = np.mean(np.sum((blocks - mu) ** 2, axis=(1, 2)))
        mean, sd = _error_statistic(sigma, m, M // m)
        ms_err.append(e2)
        z.append((e2 - k * mean) / (np.sqrt(k) * sd))
    result = {
        "ms_error": np.asarray(ms_err),
        "z": np.asarray(z),
        "var_ratio": float(np.mean(out.var(axis=0, ddof=1) / np.diag(sigma)[:, None])),
        "final_loss": float(np.max(res.loss[:, -1])),
        "steps": int(res.steps[-1]),
    }
    if widest:
        result["trajectory"] = res
    return result


def simulate(cfg: ConvergenceConfig, seed: int, data: dict, pred: dict, ctx: RunContext) -> dict:
    """``{tag: {width: statistics}}`` of the trained ensembles (see :func:`_train_width`)."""
    key = jax.random.key(seed)
    return {
        tag: {width: _train_width(cfg, key, net, width, data, pred, tag, ctx) for width in cfg.widths}
        for tag, net in PARAMS.items()
    }


def predict(cfg: ConvergenceConfig, data: dict) -> dict:
    """The t → ∞ GP mean and covariance on the test inputs, both parameterisations."""
    x, perm = data["test_inputs"], data["permutation"]
    pred = {}
    for tag, net in PARAMS.items():
        pred[f"gp_mean_{tag}"] = np.asarray(th.gp_mean(x, perm, net=net))
        pred[f"gp_covariance_{tag}"] = np.asarray(th.gp_covariance(x, net=net))
    return pred


def predict_trajectory(cfg: ConvergenceConfig, data: dict, tag: str, res) -> dict:
    """The discrete-GD GP mean and covariance at the recorded steps of the widest ensemble."""
    w, net = max(cfg.widths), PARAMS[tag]
    steps, lr = res.steps, res.info["learning_rate"]
    theory_net = net.with_width(w) if net.parameterization == "standard" else net
    x, perm = data["test_inputs"], data["permutation"]
    return {
        "mu_T": np.asarray(th.gp_mean(x, perm, net=theory_net, steps=steps, learning_rate=lr)),
        "cov_T": np.asarray(th.gp_covariance(x, net=theory_net, steps=steps, learning_rate=lr)),
    }


def _members_checks(cfg: ConvergenceConfig, tag: str, d: dict, Ms) -> list[Check]:
    k, M, w = cfg.k, cfg.members, max(cfg.widths)
    zmax = float(np.max(np.abs(d["z"])))
    error_vs_members = Check.at_most(
        f"error_vs_members_{tag}",
        zmax,
        cfg.z_max,
        f"{LABEL[tag]}, k={k}, n={w}: max over M ∈ {Ms.tolist()} of |z_M|, z_M = (mean over the {M}/M disjoint "
        "blocks of ‖ȳ_M − μ‖² − k·trΣ/M) / (√(2k·tr Σ²/(M/M))/M) — the exact mean and s.d. of the squared error "
        "of an M-member mean under the GP (e ~ N(0, Σ⊗I_k/M), Σ = gp_covariance on the test inputs). Tolerance "
        f"{cfg.z_max}σ; finite-width bias of the mean (O(1/n)) would show as z growing with M.",
    )
    # each coordinate's sample variance over M members has relative s.d. √(2/(M−1)); the k output coordinates of
    # one input are independent GPs, so the per-input average has √(2/(k(M−1))); averaging over correlated
    # inputs can only shrink it, so this is a conservative s.d. of the mean ratio.
    tol = cfg.z_max * math.sqrt(2 / (k * (M - 1)))
    member_variance = Check.at_most(
        f"member_variance_{tag}",
        abs(d["var_ratio"] - 1),
        tol,
        f"{LABEL[tag]}, n={w}: |mean over test coordinates of (member variance / GP variance) − 1|; ratio "
        f"{d['var_ratio']:.4f}. The sample variance over M={M} members has relative s.d. √(2/(M−1)), √(2/(k(M−1))) "
        f"after averaging the k independent output coordinates of an input (a conservative bound for the mean "
        f"over inputs); tolerance {cfg.z_max} of those.",
    )
    return [error_vs_members, member_variance]


def _trajectory_z(cfg: ConvergenceConfig, ybar_T, traj_pred: dict) -> np.ndarray:
    """z_T of ‖ȳ_T − μ_T‖² at every recorded step (same exact Gaussian statistic as for the t → ∞ error)."""
    mu_T, cov_T = traj_pred["mu_T"], traj_pred["cov_T"]
    zt = []
    for i in range(mu_T.shape[0]):
        mean, sd = _error_statistic(cov_T[i], cfg.members)
        zt.append((np.sum((ybar_T[i] - mu_T[i]) ** 2) - cfg.k * mean) / (np.sqrt(cfg.k) * sd))
    return np.asarray(zt)


def _trajectory_checks(cfg: ConvergenceConfig, tag: str, data: dict, ybar_T, traj_pred: dict, zt) -> list[Check]:
    M, w, x, target = cfg.members, max(cfg.widths), data["test_inputs"], data["test_targets"]
    mu_T, cov_T = traj_pred["mu_T"], traj_pred["cov_T"]
    trajectory = Check.at_most(
        f"training_trajectory_{tag}",
        float(np.max(np.abs(zt))),
        cfg.z_max,
        f"{LABEL[tag]}, n={w}: max over the {mu_T.shape[0]} GD steps T of |z_T| for ‖ȳ_T − μ_T‖², μ_T and Σ_T the "
        "discrete-GD GP (Θ⁻¹(I − (I − ηΘ/N)^T)) at the learning rate used; same exact Gaussian statistic as "
        "above.",
    )
    two = x.sum(axis=1) == 2
    off = (target == 0) & two[:, None]
    sd_T = np.sqrt(np.maximum(np.diagonal(cov_T, axis1=1, axis2=2), 0) / M)[:, :, None]
    clear = (np.abs(mu_T) > cfg.z_max * sd_T) & off[None]
    disagree = int(np.sum(clear & (np.sign(ybar_T) != np.sign(mu_T))))
    off_sign = Check.at_most(
        f"off_sign_over_training_{tag}",
        disagree,
        0,
        f"{LABEL[tag]}: (step, 2-hot input, off-coordinate) triples where the theory's mean μ_T is more than "
        f"{cfg.z_max} s.e. (σ_T/√M) from 0 but the ensemble mean has the other sign — the off-mean B_T is "
        f"positive early and turns negative after u* e-folds (§6); {int(clear.sum())} such triples are "
        "decided by the theory. Must be 0.",
    )
    return [trajectory, off_sign]


def checks(cfg: ConvergenceConfig, tag: str, data: dict, per_width: dict, arrays: dict, traj_pred: dict) -> list[Check]:
    """The four checks of one parameterisation at the widest width (``arrays``: its trajectory arrays)."""
    ybar_T, zt = arrays[f"trajectory_mean_{tag}"], arrays[f"trajectory_z_{tag}"]
    return _members_checks(cfg, tag, per_width[max(cfg.widths)], data["members_grid"]) + _trajectory_checks(
        cfg, tag, data, ybar_T, traj_pred, zt
    )


def _tag_outputs(cfg: ConvergenceConfig, tag: str, data: dict, per_width: dict, pred: dict) -> tuple[dict, dict, dict]:
    """Arrays and metrics of one parameterisation (trajectories, errors per width and block size, GP predictions),
    and the GP along the trajectory."""
    k, M, Ms = cfg.k, cfg.members, data["members_grid"]
    res = per_width[max(cfg.widths)]["trajectory"]
    traj_pred = predict_trajectory(cfg, data, tag, res)
    ybar_T = np.asarray(res.stats["output_mean"], float)
    arrays = {
        f"trajectory_mean_{tag}": ybar_T,
        f"trajectory_theory_{tag}": traj_pred["mu_T"],
        f"trajectory_z_{tag}": _trajectory_z(cfg, ybar_T, traj_pred),
        f"trajectory_steps_{tag}": np.asarray(res.steps),
    }
    metrics = {}
    for width, dd in per_width.items():
        arrays[f"ms_error_{tag}_n{width}"] = dd["ms_error"]
        arrays[f"z_{tag}_n{width}"] = dd["z"]
        metrics[f"var_ratio_{tag}_n{width}"] = dd["var_ratio"]
        metrics[f"z_at_M{M}_{tag}_n{width}"] = float(dd["z"][-1])
        metrics[f"final_loss_{tag}_n{width}"] = dd["final_loss"]
    arrays[f"var_ratio_{tag}"] = np.asarray([dd["var_ratio"] for dd in per_width.values()])
    slope, se, _ = fit_power_law(Ms, np.sqrt(per_width[max(cfg.widths)]["ms_error"]))
    metrics[f"rms_error_exponent_{tag}"] = slope
    metrics[f"rms_error_exponent_se_{tag}"] = se
    sigma = pred[f"gp_covariance_{tag}"]
    arrays[f"predicted_ms_error_{tag}"] = k * np.trace(sigma) / Ms
    arrays[f"gp_variance_{tag}"] = np.diag(sigma)
    return arrays, metrics, traj_pred


@register(
    "ntk_ensemble_convergence",
    "ensemble mean of M trained networks vs the GP mean: error vs M predicted "
    "from gp_covariance, member variance, the mean's trajectory over training, vs width",
    ConvergenceConfig,
    figures=figures.ensemble_convergence,
)
def run_ensemble_convergence(cfg: ConvergenceConfig, seed: int, ctx: RunContext) -> Result:
    data = setup(cfg, seed)
    pred = predict(cfg, data)
    sim = simulate(cfg, seed, data, pred, ctx)
    all_checks, metrics = [], {}
    arrays = {"widths": np.asarray(cfg.widths), "members_grid": data["members_grid"]}
    for tag in PARAMS:
        tag_arrays, tag_metrics, traj_pred = _tag_outputs(cfg, tag, data, sim[tag], pred)
        all_checks += checks(cfg, tag, data, sim[tag], tag_arrays, traj_pred)
        arrays.update(tag_arrays)
        metrics.update(tag_metrics)
    arrays.update(test_inputs=data["test_inputs"], test_targets=data["test_targets"])
    return Result(all_checks, arrays, metrics=metrics)
