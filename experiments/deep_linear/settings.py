"""Settings of the deep linear experiments, each declared once (quick value, full value, help, allowed range).

Quick and full sizes differ only where stated in a setting's help; optimiser (plain GD), initialisation scheme and
the averaged-convention scales are the same at both sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.contract import require, setting
from theory import deep_linear as th

__all__ = [
    "ModesConfig",
    "LearningTimeConfig",
    "SemanticConfig",
    "PhasePortraitConfig",
    "GeneralInitConfig",
    "EdgeOfChaosConfig",
    "DigitsDepthConfig",
    "PretrainingConfig",
]


def _require_stable(lr: float, singular_values, depths) -> None:
    """``0 < lr < 2/(D s_max^(2-2/D))`` at every depth (the GD stability bound of the slowest-to-stabilise depth)."""
    s_max = max(singular_values)
    bounds = {d: float(th.max_stable_learning_rate(s_max, d)) for d in depths}
    d_worst = min(bounds, key=bounds.get)
    require(
        0 < lr < bounds[d_worst],
        f"lr must satisfy 0 < lr < {bounds[d_worst]:.4g}, the stability bound 2/(D s_max^(2-2/D)) at "
        f"depth D={d_worst}, s_max={s_max}; got {lr}",
    )


def _require_below_smallest(initial_strength: float, singular_values) -> None:
    require(
        initial_strength < min(singular_values),
        f"initial_strength must satisfy 0 < initial_strength < min(singular_values) = "
        f"{min(singular_values)}; got {initial_strength}",
    )


@dataclass(frozen=True)
class ModesConfig:
    singular_values: tuple = setting((2.0, 1.0, 0.5), "singular values s_α of the whitened task Σyx", gt=0)
    depths: tuple = setting((2, 3, 4), "numbers of weight matrices D to simulate", ge=1)
    initial_strength: float = setting(1e-3, "balanced decoupled initial mode strength u0 (all modes)", gt=0)
    lr: float = setting(
        1e-3,
        "GD step η; must be below the stability bound 2/(D s_max^(2-2/D)) of every depth. Full size: 2.5e-4, "
        "where the first-order discretisation error is 4× smaller; quick: 1e-3, 4× fewer steps",
        full=2.5e-4,
    )
    n_in: int = setting(5, "input dimension N1 (>= number of modes)", ge=1)
    n_out: int = setting(4, "output dimension N3 (>= number of modes)", ge=1)
    hidden: int = setting(4, "hidden width of every hidden layer (>= number of modes)", ge=1)
    duration: float = setting(1.25, "simulated time as a multiple of the slowest mode's time to reach 0.999 s", gt=0)
    n_records: int = setting(
        5000,
        "recorded time points per run (fine enough to resolve the error peak: a sampled "
        "maximum underestimates the true one)",
        ge=2,
    )

    def validate(self):
        _require_below_smallest(self.initial_strength, self.singular_values)
        _require_stable(self.lr, self.singular_values, self.depths)
        r = len(self.singular_values)
        for name in ("n_in", "n_out", "hidden"):
            require(getattr(self, name) >= r, f"{name} must be >= the number of modes {r}; got {getattr(self, name)}")


@dataclass(frozen=True)
class LearningTimeConfig:
    singular_values: tuple = setting((3.0, 2.0, 1.0, 0.5, 0.25), "singular values for the 1/s-law run (depth 2)", gt=0)
    initial_strength: float = setting(
        1e-6, "balanced decoupled u0 of the 1/s-law run (docs/families/deep_linear.md P3: 1e-6)", gt=0
    )
    lr: float = setting(1e-3, "GD step of the 1/s-law run (docs/families/deep_linear.md P3: 1e-3)")
    delay_depths: tuple = setting(
        (2, 3, 5, 10, 20),
        "depths D of the finite-depth-delay run (docs/families/deep_linear.md P10); full size adds 50 and 100, "
        "where the delay saturates",
        full=(2, 3, 5, 10, 20, 50, 100),
        ge=1,
    )
    delay_modes: int = setting(10, "number of modes, s evenly spaced in [0.5, 1.5] (P10)", ge=1)
    delay_u0: float = setting(
        1e-3, "decoupled initial strength of the P10 run (below the smallest s, 0.5)", gt=0, lt=0.5
    )
    delay_c: tuple = setting(
        (0.5, 1.0, 1.5, 1.95),
        "rate factors c, η = c / (D s_max^(2-2/D)); c < 2 is stable (the stability bound η < 2/(D s_max^(2-2/D))). "
        "Full size: 20 factors evenly spaced in [0.1, 1.95], a finer search for the best rate",
        full=tuple(float(c) for c in np.round(np.linspace(0.1, 1.95, 20), 4)),
        gt=0,
        lt=2,
    )
    init_depths: tuple = setting(
        (2, 4, 8),
        "depths of the orthogonal vs scaled-Gaussian run (docs/families/deep_linear.md P11); full size up to 64",
        full=(2, 4, 8, 16, 32, 64),
        ge=1,
    )
    init_width: int = setting(32, "input and hidden width of the P11 run", ge=2)
    init_out: int = setting(
        16,
        "output size of the P11 run (modes, s in [0.5, 1.5]); must be < init_width, since on "
        "a square task balanced (orthogonal) init cannot change det(W_tot)'s sign",
        ge=1,
    )
    init_c: tuple = setting((0.05, 0.1, 0.2, 0.4, 0.8), "rate factors c, η = c / D, of the P11 run", gt=0, lt=2)
    max_steps: int = setting(4000, "step cap of the P10/P11 runs", ge=1)
    init_seeds: int = setting(
        2, "random initialisations per scheme and depth in the P11 run (full size: 4)", full=4, ge=1
    )
    spectrum_samples: int = setting(256, "initialisations drawn per depth to test E[σ²(W_tot(0))] = 1", ge=2)

    def validate(self):
        _require_below_smallest(self.initial_strength, self.singular_values)
        _require_stable(self.lr, self.singular_values, (2,))
        require(
            self.init_out < self.init_width,
            f"init_out must satisfy 1 <= init_out < init_width = {self.init_width}; got {self.init_out}",
        )


@dataclass(frozen=True)
class SemanticConfig:
    levels: int = setting(5, "levels of the binary tree (items = 2^levels; Saxe Fig. 3: 5)", ge=1, le=10)
    flip_prob: float = setting(0.1, "probability that a feature's sign flips along an edge (Saxe: 0.1)", ge=0, lt=0.5)
    n_features: int = setting(1000, "number of features N3 (Saxe: 1000)", ge=1)
    hidden: int = setting(32, "hidden width N2 (Saxe: 32)", ge=1)
    init_std: float = setting(
        1e-3, "std σ of the i.i.d. Gaussian initial weights (docs/families/deep_linear.md P5: 1e-3)", gt=0
    )
    lr: float = setting(5e-4, "GD step λ (Saxe: 0.5e-3, summed convention = ours after from_summed_convention)")
    n_seeds: int = setting(
        5,
        "random initialisations, trained at once with vmap (Saxe Fig. 3 right: 100; full size: 100, quick: 5, "
        "enough for the mean delays at the stated tolerances)",
        full=100,
        ge=1,
    )
    n_steps: int = setting(2400, "GD steps", ge=1)
    shown_modes: tuple = setting(
        (1, 2, 3, 5, 12, 18, 31), "modes (1-based) in the trajectory figure, as Saxe Fig. 3", ge=1
    )
    strong_modes: int = setting(12, "modes 1..strong_modes must have mean delay < strong_delay (P5)", ge=1)
    strong_delay: float = setting(0.05, "allowed mean relative t_half delay of the strong modes (P5)", gt=0)
    weak_delay: float = setting(0.3, "allowed mean relative delay of the weakest shown mode (P5: mode 31 < 0.3)", gt=0)

    def validate(self):
        s_max = float(th.hierarchy_singular_values(self.levels, self.flip_prob, self.n_features)[0])
        bound = 1.0 / s_max
        require(
            0 < self.lr < bound,
            f"lr must satisfy 0 < lr < {bound:.4g} (stability bound 1/s_max, "
            f"s_max ≈ {s_max:.3g} for this tree); got {self.lr}",
        )
        top = min(2**self.levels, self.hidden)
        require(
            all(m <= top for m in self.shown_modes),
            f"shown_modes must lie in 1..min(items, hidden) = {top}; got {self.shown_modes}",
        )
        require(self.strong_modes <= top, f"strong_modes must lie in 1..{top}; got {self.strong_modes}")


@dataclass(frozen=True)
class PhasePortraitConfig:
    singular_values: tuple = setting(
        (1.0, 0.5),
        "singular values of the task's two modes (Saxe Fig. 2: s = 1, τ = 1; the second mode shows a second "
        "fixed hyperbola ab = s)",
        gt=0,
    )
    input_variances: tuple = setting(
        (2.0, 0.5),
        "input variances d_α along the two modes of the second, non-white task Σxx = V diag(d) Vᵀ aligned with the "
        "task (paper App. E); its modes settle on ab = s/d at the rate of s",
        gt=0,
    )
    starts: tuple = setting(
        ((0.03, 0.003), (0.7, 0.02), (0.02, 0.9), (1.2, -0.5), (-0.5, 1.2), (-0.9, 0.3), (0.2, -1.0), (1.5, 1.5)),
        "initial weights (a0, b0) of a mode, one network per pair (both of its modes start there): near the "
        "saddle at the origin, off balance on either side of the diagonal, with a0·b0 < 0, in the mirror basin "
        "a + b < 0 (which settles on the branch a, b < 0) and above the fixed hyperbola",
    )
    n_in: int = setting(3, "input dimension N1 (>= 2 modes; the third direction carries no signal)", ge=2)
    hidden: int = setting(3, "hidden width N2 (>= 2)", ge=2)
    n_out: int = setting(3, "output dimension N3 (>= 2)", ge=2)
    lr: float = setting(
        1e-3,
        "GD step η (t = η·step); the first-order discretisation error is checked against its prediction. Full "
        "size: 2.5e-4, a 4× smaller error and 4× more steps",
        full=2.5e-4,
        gt=0,
    )
    duration: float = setting(
        1.2, "simulated time as a multiple of the slowest trajectory's time to reach 0.999 of its fixed point", gt=0
    )

    def validate(self):
        require(len(self.singular_values) == 2, f"singular_values must list 2 values; got {self.singular_values}")
        require(len(self.input_variances) == 2, f"input_variances must list 2 values; got {self.input_variances}")
        for name in ("n_in", "hidden", "n_out"):
            require(getattr(self, name) >= 2, f"{name} must be >= 2 (two modes); got {getattr(self, name)}")
        require(
            len(self.starts) >= 1
            and all(len(p) == 2 and all(isinstance(x, int | float) for x in p) for p in self.starts),
            f"starts must be a non-empty tuple of (a0, b0) pairs; got {self.starts}",
        )
        require(
            all(abs(a + b) > 1e-9 for a, b in self.starts),
            f"starts must have a0 + b0 != 0 (a0 = -b0 flows into the saddle at the origin); got {self.starts}",
        )
        # stability: the Jacobian of (a, b) ↦ (b(s − d ab), a(s − d ab)) is bounded by d(a² + b²) + |s − 2d ab|;
        # the flow keeps a² + b² ≤ max(start, 2 s/d + |κ|) along each hyperbola
        worst = 0.0
        for a, b in self.starts:
            for s in self.singular_values:
                for d in (1.0, *self.input_variances):
                    r2 = max(a * a + b * b, 2 * s / d + abs(a * a - b * b))
                    worst = max(worst, d * r2 + s + d * r2)
        require(
            0 < self.lr < 1.0 / worst,
            f"lr must satisfy 0 < lr < {1.0 / worst:.4g} (1/|Jacobian| bound along the starts' hyperbolas); "
            f"got {self.lr}",
        )


@dataclass(frozen=True)
class GeneralInitConfig:
    singular_values: tuple = setting(
        (3.0, 2.0, 1.0, 0.5, 0.25),
        "singular values of the whitened task Σyx (min(N1, N3) of them); with hidden < their number only the top "
        "`hidden` modes are learned (the rank-N2 truncation)",
        gt=0,
    )
    n_in: int = setting(6, "input dimension N1", ge=1)
    hidden: int = setting(4, "hidden width N2 (<= min(N1, N3) for the λ-balanced construction)", ge=1)
    n_out: int = setting(5, "output dimension N3", ge=1)
    balances: tuple = setting(
        (0.0, 0.5, -0.5, 4.0),
        "imbalances λ, W2ᵀW2 − W1W1ᵀ = λI at the start (0: zero-balanced, Braun et al. 2022; ±0.5 and 4: "
        "λ-balanced, Dominé et al. 2025; |λ| ≫ s is the lazy end)",
    )
    init_scale: float = setting(
        0.01, "size of the smaller factor's singular values (× U(0.5, 1.5)); small = the rich, sigmoidal regime", gt=0
    )
    seeds: int = setting(3, "random initialisations per λ (random O, A, B: not aligned with the task)", ge=1)
    lr: float = setting(
        2e-3,
        "GD step η (t = η·step). Full size: 5e-4, a 4× smaller discretisation error, 4× more steps",
        full=5e-4,
        gt=0,
    )
    duration: float = setting(
        2.0,
        "simulated time as a multiple of the balanced-logistic time for the weakest learned mode to reach 0.99 s "
        "from u0 = init_scale² (random starts project less than init_scale² on each mode, hence the factor 2)",
        gt=0,
    )

    align_width: int = setting(50, "input and hidden width of the scalar-output silent-alignment run (P16: 50)", ge=2)
    align_target: float = setting(1.0, "norm s of the scalar task's target map β (P16: 1)", gt=0)
    align_lr: float = setting(1e-2, "GD step of the silent-alignment run (P16: 1e-2)", gt=0)
    align_scales: tuple = setting(
        (1e-2, 1e-3, 1e-4),
        "initial scales σ of the silent-alignment run: one Gaussian draw times σ (P16: 1e-2, 1e-3, 1e-4); the checks "
        "use the scales ≤ 1e-3, where the plateau linearisation holds",
        gt=0,
    )
    align_steps: int = setting(
        900, "GD steps of the silent-alignment run (past the half-loss time of the smallest σ)", ge=2
    )

    def validate(self):
        require(
            0 < self.align_lr * self.align_target < 1,
            f"align_lr must satisfy 0 < align_lr * align_target < 1 (stability); got {self.align_lr}",
        )
        require(
            sum(sc <= 1e-3 for sc in self.align_scales) >= 2,
            f"align_scales must include at least two scales <= 1e-3; got {self.align_scales}",
        )
        r = min(self.n_in, self.n_out)
        require(
            len(self.singular_values) == r,
            f"singular_values must list min(n_in, n_out) = {r} values; got {len(self.singular_values)}",
        )
        require(
            self.hidden <= r,
            f"hidden must satisfy 1 <= hidden <= min(n_in, n_out) = {r} (λ-balanced construction); got {self.hidden}",
        )
        # a mode's Jacobian at its optimum has eigenvalue a² + b² = √(λ² + 4s²) = 2f, f = √(s² + λ²/4) the largest
        # eigenvalue of F; GD is stable iff η · 2f < 2
        f_max = max(np.sqrt(max(self.singular_values) ** 2 + b**2 / 4) for b in self.balances)
        require(
            0 < self.lr < 1.0 / f_max,
            f"lr must satisfy 0 < lr < {1.0 / f_max:.4g} (stability: η · 2f < 2, f = √(s_max² + λ²/4)); got {self.lr}",
        )


@dataclass(frozen=True)
class EdgeOfChaosConfig:
    width: int = setting(
        400,
        "neurons per layer N (Saxe et al. Figs. 7–8: 1000; quick: 400, 16× cheaper Jacobian products; tolerances scale as depth/N)",
        full=1000,
        ge=2,
    )
    depth: int = setting(100, "layers N_l of the Jacobian run (Fig. 7: 100)", ge=2)
    gains: tuple = setting(
        (0.9, 0.95, 1.0, 1.05, 1.1),
        "gains g of the Jacobian run, around the mean-field critical gain g_c = 1 (Fig. 7 names g < 1, g = 1, g > 1 "
        "and g = 1.1; its other panel values are not in the text)",
        gt=0,
    )
    input_variances: tuple = setting(
        (0.2, 1.0, 4.0), "input population variances q¹ of the Jacobian run (Fig. 7; 4 is 'far beyond 1')", gt=0
    )
    seeds: int = setting(
        8, "random networks (and inputs) per setting, for the seed spread of the checks (full: 16)", full=16, ge=2
    )
    probes: int = setting(16, "random tangent vectors for the Hutchinson estimate of tr(JJᵀ)/N", ge=1)
    map_depth: int = setting(30, "depth of the variance-map run (Fig. 8: 30; q^∞ = mean of the last 5 layers)", ge=6)
    map_gains: tuple = setting(
        tuple(float(g) for g in np.round(np.linspace(0.5, 2.0, 16), 3)),
        "gains of the variance-map run (Fig. 8 right: q^∞ against g)",
        gt=0,
    )
    map_inputs: tuple = setting(
        tuple(float(q) for q in np.round(np.linspace(0.25, 4.0, 16), 3)),
        "input variances q_in of the one-layer map q_in → q_out at g = 1 (Fig. 8 left)",
        gt=0,
    )

    train_depths: tuple = setting(
        (4, 32),
        "layers of the trained tanh nets (learning time against depth; the paper makes this prediction without an "
        "experiment). Full: 4, 8, 16, 32, 64, 100; quick: 4 and 32",
        full=(4, 8, 16, 32, 64, 100),
        ge=3,
    )
    train_gains: tuple = setting(
        (0.9, 1.0, 1.1),
        "gains of the trained nets (must include 1 and one below it). Full: 0.8, 0.9, 1, 1.1, 1.2, 1.4",
        full=(0.8, 0.9, 1.0, 1.1, 1.2, 1.4),
        gt=0,
    )
    train_samples: int = setting(
        256,
        "digits used for full-batch training (inputs whitened onto 32 principal components, width 32). Full: 512; "
        "quick: 256, half the cost",
        full=512,
        ge=64,
        le=1797,
    )
    train_rates: int = setting(
        7, "learning rates log-spaced over [0.01, 1] per (depth, gain); the fastest is kept", ge=2
    )
    train_steps: int = setting(
        300, "GD steps per training run (≈ 30× the fastest runs at g = 1; slower runs count as not converged)", ge=10
    )

    def validate(self):
        require(
            1.0 in self.train_gains and min(self.train_gains) < 1.0,
            f"train_gains must include the critical gain 1 and a gain below it; got {self.train_gains}",
        )
        require(len(self.train_depths) >= 2, f"train_depths must list at least 2 depths; got {self.train_depths}")
        below = [g for g in self.gains if g < 1.0]
        above = [g for g in self.gains if g > 1.0]
        require(
            bool(below) and bool(above),
            f"gains must include values below and above the critical gain 1; got {self.gains}",
        )


@dataclass(frozen=True)
class DigitsDepthConfig:
    depths: tuple = setting(
        (3, 5, 10, 20),
        "numbers of layers N_l (weight matrices D = N_l − 1). Saxe et al. App. C: 3, 5, 8, 10, 14, 20, 28, 36, 44, 54, "
        "64, 74, 84, 94, 100; quick: 3, 5, 10, 20",
        full=(3, 5, 8, 10, 14, 20, 28, 36, 44, 54, 64, 74, 84, 94, 100),
        ge=3,
    )
    components: int = setting(
        32,
        "principal components of the digits kept and whitened (Σxx = I, so the decoupled runs follow the exact theory; "
        "the paper trains on raw MNIST). Full: 58, every component above 1e-6 of the largest; quick: 32 (the task's "
        "right singular vectors keep ≥ 98 % of their norm in them)",
        full=58,
        ge=10,
        le=58,
    )
    width: int = setting(
        32,
        "hidden width (the paper's 1000 is overcomplete for 784 inputs; here ≥ components). Full: 64; quick: 32",
        full=64,
        ge=10,
    )
    rates: int = setting(
        20,
        "learning rates per depth and scheme, log-spaced over [rate_min, rate_max], fastest kept (App. C: 20 over a "
        "factor 1000; fewer would make the grid too coarse for best_rate_follows_stability_bound at quick depths)",
        ge=2,
    )
    rate_min: float = setting(0.01, "smallest learning rate of the grid (averaged convention)", gt=0)
    rate_max: float = setting(10.0, "largest learning rate of the grid (a factor 1000 above rate_min, as App. C)", gt=0)
    initial_strength: float = setting(1e-3, "u0 of the decoupled initialisation (Fig. 4 / App. C: 0.001)", gt=0, lt=0.1)
    tolerance: float = setting(
        0.05,
        "learning time = first step with loss ≤ L* + tolerance·(L(W=0) − L*), a fixed threshold for every scheme "
        "(App. C's threshold 1.3e4 on MNIST has no stated unit); the run must also end finite and below it",
        gt=0,
        lt=1,
    )
    pretrain_shortfall: float = setting(
        0.05,
        "allowed shortfall δ of the pretrained layers' composite strength: each of the D − 1 autoencoders stops once its "
        "reconstruction loss is within (δ/D)² of its learnable loss (white inputs: every mode within δ/D of M = 1), so "
        "the product keeps ≥ ≈ 1 − δ. A fixed per-layer criterion such as 5 % leaves M ≈ 0.78 per layer, and the "
        "composite vanishes with depth",
        gt=0,
        lt=1,
    )
    max_steps: int = setting(
        2000,
        "GD steps per run; runs not below the threshold by then count as not converged (full: 3000; quick: 2000, "
        "1.5× the slowest fastest-rate run at quick depths)",
        full=3000,
        ge=10,
    )

    def validate(self):
        require(self.rate_min < self.rate_max, f"rate_min must be < rate_max; got {self.rate_min}, {self.rate_max}")
        require(
            self.width >= self.components,
            f"width must be >= components ({self.components}) so that pretraining keeps every input direction; "
            f"got {self.width}",
        )
        require(len(self.depths) >= 2, f"depths must list at least 2 depths; got {self.depths}")


@dataclass(frozen=True)
class PretrainingConfig:
    hidden: int = setting(
        64,
        "units per hidden layer (Saxe et al. App. F: 200 on MNIST, overcomplete for the 64 digit pixels at full size; "
        "quick: 64, 30× fewer flops per step)",
        full=200,
        ge=10,
    )
    layers: int = setting(5, "layers N_l of the network (App. F: depth 5 = 4 weight matrices)", ge=3)
    scale: float = setting(0.01, "std of the small random initialisation (Fig. 5: 0.01)", gt=0)
    pretrain_steps: int = setting(
        600,
        "GD steps per pretraining autoencoder (the paper gives none): the App. E time for the 10th principal mode, "
        "rate λ_10 = 0.157 at step 0.5/λ_max, to grow a 1e-3 start to 0.9",
        ge=1,
    )
    rates: tuple = setting(
        tuple(float(x) for x in np.round(np.geomspace(0.02, 2.0, 9), 4)),
        "fine-tuning learning rates; each initialisation keeps its fastest (the paper gives no rate for Fig. 5; a "
        "fixed rate would favour whichever start it happens to suit)",
        gt=0,
    )
    tolerance: float = setting(
        0.05,
        "learning time = first step with loss ≤ L* + tolerance·(L(W=0) − L*), ending finite and below (Fig. 5 shows "
        "curves, not a threshold; the same relative threshold as deep_linear_digits_depth)",
        gt=0,
        lt=1,
    )
    max_steps: int = setting(
        5000,
        "fine-tuning GD steps per run (full: 20000; quick: 5000, 3× the fastest small-random run at quick size)",
        full=20000,
        ge=10,
    )
    baseline_frames: int = setting(
        200, "Haar-random 10-frames for the baseline of the consistency condition (Fig. 5 centre)", ge=20
    )
