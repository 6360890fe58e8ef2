"""Settings of the streaming-parity experiments, each declared once (quick value, full value, help, allowed range).

Every experiment trains at the paper's setting (van Rossem & Saxe 2025, App. C.1) at both sizes: 100 ReLU units,
Xavier gain 0.1, zero biases, h₀ = 1, plain SGD at lr 0.02 on the mean squared error in per-length minibatches of 128,
all sequences of length ≤ 10, 1000 epochs. The quick size shrinks only the number of networks (seeds, grid cells),
how often the representations are recorded (every 10 epochs instead of every epoch) and the longest validation
sequences; the tanh variant of App. D.6 is ``--set activation=tanh gain=0.01 lr=0.05``.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.contract import require, setting
from toymodels import streaming_parity as tm

__all__ = [
    "RNNSettings",
    "TrainingConfig",
    "MergerMapConfig",
    "PairDynamicsConfig",
    "PhaseDiagramConfig",
    "MergerTheoryConfig",
]


def _require_whole_records(cfg) -> None:
    require(
        cfg.epochs % cfg.record_every == 0,
        f"epochs ({cfg.epochs}) must be a positive multiple of record_every ({cfg.record_every})",
    )


@dataclass(frozen=True)
class RNNSettings:
    """The network and its training (App. C.1); shared by the experiments that train RNNs."""

    hidden: int = setting(100, "hidden units P (App. C.1: 100)", ge=1)
    activation: str = setting(
        "relu",
        "relu (App. C.1) or tanh (App. D.6, with gain=0.01 lr=0.05)",
        choices=tuple(sorted(tm.ACTIVATIONS)),
    )
    gain: float = setting(0.1, "Xavier-normal gain of the initial weight matrices (App. C.1: 0.1; tanh: 0.01)", gt=0)
    lr: float = setting(0.02, "SGD learning rate (App. C.1: 0.02; tanh: 0.05)", gt=0)
    batch_size: int = setting(128, "minibatch size; each batch holds one sequence length (App. C.1: 128)", ge=1)
    loss: str = setting(
        "mse", "mse (App. C.1) or cross_entropy (what the authors' Fig. 9 notebook trains with)", choices=tm.LOSSES
    )
    train_length: int = setting(10, "L: train on every sequence of length 1..L (App. C.1: 10)", ge=2, le=14)
    epochs: int = setting(1000, "training epochs (App. C.1: 1000)", ge=1)

    def rnn(self) -> tm.RNNConfig:
        return tm.RNNConfig(
            hidden=self.hidden,
            activation=self.activation,
            gain=self.gain,
            learning_rate=self.lr,
            batch_size=self.batch_size,
            loss=self.loss,
        )


@dataclass(frozen=True)
class TrainingConfig(RNNSettings):
    seeds: int = setting(4, "independently initialised networks", full=8, ge=1)
    record_every: int = setting(10, "epochs between records of the representations (paper: every epoch)", full=1, ge=1)
    val_lengths: tuple = setting(
        (25, 100, 250, 1000),
        "lengths of the validation sets tracked during training (Fig. 6)",
        full=(25, 100, 250, 1000, 2500, 10000),
        ge=1,
    )
    val_sequences: int = setting(10, "random sequences per validation length (authors: 10)", ge=1)
    test_length: int = setting(10000, "length of the final test sequences (Fig. 1: up to 10,000)", ge=1)
    test_sequences: int = setting(30, "final test sequences per network", ge=1)
    merge_factor: float = setting(
        0.01, "merge threshold: this fraction of ||std|| of the representations over all records (App. C.1: 0.01)", gt=0
    )

    def validate(self):
        _require_whole_records(self)


@dataclass(frozen=True)
class MergerMapConfig(RNNSettings):
    seeds: int = setting(4, "networks; the first calibrates Eq. 9's constant, the others are held out", full=8, ge=2)
    record_every: int = setting(10, "epochs between records (the merge threshold pools them)", full=1, ge=1)
    merge_factor: float = setting(0.01, "merge threshold as a fraction of the pooled ||std|| (App. C.1)", gt=0)
    rate_samples: int = setting(
        32, "(pair, continuation) samples per continuation length for the decoder rates 1/tau_y", full=128, ge=1
    )

    def validate(self):
        _require_whole_records(self)


@dataclass(frozen=True)
class PairDynamicsConfig(RNNSettings):
    seeds: int = setting(4, "networks", full=8, ge=2)
    record_every: int = setting(10, "epochs between records of the representations (paper: every epoch)", full=1, ge=1)
    merge_factor: float = setting(0.01, "merge threshold as a fraction of the pooled ||std|| (App. C.1)", gt=0)
    diverge_factor: float = setting(
        10.0, "a merger 'first diverges' if its distance reached this multiple of the threshold (App. D.3: 10)", gt=1
    )
    bootstrap: int = setting(2000, "bootstrap resamples of the seeds for the confidence intervals", ge=100)
    model_pairs: int = setting(400, "random starts of the 9-variable model per (m1, m2)", full=2000, ge=10)
    measured_pairs: int = setting(
        50, "merging pairs per network whose measured initial state starts the 9-variable model", full=400, ge=10
    )
    sample_pairs: int = setting(1000, "random pairs counted over training (Fig. 15; authors: 1000)", ge=10)
    linearisation_pairs: int = setting(
        100,
        "pairs per network for the linearisation ratio and the Eq. 20 comparison (App. D.2, Fig. 13: 100 random pairs "
        "split by their end; here half of them among the pairs that end merged, so that both groups are populated)",
        ge=4,
    )
    linearisation_every: int = setting(
        10, "epochs between the records where the linearisation is evaluated (a multiple of record_every)", ge=1
    )
    valid_ratio: float = setting(
        0.1, "Eq. 20 is compared on intervals whose linearisation ratio is at most this (App. D.2: 0.1)", gt=0
    )

    def validate(self):
        _require_whole_records(self)
        require(
            self.linearisation_every % self.record_every == 0,
            f"linearisation_every ({self.linearisation_every}) must be a multiple of record_every ({self.record_every})",
        )


@dataclass(frozen=True)
class PhaseDiagramConfig(RNNSettings):
    gains: tuple = setting(
        (0.55, 1.0),
        "initial weight scales (Fig. 9: linspace(0.1, 1, 20); the quick grid leaves out gain 0.1, see epochs)",
        full=tuple(round(0.1 + 0.9 * k / 19, 4) for k in range(20)),
        gt=0,
    )
    fractions: tuple = setting(
        (0.3, 0.55, 1.0),
        "training-data fractions p (Fig. 9: linspace(0.1, 1, 20))",
        full=tuple(round(0.1 + 0.9 * k / 19, 4) for k in range(20)),
        gt=0,
        le=1,
    )
    seeds: int = setting(1, "trials per cell (Fig. 9: 1)", ge=1)
    epochs: int = setting(
        3000,
        "maximum epochs; a network stops at stop_loss (authors: up to 1e6; at gain 0.1 and p <= 0.3 more than 3000 "
        "are needed, so the quick grid leaves gain 0.1 out); cells that do not converge are reported and left out",
        full=20000,
        ge=1,
    )
    stop_loss: float = setting(1e-3, "stop once the epoch's training loss is below this (authors: 1e-3)", gt=0)
    record_every: int = setting(100, "epochs between loss records", full=500, ge=1)
    val_length: int = setting(100, "validation sequence length (Fig. 9: 100)", ge=1)
    val_sequences: int = setting(30, "validation sequences (Fig. 9: 30)", ge=1)
    state_fraction: float = setting(
        0.1, "states are counted at this fraction of ||std|| of the final representations (Fig. 9 code: 0.1)", gt=0
    )
    calibration_cell: tuple = setting(
        (0, -1), "(gain index, fraction index) of the cell that calibrates Eq. 9's constant", ge=-100
    )

    def validate(self):
        _require_whole_records(self)
        require(len(self.gains) >= 2 and len(self.fractions) >= 2, "gains and fractions need >= 2 values each")
        require(
            len(self.calibration_cell) == 2,
            f"calibration_cell must be (gain index, fraction index); got {self.calibration_cell}",
        )


@dataclass(frozen=True)
class MergerTheoryConfig:
    continuations: int = setting(5, "shared continuations N in the simulated pairs", ge=1)
    outputs: int = setting(2, "output dimension K", ge=1)
    t_max: float = setting(60.0, "integration time of the midpoint model", gt=0)
    rk4_steps: int = setting(12000, "RK4 steps over t_max (midpoint model)", ge=10)
    n_sweep: tuple = setting(
        (1, 4, 8, 13, 18, 21, 23, 26, 30, 40),
        "numbers of continuations N in the merger-condition sweep (N_c = 22.2 there)",
        full=tuple(range(1, 45)),
        ge=1,
    )
    fixed_t_max: float = setting(1000.0, "integration time of the fixed-expansion model (epochs; Fig. 10)", gt=0)
    fixed_steps: int = setting(20000, "RK4 steps of the fixed-expansion model", ge=10)
    lr: float = setting(0.02, "SGD learning rate setting the rates of Fig. 10 (lr·length, lr, lr/4)", gt=0)
    lengths: tuple = setting((1, 10), "sequence lengths of the Fig. 10 pair (rates 1/tau_h = lr·length, Eq. 51)", ge=1)
    random_starts: int = setting(
        200, "random initial conditions per pair type (authors' theory_n_states)", full=1000, ge=10
    )
