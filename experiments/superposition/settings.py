"""Settings of the superposition experiments, each declared once (quick value, full value, help, allowed range).

The quick size shrinks the number of models (seeds, grid cells, densities, widths), the steps and the Monte-Carlo
samples; optimiser, learning rate, weight decay, importances and the data distribution are the same at both sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.contract import require, setting

__all__ = ["LinearConfig", "PhaseConfig", "GeometryConfig", "PentagonConfig", "ScalingConfig", "RobustnessConfig"]


def elhage_sweep(cfg, ctx, key, *, importance, probabilities, m: int, name: str = "train", **kwargs):
    """Train a sweep with Elhage et al.'s optimiser as the notebook runs it: Adam at constant ``cfg.lr``, decoupled
    decay ``cfg.weight_decay`` on W and b, ``cfg.batch_size`` fresh samples for ``cfg.steps`` steps; resumable
    under ``name`` (:func:`experiments.sweep.train_sweep`)."""
    from experiments.sweep import train_sweep
    from toymodels import superposition as tm

    job = tm.job(
        importance=importance,
        probabilities=probabilities,
        m=m,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        bias_decay=cfg.weight_decay,
        n_records=cfg.n_records,
        **kwargs,
    )
    return train_sweep(ctx, name, job, key, records_per_chunk=max(1, cfg.n_records // 10))


def _validate_training(cfg) -> None:
    require(cfg.steps % cfg.n_records == 0, f"steps ({cfg.steps}) must be a multiple of n_records ({cfg.n_records})")


@dataclass(frozen=True)
class LinearConfig:
    n: int = setting(20, "number of features", ge=1)
    m: int = setting(5, "hidden dimensions", ge=1)
    importance_decay: float = setting(
        0.7, "importance I_i = importance_decay**i (Elhage et al. §2 uses 0.7)", gt=0, lt=1
    )
    seeds: int = setting(4, "independent models per activation", full=10, ge=1)
    steps: int = setting(6000, "Adam steps", full=20000, ge=1)
    batch_size: int = setting(1024, "fresh samples per step", ge=1)
    lr: float = setting(
        1e-2,
        "peak Adam step (warm-up 5 %, cosine decay to 5 %); the paper's 1e-3 needs ~10× more "
        "steps to expel the 6th feature to the accuracy checked here",
        gt=0,
    )
    n_records: int = setting(60, "loss records over training", full=100, ge=1)
    eval_samples: int = setting(1 << 17, "samples for the Monte-Carlo loss of the ReLU model", full=1 << 20)

    def validate(self):
        require(self.m < self.n, f"m must be < n for the top-m theory to bite; got m={self.m}, n={self.n}")
        _validate_training(self)


@dataclass(frozen=True)
class PhaseConfig:
    grid: int = setting(10, "grid points per axis (density and relative importance, both log-spaced)", full=24, ge=3)
    density_min: float = setting(0.01, "smallest feature density 1 − S (largest is 1)", gt=0, lt=1)
    importance_range: float = setting(10.0, "relative importance r of the extra feature spans [1/x, x]", gt=1)
    seeds: int = setting(3, "models per cell; the one with the lowest exact expected loss is classified", full=8, ge=1)
    steps: int = setting(4000, "Adam steps", full=10000, ge=1)
    batch_size: int = setting(1024, "fresh samples per step", ge=1)
    lr: float = setting(1e-3, "Adam step (constant, as in Elhage et al.)", gt=0)
    weight_decay: float = setting(0.01, "decoupled weight decay on W and b (torch AdamW default used by the paper)")
    n_records: int = setting(20, "loss records over training", full=50, ge=1)
    min_agreement: float = setting(
        0.9, "required fraction of interior cells whose learned phase is the analytic one", gt=0, le=1
    )
    seeds_3x2: int = setting(
        8,
        "n = 3, m = 2 models per cell (paper: ten per point); with 3, every seed of 10 of the 100 quick cells "
        "stuck in a worse basin",
        full=10,
        ge=1,
    )
    mc_samples: int = setting(
        1 << 14, "Monte-Carlo points for the |S| = 3 pattern of the n = 3, m = 2 expected loss", ge=1
    )

    def validate(self):
        _validate_training(self)


@dataclass(frozen=True)
class GeometryConfig:
    n: int = setting(
        100,
        "features (uniform importance) for the feature-dimensionality sweep (paper: 400; the notebook's cell: 200; "
        "quick: 100 with m = 10, n/m = 10 against the paper's 13.3)",
        full=400,
        ge=1,
    )
    m: int = setting(10, "hidden dimensions for the feature-dimensionality sweep (paper: 30)", full=30, ge=1)
    densities: int = setting(16, "feature densities 1 − S, log-spaced from 1 to density_min", full=40, ge=2)
    density_min: float = setting(0.003, "smallest density", full=0.001, gt=0, lt=1)
    heatmap_sparsities: tuple = setting(
        (0.0, 0.7, 0.9, 0.97, 0.99, 0.997),
        "sparsities of the n=20, m=5, I=0.7^i models shown as WᵀW heat maps",
        ge=0,
        lt=1,
    )
    steps: int = setting(6000, "Adam steps", full=10000, ge=1)
    batch_size: int = setting(512, "fresh samples per step", full=1024, ge=1)
    lr: float = setting(1e-3, "Adam step (constant)", gt=0)
    weight_decay: float = setting(0.01, "decoupled weight decay on W and b")
    n_records: int = setting(20, "loss records over training", full=50, ge=1)
    max_polytope: int = setting(8, "largest group (features) counted as a polytope; bigger groups are diffuse")
    sticky_densities: int = setting(
        16,
        "extra models on a fine grid of 1/(1 − S) over sticky_range, where D* falls from 1 past 1/2 (the sticky-1/2 "
        "check)",
        full=32,
        ge=4,
    )
    sticky_range: tuple = setting((1.25, 5.0), "range of 1/(1 − S) of the fine grid", ge=1)

    def validate(self):
        _validate_training(self)


@dataclass(frozen=True)
class PentagonConfig:
    density: float = setting(0.05, "density 1 − S of features 1–4 (Elhage et al.: 0.05)", gt=0, le=1)
    log_range: tuple = setting(
        (-1.0, 0.5),
        "log10 of feature 0's relative density r (its density is r × density): the grid spans 10^lo to 10^hi",
    )
    grid: int = setting(
        16,
        "relative densities, log-spaced over log_range (16: a step of 0.1 decade, r = 1 on the grid)",
        full=31,
        ge=5,
    )
    seeds: int = setting(
        8,
        "models per relative density from random initialisations; the one of lowest expected loss is classified "
        "(the paper fits each model several times and keeps the lowest loss)",
        full=16,
        ge=2,
    )
    steps: int = setting(10000, "AdamW steps (Elhage et al.'s notebook: 10,000)", ge=1)
    batch_size: int = setting(1024, "fresh samples per step (notebook: 1024)", ge=1)
    lr: float = setting(1e-3, "AdamW step, constant (notebook: 1e-3)", gt=0)
    weight_decay: float = setting(0.01, "decoupled weight decay on W and b (torch AdamW default, as the notebook)")
    n_records: int = setting(20, "loss records over training", ge=1)
    theory_steps: int = setting(2000, "Adam steps of the deterministic per-geometry optimisation", ge=1)
    theory_mc_samples: int = setting(
        2048, "Monte-Carlo points for the |S| ≥ 3 patterns while optimising the per-geometry theory", ge=1
    )
    mc_samples: int = setting(
        1 << 14,
        "Monte-Carlo points for the |S| ≥ 3 patterns when evaluating the expected loss of trained and theory "
        "weights (the same points for both)",
        ge=1,
    )

    def validate(self):
        lo, hi = (float(v) for v in self.log_range)
        require(lo < 0 < hi, f"log_range must be (lo, hi) with lo < 0 < hi (r = 1 inside); got {self.log_range}")
        require(10**hi * self.density <= 1, f"10^{hi} × density {self.density} must be a density ≤ 1")
        _validate_training(self)


#: Liu et al.'s weight-decay grid (``exp-10.py``: linspace(−1, 1, 10)) and frequency exponents (α = 1 + α′, α′ from
#: linspace(−1, 0, 9) and linspace(0, 1, 9): 17 values on [0, 2])
LIU_DECAYS = tuple(float(g) for g in np.linspace(-1.0, 1.0, 10))
LIU_ALPHAS = tuple(float(a) for a in np.linspace(0.0, 2.0, 17))


@dataclass(frozen=True)
class ScalingConfig:
    n: int = setting(250, "features (paper: 1000; quick: 250, to afford 3 seeds and 6000 steps)", full=1000, ge=2)
    widths: tuple = setting(
        (7, 10, 14, 20, 28),
        "hidden dimensions m (paper: 10, 15, 25, 39, 63, 100; quick: m²/2n from 0.1 to 1.6, as the paper's 0.05 to 5 "
        "brackets 1)",
        full=(10, 15, 25, 39, 63, 100),
    )
    alphas: tuple = setting(
        (0.5, 1.0, 1.5, 2.0),
        "frequency exponents α, p_i ∝ i^(−α) normalised to Σ p_i = 1 (paper: 17 values on [0, 2])",
        full=LIU_ALPHAS,
        ge=0,
    )
    decays: tuple = setting(
        (LIU_DECAYS[0], LIU_DECAYS[7]),
        "weight decays γ (paper: linspace(−1, 1, 10); quick: its −1 and 5/9)",
        full=LIU_DECAYS,
    )
    weak_decay: float = setting(
        LIU_DECAYS[7],
        "γ of the weak-regime checks: 5/9, the grid value nearest 0.5, where App. D.5 finds the near-ideal "
        "(least superposed) runs",
        gt=0,
    )
    strong_decay: float = setting(-1.0, "γ of the strong-regime checks (Figs. 16, 17 use −1)", lt=0)
    flat_alpha: float = setting(1.0, "α of the flat-frequency check α_m = 1 (Figs. 3 and 5a–b use α = 1)", ge=0)
    seeds: int = setting(3, "models per (α, γ, width); exponents' spreads are over seeds", ge=3)
    steps: int = setting(
        6000,
        "Adam steps (paper: 20,000); 10 % warm-up then cosine to 5 % as the paper's 2000 of 20,000. At 6000 the "
        "weak decay integrates to γ∫η = 17.4 (an unused row shrinks to 3e-8; paper: 58)",
        full=20000,
        ge=1,
    )
    batch_size: int = setting(1024, "fresh samples per step (paper: 2048)", full=2048, ge=1)
    lr: float = setting(1e-2, "peak Adam step (paper: 1e-2)", gt=0)
    n_records: int = setting(20, "loss records over training", full=100, ge=1)
    eval_samples: int = setting(
        1 << 15, "fresh samples for the test loss (paper: 100 × batch = 204,800)", full=204800, ge=1
    )

    def validate(self):
        require(
            len(self.widths) >= 3 and all(1 <= w < self.n for w in self.widths),
            f"widths must be >= 3 integers in [1, n); got {self.widths}",
        )
        require(self.weak_decay in self.decays, f"weak_decay ({self.weak_decay}) must be one of decays {self.decays}")
        require(
            self.strong_decay in self.decays, f"strong_decay ({self.strong_decay}) must be one of decays {self.decays}"
        )
        require(self.flat_alpha in self.alphas, f"flat_alpha ({self.flat_alpha}) must be one of alphas {self.alphas}")
        _validate_training(self)


@dataclass(frozen=True)
class RobustnessConfig:
    n: int = setting(
        256,
        "features (paper: 10240; quick: 256). The per-law 1/m exponents are "
        "checks at the paper's n and reported below it (finite-size: at n = 256 the strong loss falls faster)",
        full=10240,
        ge=2,
    )
    widths: tuple = setting(
        (4, 6, 8, 11, 16, 23),
        "hidden dimensions m (paper: 2³ … 2¹⁰, m/n up to 0.1; quick: steps of √2 from 4 to 23, m/n up to 0.09)",
        full=(8, 16, 32, 64, 128, 256, 512, 1024),
    )
    laws: tuple = setting(
        ("exponential", "power", "linear"),
        "frequency laws (App. B.1), Σ p_i = 1: p_i ∝ exp(−i/ℓ) with ℓ = n/25.6 (paper: 400 at n = 10240), "
        "i^(−1.2), n − i + 1 (the text's n − i with i counted from 0, as exp-17.py)",
        choices=("exponential", "power", "linear"),
    )
    strong_decay: float = setting(-1.0, "γ of the strong runs (paper: −1)", lt=0)
    weak_decay: float = setting(0.1, "γ of the weak runs (paper: 0.1)", gt=0)
    seeds: int = setting(3, "models per (law, γ, width); exponents' spreads are over seeds", ge=3)
    steps: int = setting(
        6000,
        "Adam steps (paper: 20,000). 5 % warm-up, cosine to 5 %: the weak decay integrates to γ∫η ≥ 4.8 at every "
        "quick width (an unused row shrinks below 1 %; the paper's runs reach 6.2 at m = 1024)",
        full=20000,
        ge=1,
    )
    warmup_fraction: float = setting(0.05, "warm-up share of the steps, then cosine to 5 % (paper: 5 %)", gt=0, lt=1)
    batch_size: int = setting(
        512, "fresh samples per step (paper: 2048; quick: 512 × 6000 steps = 3.1 M samples)", full=2048, ge=1
    )
    adam_eps: float = setting(
        1e-10,
        "Adam's ε on the plain MSE: the authors' code (exp-17.py) multiplies the MSE by 100 under ε = 1e-8, the same "
        "updates as ε = 1e-10 here",
        ge=0,
    )
    lr: float = setting(0.02, "W's peak rate at m = 8; W at lr·(8/m)^0.25, b at 2.0/m without decay (paper)", gt=0)
    n_records: int = setting(20, "loss records over training", full=100, ge=1)
    eval_batches: int = setting(100, "test loss on eval_batches × batch fresh samples (paper: 100)", ge=1)

    def validate(self):
        require(
            len(self.widths) >= 5 and all(1 <= w < self.n for w in self.widths),
            f"widths must be >= 5 integers in [1, n) (the power and linear fits start at the third); got {self.widths}",
        )
        _validate_training(self)
