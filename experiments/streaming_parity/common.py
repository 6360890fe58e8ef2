"""Helpers shared by the streaming-parity experiments: the RNN settings, training at one length, the long test."""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import RunContext
from experiments.sweep import train_sweep
from toymodels import streaming_parity as tm

__all__ = ["rnn_cfg", "generalises", "train_one_length"]


def rnn_cfg(cfg) -> tm.RNNConfig:
    return tm.RNNConfig(
        hidden=cfg.hidden, activation=cfg.activation, gain=cfg.gain, optimizer=cfg.optimizer, learning_rate=cfg.lr
    )


def generalises(key, params, rcfg, length, n_sequences):
    """Per-model (all-steps-correct fraction, per-step accuracy) on random long sequences; leading axes kept."""
    fn = lambda p: tm.long_sequence_accuracy(key, p, rcfg, length=length, n_sequences=n_sequences)  # noqa: E731
    lead = jax.tree.leaves(params)[0].ndim - 2  # W_hh is (…, P, P)
    for _ in range(lead):
        fn = jax.vmap(fn)
    perfect, per_step = fn(params)
    return np.asarray(perfect), np.asarray(per_step)


def train_one_length(cfg, seed: int, ctx: RunContext):
    """Train ``cfg.seeds`` RNNs at ``cfg.train_length`` recording every prefix state; returns (res, eval key)."""
    key_train, key_eval = jax.random.split(jax.random.key(seed))
    L = cfg.train_length
    ctx.log(f"  {cfg.seeds} seeds at L={L}, checkpoints every {cfg.record_every} steps")
    n_records = cfg.steps // cfg.record_every
    job = tm.job([L], rnn_cfg(cfg), seeds=cfg.seeds, steps=cfg.steps, n_records=n_records, record_prefix=L)
    res = train_sweep(ctx, "train", job, key_train, records_per_chunk=max(1, n_records // 10))
    return res, key_eval
