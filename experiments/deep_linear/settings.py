"""Settings of the deep linear experiments, each declared once (quick value, full value, help, allowed range).

Quick and full sizes differ only where stated in a setting's help; optimiser (plain GD), initialisation scheme and
the averaged-convention scales are the same at both sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.contract import require, setting
from theory import deep_linear as th

__all__ = ["ModesConfig", "LearningTimeConfig", "SemanticConfig"]


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
