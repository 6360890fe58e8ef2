"""Small pieces of training machinery used by the ensemble engine (:mod:`toymodels.engine`).

* :func:`run_chunked` drives a jitted chunk function over the whole run, so that long runs show a
  progress bar without a Python loop per step (one Python iteration per chunk of many records).
* :func:`check_losses` flags training that diverged (non-finite or exploding loss); every trainer calls it on
  its loss records. Inside :func:`divergence_monitor` (as in ``run_experiment``) the one-line messages are
  collected; elsewhere they are issued as ``RuntimeWarning``.

Where an ensemble axis runs (sharded over devices, in vectorised groups) is decided in :mod:`toymodels.sharding`.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["run_chunked", "check_losses", "divergence_monitor"]

PyTree = Any

#: a run has diverged when its last loss record exceeds this multiple of its first (or any record is non-finite)
DIVERGENCE_GROWTH = 10.0
_MONITOR: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("divergence_monitor", default=None)


@contextlib.contextmanager
def divergence_monitor() -> Iterator[list[str]]:
    """Collect the messages of :func:`check_losses` raised inside the block into the yielded list."""
    found: list[str] = []
    token = _MONITOR.set(found)
    try:
        yield found
    finally:
        _MONITOR.reset(token)


def check_losses(losses, what: str, *, growth: float = DIVERGENCE_GROWTH) -> str | None:
    """One-line message when training diverged, else ``None``.

    ``losses``: loss records with time on the last axis and any leading run axes (seeds, instances, members).
    A run diverged when a record is non-finite, or when its last record exceeds ``growth`` × its first: every
    trainer here starts from its highest loss or near it, so a healthy run ends below its first record. The
    message counts the runs and names the first record at which the loss stopped being finite.
    """
    if isinstance(losses, jax.core.Tracer):
        return None
    arr = np.asarray(losses, dtype=float)
    if arr.size == 0:
        return None
    arr = arr.reshape(-1, arr.shape[-1]) if arr.ndim else arr.reshape(1, 1)
    nonfinite = ~np.all(np.isfinite(arr), axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        grown = ~nonfinite & (arr[:, -1] > growth * np.abs(arr[:, 0]))
    if not (nonfinite.any() or grown.any()):
        return None
    parts = []
    if nonfinite.any():
        first = int(np.argmax((~np.isfinite(arr[nonfinite])).any(axis=0)))
        parts.append(f"{int(nonfinite.sum())} with a non-finite loss (from record {first})")
    if grown.any():
        worst = int(np.argmax(np.where(grown, arr[:, -1], -np.inf)))
        parts.append(f"{int(grown.sum())} whose loss grew from {arr[worst, 0]:.3g} to {arr[worst, -1]:.3g}")
    message = (
        f"training diverged ({what}): {int((nonfinite | grown).sum())} of {arr.shape[0]} runs, "
        f"{' and '.join(parts)}; lower the learning rate"
    )
    found = _MONITOR.get()
    if found is not None:
        found.append(message)
    else:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return message


def run_chunked(
    chunk_fn: Callable[[PyTree, int], tuple[PyTree, PyTree]],
    carry: PyTree,
    n_records: int,
    *,
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    desc: str = "training",
    steps_per_record: int = 1,
    time_axis: int = 0,
):
    """Run ``chunk_fn(carry, n)`` (jitted; ``n`` records per call) until ``n_records`` are produced.

    Args:
        chunk_fn: ``(carry, n_records) -> (carry, records)``, ``n_records`` static.
        carry: initial state.
        n_records: total number of records.
        records_per_chunk: records per call; ``None`` runs everything in one call (no progress bar).
            The last chunk may be shorter (one extra compilation).
        progress: show a tqdm bar (``None``: only when stderr is a terminal).
        desc: label of the progress bar.
        steps_per_record: steps per record, for the bar's unit (steps).
        time_axis: axis of the record leaves that counts records (1 for vmapped ensembles).

    Returns:
        ``(final_carry, records)`` with chunks concatenated along ``time_axis``.
    """
    if records_per_chunk is None or records_per_chunk >= n_records:
        return chunk_fn(carry, n_records)
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm.auto import tqdm

    n_chunks = math.ceil(n_records / records_per_chunk)
    pieces = []
    with tqdm(
        total=n_records * steps_per_record, desc=desc, unit="step", disable=not progress, file=sys.stderr, leave=False
    ) as bar:
        done = 0
        for _ in range(n_chunks):
            n = min(records_per_chunk, n_records - done)
            carry, rec = chunk_fn(carry, n)
            jax.block_until_ready(rec)
            pieces.append(rec)
            done += n
            bar.update(n * steps_per_record)
    records = jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=time_axis), *pieces)
    return carry, records
