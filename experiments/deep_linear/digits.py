"""Deep linear networks on real data, scikit-learn's 8×8 digits (1,797 images, 10 classes, shipped with the package,
nothing downloaded): the analogues of Saxe et al.'s MNIST experiments.

* ``deep_linear_digits_depth`` (Figs. 4 and 6A, App. C): learning time and the fastest learning rate against depth for
  decoupled (u0 = 0.001), scaled Gaussian, random orthogonal and greedily pretrained initialisations, on whitened
  digits so that the decoupled runs follow the exact theory.
* ``deep_linear_pretraining`` (Fig. 5, §3, App. F): greedy layer-wise autoencoder pretraining on the raw digits; the
  consistency condition Q ≈ V (eq. 18), the decoupled start it yields, and learning curves from pretrained and small
  random initial conditions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.deep_linear import figures
from experiments.deep_linear.settings import DigitsDepthConfig, PretrainingConfig
from theory import deep_linear as th
from theory.common import ParameterError
from toymodels import deep_linear as dl

__all__ = ["digits_data", "run_digits_depth", "run_pretraining"]

SCHEMES = ("decoupled", "scaled_gaussian", "orthogonal", "pretrained")


def digits_data(components: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (1797, N1), one-hot targets (1797, 10)) of scikit-learn's digits, pixels scaled to [0, 1] (÷ 16).

    With ``components`` = k the inputs are projected on the top k eigenvectors of the uncentred input correlation
    Σxx = XᵀX/P and whitened (Σxx = I_k exactly), as the decoupled theory needs (docs/families/deep_linear.md §2.3).
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    data = load_digits()
    x = np.asarray(data.data, float) / 16.0
    y = np.eye(10)[np.asarray(data.target)]
    if components is None:
        return x, y
    lam, q = np.linalg.eigh(x.T @ x / len(x))
    lam, q = lam[::-1], q[:, ::-1]
    if not 1 <= components <= int(np.sum(lam > 1e-6 * lam[0])):
        raise ParameterError(f"components must be in [1, {int(np.sum(lam > 1e-6 * lam[0]))}]; got {components}")
    return x @ (q[:, :components] / np.sqrt(lam[:components])), y


def optimal_loss(task: dl.Task) -> float:
    """L* = ½ tr Σyy − ½ tr(Σyx Σxx⁺ Σyxᵀ), the least-squares optimum (reachable at any width ≥ rank Σyx)."""
    sxx, syx = np.asarray(task.sigma_xx), np.asarray(task.sigma_yx)
    return float(0.5 * task.trace_yy - 0.5 * np.sum((syx @ np.linalg.pinv(sxx)) * syx))


def steps_to_threshold(loss: np.ndarray, threshold: float, every: int = 1) -> np.ndarray:
    """First recorded step with loss ≤ threshold, per run (last axis = records, ``every`` steps apart); inf for runs
    that never get there or do not end finite and below it (diverged or oscillating)."""
    loss = np.nan_to_num(np.asarray(loss), nan=np.inf)
    below = loss <= threshold
    ok = below.any(axis=-1) & below[..., -1]
    return np.where(ok, np.argmax(below, axis=-1) * float(every), np.inf)


# ---- deep_linear_digits_depth
def _initial(cfg: DigitsDepthConfig, scheme: str, key, widths, task) -> tuple[tuple, int]:
    """(initial weights, pretraining steps spent) of one scheme."""
    if scheme == "decoupled":
        return dl.init_params(key, widths, "decoupled", task=task, initial_strength=cfg.initial_strength), 0
    if scheme == "pretrained":
        depth = len(widths) - 1
        tol = (cfg.pretrain_shortfall / depth) ** 2
        pre = dl.pretrain_layerwise(key, task.sigma_xx, widths, steps=10_000, tolerance=tol)
        return pre.params, pre.steps
    return dl.init_params(key, widths, scheme), 0


def simulate_depth(cfg: DigitsDepthConfig, layers: int, task, key, ctx: RunContext) -> dict:
    """Every scheme × rate at one depth in one vmapped run; steps to the threshold per (scheme, rate)."""
    depth = layers - 1
    widths = (cfg.components,) + (cfg.width,) * (depth - 1) + (task.n_out,)
    keys = jax.random.split(jax.random.fold_in(key, layers), len(SCHEMES))
    # four initialisations (not a training loop)
    starts, spent = zip(*(_initial(cfg, sc, k, widths, task) for sc, k in zip(SCHEMES, keys, strict=True)), strict=True)
    pre_steps = spent[SCHEMES.index("pretrained")]
    rates = np.geomspace(cfg.rate_min, cfg.rate_max, cfg.rates)
    batch = jax.tree.map(lambda *ws: jnp.repeat(jnp.stack(ws), len(rates), axis=0), *starts)
    lrs = np.tile(rates, len(SCHEMES))
    ctx.log(
        f"  N_l = {layers}: {len(lrs)} runs ({len(SCHEMES)} initialisations × {len(rates)} rates) × {cfg.max_steps}"
    )
    tr = dl.train(batch, task, lrs, steps=cfg.max_steps, progress=ctx.progress)
    s = np.asarray(task.singular_values)
    l_star = optimal_loss(task)
    threshold = l_star + cfg.tolerance * (0.5 * float(task.trace_yy) - l_star)
    steps = steps_to_threshold(tr.loss, threshold).reshape(len(SCHEMES), len(rates))
    # the exact per-mode recursion of the decoupled runs (white inputs: L = L* + ½ Σ (s_α − u_α)²)
    # exact even above the stability bound 2/(D s_max^(2−2/D)), where modes end on 2-cycles or diverge
    u = th.discrete_mode_trajectory(
        cfg.max_steps, s[None, :], cfg.initial_strength, rates[:, None], depth=depth, allow_unstable=True
    )
    with np.errstate(over="ignore", invalid="ignore"):  # diverging rates overflow to inf: not converged
        loss_rec = l_star + 0.5 * np.sum((s - np.moveaxis(np.asarray(u), 0, -2)) ** 2, axis=-1)  # (rates, T+1)
    steps_rec = steps_to_threshold(loss_rec, threshold)
    return {
        "steps": steps,
        "steps_recursion": steps_rec,
        "pretrain_steps": pre_steps,
        "initial_loss": np.asarray(tr.loss)[:, 0].reshape(len(SCHEMES), len(rates)),
    }


def depth_checks(cfg: DigitsDepthConfig, a: dict) -> tuple[list[Check], dict]:
    layers, rates, s = a["layers"], a["rates"], a["singular_values"]
    depth = layers - 1.0
    steps = a["steps"]  # (depths, schemes, rates)
    best = np.min(steps, axis=-1)
    best_rate = rates[np.argmin(steps, axis=-1)]
    i_dec, i_gau, i_orth, i_pre = (
        SCHEMES.index(x) for x in ("decoupled", "scaled_gaussian", "orthogonal", "pretrained")
    )
    # Below the stability bound the decoupled manifold attracts and the network follows the mode recursion exactly;
    # above it the recursion (2-cycles) is still exact on the manifold, but rounding errors off it grow
    stable = rates[None, :] < np.asarray(th.max_stable_learning_rate(s[0], depth))[:, None]
    with np.errstate(invalid="ignore"):
        rec_diff = np.where(
            steps[:, i_dec] == a["steps_recursion"], 0.0, np.abs(steps[:, i_dec] - a["steps_recursion"])
        )
    rec_diff = np.where(stable, rec_diff, 0.0)
    grid = float(rates[1] / rates[0])
    # Fig. 4 right: the fastest stable rate follows the stability bound 2/(D s_max^(2−2/D)) (App. B eq. 42), O(1/N_l)
    c_star = best_rate[:, i_dec] * depth * s[0] ** (2.0 - 2.0 / depth)
    s_min = float(s[-1])
    frac = 1.0 - np.sqrt(cfg.tolerance)  # every mode at u ≥ (1 − √ε) s guarantees Σ(s−u)² ≤ ε Σ s²
    t_inf = np.asarray(
        [float(th.learning_time_infinite_depth(s_min, cfg.initial_strength, depth=d, fraction=frac)) for d in depth]
    )
    deep = int(np.argmax(layers))
    checks = [
        Check.at_most(
            "decoupled_exact_recursion",
            float(np.nanmax(rec_diff)),
            1.0,
            "max over depths and stable rates (η < 2/(D s_max^(2−2/D))) of |steps_sim − steps_recursion| to the loss "
            "threshold, decoupled start u0 = "
            f"{cfg.initial_strength:g} (Fig. 4): on white inputs the loss is L* + ½ Σ_α (s_α − u_α)² with every u_α on the "
            "exact discrete mode recursion of the measured digit spectrum; tolerance 1 step (rounding at the threshold)",
        ),
        Check.at_most(
            "decoupled_below_infinite_depth_limit",
            float(np.max(best[:, i_dec] * best_rate[:, i_dec] / t_inf)),
            1.0,
            "max over depths of learning time / eq. 17's depth-independent limit at the same rate (η·steps ÷ t_∞ of the "
            f"weakest mode s = {s_min:.3f} to (1 − √tolerance) s): learning time saturates below it (Fig. 4 left)",
        ),
        Check.at_most(
            "best_rate_follows_stability_bound",
            float(np.max(c_star) / np.min(c_star)),
            grid**2,
            "max/min over depths of c = η_best·D·s_max^(2−2/D), the fastest decoupled rate in units of the stability bound "
            "(App. B eq. 41–42: optimal rate O(1/(N_l s²)); Fig. 4 right); a depth-independent best rate would spread "
            f"c by {float(np.max(depth * s[0] ** (2 - 2 / depth)) / np.min(depth * s[0] ** (2 - 2 / depth))):.3g}×. "
            "Tolerance: two steps of the rate grid",
        ),
        Check.at_least(
            "gaussian_slower_than_orthogonal",
            float(best[deep, i_gau] / best[deep, i_orth]),
            5.0,
            f"steps(scaled Gaussian) / steps(random orthogonal) at N_l = {layers[deep]:.0f}, fastest rate each (Fig. 6A; "
            "docs/families/deep_linear.md P11: ≥ 5×); inf when the Gaussian net does not reach the threshold",
        ),
        Check.at_most(
            "pretrained_as_fast_as_orthogonal",
            float(np.max(best[:, i_pre] / best[:, i_orth])),
            grid,
            "max over depths of fine-tuning steps from greedy pretraining ÷ steps from random orthogonal weights, fastest "
            "rate each (Fig. 6A: the pretrained curve lies under the orthogonal one). Tolerance: one step of the rate grid, "
            "the most a grid search adds to equal optimal learning times. Pretraining's own steps are reported",
        ),
    ]
    growth = best[deep] / best[int(np.argmin(layers))]
    metrics = {
        "growth_deepest_over_shallowest": dict(zip(SCHEMES, growth.tolist(), strict=True)),
        "learning_steps": {
            sc: dict(zip([f"N_l={x:.0f}" for x in layers], best[:, i].tolist(), strict=True))
            for i, sc in enumerate(SCHEMES)
        },
        "best_rate": {
            sc: dict(zip([f"N_l={x:.0f}" for x in layers], best_rate[:, i].tolist(), strict=True))
            for i, sc in enumerate(SCHEMES)
        },
        "pretrain_steps": dict(zip([f"N_l={x:.0f}" for x in layers], a["pretrain_steps"].tolist(), strict=True)),
        "decoupled_rate_over_stability_bound": c_star.tolist(),
    }
    return checks, metrics


@register(
    "deep_linear_digits_depth",
    "learning time and fastest rate vs depth on whitened scikit-learn digits (Saxe et al. Figs. 4, 6A): decoupled, "
    "scaled Gaussian, random orthogonal and pretrained initialisations against the exact recursion and eq. 17",
    DigitsDepthConfig,
    figures=figures.digits_depth,
)
def run_digits_depth(cfg: DigitsDepthConfig, seed: int, ctx: RunContext) -> Result:
    x, y = digits_data(cfg.components)
    task = dl.task_from_data(x, y)
    key = jax.random.PRNGKey(seed)
    rows = [simulate_depth(cfg, int(n), task, key, ctx) for n in cfg.depths]
    a = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    a["layers"] = np.asarray(cfg.depths, float)
    a["rates"] = np.geomspace(cfg.rate_min, cfg.rate_max, cfg.rates)
    a["singular_values"] = np.asarray(task.singular_values)
    a["schemes"] = np.array(SCHEMES)
    checks, metrics = depth_checks(cfg, a)
    return Result(checks, a, metrics=metrics)


# ---- deep_linear_pretraining
def _off_diagonal(m: np.ndarray) -> np.ndarray:
    """max_{α≠β} |m_αβ| / √(m_αα m_ββ) over the last two axes: 0 for a diagonal matrix, 1 at most (Gram matrices)."""
    d = np.sqrt(np.abs(np.diagonal(m, axis1=-2, axis2=-1)))
    c = np.abs(m) / (d[..., :, None] * d[..., None, :])
    r = m.shape[-1]
    return np.max(np.where(np.eye(r, dtype=bool), 0.0, c), axis=(-2, -1))


def simulate_pretraining(cfg: PretrainingConfig, key, ctx: RunContext) -> dict:
    x, y = digits_data()
    task = dl.task_from_data(x, y)
    n_in, n_out = x.shape[1], y.shape[1]
    widths = (n_in,) + (cfg.hidden,) * (cfg.layers - 2) + (n_out,)
    sxx = np.asarray(task.sigma_xx)
    v = np.asarray(task.right[:, :n_out])  # right singular vectors of Σyx (the task's input modes)
    k_frames, k_pre, k_rnd = jax.random.split(key, 3)
    frames = np.linalg.qr(np.asarray(jax.random.normal(k_frames, (cfg.baseline_frames, n_in, n_out))))[0]
    lam, q = np.linalg.eigh(sxx)
    ctx.log(f"  pretraining {cfg.layers - 2} autoencoders × {cfg.pretrain_steps} steps (widths {widths})")
    pre = dl.pretrain_layerwise(k_pre, sxx, widths, steps=cfg.pretrain_steps, scale=cfg.scale)
    rnd = dl.init_params(k_rnd, widths, "gaussian", scale=cfg.scale)
    hidden_pre = np.asarray(dl.end_to_end(pre.params[:-1]))
    hidden_rnd = np.asarray(dl.end_to_end(rnd[:-1]))
    rates = np.asarray(cfg.rates, float)
    batch = jax.tree.map(lambda a, b: jnp.repeat(jnp.stack([a, b]), len(rates), axis=0), pre.params, rnd)
    every = 10
    ctx.log(f"  fine-tuning: 2 initialisations × {len(rates)} rates × {cfg.max_steps} steps")
    tr = dl.train(
        batch, task, np.tile(rates, 2), steps=cfg.max_steps, n_records=cfg.max_steps // every, progress=ctx.progress
    )
    l_star = optimal_loss(task)
    l_zero = 0.5 * float(task.trace_yy)
    threshold = l_star + cfg.tolerance * (l_zero - l_star)
    loss = np.asarray(tr.loss).reshape(2, len(rates), -1)
    return {
        "sigma_xx": sxx,
        "vt_sigma_v": v.T @ sxx @ v,
        "frame_off_diagonal": _off_diagonal(np.einsum("kia,ij,kjb->kab", frames, sxx, frames)),
        "pca_eigenvalues": lam[::-1],
        "v_energy_in_pcs": (q[:, ::-1].T @ v) ** 2,  # (components, modes): share of v_α on each principal direction
        "gram_pretrained": (hidden_pre @ v).T @ (hidden_pre @ v),
        "gram_random": (hidden_rnd @ v).T @ (hidden_rnd @ v),
        "reconstruction_loss": np.asarray(pre.reconstruction_loss),
        "reconstruction_zero_loss": np.asarray(pre.zero_loss),
        "pretrain_steps": pre.steps,
        "rates": rates,
        "loss": loss,
        "loss_steps": np.asarray(tr.steps, float),
        "steps": steps_to_threshold(loss, threshold, every),
        "threshold": threshold,
        "optimal_loss": l_star,
        "zero_loss": l_zero,
    }


def pretraining_checks(cfg: PretrainingConfig, a: dict) -> tuple[list[Check], dict]:
    off_v = float(_off_diagonal(a["vt_sigma_v"]))
    frame_low = float(np.percentile(a["frame_off_diagonal"], 1))
    gains = np.sqrt(np.diag(a["gram_pretrained"]))
    gains_rnd = np.sqrt(np.diag(a["gram_random"]))
    # Decoupling of the task modes through the pretrained layers, reported, not checked: the off-diagonal share of
    # G = (W_hid V)ᵀ(W_hid V) is also small for the small random start (a near-Wishart G), whose gains are ~1e-3
    share = lambda m: float(np.linalg.norm(m - np.diag(np.diag(m))) / np.linalg.norm(m))
    best = np.min(a["steps"], axis=-1)  # (pretrained, random)
    best_rate = a["rates"][np.argmin(a["steps"], axis=-1)]
    checks = [
        Check.at_most(
            "consistency_condition_q_equals_v",
            off_v,
            frame_low,
            "max_{α≠β} |C_αβ|/√(C_αα C_ββ) of C = VᵀΣxxV, V the task's right singular vectors (eq. 18 and Fig. 5 centre: "
            "the input principal directions Q match V, so C is nearly diagonal). Tolerance: the 1st percentile of the "
            f"same statistic for {cfg.baseline_frames} Haar-random 10-frames (median "
            f"{float(np.median(a['frame_off_diagonal'])):.3f}), what a V unrelated to Q would give",
        ),
        Check.at_least(
            "pretrained_mode_gains_order_one",
            float(np.median(gains)),
            0.5,
            "median over the 10 task modes of ‖W_hid v_α‖ after pretraining: 'initial mode strengths near one' (§3; M → I "
            f"as pretraining proceeds) against {float(np.median(gains_rnd)):.2g} from the small random start. Threshold "
            "0.5 = order one, not derived",
        ),
        Check.at_least(
            "pretrained_finetunes_faster",
            float(best[1] / best[0]),
            1.0,
            "fine-tuning steps to the loss threshold from small random (std 0.01) ÷ from pretrained weights, fastest rate "
            "each (Fig. 5 right: the pretrained network learns faster)",
        ),
    ]
    total = float(best[0] + a["pretrain_steps"])
    metrics = {
        "vt_sigma_v_off_diagonal": off_v,
        "gram_off_diagonal_share_pretrained": share(a["gram_pretrained"]),
        "gram_off_diagonal_share_random": share(a["gram_random"]),
        "random_frame_off_diagonal_median": float(np.median(a["frame_off_diagonal"])),
        "pretrained_mode_gains": gains.tolist(),
        "random_mode_gains": gains_rnd.tolist(),
        "steps_pretrained_finetune": float(best[0]),
        "steps_pretrained_including_pretraining": total,
        "steps_random": float(best[1]),
        "best_rate_pretrained": float(best_rate[0]),
        "best_rate_random": float(best_rate[1]),
        "faster_including_pretraining": bool(total < best[1]),
        "reconstruction_loss_relative": (a["reconstruction_loss"] / a["reconstruction_zero_loss"]).tolist(),
    }
    return checks, metrics


@register(
    "deep_linear_pretraining",
    "greedy layer-wise autoencoder pretraining on raw scikit-learn digits (Saxe et al. Fig. 5): the consistency "
    "condition Q ≈ V, the decoupled start it yields, and fine-tuning from pretrained vs small random weights",
    PretrainingConfig,
    figures=figures.pretraining,
)
def run_pretraining(cfg: PretrainingConfig, seed: int, ctx: RunContext) -> Result:
    a = simulate_pretraining(cfg, jax.random.PRNGKey(seed), ctx)
    checks, metrics = pretraining_checks(cfg, a)
    return Result(checks, a, metrics=metrics)
