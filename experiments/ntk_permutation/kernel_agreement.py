"""``ntk_kernel_agreement``: the closed-form NNGP/NTK against neural-tangents and the empirical NTK of finite networks.

Stages: :func:`oracle_references` fetches neural-tangents' kernels (live or golden); :func:`simulate` measures the
empirical NTK of freshly initialised networks at every width; :func:`predict` evaluates the closed forms;
:func:`compare` reduces them to the statistics that :func:`checks` tests.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from experiments.contract import Check, Result, RunContext, register
from experiments.ntk_permutation import figures, oracle
from experiments.ntk_permutation.common import LABEL, PARAMS
from experiments.ntk_permutation.settings import KernelConfig
from theory import ntk_permutation as th
from toymodels import ntk_permutation as tm

__all__ = ["run_kernel_agreement", "oracle_references", "simulate", "predict", "compare", "checks"]


def binary_inputs(k: int) -> np.ndarray:
    """All 2^k − 1 nonzero binary inputs, normalised."""
    return np.asarray(th.normalize_inputs(th.all_binary_inputs(k)))


def _oracle_kernels(cfg: KernelConfig, x_all: np.ndarray) -> list[tuple[str, np.ndarray, int, str, dict]]:
    """neural-tangents' NNGP and NTK for the comparison: ``[(source, inputs, k, label, {tag: (nngp, ntk)})]``.

    Live neural-tangents on this run's inputs when it can be imported; otherwise the committed golden values
    (:mod:`experiments.ntk_permutation.oracle`) of the case with this k and reference width, or of every stored case when this
    configuration's is not stored.
    """
    nt = oracle.import_neural_tangents()
    width = max(cfg.widths)
    if nt is not None:
        out = {}
        for tag, net in PARAMS.items():
            kern = oracle.nt_kernel_fn(net.parameterization, net.sigma_w, net.sigma_b, width, cfg.k)(
                x_all, None, ("nngp", "ntk")
            )
            out[tag] = (np.asarray(kern.nngp), np.asarray(kern.ntk), width)
        return [("live", x_all, cfg.k, f"live neural-tangents {nt.__version__}", out)]
    data = oracle.load_golden("kernels")
    label = (
        f"golden file experiments/ntk_permutation/golden/{oracle.GOLDEN_FILES['kernels']} ({oracle.golden_label(data)})"
    )
    cases = [(k, w) for k, w, _ in oracle.KERNEL_CASES]
    chosen = [(cfg.k, width)] if (cfg.k, width) in cases else cases
    return [
        (
            "golden",
            data[f"k{k}_x"],
            k,
            label + ("" if len(chosen) == 1 else f", stored case k={k}, width {w}"),
            {tag: (data[f"k{k}_{tag}_nngp"], data[f"k{k}_{tag}_ntk"], w) for tag in PARAMS},
        )
        for k, w in chosen
    ]


def oracle_references(cfg: KernelConfig, seed: int, ctx: RunContext) -> list:
    """neural-tangents' kernels on the binary inputs and ``random_inputs`` Gaussian ones (see :func:`_oracle_kernels`)."""
    key = jax.random.key(seed)
    xb = binary_inputs(cfg.k)
    xg = np.asarray(jax.random.normal(jax.random.fold_in(key, 99), (cfg.random_inputs, cfg.k)), float)
    x_all = np.vstack([xb, xg]) if cfg.random_inputs else xb
    references = _oracle_kernels(cfg, x_all)
    ctx.log(f"  neural-tangents kernels (float64): {references[0][3]}")
    return references


@partial(jax.jit, static_argnames=("width", "net"))
def _ntk_sq_errors(keys, x, full, width, net):
    """‖Θ_emp − Θ⊗I‖²/‖Θ⊗I‖² of one freshly initialised network per key (``lax.map``: one Jacobian in memory)."""

    def one(key):
        p = tm.init_params(key, x.shape[1], width, net=net, dtype=x.dtype)
        emp = tm.empirical_ntk(p, x, net=net)
        return jnp.sum((emp - full) ** 2) / jnp.sum(full**2)

    return jax.lax.map(one, keys)


def _finite_width_errors(cfg: KernelConfig, key, xb: np.ndarray, tag: str, net, ctx: RunContext):
    """Seed mean and standard error of the mean-square relative error of the empirical NTK, per width."""
    k = cfg.k
    ms, ses = [], []
    for width in cfg.widths:
        theory_net = net.with_width(width) if net.parameterization == "standard" else net
        theta = np.asarray(th.kernels(xb, net=theory_net).ntk)
        full = np.einsum("ab,cd->abcd", theta, np.eye(k))
        seed_keys = jax.vmap(lambda s, w=width: jax.random.fold_in(jax.random.fold_in(key, w), s))(
            jnp.arange(cfg.seeds)
        )
        errs = np.asarray(_ntk_sq_errors(seed_keys, jnp.asarray(xb), jnp.asarray(full), width, net))
        ms.append(errs.mean())
        ses.append(errs.std(ddof=1) / np.sqrt(cfg.seeds))
        ctx.log(f"  {tag} n={width}: relative Frobenius error {np.sqrt(errs.mean()):.4f}")
    return np.asarray(ms), np.asarray(ses)


def simulate(cfg: KernelConfig, seed: int, ctx: RunContext) -> dict:
    """Empirical NTK of finite networks (autodiff Jacobians) against Θ ⊗ I_k, both parameterisations; and the
    entries of one network of the largest width (output 0), NTK parameterisation."""
    key = jax.random.key(seed)
    xb = binary_inputs(cfg.k)
    arrays = {}
    for tag, net in PARAMS.items():
        arrays[f"ms_error_{tag}"], arrays[f"ms_error_se_{tag}"] = _finite_width_errors(cfg, key, xb, tag, net, ctx)
    small = tm.init_params(jax.random.fold_in(key, 7), cfg.k, max(cfg.widths), net=PARAMS["A"], dtype=jnp.float64)
    arrays["empirical_ntk_A"] = np.asarray(tm.empirical_ntk(small, xb, net=PARAMS["A"]))[:, :, 0, 0]
    return arrays


def predict(cfg: KernelConfig) -> dict:
    """Closed-form NTK on the binary inputs, and the kernels of unit inputs at cosine ρ in d = 2 (for the figure)."""
    xb = binary_inputs(cfg.k)
    arrays = {f"theta_{tag}": np.asarray(th.kernels(xb, net=net).ntk) for tag, net in PARAMS.items()}
    arrays["cosine_binary"] = xb @ xb.T
    rho = np.linspace(-1, 1, 201)
    unit = np.stack([np.ones_like(rho), np.zeros_like(rho)], 1)
    vec = np.stack([rho, np.sqrt(1 - rho**2)], 1)
    arrays["rho"] = rho
    for tag, net in PARAMS.items():
        arrays[f"ntk_rho_{tag}"] = np.asarray(th.kernels(unit[:1] * 1.0, vec, net=net).ntk)[0]
    arrays["nngp_rho_A"] = np.asarray(th.kernels(unit[:1], vec, net=PARAMS["A"]).nngp)[0]
    return arrays


def _oracle_error(references: list, tag: str, net) -> tuple[float, list[str]]:
    """max |closed form − neural-tangents| / max |kernel| over the references, and where it was measured."""
    err, where = 0.0, []
    for _source, x_ref, k_ref, label, kernels_ref in references:
        nngp_ref, ntk_ref, ref_width = kernels_ref[tag]
        ref_net = net.with_width(ref_width) if net.parameterization == "standard" else net
        mine = th.kernels(x_ref, net=ref_net)
        err = max(
            err,
            float(np.max(np.abs(nngp_ref - np.asarray(mine.nngp))) / np.max(np.abs(mine.nngp))),
            float(np.max(np.abs(ntk_ref - np.asarray(mine.ntk))) / np.max(np.abs(mine.ntk))),
        )
        where.append(
            f"{label}: {x_ref.shape[0]} inputs (all {2**k_ref - 1} normalised binary of k = {k_ref}, "
            f"then Gaussian)" + (f", width {ref_width} (the standard NTK grows with n)" if tag == "B" else "")
        )
    return err, where


def _rate_fit(widths, ms: np.ndarray, ses: np.ndarray) -> tuple[float, float]:
    """Slope and its standard error of log(ms) vs log(width), weighted least squares."""
    # Each NTK entry is an average (A) or a sum scaled by n (B) of n i.i.d. per-hidden-unit terms whose mean is
    # exactly the infinite-width kernel (Gaussian weights), so E‖Θ_n − Θ‖² = V/n for every n: the mean-square
    # relative error has log-slope exactly −1 (RMS: −1/2). Weighted least squares with the per-width standard
    # errors of the seed means (delta method: se(log m) = se/m) gives the slope and its standard error.
    lx, ly, w = np.log(np.asarray(widths, float)), np.log(ms), (ms / ses) ** 2
    xm = np.sum(w * lx) / np.sum(w)
    slope = float(np.sum(w * (lx - xm) * (ly - np.sum(w * ly) / np.sum(w))) / np.sum(w * (lx - xm) ** 2))
    se = float(1 / np.sqrt(np.sum(w * (lx - xm) ** 2)))
    return slope, se


def compare(cfg: KernelConfig, references: list, sim: dict) -> dict:
    """Per parameterisation: the oracle discrepancy (and where it was measured) and the fitted rate."""
    stats = {}
    for tag, net in PARAMS.items():
        err, where = _oracle_error(references, tag, net)
        slope, se = _rate_fit(cfg.widths, sim[f"ms_error_{tag}"], sim[f"ms_error_se_{tag}"])
        stats[tag] = {"err": err, "where": where, "slope": slope, "se": se}
    return stats


def checks(cfg: KernelConfig, stats: dict) -> list[Check]:
    out = []
    for tag in PARAMS:
        s = stats[tag]
        out.append(
            Check.at_most(
                f"neural_tangents_agreement_{tag}",
                s["err"],
                1e-12,
                f"{LABEL[tag]}: max |closed form − neural-tangents| / max |kernel| over the NNGP and the NTK; oracle: "
                f"{'; '.join(s['where'])}. Both evaluate the same arc-cosine formulas in float64: only round-off (≈1e-16 × "
                "a few operations) may differ; 1e-12 leaves 4 orders of magnitude.",
            )
        )
        slope, se = s["slope"], s["se"]
        out.append(
            Check.at_most(
                f"empirical_ntk_rate_{tag}",
                abs(slope + 1),
                3 * se,
                f"{LABEL[tag]}: |slope + 1| of log E‖Θ_n − Θ⊗I‖²/‖Θ⊗I‖² vs log n (widths {list(cfg.widths)}, "
                f"{cfg.seeds} seeds each; fitted slope {slope:.3f} ± {se:.3f}, i.e. RMS error ∝ n^{slope / 2:.3f}). The "
                "empirical NTK is a mean of n i.i.d. per-unit terms with mean Θ, so the slope is exactly −1; tolerance 3 "
                "standard errors of the weighted fit.",
            )
        )
    return out


@register(
    "ntk_kernel_agreement",
    "closed-form NNGP/NTK vs neural-tangents (float64) and vs the empirical NTK of "
    "finite networks (error ∝ n^−1/2), both parameterisations",
    KernelConfig,
    figures=figures.kernel_agreement,
)
def run_kernel_agreement(cfg: KernelConfig, seed: int, ctx: RunContext) -> Result:
    references = oracle_references(cfg, seed, ctx)
    sim = simulate(cfg, seed, ctx)
    pred = predict(cfg)
    stats = compare(cfg, references, sim)
    metrics = {"oracle": references[0][0], "oracle_source": references[0][3]}
    for tag in PARAMS:
        metrics[f"nt_max_rel_diff_{tag}"] = stats[tag]["err"]
        metrics[f"rms_error_exponent_{tag}"] = stats[tag]["slope"] / 2
    arrays = {"widths": np.asarray(cfg.widths), **sim, **pred}
    return Result(checks(cfg, stats), arrays, metrics=metrics)
