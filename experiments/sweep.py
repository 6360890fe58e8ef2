"""Sweeps larger than memory, configured from an experiment's :class:`~experiments.contract.RunContext`.

The machinery (chunks of at most ``--max-batch`` items, or sized from ``--memory-budget``; each finished chunk
written atomically to ``OUT/NAME/sweeps/<config hash>/<sweep>/<start>-<stop>.npz``; resume; chunks split over
hosts) lives in :mod:`toymodels.engine`. Here the context supplies its settings:

* :func:`train_sweep` trains any :class:`toymodels.engine.Job` (any family) as a chunked sweep;
* :func:`sweep` runs any ``fn(start, stop) -> {name: array}`` the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from experiments.contract import ConfigError, RunContext
from theory.common import ParameterError
from toymodels import engine

__all__ = ["sweep", "train_sweep", "chunk_bounds", "auto_max_batch", "available_memory"]

available_memory = engine.available_memory


def chunk_bounds(n_items: int, max_batch: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering range(n_items) in chunks of at most ``max_batch``."""
    try:
        return engine.chunk_bounds(n_items, max_batch)
    except ParameterError as err:
        raise ConfigError(str(err)) from None


def auto_max_batch(item_bytes: float, budget_bytes: float | None = None) -> int:
    """Largest chunk whose working memory ``item_bytes`` × chunk fits ``budget_bytes`` (default: half the
    memory available now)."""
    try:
        return engine.auto_max_batch(item_bytes, budget_bytes)
    except ParameterError as err:
        raise ConfigError(str(err)) from None


def _max_batch(ctx: RunContext, max_batch: int | None, item_bytes: float | None) -> int | None:
    if max_batch is None:
        max_batch = ctx.max_batch
    if max_batch is None and item_bytes is not None:
        max_batch = auto_max_batch(item_bytes, ctx.memory_budget)
    return max_batch


def sweep(
    ctx: RunContext,
    name: str,
    fn: Callable[[int, int], dict],
    n_items: int,
    *,
    max_batch: int | None = None,
    item_bytes: float | None = None,
) -> dict[str, np.ndarray]:
    """Run ``fn(start, stop)`` over range(n_items) in chunks (:func:`toymodels.engine.stream_chunks`).

    ``max_batch`` defaults to ``ctx.max_batch``, else it is sized from ``item_bytes`` (working memory of one
    item) and ``ctx.memory_budget``, else all items run in one chunk. Chunks stream to ``ctx.work_dir``.
    """
    max_batch = _max_batch(ctx, max_batch, item_bytes)
    chunk_bounds(int(n_items), int(max_batch or max(int(n_items), 1)))  # one-line ConfigError before compute
    return engine.stream_chunks(
        fn,
        n_items,
        name=name,
        max_batch=max_batch,
        work_dir=ctx.work_dir,
        progress=ctx.progress,
        log=ctx.log,
        wait_timeout=ctx.wait_timeout,
    )


def train_sweep(
    ctx: RunContext,
    name: str,
    job: engine.Job,
    key: jax.Array,
    *,
    outputs: Callable[[engine.Result], dict] | None = None,
    item_bytes: float | None = None,
    **train_kw,
) -> dict[str, np.ndarray]:
    """:func:`toymodels.engine.sweep` of ``job`` with the context's chunking, work folder and progress display.

    ``outputs(result) -> {name: array}`` picks what each chunk keeps (default: all state and records, named
    ``"state/…"`` and ``"records/…"``); ``item_bytes`` is the working memory of one sweep item.
    """
    return engine.sweep(
        job,
        key,
        outputs=outputs,
        name=name,
        max_batch=ctx.max_batch,
        item_bytes=item_bytes,
        memory_budget=ctx.memory_budget,
        work_dir=ctx.work_dir,
        log=ctx.log,
        wait_timeout=ctx.wait_timeout,
        progress=ctx.progress,
        **train_kw,
    )
