"""Shared by the streaming-parity RNN experiments: training at the paper's setting, the long-sequence test, and the
pairwise analysis of the recorded representations (distances, merges, thresholds).

Indices: the representations of every sequence of length 0…L are stored in
:func:`theory.streaming_parity.prefix_index` order (index 0 is h₀, the empty sequence). A *pair* is two different
non-empty sequences i < j (the empty sequence is no data point: the paper's and the authors' pair analyses use the
2046 training sequences); *agreeing* pairs have equal parity, so they agree on every future output (App. A, §4.2).
"""

from __future__ import annotations

import jax
import numpy as np

from experiments.contract import RunContext
from experiments.sweep import train_sweep
from theory import streaming_parity as th
from toymodels import streaming_parity as tm

__all__ = [
    "keys",
    "train",
    "long_test",
    "Pairs",
    "squared_distances",
    "initial_params",
]


def keys(seed: int):
    """(training key, evaluation key) of an experiment run with ``seed``."""
    return jax.random.split(jax.random.key(seed))


def train(cfg, seed: int, ctx: RunContext, *, outputs=None, name: str = "train", **kw):
    """Train ``cfg.seeds`` networks at ``cfg``'s setting as a chunked sweep (:func:`experiments.sweep.train_sweep`).

    ``kw`` go to :func:`toymodels.streaming_parity.job` (``record_states``, ``gains``, ``fractions``, ``val_lengths``,
    ``stop_loss``, …); records every ``cfg.record_every`` epochs plus the initial network. ``outputs`` reduces each
    chunk of seeds to the arrays it keeps (so the recorded representations never need to be held for every seed).
    """
    k_train, k_eval = keys(seed)
    n_records = cfg.epochs // cfg.record_every
    kw.setdefault("seeds", cfg.seeds)
    job = tm.job(cfg.train_length, cfg.rnn(), epochs=cfg.epochs, n_records=n_records, val_key=k_eval, **kw)
    gains = kw.get("gains", (cfg.gain,))
    ctx.log(
        f"  {kw['seeds']} x {job.unit} RNN(s), L={cfg.train_length}, P={cfg.hidden}, {cfg.activation}, gain(s) "
        f"{list(gains)}, SGD lr {cfg.lr}, {cfg.epochs} epochs, records every {cfg.record_every}"
    )
    item = PEAK_FACTOR * job.unit * (job.family.memory() + recorded_bytes(cfg, **kw) * (n_records + 1))
    return train_sweep(
        ctx, name, job, k_train, outputs=outputs, item_bytes=item, records_per_chunk=max(1, n_records // 10)
    )


#: peak memory of a chunk over its recorded arrays plus the family's working memory: the records are held on the
#: device, copied to the host and sliced by the reductions. Measured at full size (1001 records of every prefix
#: state): 9.2 GB peak for a chunk of two networks holding 1.7 GB of records.
PEAK_FACTOR = 5


def recorded_bytes(cfg, *, record_states: bool = False, record_params: bool = False, **_) -> int:
    """Bytes of one network's record: the prefix states and outputs (float32) and, if asked, its weights."""
    P, n = cfg.hidden, 2 ** (cfg.train_length + 1) - 1
    return 4 * (n * (P + 2) * record_states + (P * P + 5 * P + 2) * record_params) + 64


def long_test(key, params, cfg: tm.RNNConfig, length: int, n_sequences: int):
    """Per network (leading axes kept): fraction of random sequences right at every step, per-step accuracy and
    final-output accuracy on ``n_sequences`` sequences of ``length`` bits."""
    fn = lambda p: tm.long_sequence_accuracy(key, p, cfg, length=length, n_sequences=n_sequences)  # noqa: E731
    for _ in range(jax.tree.leaves(params)[0].ndim - 2):  # W_hh is (…, P, P)
        fn = jax.vmap(fn)
    return tuple(np.asarray(x) for x in jax.jit(fn)(params))


def initial_params(cfg, seed: int, gain: float | None = None, fraction: float = 1.0, s: int = 0):
    """Network ``s`` of the run with ``seed`` at initialisation and its data mask, exactly as the engine draws them
    (its key is ``fold_in(training key, s)``, the family's ``init``)."""
    from toymodels import engine

    fam = tm.Epochs(cfg.rnn(), cfg.train_length)
    key = engine.model_keys(keys(seed)[0], [s])[0]
    g = cfg.gain if gain is None else gain
    state = fam.init(key, {"gain": np.float32(g), "fraction": np.float32(fraction)}, None)
    return tm.to_params(state["params"]), np.asarray(state["mask"])


def squared_distances(h) -> np.ndarray:
    """All squared distances between the rows of ``h`` (n, P), from one Gram matrix (float64)."""
    h = np.asarray(h, float)
    sq = np.sum(h * h, axis=1)
    return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (h @ h.T), 0.0)


class Pairs:
    """The pairs i < j of non-empty sequences of length ≤ L, their lengths, agreement and common-suffix length."""

    def __init__(self, L: int):
        labels = th.prefix_strings(L)
        n = len(labels)
        self.L, self.n = L, n
        i, j = np.triu_indices(n, k=1)
        keep = i > 0
        self.i, self.j = i[keep], j[keep]
        lengths = th.prefix_lengths(L)
        self.m1, self.m2 = lengths[self.i], lengths[self.j]  # m1 <= m2 (index order is by length)
        parity = np.array([s.count("1") % 2 for s in labels])
        self.agree = parity[self.i] == parity[self.j]
        self.n_continuations = th.continuation_count(self.m1, self.m2, L)

    def distances(self, h) -> np.ndarray:
        """Distances of every pair, from representations ``h`` (n, P)."""
        return np.sqrt(squared_distances(h)[self.i, self.j])

    def common_suffix(self) -> np.ndarray:
        """Length of the common suffix of each pair (the number of recurrent steps since the two sequences last
        differed, or since the shorter one began)."""
        lengths = th.prefix_lengths(self.L)
        value = np.arange(self.n) - (2**lengths - 1)  # the sequence as a binary number
        out = np.zeros(self.i.size, int)
        alive = np.ones(self.i.size, bool)
        for k in range(1, self.L + 1):
            mask = 2**k - 1
            alive &= (self.m1 >= k) & ((value[self.i] & mask) == (value[self.j] & mask))
            out += alive
        return out

    def by_lengths(self, values, select=None) -> np.ndarray:
        """Mean of ``values`` over the pairs of each (m₁, m₂) cell (an L × L map, symmetric; NaN where empty)."""
        sel = np.ones(self.i.size, bool) if select is None else select
        out = np.full((self.L, self.L), np.nan)
        idx = (self.m1 - 1) * self.L + (self.m2 - 1)
        sums = np.bincount(idx[sel], weights=np.asarray(values, float)[sel], minlength=self.L * self.L)
        counts = np.bincount(idx[sel], minlength=self.L * self.L)
        ok = counts > 0
        out.flat[ok] = sums[ok] / counts[ok]
        return np.where(np.isnan(out), out.T, out)
