"""NTK permutation learners: trained ensembles against the infinite-width theory of :mod:`theory.ntk_permutation`.

Registered experiments (``python -m experiments describe NAME`` lists every setting):

* ``ntk_kernel_agreement``: the closed-form arc-cosine NNGP/NTK against neural-tangents (float64) and against
  the empirical NTK of finite networks, whose error must fall as n^−1/2 (both parameterisations).
* ``ntk_gp_recovery``: the analytic GP mean, sign-rounded, is Px for every nonzero binary input (k up to 12,
  several permutations, both parameterisations); closed form vs the generic GP solve; the finite-time sign flip.
* ``ntk_ensemble_convergence``: ensembles of M trained networks against the GP: error of the ensemble mean vs M
  (predicted exactly from ``gp_covariance``), member variance, the mean's trajectory over training, vs width.
* ``ntk_ensemble_complexity``: accuracy vs M and the smallest M for exact recovery (one input; all inputs) from
  trained ensembles vs the GP; the k log k and k² laws; the public code's published numbers (spec §9) against
  the GP surrogate of both parameterisations.

Section numbers "§n" refer to ``shared/specs/ntk_permutation.md``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from experiments.analysis import fit_power_law
from experiments.contract import Check, Result, RunContext, pyplot, register, require, setting
from experiments.ntk_permutation import oracle
from experiments.sweep import train_sweep
from theory import ntk_permutation as th
from toymodels import ntk_permutation as tm

__all__ = [
    "KernelConfig",
    "RecoveryConfig",
    "ConvergenceConfig",
    "ComplexityConfig",
    "REPO_EXP1_STOP",
    "REPO_EXP2_STOP",
    "REPO_ACCURACY",
    "REPO_ERROR",
]

PARAMS = {"A": th.NTK_PARAMETERIZATION, "B": th.STANDARD_PARAMETERIZATION}
LABEL = {"A": "(A) NTK param.", "B": "(B) standard param."}

# ---- published numbers of the public code (opallab/permlearn results/**/results.csv; spec §9) ---------------
#: Exp 1: first M with accuracy ≥ 0.9 on 1000 random 2-hot inputs, k = 2..30 (n = 50,000, seed 2).
REPO_EXP1_STOP = dict(
    zip(
        range(2, 31),
        (
            1,
            2,
            10,
            43,
            34,
            29,
            40,
            37,
            69,
            70,
            62,
            72,
            56,
            103,
            89,
            105,
            105,
            106,
            117,
            131,
            128,
            124,
            150,
            157,
            157,
            162,
            165,
            174,
            175,
        ),
        strict=True,
    )
)
#: Exp 2: first M with accuracy ≥ 0.999.
REPO_EXP2_STOP = {5: 43, 10: 129, 15: 163, 20: 254, 25: 308, 30: 318}
#: Logged accuracy at M members: {k: {M: accuracy}}.
REPO_ACCURACY = {
    10: {10: 0.091, 50: 0.843, 100: 0.949},
    20: {10: 0.017, 50: 0.427, 100: 0.883, 150: 0.980, 200: 0.985},
    30: {10: 0.000, 50: 0.079, 100: 0.518, 150: 0.781, 200: 0.945},
}
#: Final logged "error" (MSE of the mean against Px/‖Px‖): {(k, M): error}.
REPO_ERROR = {(10, 69): 0.00211, (10, 129): 0.00205, (30, 175): 4.68e-4, (30, 318): 4.64e-4}
#: Training protocol of the public code is unstable (2ηλ_max/k² > 2, spec §3) for these k.
REPO_UNSTABLE_K = (2, 3)


def inputs_with_ones(k: int, ones: int, limit: int | None = None, key=None) -> np.ndarray:
    """All binary inputs of length k with ``ones`` ones (or ``limit`` random ones when there are more)."""
    count = math.comb(k, ones)
    if limit is not None and count > limit:
        return th.sample_binary_inputs(key if key is not None else jax.random.key(0), k, ones, limit)
    return np.array([np.isin(np.arange(k), c) for c in itertools.combinations(range(k), ones)], float)


def unseen_inputs(k: int) -> np.ndarray:
    """All nonzero binary inputs that are not training points (2^k − 1 − k of them, s ≥ 2)."""
    x = th.all_binary_inputs(k)
    return x[x.sum(axis=1) >= 2]


def _perm(key, k):
    """A random permutation with no fixed points when k ≥ 2 (so index bugs cannot hide, pitfall 12)."""
    while True:
        key, sub = jax.random.split(key)
        p = np.asarray(jax.random.permutation(sub, k))
        if k < 2 or np.all(p != np.arange(k)):
            return p


def _error_statistic(sigma, members, blocks=1):
    """Mean and s.d. of ‖ē − 0‖² averaged over ``blocks`` independent M-member ensembles.

    With e ~ N(0, Σ⊗I_k/M) over Q = n·k coordinates: E‖e‖² = k·tr Σ/M and Var‖e‖² = 2k·tr(Σ²)/M² (exact for
    Gaussian vectors); averaging B independent blocks divides the variance by B.
    """
    k_tr = np.trace(sigma)
    k_tr2 = np.sum(sigma * sigma)
    return k_tr / members, np.sqrt(2 * k_tr2 / blocks) / members


# ==============================================================================================
# ntk_kernel_agreement
# ==============================================================================================
@dataclass(frozen=True)
class KernelConfig:
    k: int = setting(6, "input/output dimension; the inputs are all 2^k − 1 nonzero binary vectors, normalised")
    widths: tuple = setting((64, 256, 1024, 4096), "hidden widths of the finite networks")
    seeds: int = setting(8, "independent networks per width")
    random_inputs: int = setting(
        8, "extra Gaussian inputs for the live neural-tangents comparison (the golden files hold 8 fixed ones)"
    )

    def validate(self):
        require(2 <= self.k <= 12, f"k must lie in [2, 12]; got {self.k}")
        require(
            len(self.widths) >= 2 and all(w >= 1 for w in self.widths),
            f"widths must hold at least two integers >= 1; got {self.widths}",
        )
        require(self.seeds >= 2, f"seeds must be >= 2 (a standard error is needed); got {self.seeds}")
        require(self.random_inputs >= 0, f"random_inputs must be >= 0; got {self.random_inputs}")


def _kernel_full() -> KernelConfig:
    return KernelConfig(k=8, widths=(64, 256, 1024, 4096, 16384), seeds=32)


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


@partial(jax.jit, static_argnames=("width", "net"))
def _ntk_sq_errors(keys, x, full, width, net):
    """‖Θ_emp − Θ⊗I‖²/‖Θ⊗I‖² of one freshly initialised network per key (``lax.map``: one Jacobian in memory)."""

    def one(key):
        p = tm.init_params(key, x.shape[1], width, net=net, dtype=x.dtype)
        emp = tm.empirical_ntk(p, x, net=net)
        return jnp.sum((emp - full) ** 2) / jnp.sum(full**2)

    return jax.lax.map(one, keys)


@register(
    "ntk_kernel_agreement",
    "closed-form NNGP/NTK vs neural-tangents (float64) and vs the empirical NTK of "
    "finite networks (error ∝ n^−1/2), both parameterisations",
    KernelConfig,
    quick=KernelConfig,
    full=_kernel_full,
)
def run_kernel_agreement(cfg: KernelConfig, seed: int, ctx: RunContext) -> Result:
    key = jax.random.key(seed)
    k = cfg.k
    xb = np.asarray(th.normalize_inputs(th.all_binary_inputs(k)))
    xg = np.asarray(jax.random.normal(jax.random.fold_in(key, 99), (cfg.random_inputs, k)), float)
    x_all = np.vstack([xb, xg]) if cfg.random_inputs else xb
    checks, arrays, metrics, curves = [], {"widths": np.asarray(cfg.widths)}, {}, {}
    references = _oracle_kernels(cfg, x_all)
    metrics["oracle"] = references[0][0]
    metrics["oracle_source"] = references[0][3]
    ctx.log(f"  neural-tangents kernels (float64): {references[0][3]}")
    for tag, net in PARAMS.items():
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
        checks.append(
            Check.at_most(
                f"neural_tangents_agreement_{tag}",
                err,
                1e-12,
                f"{LABEL[tag]}: max |closed form − neural-tangents| / max |kernel| over the NNGP and the NTK; oracle: "
                f"{'; '.join(where)}. Both evaluate the same arc-cosine formulas in float64: only round-off (≈1e-16 × "
                "a few operations) may differ; 1e-12 leaves 4 orders of magnitude.",
            )
        )
        metrics[f"nt_max_rel_diff_{tag}"] = err

        # Empirical NTK of finite networks (autodiff Jacobians) against Θ ⊗ I_k.
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
        ms, ses = np.asarray(ms), np.asarray(ses)
        # Each NTK entry is an average (A) or a sum scaled by n (B) of n i.i.d. per-hidden-unit terms whose mean is
        # exactly the infinite-width kernel (Gaussian weights), so E‖Θ_n − Θ‖² = V/n for every n: the mean-square
        # relative error has log-slope exactly −1 (RMS: −1/2). Weighted least squares with the per-width standard
        # errors of the seed means (delta method: se(log m) = se/m) gives the slope and its standard error.
        lx, ly, w = np.log(np.asarray(cfg.widths, float)), np.log(ms), (ms / ses) ** 2
        xm = np.sum(w * lx) / np.sum(w)
        slope = float(np.sum(w * (lx - xm) * (ly - np.sum(w * ly) / np.sum(w))) / np.sum(w * (lx - xm) ** 2))
        se = float(1 / np.sqrt(np.sum(w * (lx - xm) ** 2)))
        checks.append(
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
        metrics[f"rms_error_exponent_{tag}"] = slope / 2
        arrays[f"ms_error_{tag}"], arrays[f"ms_error_se_{tag}"] = ms, ses
        curves[tag] = (ms, ses)
        arrays[f"theta_{tag}"] = np.asarray(th.kernels(xb, net=net).ntk)

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    ax = axes[0]
    rho = np.linspace(-1, 1, 201)
    unit = np.stack([np.ones_like(rho), np.zeros_like(rho)], 1)
    vec = np.stack([rho, np.sqrt(1 - rho**2)], 1)
    for tag, net in PARAMS.items():
        kk = th.kernels(unit[:1] * 1.0, vec, net=net)
        ax.plot(rho, np.asarray(kk.ntk)[0], label=f"NTK {LABEL[tag]}" + (" / n" if tag == "B" else ""))
    ax.plot(rho, np.asarray(th.kernels(unit[:1], vec, net=PARAMS["A"]).nngp)[0], "k--", label="NNGP K")
    cos_b = xb @ xb.T
    ax.plot(
        cos_b.ravel()[::7],
        np.asarray(th.kernels(xb, net=PARAMS["A"]).ntk).ravel()[::7] * k / 2,
        ".",
        ms=3,
        color="C0",
        alpha=0.4,
        label="binary inputs (A), rescaled to d = 2",
    )
    ax.set(xlabel="cosine ρ between unit inputs (d = 2)", ylabel="kernel value", title="arc-cosine kernels")
    ax.legend(fontsize=7)
    ax = axes[1]
    for tag, (ms, ses) in curves.items():
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
        title=f"finite width → infinite width (k = {k})",
    )
    ax.legend(fontsize=8)
    ax = axes[2]
    small = tm.init_params(jax.random.fold_in(key, 7), k, max(cfg.widths), net=PARAMS["A"], dtype=jnp.float64)
    emp = np.asarray(tm.empirical_ntk(small, xb, net=PARAMS["A"]))[:, :, 0, 0]
    ax.plot(arrays["theta_A"].ravel(), emp.ravel(), ".", ms=2, alpha=0.5, label=f"n = {max(cfg.widths)}")
    lim = [arrays["theta_A"].min(), arrays["theta_A"].max()]
    ax.plot(lim, lim, "k-", lw=1, label="y = x")
    ax.set(xlabel="closed-form Θ_A(x, x')", ylabel="empirical NTK, output 0", title="(A) entry by entry")
    ax.legend(fontsize=8)
    return Result(checks, arrays, {"kernel_agreement": fig}, metrics)


# ==============================================================================================
# ntk_gp_recovery
# ==============================================================================================
@dataclass(frozen=True)
class RecoveryConfig:
    k_max: int = setting(12, "largest k; every k in [2, k_max] is checked on all 2^k − 1 inputs")
    permutations: int = setting(5, "random permutations (no fixed points) per k")
    standard_width: int = setting(
        50000, "width of the finite-width standard-parameterisation NTK also checked (the public code's n)"
    )
    margin_k_max: int = setting(300, "β_{k,s} < 0 < α_s + β_{k,s} is checked in closed form for 2 ≤ s ≤ k ≤ this")
    flip_k: int = setting(10, "k of the finite-time sign-flip check (spec §13 item 11)")
    threshold: float = setting(
        1e-10,
        "rounding threshold ε of 1[μ > ε]; training inputs have off-means that are 0 "
        "up to round-off (the authors' validation uses 1e-10)",
    )

    def validate(self):
        require(2 <= self.k_max <= 20, f"k_max must lie in [2, 20]; got {self.k_max}")
        require(self.permutations >= 1, f"permutations must be >= 1; got {self.permutations}")
        require(self.standard_width >= 1, f"standard_width must be >= 1; got {self.standard_width}")
        require(self.margin_k_max >= 2, f"margin_k_max must be >= 2; got {self.margin_k_max}")
        require(self.flip_k >= 3, f"flip_k must be >= 3; got {self.flip_k}")
        require(0 <= self.threshold < 1e-3, f"threshold must lie in [0, 1e-3); got {self.threshold}")


def _recovery_full() -> RecoveryConfig:
    return RecoveryConfig(k_max=16, permutations=20)


@register(
    "ntk_gp_recovery",
    "the analytic GP mean, sign-rounded, equals Px on every nonzero binary input "
    "(k ≤ 12, several permutations, both parameterisations); closed form vs generic GP; finite-time flip",
    RecoveryConfig,
    quick=RecoveryConfig,
    full=_recovery_full,
)
def run_gp_recovery(cfg: RecoveryConfig, seed: int, ctx: RunContext) -> Result:
    key = jax.random.key(seed)
    nets = {"A": PARAMS["A"], "B": PARAMS["B"], f"B_n{cfg.standard_width}": PARAMS["B"].with_width(cfg.standard_width)}
    ks = np.arange(2, cfg.k_max + 1)
    wrong = {tag: np.zeros(ks.size, int) for tag in nets}
    cf_err, interp_err, n_inputs = 0.0, 0.0, 0
    for i, k in enumerate(ks):
        x = th.all_binary_inputs(int(k))
        s = x.sum(axis=1).astype(int)
        for tag, net in nets.items():
            sol = th.basis_solution(int(k), s, net=net)
            var = np.asarray(th.gp_covariance(x, net=net, diagonal=True))
            for j in range(cfg.permutations):
                perm = _perm(jax.random.fold_in(jax.random.fold_in(key, int(k)), j), int(k))
                mu = np.asarray(th.gp_mean(x, perm, net=net))
                target = x[:, perm]
                wrong[tag][i] += int(np.sum(np.any(np.asarray(th.sign_round(mu, cfg.threshold)) != target, axis=1)))
                closed = np.where(target == 1, np.asarray(sol.on)[:, None], np.asarray(sol.off)[:, None])
                cf_err = max(cf_err, float(np.max(np.abs(mu - closed))))
                interp_err = max(interp_err, float(np.max(np.abs(mu[s == 1] - target[s == 1]))))
                n_inputs += x.shape[0]
            cf_err = max(cf_err, float(np.max(np.abs(var - np.asarray(sol.variance)))))
            interp_err = max(interp_err, float(np.max(np.abs(var[s == 1]))))
        ctx.log(f"  k={k}: {x.shape[0]} inputs × {cfg.permutations} permutations × {len(nets)} kernels")
    total_wrong = int(sum(w.sum() for w in wrong.values()))

    kk, ss = np.meshgrid(np.arange(2, cfg.margin_k_max + 1), np.arange(2, cfg.margin_k_max + 1), indexing="ij")
    valid = ss <= kk
    margins = {}
    for tag in ("A", "B"):
        sol = th.basis_solution(kk[valid], ss[valid], net=PARAMS[tag])
        margins[tag] = float(min(np.min(np.asarray(sol.on)), np.min(-np.asarray(sol.off))))
    beta2 = {tag: np.asarray(th.basis_solution(np.arange(2, 301), 2, net=PARAMS[tag]).off) for tag in ("A", "B")}
    const_A = beta2["A"] * (np.arange(2, 301) + 2 * np.pi - 1)
    const_B = beta2["B"] * (np.arange(2, 301) + np.pi - 1)

    # finite time (spec §6, §13 item 11): the off-mean B_t of 2-hot inputs is positive before u* e-folds
    net_a = PARAMS["A"]
    u_star = th.offset_sign_flip(cfg.flip_k, 2, net=net_a)
    lam_perp, _ = th.train_spectrum(cfg.flip_k, net=net_a)
    eta = th.default_learning_rate(cfg.flip_k, net=net_a)
    u = np.linspace(0.05, 8, 160)
    t = u * cfg.flip_k**2 / (eta * lam_perp)
    x2 = inputs_with_ones(cfg.flip_k, 2)
    perm = _perm(jax.random.fold_in(key, 1000), cfg.flip_k)
    mu_t = np.asarray(th.gp_mean(x2, perm, net=net_a, t=t, learning_rate=eta))
    acc_t = np.mean(np.all(np.asarray(th.sign_round(mu_t)) == x2[:, perm], axis=-1), axis=-1)
    acc_before = float(np.max(acc_t[u < u_star]))
    acc_after = float(np.min(acc_t[u > u_star]))

    checks = [
        Check.at_most(
            "wrong_inputs",
            total_wrong,
            0,
            f"inputs whose sign-rounded t→∞ GP mean 1[μ > {cfg.threshold:g}] differs from Px, over k = 2..{cfg.k_max}, "
            f"{cfg.permutations} random fixed-point-free permutations per k, all 2^k − 1 inputs, kernels "
            f"{list(nets)} ({n_inputs} input evaluations). The theorem (β < 0 < α + β, §6) makes this exactly 0.",
        ),
        Check.at_most(
            "closed_form_vs_gp_solve",
            cf_err,
            1e-12,
            "max |closed-form (α, β, σ²) − generic GP (eigh of Θ_XX)| over all means and variances above. Θ_XX has "
            "condition number ≤ (k+2π−1)/(2π−1) < 4 for k ≤ 20, so float64 round-off is ≲ 4·k·2.2e-16 ≈ 1e-14; "
            "1e-12 leaves a factor 100.",
        ),
        Check.at_most(
            "interpolation",
            interp_err,
            1e-12,
            "max over training inputs e_i of |μ(e_i) − Pe_i| and |σ²(e_i)|: the t→∞ GP interpolates the training "
            "set with zero variance (§5), up to the same round-off as above (on σ², not σ: √(1e-17) ≈ 3e-9).",
        ),
        Check.at_least(
            "sign_margins_k300",
            min(margins.values()),
            1e-12,
            f"min over 2 ≤ s ≤ k ≤ {cfg.margin_k_max}, both parameterisations, of min(α + β, −β): must be > 0 for "
            f"the sign rule to hold at every k (§6). Smallest margins: (A) {margins['A']:.3g}, "
            f"(B) {margins['B']:.3g}.",
        ),
        Check.at_most(
            "beta_k2_constant",
            max(float(np.max(np.abs(const_A + 0.150544))), float(np.max(np.abs(const_B + 0.282399)))),
            1e-6,
            "max over k = 2..300 of |β_{k,2}(k + 2π − 1) + 0.150544| (A) and |β_{k,2}(k + π − 1) + 0.282399| (B): "
            "the spec's closed forms (§6 table), given to 6 decimals, hence 1e-6.",
        ),
        Check.at_most(
            "finite_time_accuracy_before_flip",
            acc_before,
            0.0,
            f"(A), k = {cfg.flip_k}: the largest exact-match accuracy of the sign-rounded mean μ_t on all 2-hot inputs "
            f"before u* = {u_star:.3f} slow-mode e-folds (u = ηλ_⊥t/N): the off-mean B_t > 0 there, so every input "
            "gets extra ones regardless of the ensemble size; must be 0.",
        ),
        Check.at_least(
            "finite_time_accuracy_after_flip",
            acc_after,
            1.0,
            "the smallest accuracy of the same mean after u*: B_t < 0 < A_t + B_t from then on, so it must be 1.",
        ),
    ]
    metrics = {
        f"u_star_k{cfg.flip_k}": u_star,
        "inputs_checked": n_inputs,
        "min_margin_A": margins["A"],
        "min_margin_B": margins["B"],
    }
    arrays = {
        "k": ks,
        **{f"wrong_{tag}": w for tag, w in wrong.items()},
        "u": u,
        "accuracy_t": acc_t,
        "mu_t_2hot": mu_t,
    }

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    ax = axes[0]
    for tag, ls in (("A", "-"), ("B", "--")):
        for k in (5, 10, 20, 30):
            s = np.arange(2, k + 1)
            sol = th.basis_solution(k, s, net=PARAMS[tag])
            (line,) = ax.plot(s, np.asarray(sol.on), ls, label=f"{tag}: k={k}" if tag == "A" else None)
            ax.plot(s, np.asarray(sol.off), ls, color=line.get_color())
    ax.axhline(0, color="k", lw=0.8)
    ax.set(
        xlabel="ones in the input s",
        ylabel="GP mean at t → ∞",
        title="'on' (> 0) and 'off' (< 0) means; solid (A), dashed (B)",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    for tag in ("A", "B"):
        kk2 = np.arange(2, 101)
        sol = th.basis_solution(kk2, 2, net=PARAMS[tag])
        ax.plot(kk2, np.asarray(sol.z_off), label=f"z_off, 2-hot, {LABEL[tag]}")
        ax.plot(kk2, np.asarray(sol.z_on), ":", label=f"z_on, 2-hot, {LABEL[tag]}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="k",
        ylabel="margin / s.d. of one network",
        title="per-network signal-to-noise (bottleneck: z_off)",
    )
    ax.legend(fontsize=7)
    ax = axes[2]
    sol_t = th.basis_solution(cfg.flip_k, 2, net=net_a, t=t, learning_rate=eta)
    ax.plot(u, np.asarray(sol_t.on), label="on-mean A_t + B_t")
    ax.plot(u, np.asarray(sol_t.off) * 10, label="off-mean B_t × 10")
    ax.plot(u, acc_t, "k-", lw=1, label="accuracy of sign(μ_t), 2-hot inputs")
    ax.axvline(u_star, color="C3", ls=":", label=f"u* = {u_star:.2f}")
    ax.axhline(0, color="gray", lw=0.6)
    ax.set(xlabel="slow-mode e-folds u = ηλ_⊥t/N", ylabel="value", title=f"finite training time, (A), k = {cfg.flip_k}")
    ax.legend(fontsize=7)
    return Result(checks, arrays, {"gp_recovery": fig}, metrics)


# ==============================================================================================
# ntk_ensemble_convergence
# ==============================================================================================
@dataclass(frozen=True)
class ConvergenceConfig:
    k: int = setting(6, "input/output dimension; test inputs are all 2^k − 1 − k unseen inputs (s ≥ 2), normalised")
    widths: tuple = setting((256, 1024, 4096), "hidden widths; the checks use the widest")
    members: int = setting(256, "networks per ensemble (a power of two, split into blocks of M = 1, 2, 4, …)")
    residual: float = setting(1e-6, "training stops when the slowest infinite-width mode has shrunk by this factor")
    z_max: float = setting(4.0, "largest allowed |z| of a Gaussian statistic (two-sided 4σ ≈ 6e-5 per test)")

    def validate(self):
        require(3 <= self.k <= 12, f"k must lie in [3, 12]; got {self.k}")
        require(len(self.widths) >= 1 and all(w >= 1 for w in self.widths), f"widths must be >= 1; got {self.widths}")
        require(
            self.members >= 4 and self.members & (self.members - 1) == 0,
            f"members must be a power of two >= 4; got {self.members}",
        )
        require(0 < self.residual < 1, f"residual must lie in (0, 1); got {self.residual}")
        require(self.z_max > 0, f"z_max must be > 0; got {self.z_max}")


def _convergence_full() -> ConvergenceConfig:
    return ConvergenceConfig(k=8, widths=(512, 2048, 8192, 32768), members=1024)


@register(
    "ntk_ensemble_convergence",
    "ensemble mean of M trained networks vs the GP mean: error vs M predicted "
    "from gp_covariance, member variance, the mean's trajectory over training, vs width",
    ConvergenceConfig,
    quick=ConvergenceConfig,
    full=_convergence_full,
)
def run_ensemble_convergence(cfg: ConvergenceConfig, seed: int, ctx: RunContext) -> Result:
    key = jax.random.key(seed)
    k, M = cfg.k, cfg.members
    x = unseen_inputs(k)
    perm = _perm(jax.random.fold_in(key, 1), k)
    target = x[:, perm]
    Ms = 2 ** np.arange(int(np.log2(M)) + 1)
    checks, arrays, metrics = [], {"widths": np.asarray(cfg.widths), "members_grid": Ms}, {}
    per_width = {tag: {} for tag in PARAMS}
    traj = {}
    for tag, net in PARAMS.items():
        mu = np.asarray(th.gp_mean(x, perm, net=net))
        sigma = np.asarray(th.gp_covariance(x, net=net))
        for width in cfg.widths:
            ctx.log(f"  {tag}: M={M} networks of width {width}")
            widest = width == max(cfg.widths)
            res = tm.train(
                jax.random.fold_in(key, width),
                perm,
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
            ratio = float(np.mean(out.var(axis=0, ddof=1) / np.diag(sigma)[:, None]))
            per_width[tag][width] = {
                "ms_error": np.asarray(ms_err),
                "z": np.asarray(z),
                "var_ratio": ratio,
                "final_loss": float(np.max(res.loss[:, -1])),
                "steps": int(res.steps[-1]),
            }
            if widest:
                traj[tag] = res
        # checks at the widest width
        w = max(cfg.widths)
        d = per_width[tag][w]
        zmax = float(np.max(np.abs(d["z"])))
        checks.append(
            Check.at_most(
                f"error_vs_members_{tag}",
                zmax,
                cfg.z_max,
                f"{LABEL[tag]}, k={k}, n={w}: max over M ∈ {Ms.tolist()} of |z_M|, z_M = (mean over the {M}/M disjoint "
                "blocks of ‖ȳ_M − μ‖² − k·trΣ/M) / (√(2k·tr Σ²/(M/M))/M) — the exact mean and s.d. of the squared error "
                "of an M-member mean under the GP (e ~ N(0, Σ⊗I_k/M), Σ = gp_covariance on the test inputs). Tolerance "
                f"{cfg.z_max}σ; finite-width bias of the mean (O(1/n)) would show as z growing with M.",
            )
        )
        # each coordinate's sample variance over M members has relative s.d. √(2/(M−1)); the k output coordinates of
        # one input are independent GPs, so the per-input average has √(2/(k(M−1))); averaging over correlated
        # inputs can only shrink it, so this is a conservative s.d. of the mean ratio.
        tol = cfg.z_max * math.sqrt(2 / (k * (M - 1)))
        checks.append(
            Check.at_most(
                f"member_variance_{tag}",
                abs(d["var_ratio"] - 1),
                tol,
                f"{LABEL[tag]}, n={w}: |mean over test coordinates of (member variance / GP variance) − 1|; ratio "
                f"{d['var_ratio']:.4f}. The sample variance over M={M} members has relative s.d. √(2/(M−1)), √(2/(k(M−1))) "
                f"after averaging the k independent output coordinates of an input (a conservative bound for the mean "
                f"over inputs); tolerance {cfg.z_max} of those.",
            )
        )
        # trajectory of the mean during training vs the discrete-time GP mean and covariance
        res = traj[tag]
        steps = res.steps
        lr = res.info["learning_rate"]
        theory_net = net.with_width(w) if net.parameterization == "standard" else net
        mu_T = np.asarray(th.gp_mean(x, perm, net=theory_net, steps=steps, learning_rate=lr))
        cov_T = np.asarray(th.gp_covariance(x, net=theory_net, steps=steps, learning_rate=lr))
        ybar_T = np.asarray(res.stats["output_mean"], float)
        zt = []
        for i in range(steps.size):
            mean, sd = _error_statistic(cov_T[i], M)
            zt.append((np.sum((ybar_T[i] - mu_T[i]) ** 2) - k * mean) / (np.sqrt(k) * sd))
        zt = np.asarray(zt)
        checks.append(
            Check.at_most(
                f"training_trajectory_{tag}",
                float(np.max(np.abs(zt))),
                cfg.z_max,
                f"{LABEL[tag]}, n={w}: max over the {steps.size} GD steps T of |z_T| for ‖ȳ_T − μ_T‖², μ_T and Σ_T the "
                "discrete-GD GP (Θ⁻¹(I − (I − ηΘ/N)^T)) at the learning rate used; same exact Gaussian statistic as "
                "above.",
            )
        )
        two = x.sum(axis=1) == 2
        off = (target == 0) & two[:, None]
        sd_T = np.sqrt(np.maximum(np.diagonal(cov_T, axis1=1, axis2=2), 0) / M)[:, :, None]
        clear = (np.abs(mu_T) > cfg.z_max * sd_T) & off[None]
        disagree = int(np.sum(clear & (np.sign(ybar_T) != np.sign(mu_T))))
        checks.append(
            Check.at_most(
                f"off_sign_over_training_{tag}",
                disagree,
                0,
                f"{LABEL[tag]}: (step, 2-hot input, off-coordinate) triples where the theory's mean μ_T is more than "
                f"{cfg.z_max} s.e. (σ_T/√M) from 0 but the ensemble mean has the other sign — the off-mean B_T is "
                f"positive early and turns negative after u* e-folds (§6); {int(clear.sum())} such triples are "
                "decided by the theory. Must be 0.",
            )
        )
        arrays[f"trajectory_mean_{tag}"], arrays[f"trajectory_theory_{tag}"] = ybar_T, mu_T
        arrays[f"trajectory_z_{tag}"] = zt
        for width, dd in per_width[tag].items():
            arrays[f"ms_error_{tag}_n{width}"] = dd["ms_error"]
            metrics[f"var_ratio_{tag}_n{width}"] = dd["var_ratio"]
            metrics[f"z_at_M{M}_{tag}_n{width}"] = float(dd["z"][-1])
            metrics[f"final_loss_{tag}_n{width}"] = dd["final_loss"]
        slope, se, _ = fit_power_law(Ms, np.sqrt(d["ms_error"]))
        metrics[f"rms_error_exponent_{tag}"] = slope
        metrics[f"rms_error_exponent_se_{tag}"] = se
        arrays[f"predicted_ms_error_{tag}"] = k * np.trace(sigma) / Ms
        arrays[f"gp_variance_{tag}"] = np.diag(sigma)

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    ax = axes[0]
    n_coord = x.shape[0] * k
    for j, tag in enumerate(PARAMS):
        for width, dd in per_width[tag].items():
            ax.plot(
                Ms,
                np.sqrt(dd["ms_error"] / n_coord),
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
        title=f"ensemble mean → GP mean ∝ M^−1/2 (k={k})",
    )
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    for tag in PARAMS:
        ws = list(per_width[tag])
        ax.plot(ws, [per_width[tag][w_]["var_ratio"] for w_ in ws], "o-", label=f"member variance / GP, {tag}")
        ax.plot(
            ws, [per_width[tag][w_]["z"][-1] / 10 for w_ in ws], "x--", label=f"z of ‖ȳ_M − μ‖², M={M}, {tag} (/10)"
        )
    ax.axhline(1, color="k", lw=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xscale="log", xlabel="hidden width n", ylabel="ratio / z", title="finite-width effects")
    ax.legend(fontsize=7)
    ax = axes[2]
    for j, tag in enumerate(PARAMS):
        ybar_T, mu_T = arrays[f"trajectory_mean_{tag}"], arrays[f"trajectory_theory_{tag}"]
        steps = traj[tag].steps
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
    return Result(checks, arrays, {"ensemble_convergence": fig}, metrics)


# ==============================================================================================
# ntk_ensemble_complexity
# ==============================================================================================
@dataclass(frozen=True)
class ComplexityConfig:
    sim_ks: tuple = setting((4, 6), "k of the trained pools (accuracy vs M, smallest M for exact recovery)")
    width_A: int = setting(2048, "hidden width of the trained networks, NTK parameterisation")
    width_B: int = setting(
        8192,
        "hidden width of the trained networks, standard parameterisation (its finite-width bias is larger at equal n)",
    )
    pool_A: int = setting(1200, "networks trained per k, NTK parameterisation (needs ≳ 2× the all-input M)")
    pool_B: int = setting(400, "networks trained per k, standard parameterisation")
    delta: float = setting(0.1, "failure probability δ: 'exact recovery' means probability ≥ 1 − δ")
    block_shuffles: int = setting(10, "random orders of the pool, each split into disjoint M-member ensembles")
    surrogate_reps: int = setting(40, "GP-surrogate replicates of the whole procedure (null distribution)")
    theory_k_max: int = setting(50, "largest k of the theoretical complexity curves")
    repo_ks: tuple = setting(
        (4, 6, 8, 10, 12, 15, 20, 25, 30), "k of the public code's runs compared with the (B) GP surrogate (spec §9)"
    )
    repo_runs: int = setting(40, "GP-surrogate replicates of the public code's protocol per k")
    z_max: float = setting(4.0, "largest allowed |z| against a surrogate distribution")

    def validate(self):
        require(
            len(self.sim_ks) >= 1 and all(3 <= k <= 12 for k in self.sim_ks),
            f"sim_ks must hold integers in [3, 12]; got {self.sim_ks}",
        )
        require(self.width_A >= 1 and self.width_B >= 1, f"widths must be >= 1; got {self.width_A}, {self.width_B}")
        require(
            self.pool_A >= 8 and self.pool_B >= 8, f"pool_A and pool_B must be >= 8; got {self.pool_A}, {self.pool_B}"
        )
        require(0 < self.delta < 1, f"delta must lie in (0, 1); got {self.delta}")
        require(
            self.block_shuffles >= 1 and self.surrogate_reps >= 8 and self.repo_runs >= 8,
            "block_shuffles must be >= 1, surrogate_reps and repo_runs >= 8",
        )
        require(self.theory_k_max >= 10, f"theory_k_max must be >= 10; got {self.theory_k_max}")
        require(all(k in REPO_EXP1_STOP for k in self.repo_ks), f"repo_ks must lie in 2..30; got {self.repo_ks}")


def _complexity_full() -> ComplexityConfig:
    return ComplexityConfig(
        sim_ks=(4, 6, 8, 10),
        width_A=8192,
        width_B=16384,
        pool_A=2400,
        pool_B=800,
        block_shuffles=20,
        surrogate_reps=100,
        theory_k_max=100,
        repo_ks=tuple(range(2, 31)),
        repo_runs=200,
    )


def _members_grid(pool: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, pool // 2, 28)).astype(int))


def _block_stats_core(outputs, target, two_hot, orders, Ms):
    """Mean over shuffles and disjoint M-member ensembles of (2-hot accuracy, all-inputs-exact) for each M."""
    P = outputs.shape[0]

    def one(order):
        cs = jnp.cumsum(outputs[order], axis=0)
        cs = jnp.concatenate([jnp.zeros_like(cs[:1]), cs])
        acc, every = [], []
        for M in Ms:
            B = P // M
            mean = (cs[M : B * M + 1 : M] - cs[0 : B * M : M]) / M
            correct = jnp.all((mean > 0) == target, axis=-1)  # (B, n)
            acc.append(jnp.mean(jnp.sum(correct * two_hot, axis=-1) / jnp.sum(two_hot)))
            every.append(jnp.mean(jnp.all(correct, axis=-1)))
        return jnp.stack(acc), jnp.stack(every)

    acc, every = jax.lax.map(one, orders)
    return acc.mean(0), every.mean(0)


_block_stats = jax.jit(_block_stats_core, static_argnames=("Ms",))


@partial(jax.jit, static_argnames=("Ms", "P"))
def _surrogate_block_stats(keys, mu, root, target, two_hot, orders, Ms, P):
    def rep(key):
        xi = jax.random.normal(key, (P,) + mu.shape, mu.dtype)
        return _block_stats_core(mu + jnp.einsum("nj,mjc->mnc", root, xi), target, two_hot, orders, Ms)

    return jax.lax.map(rep, keys)


@partial(jax.jit, static_argnames=("P", "draws"))
def _repo_protocol(keys, mu, root, target, P, draws):
    """The public code's protocol on GP draws: members added one at a time, accuracy and error on ``draws``
    random 2-hot test inputs (with replacement) after each; returns (accuracy, error), each (runs, P)."""
    n, k = mu.shape

    def run(key):
        kd, kx = jax.random.split(key)
        counts = jnp.zeros(n, mu.dtype).at[jax.random.randint(kd, (draws,), 0, n)].add(1.0)
        out = mu + jnp.einsum("nj,mjc->mnc", root, jax.random.normal(kx, (P, n, k), mu.dtype))
        ybar = jnp.cumsum(out, axis=0) / jnp.arange(1, P + 1, dtype=mu.dtype)[:, None, None]
        correct = jnp.all((ybar > 0) == target, axis=-1)
        err = jnp.sum((ybar - target / jnp.sqrt(2.0)) ** 2, axis=-1)
        return correct.astype(mu.dtype) @ counts / draws, err @ counts / (draws * k)

    return jax.lax.map(run, keys)


def _gp_root(x, perm, net, dtype=jnp.float32):
    mu = np.asarray(th.gp_mean(x, perm, net=net))
    lam, V = np.linalg.eigh(np.asarray(th.gp_covariance(x, net=net)))
    return jnp.asarray(mu, dtype), jnp.asarray(V * np.sqrt(np.clip(lam, 0, None)), dtype)


def _first_M(Ms, curve, level):
    """First M (log-interpolated between grid points) at which ``curve`` reaches ``level``; NaN if never."""
    curve = np.asarray(curve)
    hit = np.nonzero(curve >= level)[0]
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if i == 0:
        return float(Ms[0])
    c0, c1 = curve[i - 1], curve[i]
    f = (level - c0) / (c1 - c0) if c1 > c0 else 1.0
    return float(np.exp(np.log(Ms[i - 1]) + f * (np.log(Ms[i]) - np.log(Ms[i - 1]))))


def _first_passage(curves, level):
    """First M (1-based) with curve ≥ level per row; inf if never."""
    ok = np.asarray(curves) >= level
    return np.where(ok.any(axis=1), np.argmax(ok, axis=1) + 1, np.inf)


def _mid_rank(sample, value):
    sample = np.asarray(sample)
    return float((np.sum(sample < value) + 0.5 * np.sum(sample == value)) / sample.size)


def _pool_outputs(ctx: RunContext, name: str, key, perm, members: int, width: int, net, x) -> np.ndarray:
    """Outputs (members, inputs, k) of a trained pool on ``x``, as a chunked sweep over members
    (:func:`experiments.sweep.train_sweep`): only one chunk's parameters are in memory at a time, chunks stream
    to disk, and member m is the same network whatever the chunking."""
    job = tm.job(perm, members=members, width=width, net=net, n_records=1)
    outputs = lambda res: {"outputs": tm.ensemble_outputs(res.params, x, net)}  # noqa: E731
    return train_sweep(ctx, name, job, key, outputs=outputs)["outputs"]


@register(
    "ntk_ensemble_complexity",
    "accuracy vs M and the smallest M for exact recovery (one input; all inputs) "
    "from trained ensembles vs the GP, the k log k and k² laws, and the public code's numbers, both "
    "parameterisations",
    ComplexityConfig,
    quick=ComplexityConfig,
    full=_complexity_full,
)
def run_ensemble_complexity(cfg: ComplexityConfig, seed: int, ctx: RunContext) -> Result:
    key = jax.random.key(seed)
    checks, arrays, metrics = [], {}, {}
    level = 1 - cfg.delta
    # ---- theory: complexity curves -------------------------------------------------------------------------
    ks_th = np.arange(5, cfg.theory_k_max + 1)
    curves_th = {}
    for tag, net in PARAMS.items():
        m1 = np.array([th.ensemble_size_single(int(k), cfg.delta, net=net) for k in ks_th], float)
        mall = np.array([th.ensemble_size_all(int(k), cfg.delta, net=net) for k in ks_th], float)
        crude = np.array([th.ensemble_size_bound_all(int(k), cfg.delta, net=net) for k in ks_th], float)
        single_bound = np.array([th.ensemble_size_bound_single(int(k), cfg.delta, net=net) for k in ks_th], float)
        curves_th[tag] = (m1, mall, crude, single_bound)
        A = np.stack([ks_th * np.log(ks_th), np.ones_like(ks_th, dtype=float)], 1)
        coef, *_ = np.linalg.lstsq(A, m1, rcond=None)
        r2 = 1 - np.sum((m1 - A @ coef) ** 2) / np.sum((m1 - m1.mean()) ** 2)
        checks.append(
            Check.at_least(
                f"single_input_klogk_{tag}",
                r2,
                0.99,
                f"{LABEL[tag]}: R² of M_1(k) = a·k ln k + b over k = 5..{cfg.theory_k_max} (M_1: smallest M with "
                f"P(2-hot input exact) ≥ {level}, exact GP; fit a = {coef[0]:.3g}, b = {coef[1]:.3g}). The paper's "
                "'linearithmic' claim; 0.99 is the spec's criterion (§13 item 10), a margin.",
            )
        )
        big = np.array([100, 200, 400])
        mall_big = np.array([th.ensemble_size_all(int(k), cfg.delta, net=net) for k in big], float)
        crude_big = np.array([th.ensemble_size_bound_all(int(k), cfg.delta, net=net) for k in big], float)
        exp_all = float(np.log(mall_big[2] / mall_big[1]) / np.log(2))
        exp_crude = float(np.log(crude_big[2] / crude_big[1]) / np.log(2))
        klogk_exp = float(np.log(400 * np.log(400) / (200 * np.log(200))) / np.log(2))
        checks.append(
            Check.at_most(
                f"all_inputs_growth_{tag}",
                abs(exp_all - klogk_exp),
                0.1,
                f"{LABEL[tag]}: local exponent d ln M_all/d ln k between k = 200 and 400 ({exp_all:.3f}) minus that of "
                f"k ln k ({klogk_exp:.3f}); M_all = the exact-margin union bound over all inputs. The spec (§8) derives "
                "M_all ∝ k ln k asymptotically (1/z² → const for s ≈ k/2), so the exponent is k ln k's, not 2; 0.1 "
                "allows for the O(1/ln k) corrections still present at k = 300 (a margin).",
            )
        )
        checks.append(
            Check.at_least(
                f"crude_bound_growth_{tag}",
                exp_crude,
                1.8,
                f"{LABEL[tag]}: local exponent of the uniform-margin bound 2 ln(k(2^k−1)/δ)/z_min² between k = 200 and 400 "
                f"({exp_crude:.3f}): (k ln 2)·(k + b)²/k → k², the paper's 'quadratic' rate; (k+b)²/k with b ≈ 5 "
                "(A) or 2 (B) still lowers the exponent by ≈ 2b/k·… at k = 300, hence ≥ 1.8 (a margin).",
            )
        )
        metrics[f"M1_over_klogk_{tag}"] = float(m1[-1] / (ks_th[-1] * np.log(ks_th[-1])))
        metrics[f"Mall_over_klogk_k400_{tag}"] = float(mall_big[-1] / (400 * np.log(400)))
        metrics[f"crude_over_k2_k400_{tag}"] = float(crude_big[-1] / 400**2)
        arrays[f"theory_M1_{tag}"], arrays[f"theory_Mall_{tag}"] = m1, mall
        arrays[f"theory_crude_{tag}"], arrays[f"theory_single_bound_{tag}"] = crude, single_bound
    arrays["theory_k"] = ks_th

    # ---- simulation: trained pools -------------------------------------------------------------------------
    sim = {}
    for tag, net in PARAMS.items():
        pool = cfg.pool_A if tag == "A" else cfg.pool_B
        width = cfg.width_A if tag == "A" else cfg.width_B
        Ms = _members_grid(pool)
        sim[tag] = {"Ms": Ms}
        for k in cfg.sim_ks:
            kk = jax.random.fold_in(jax.random.fold_in(key, k), ord(tag))
            perm = _perm(kk, k)
            x = unseen_inputs(k)
            target = x[:, perm] > 0.5
            two_hot = jnp.asarray(x.sum(axis=1) == 2, jnp.float32)
            ctx.log(f"  {tag}, k={k}: training {pool} networks of width {width}")
            out = jnp.asarray(_pool_outputs(ctx, f"pool_{tag}_k{k}", kk, perm, pool, width, net, x))
            orders = jax.vmap(lambda r, kk=kk, pool=pool: jax.random.permutation(jax.random.fold_in(kk, r), pool))(
                1000 + jnp.arange(cfg.block_shuffles)
            )
            acc, every = (
                np.asarray(a)
                for a in _block_stats(out, jnp.asarray(target), two_hot, orders, tuple(int(m) for m in Ms))
            )
            mu, root = _gp_root(x, perm, net)
            keys = jax.random.split(jax.random.fold_in(kk, 7), cfg.surrogate_reps)
            s_acc, s_every = (
                np.asarray(a)
                for a in _surrogate_block_stats(
                    keys, mu, root, jnp.asarray(target), two_hot, orders, tuple(int(m) for m in Ms), pool
                )
            )
            sim[tag][k] = dict(
                acc=acc, every=every, s_acc=s_acc, s_every=s_every, theory=th.expected_accuracy(Ms, k, ones=2, net=net)
            )
            for name, a in (("acc", acc), ("every", every), ("surrogate_acc", s_acc), ("surrogate_every", s_every)):
                arrays[f"sim_{name}_{tag}_k{k}"] = a
        # checks per parameterisation
        zs, z1, zall, rows = [], [], [], []
        for k in cfg.sim_ks:
            d = sim[tag][k]
            sd = np.maximum(d["s_acc"].std(axis=0, ddof=1), 1e-3)
            zs.append(np.max(np.abs(d["acc"] - d["s_acc"].mean(axis=0)) / sd))
            m1_sim = _first_M(Ms, d["acc"], level)
            m1_sur = np.array([_first_M(Ms, c, level) for c in d["s_acc"]])
            z1.append(abs(m1_sim - np.nanmean(m1_sur)) / max(np.nanstd(m1_sur, ddof=1), 0.5))
            mall_sim = _first_M(Ms, d["every"], level)
            mall_sur = np.array([_first_M(Ms, c, level) for c in d["s_every"]])
            zall.append(abs(mall_sim - np.nanmean(mall_sur)) / max(np.nanstd(mall_sur, ddof=1), 0.5))
            union = th.ensemble_size_all(k, cfg.delta, net=net)
            single = th.ensemble_size_single(k, cfg.delta, net=net)
            rows.append(
                (
                    k,
                    m1_sim,
                    single,
                    mall_sim,
                    union,
                    th.ensemble_size_bound_all(k, cfg.delta, net=net),
                    float(np.nanmean(mall_sur)),
                )
            )
            metrics[f"M1_sim_{tag}_k{k}"], metrics[f"M1_theory_{tag}_k{k}"] = m1_sim, single
            metrics[f"Mall_sim_{tag}_k{k}"], metrics[f"Mall_union_bound_{tag}_k{k}"] = mall_sim, union
            metrics[f"Mall_surrogate_mean_{tag}_k{k}"] = float(np.nanmean(mall_sur))
        sim[tag]["rows"] = rows
        checks.append(
            Check.at_most(
                f"accuracy_vs_members_{tag}",
                float(np.max(zs)),
                cfg.z_max,
                f"{LABEL[tag]}, width {width}, k ∈ {list(cfg.sim_ks)}: max over k and M of |accuracy − surrogate "
                "mean| / surrogate s.d., accuracy = exact-match rate of the sign-rounded mean of disjoint M-member "
                f"ensembles on all 2-hot inputs, averaged over {cfg.block_shuffles} shuffles of the {pool}-network pool. "
                f"The surrogate repeats the identical procedure {cfg.surrogate_reps}× on GP draws (exact null "
                f"distribution incl. the pool's finite size; its mean is Φ(√M z_on)²Φ(√M z_off)^(k−2)). s.d. floored at "
                "1e-3.",
            )
        )
        checks.append(
            Check.at_most(
                f"smallest_M_single_{tag}",
                float(np.max(z1)),
                cfg.z_max,
                f"{LABEL[tag]}: max over k of |M_1(sim) − mean M_1(surrogate)| / its s.d. (floored at 0.5 member, below "
                f"the grid's resolution); M_1 = first M (log-interpolated on the grid) with 2-hot accuracy ≥ {level}. "
                "(sim, theory) = " + ", ".join(f"k={r[0]}: ({r[1]:.0f}, {r[2]})" for r in rows) + ".",
            )
        )
        checks.append(
            Check.at_most(
                f"smallest_M_all_{tag}",
                float(np.max(zall)),
                cfg.z_max,
                f"{LABEL[tag]}: the same for M_all = first M with a fraction ≥ {level} of the ensembles exact on every "
                "unseen input (2^k − 1 − k inputs). (sim, surrogate mean, exact-margin union bound, crude k² bound) = "
                + ", ".join(f"k={r[0]}: ({r[3]:.0f}, {r[6]:.0f}, {r[4]}, {r[5]})" for r in rows)
                + ". The union bound is "
                "nearly tight at these small k (few inputs), so single estimates can exceed it by sampling noise.",
            )
        )

    # ---- the public code's numbers (spec §9) against the GP surrogate --------------------------------------
    repo = {}
    draws = 1000
    for k in cfg.repo_ks:
        x2 = inputs_with_ones(k, 2)
        target = jnp.asarray(x2 > 0.5)  # identity permutation: the statistics are permutation-invariant
        for tag, net in PARAMS.items():
            if tag == "A" and k not in REPO_ACCURACY and k not in (10, 30):
                continue
            P = 600 if tag == "B" else 1000
            mu, root = _gp_root(x2, np.arange(k), net)
            keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, 5000 + k), ord(tag)), cfg.repo_runs)
            acc, err = (np.asarray(a) for a in _repo_protocol(keys, mu, root, target, P, draws))
            repo[(tag, k)] = (acc, err)
        ctx.log(f"  public-code protocol on the GP surrogate: k={k}")
    ranks, rank_rows = [], []
    for k in cfg.repo_ks:
        if k in REPO_UNSTABLE_K:
            continue
        acc = repo[("B", k)][0]
        for level_r, table in ((0.9, REPO_EXP1_STOP), (0.999, REPO_EXP2_STOP)):
            if k in table:
                fp = _first_passage(acc, level_r)
                r = _mid_rank(fp, table[k])
                ranks.append(r)
                rank_rows.append((k, level_r, table[k], *np.percentile(fp, [10, 50, 90]), r))
    n_r = len(ranks)
    checks.append(
        Check.at_most(
            "repo_first_passage_rank_B",
            abs(float(np.mean(ranks)) - 0.5),
            3 * math.sqrt(1 / (12 * n_r)),
            f"|mean − 0.5| of the percentile ranks of the public code's stopping M (Exp 1: accuracy ≥ 0.9, Exp 2: ≥ 0.999; "
            f"{n_r} runs with k ≥ 4 among {list(cfg.repo_ks)}) within the (B) GP surrogate of the same protocol (members "
            f"added one at a time, 1000 random 2-hot test draws, {cfg.repo_runs} replicates). If the code follows the "
            "GP, each rank is U(0, 1): the mean has s.d. √(1/(12n)); tolerance 3 s.d. k = 2, 3 are excluded: the "
            "code's lr is unstable there (2ηλ_max/k² = 8.2, 3.0 > 2, §3).",
        )
    )
    zs_repo, rows_acc = [], []
    for k, table in REPO_ACCURACY.items():
        if ("B", k) not in repo:
            continue
        for M, value in table.items():
            accB = repo[("B", k)][0][:, M - 1]
            z = abs(value - accB.mean()) / max(accB.std(ddof=1), 1e-3)
            zs_repo.append(z)
            accA = repo[("A", k)][0][:, M - 1] if ("A", k) in repo else np.array([np.nan])
            rows_acc.append((k, M, value, float(accB.mean()), float(accB.std(ddof=1)), float(np.mean(accA))))
    if zs_repo:
        checks.append(
            Check.at_most(
                "repo_accuracy_B",
                float(np.max(zs_repo)),
                cfg.z_max,
                "max over the public code's logged accuracies (k, M) of |logged − surrogate mean| / surrogate s.d. under "
                "the (B) GP (same protocol; s.d. floored at 1e-3, the resolution of 1000 draws). (k, M: logged, B, A) = "
                + ", ".join(f"({r[0]}, {r[1]}: {r[2]:.3f}, {r[3]:.3f}, {r[5]:.3f})" for r in rows_acc)
                + ".",
            )
        )
    dev_B, dev_A = [], []
    for (k, M), value in REPO_ERROR.items():
        dev_B.append(value / float(th.expected_error(M, k, net=PARAMS["B"])) - 1)
        dev_A.append(value / float(th.expected_error(M, k, net=PARAMS["A"])) - 1)
    checks.append(
        Check.at_most(
            "repo_error_B",
            float(np.max(np.abs(dev_B))),
            0.2,
            "max relative deviation of the public code's final logged error (MSE of the mean vs Px/‖Px‖) from the (B) "
            "prediction floor + σ²/M, over "
            + ", ".join(f"(k={k}, M={M}): {d:+.3f}" for (k, M), d in zip(REPO_ERROR, dev_B, strict=True))
            + ". 0.2 is the spec's margin (§13 item 8), not a derivation: the surrogate's own s.d. of this error is "
            "≈0.7 % at k = 30, so deviations of a few % there are a real gap between the code's runs and the "
            "infinite-width GP (reported, not explained).",
        )
    )
    checks.append(
        Check.at_least(
            "repo_error_rejects_A",
            float(np.min(np.abs(dev_A))),
            0.2,
            "min over the same points of |relative deviation| from the (A) prediction: the public code trains the "
            "standard parameterisation, whose GP is the NNGP posterior; the NTK-parameterisation GP must miss every "
            "point by more than the 0.2 margin above (pitfall 1 of the spec): "
            + ", ".join(f"{d:+.2f}" for d in dev_A)
            + ".",
        )
    )
    metrics["repo_first_passage"] = [
        dict(zip(("k", "level", "repo", "p10", "p50", "p90", "rank"), map(float, r), strict=True)) for r in rank_rows
    ]
    metrics["repo_accuracy"] = [
        dict(zip(("k", "M", "repo", "B_mean", "B_sd", "A_mean"), map(float, r), strict=True)) for r in rows_acc
    ]
    metrics["repo_error_rel_dev_B"], metrics["repo_error_rel_dev_A"] = dev_B, dev_A
    arrays["repo_first_passage"] = np.array(rank_rows, float)

    # ---- figure (the paper's Fig. 1 and the accuracy curves) ------------------------------------------------
    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(22, 4.6))
    ax = axes[0]
    for tag, col in (("A", "C0"), ("B", "C1")):
        m1, mall, crude, _ = curves_th[tag]
        ax.plot(ks_th, m1, "-", color=col, label=f"M_1 one input {tag}")
        ax.plot(ks_th, mall, "--", color=col, label=f"M_all all inputs (union) {tag}")
        ax.plot(ks_th, crude, ":", color=col, label=f"crude k² bound {tag}")
        rows = sim[tag]["rows"]
        ax.plot(
            [r[0] for r in rows], [r[1] for r in rows], "o", color=col, mfc="none", label=f"trained, one input {tag}"
        )
        ax.plot([r[0] for r in rows], [r[3] for r in rows], "s", color=col, label=f"trained, all inputs {tag}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="k",
        ylabel=f"ensemble size M for success prob. {level}",
        title="ensemble complexity: theory vs trained ensembles",
    )
    ax.legend(fontsize=6, ncol=2)
    ax = axes[1]
    rr = np.array(rank_rows)
    for level_r, mk in ((0.9, "o"), (0.999, "s")):
        sel = rr[:, 1] == level_r
        ax.fill_between(
            rr[sel, 0], rr[sel, 3], rr[sel, 5], alpha=0.25, label=f"(B) GP surrogate 10–90 %, acc ≥ {level_r}"
        )
        ax.plot(rr[sel, 0], rr[sel, 4], "-", lw=1)
        ax.plot(rr[sel, 0], rr[sel, 2], mk, color="k", label=f"public code, acc ≥ {level_r}")
    kk_ = np.arange(4, 31)
    ax.plot(
        kk_,
        [th.ensemble_size_single(int(k), 0.1, net=PARAMS["A"]) for k in kk_],
        "C0--",
        label="(A) GP, expected accuracy 0.9",
    )
    ax.set(
        yscale="log",
        xlabel="k",
        ylabel="members until the accuracy threshold",
        title="paper Fig. 1: public code vs GP surrogate",
    )
    ax.legend(fontsize=6)
    ax = axes[2]
    for j, k in enumerate(cfg.sim_ks):
        for tag, mk in (("A", "o"), ("B", "s")):
            d, Ms = sim[tag][k], sim[tag]["Ms"]
            ax.plot(Ms, d["acc"], mk, ms=3, color=f"C{j}", label=f"trained {tag}, k={k}")
            ax.plot(Ms, d["theory"], "-", color=f"C{j}", lw=1)
    ax.set(
        xscale="log",
        xlabel="ensemble size M",
        ylabel="exact-match accuracy, 2-hot inputs",
        title="accuracy vs M: trained (markers) vs Φ(√M z_on)²Φ(√M z_off)^(k−2)",
    )
    ax.legend(fontsize=6, ncol=2)
    ax = axes[3]
    Mgrid = np.arange(1, 301)
    for j, (k, table) in enumerate(REPO_ACCURACY.items()):
        ax.plot(Mgrid, th.expected_accuracy(Mgrid, k, net=PARAMS["B"]), "-", color=f"C{j}", label=f"(B) GP, k={k}")
        ax.plot(Mgrid, th.expected_accuracy(Mgrid, k, net=PARAMS["A"]), ":", color=f"C{j}", label=f"(A) GP, k={k}")
        ax.plot(list(table), list(table.values()), "o", color=f"C{j}", label=f"public code, k={k}")
    ax.set(xlabel="ensemble size M", ylabel="accuracy on 2-hot inputs", title="public code's logged accuracy")
    ax.legend(fontsize=6, ncol=2)
    return Result(checks, arrays, {"ensemble_complexity": fig}, metrics)
