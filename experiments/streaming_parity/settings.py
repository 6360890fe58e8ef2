"""Settings of the streaming-parity experiments, each declared once (quick value, full value, help, allowed range).

The three experiments share the RNN's architecture and training (:class:`RNNSettings`). The quick size shrinks
the width (32 units, authors: 100), the training steps, the test length, the training lengths and the seed counts;
activation, gain, optimiser and learning rate are the same at both sizes (the authors' ``rich`` row uses gain 1e-5
and lr 1e-3 with minibatches; at lr 1e-3 the plateau is ~10× longer, beyond the CI budget).
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.contract import require, setting
from toymodels import streaming_parity as tm

__all__ = ["RNNSettings", "TransitionConfig", "AutomatonConfig", "MergerConfig"]


def _require_whole_records(cfg) -> None:
    """The checkpoints divide the training run (every experiment has ``steps`` and ``record_every``)."""
    require(
        cfg.steps % cfg.record_every == 0,
        f"steps ({cfg.steps}) must be a positive multiple of record_every ({cfg.record_every})",
    )


@dataclass(frozen=True)
class RNNSettings:
    """Architecture and training settings shared by the three experiments."""

    hidden: int = setting(32, "hidden units (authors: 100)", full=100, ge=1)
    activation: str = setting("tanh", "tanh or relu", choices=tuple(sorted(tm.ACTIVATIONS)))
    gain: float = setting(0.1, "Xavier-normal gain of the initial weights (small = rich regime)", gt=0)
    optimizer: str = setting("amsgrad", "amsgrad, adam or sgd", choices=tuple(tm.OPTIMIZERS))
    lr: float = setting(1e-2, "learning rate", gt=0)
    steps: int = setting(4000, "full-batch steps", full=40000, ge=1)
    eval_length: int = setting(
        1000, "length of the random test sequences (>= 1000: infinite generalisation)", full=10000, ge=1000
    )


@dataclass(frozen=True)
class TransitionConfig(RNNSettings):
    train_lengths: tuple = setting(
        (2, 3, 4, 5, 6),
        "training lengths L (train on all sequences of length 1..L; each <= 14: 2^L streams per step)",
        full=tuple(range(2, 11)),
        ge=1,
        le=14,
    )
    seeds: int = setting(8, "initialisations per L (shared across L)", full=32, ge=1)
    record_every: int = setting(100, "steps between loss records", full=500, ge=1)
    eval_sequences: int = setting(64, "random test sequences per model")
    converged_loss: float = setting(1e-3, "a model fits its training set when its final loss is below this")
    merge_fraction: float = setting(0.1, "automaton extraction threshold, fraction of ||std|| (authors: 0.1)")

    def validate(self):
        _require_whole_records(self)
        require(len(self.train_lengths) >= 2, f"train_lengths needs >= 2 lengths, each >= 1; got {self.train_lengths}")


@dataclass(frozen=True)
class AutomatonConfig(RNNSettings):
    train_length: int = setting(6, "training length L", full=10, ge=1, le=12)
    seeds: int = setting(6, "seeds shown", full=16, ge=1)
    record_every: int = setting(50, "steps between checkpoints of the prefix hidden states", full=250, ge=1)
    eval_sequences: int = setting(64, "random test sequences per model")
    merge_fraction: float = setting(0.1, "extraction threshold, fraction of ||std|| (authors: 0.1)")

    def validate(self):
        _require_whole_records(self)


@dataclass(frozen=True)
class MergerConfig(RNNSettings):
    rate_h: float = setting(1.0, "effective rate a of the representations (reduced model)", gt=0)
    rate_y: float = setting(2.0, "effective rate b of the decoders (reduced model)", gt=0)
    h0: float = setting(1.0, "initial squared distance of the two representations", gt=0)
    y0: float = setting(0.09, "initial squared output difference per continuation", gt=0)
    counts: tuple = setting(
        (1, 3, 7, 15, 31, 63),
        "numbers of shared continuations N = 2^k - 1 simulated",
        full=(1, 3, 7, 15, 31, 63, 127, 255),
        ge=1,
    )
    t_max: float = setting(40.0, "integration time of the reduced model", gt=0)
    dt: float = setting(2e-3, "gradient-descent step of the reduced particle model", full=5e-4, gt=0)
    train_length: int = setting(6, "training length of the RNNs whose prefix distances are measured", full=10)
    seeds: int = setting(4, "RNN seeds", full=16, ge=1)
    record_every: int = setting(50, "steps between checkpoints", full=250, ge=1)

    def validate(self):
        _require_whole_records(self)
        require(self.dt < self.t_max / 100, f"dt must be < t_max/100; got {self.dt}")
