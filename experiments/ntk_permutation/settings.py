"""Settings of the NTK permutation experiments, each declared once (quick value, full value, help, allowed range).

The quick size shrinks k, the widths, the ensemble and pool sizes and the replicate counts; the parameterisations,
the learning-rate rule, the stopping residual and the tolerances are the same at both sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.contract import require, setting

__all__ = ["KernelConfig", "RecoveryConfig", "ConvergenceConfig", "ComplexityConfig"]


@dataclass(frozen=True)
class KernelConfig:
    k: int = setting(
        6, "input/output dimension; the inputs are all 2^k − 1 nonzero binary vectors, normalised", full=8, ge=2, le=12
    )
    widths: tuple = setting(
        (64, 256, 1024, 4096), "hidden widths of the finite networks", full=(64, 256, 1024, 4096, 16384), ge=1
    )
    # at least two networks per width: the rate fit weights each width by the standard error of its seed mean
    seeds: int = setting(8, "independent networks per width", full=32, ge=2)
    random_inputs: int = setting(
        8, "extra Gaussian inputs for the live neural-tangents comparison (the golden files hold 8 fixed ones)", ge=0
    )

    def validate(self):
        require(len(self.widths) >= 2, f"widths must hold at least two integers >= 1; got {self.widths}")


@dataclass(frozen=True)
class RecoveryConfig:
    k_max: int = setting(12, "largest k; every k in [2, k_max] is checked on all 2^k − 1 inputs", full=16, ge=2, le=20)
    permutations: int = setting(5, "random permutations (no fixed points) per k", full=20, ge=1)
    standard_width: int = setting(
        50000, "width of the finite-width standard-parameterisation NTK also checked (the public code's n)", ge=1
    )
    margin_k_max: int = setting(300, "β_{k,s} < 0 < α_s + β_{k,s} is checked in closed form for 2 ≤ s ≤ k ≤ this", ge=2)
    flip_k: int = setting(
        10, "k of the finite-time sign-flip check (docs/families/ntk_permutation.md §13 item 11)", ge=3
    )
    threshold: float = setting(
        1e-10,
        "rounding threshold ε of 1[μ > ε]; training inputs have off-means that are 0 "
        "up to round-off (the authors' validation uses 1e-10)",
        ge=0,
        lt=1e-3,
    )


@dataclass(frozen=True)
class ConvergenceConfig:
    k: int = setting(
        6,
        "input/output dimension; test inputs are all 2^k − 1 − k unseen inputs (s ≥ 2), normalised",
        full=8,
        ge=3,
        le=12,
    )
    widths: tuple = setting(
        (256, 1024, 4096), "hidden widths; the checks use the widest", full=(512, 2048, 8192, 32768), ge=1
    )
    members: int = setting(
        256, "networks per ensemble (a power of two, split into blocks of M = 1, 2, 4, …)", full=1024, ge=4
    )
    residual: float = setting(
        1e-6, "training stops when the slowest infinite-width mode has shrunk by this factor", gt=0, lt=1
    )
    z_max: float = setting(4.0, "largest allowed |z| of a Gaussian statistic (two-sided 4σ ≈ 6e-5 per test)", gt=0)

    def validate(self):
        require(len(self.widths) >= 1, f"widths must hold at least one integer >= 1; got {self.widths}")
        require(self.members & (self.members - 1) == 0, f"members must be a power of two >= 4; got {self.members}")


@dataclass(frozen=True)
class ComplexityConfig:
    sim_ks: tuple = setting(
        (4, 6),
        "k of the trained pools (accuracy vs M, smallest M for exact recovery)",
        full=(4, 6, 8, 10),
        ge=3,
        le=12,
    )
    width_A: int = setting(2048, "hidden width of the trained networks, NTK parameterisation", full=8192, ge=1)
    width_B: int = setting(
        8192,
        "hidden width of the trained networks, standard parameterisation (its finite-width bias is larger at equal n)",
        full=16384,
        ge=1,
    )
    pool_A: int = setting(
        1200, "networks trained per k, NTK parameterisation (needs ≳ 2× the all-input M)", full=2400, ge=8
    )
    pool_B: int = setting(400, "networks trained per k, standard parameterisation", full=800, ge=8)
    delta: float = setting(0.1, "failure probability δ: 'exact recovery' means probability ≥ 1 − δ", gt=0, lt=1)
    block_shuffles: int = setting(
        10, "random orders of the pool, each split into disjoint M-member ensembles", full=20, ge=1
    )
    surrogate_reps: int = setting(
        40, "GP-surrogate replicates of the whole procedure (null distribution)", full=100, ge=8
    )
    theory_k_max: int = setting(50, "largest k of the theoretical complexity curves", full=100, ge=10)
    # the public code's published runs cover k = 2..30 (common.REPO_EXP1_STOP)
    repo_ks: tuple = setting(
        (4, 6, 8, 10, 12, 15, 20, 25, 30),
        "k of the public code's runs compared with the (B) GP surrogate (docs/families/ntk_permutation.md §9)",
        full=tuple(range(2, 31)),
        ge=2,
        le=30,
    )
    repo_runs: int = setting(40, "GP-surrogate replicates of the public code's protocol per k", full=200, ge=8)
    z_max: float = setting(4.0, "largest allowed |z| against a surrogate distribution")

    def validate(self):
        require(len(self.sim_ks) >= 1, f"sim_ks must hold integers in [3, 12]; got {self.sim_ks}")
