"""Sweeps larger than memory: computed in chunks that stream to disk, resume, and split across hosts.

An experiment hands :func:`sweep` a function ``fn(start, stop) -> {name: array}`` that computes items
``start … stop−1`` of a sweep (instances, ensemble members, seeds), every array with that leading axis, and
the number of items. :func:`sweep`

* cuts the items into chunks of at most ``max_batch`` (``--max-batch``; or sized automatically from a memory
  budget and a per-item byte estimate, :func:`auto_max_batch`), so at most one chunk's working memory is
  live at a time;
* writes each finished chunk atomically to ``OUT/NAME/sweeps/<config hash>/<sweep>/<start>-<stop>.npz``
  and skips chunks already on disk: an interrupted sweep resumes at the next unfinished chunk;
* on a multi-host run (``jax.distributed.initialize``; see README "Multi-host runs") lets process i compute
  only the chunks c with c mod P = i, waits until every host's chunk files are on the shared file system and
  merges them in order, so every process sees the whole sweep and process 0 writes the results.

``fn`` must give every item the same result whatever the chunking (each item's PRNG key is fixed by its
index: see ``first_member`` / ``first_seed`` / per-instance keys in :mod:`toymodels`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from experiments.contract import ConfigError, RunContext, _atomic_npz

__all__ = ["sweep", "chunk_bounds", "auto_max_batch", "available_memory"]


def chunk_bounds(n_items: int, max_batch: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering range(n_items) in chunks of at most ``max_batch``."""
    if n_items < 1:
        raise ConfigError(f"a sweep needs at least one item; got {n_items}")
    if max_batch < 1:
        raise ConfigError(f"max_batch must be an integer >= 1; got {max_batch}")
    return [(s, min(s + max_batch, n_items)) for s in range(0, n_items, max_batch)]


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable`` on Linux; physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def auto_max_batch(item_bytes: float, budget_bytes: float | None = None) -> int:
    """Largest chunk whose estimated working memory ``item_bytes`` × chunk fits ``budget_bytes``
    (default: half the memory available now)."""
    if item_bytes <= 0:
        raise ConfigError(f"item_bytes must be > 0; got {item_bytes}")
    budget = available_memory() / 2 if budget_bytes is None else budget_bytes
    return max(1, int(budget // item_bytes))


def _process() -> tuple[int, int]:
    if "jax" not in sys.modules:
        return 0, 1
    import jax

    return jax.process_index(), jax.process_count()


def sweep(
    ctx: RunContext,
    name: str,
    fn: Callable[[int, int], dict],
    n_items: int,
    *,
    max_batch: int | None = None,
    item_bytes: float | None = None,
) -> dict[str, np.ndarray]:
    """Run ``fn`` over range(n_items) in chunks (see module docstring); return the merged arrays.

    Args:
        ctx: the experiment's context: ``ctx.max_batch`` (``--max-batch``), ``ctx.memory_budget``
            (``--memory-budget``, bytes), ``ctx.work_dir`` (where chunks go; ``None``: kept in memory only).
        name: the sweep's name, unique within the experiment (a folder name).
        fn: ``fn(start, stop)`` → dict of arrays, each with leading axis ``stop − start``.
        n_items: number of items.
        max_batch: chunk size; default ``ctx.max_batch``, else sized from ``item_bytes`` and the budget when
            ``item_bytes`` is given, else all items in one chunk.
        item_bytes: estimated working memory of one item (for automatic sizing).
    """
    if max_batch is None:
        max_batch = ctx.max_batch
    if max_batch is None and item_bytes is not None:
        max_batch = auto_max_batch(item_bytes, ctx.memory_budget)
    bounds = chunk_bounds(int(n_items), int(max_batch or n_items))
    rank, n_proc = _process()
    folder = None if ctx.work_dir is None else Path(ctx.work_dir) / name
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    pieces: dict[int, dict] = {}
    mine = [i for i in range(len(bounds)) if i % n_proc == rank]
    todo = [i for i in mine if folder is None or not _path(folder, bounds[i]).exists()]
    if folder is not None and len(todo) < len(mine):
        ctx.log(f"  sweep {name}: resuming, {len(mine) - len(todo)} of {len(mine)} chunk(s) already on disk")
    from tqdm.auto import tqdm

    progress = sys.stderr.isatty() if ctx.progress is None else ctx.progress
    for i in tqdm(todo, desc=f"sweep {name}", unit="chunk", disable=not progress or len(todo) < 2, leave=False):
        start, stop = bounds[i]
        out = {k: np.asarray(v) for k, v in fn(start, stop).items()}
        bad = {k: v.shape for k, v in out.items() if v.ndim == 0 or v.shape[0] != stop - start}
        if bad:
            raise ValueError(f"sweep {name}: every array must have leading axis {stop - start}; got {bad}")
        if folder is None:
            pieces[i] = out
        else:
            _atomic_npz(_path(folder, bounds[i]), out)
    if folder is None:
        if n_proc > 1:
            raise ConfigError("a multi-host sweep needs a work folder on a shared file system")
        parts = [pieces[i] for i in range(len(bounds))]
    else:
        _wait_for(folder, bounds, ctx)
        parts = [_load(_path(folder, b)) for b in bounds]
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


def _path(folder: Path, bound: tuple[int, int]) -> Path:
    return folder / f"{bound[0]:08d}-{bound[1]:08d}.npz"


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _wait_for(folder: Path, bounds, ctx: RunContext, poll_s: float = 1.0) -> None:
    """Block until every chunk file exists (other hosts write theirs), or ``ctx.wait_timeout`` seconds pass."""
    t0 = time.monotonic()
    while True:
        missing = [b for b in bounds if not _path(folder, b).exists()]
        if not missing:
            return
        if time.monotonic() - t0 > ctx.wait_timeout:
            raise TimeoutError(
                f"sweep chunks {missing[:3]}… were not written within {ctx.wait_timeout:.0f} s "
                f"(another host failed, or {folder} is not on a shared file system)"
            )
        time.sleep(poll_s)
