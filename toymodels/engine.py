r"""The ensemble engine: every family trains its many independent models through :func:`train`.

A family describes **one** model's training as a :class:`Family` (a frozen dataclass whose fields are the
static settings: sizes, optimiser, activation) with four methods::

    init(key, setting, shared)             -> state        # a dict holding at least "params"
    step(state, setting, shared)           -> (state, out) # one optimiser step, drawing any data it needs
    record(state, setting, shared, block)  -> records      # what is kept every `steps // n_records` steps
    reduce(records, valid)                 -> (records, stats)   # optional: statistics across models

``setting`` is that model's slice of a pytree of **per-model settings** (any pytree whose leaves have a
leading model axis: learning rates, weight decays, importances, initial weights), ``shared`` is passed whole
to every model (a task, a training set). ``block`` holds the mean and the last value of ``step`` 's ``out``
over the steps since the previous record (``None`` for the record of the initial state).

The engine owns what the families share (it used to be written once per family):

* **keys**: model i starts from ``fold_in(key, ids[i])`` with ``ids`` the global model index (default
  ``first + arange(M)``), so a model's result never depends on how the ensemble is chunked or placed;
* **vectorisation and placement**: ``vmap`` over models, sharded over local devices with padding and masking,
  ``group`` models vectorised at once per device (:mod:`toymodels.sharding`);
* **time**: nested ``lax.scan`` over steps with a record every ``steps // n_records`` steps, cut into jitted
  chunks with a progress bar (:func:`toymodels.common.run_chunked`);
* **divergence**: the records named by :meth:`Family.losses` go through :func:`toymodels.common.check_losses`;
* **sweeps larger than memory**: :func:`sweep` trains the ensemble in chunks of models that stream to disk,
  resume after an interruption and split across hosts (:func:`stream_chunks`).

A family module wraps this in a :class:`Job` (validated inputs → family, settings, shared arrays) and offers
``train(key, …, steps=, n_records=, devices=, progress=)`` returning the one :class:`Result` type.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from theory.common import ParameterError, check_int
from toymodels.common import check_losses, run_chunked
from toymodels.sharding import Placement

__all__ = [
    "Block",
    "Family",
    "Job",
    "Result",
    "model_keys",
    "train",
    "sweep",
    "stream_chunks",
    "chunk_bounds",
    "auto_max_batch",
    "available_memory",
    "flatten_result",
]

PyTree = Any


class Block(NamedTuple):
    """Step outputs since the previous record: their ``mean`` and the ``last`` one (pytrees like ``out``)."""

    mean: PyTree
    last: PyTree


@dataclasses.dataclass(frozen=True)
class Family:
    """One model's training, as the engine runs it (subclass as ``@dataclass(frozen=True)``).

    The dataclass fields are static (hashable; a change recompiles), the per-model ``setting`` and the
    ``shared`` arrays are traced. Methods act on one model; the engine vmaps them.
    """

    #: name shown on progress bars and in divergence messages
    label = "models"

    def init(self, key: jax.Array, setting: PyTree, shared: PyTree) -> dict:
        """Initial state of one model (a dict with at least ``"params"``)."""
        raise NotImplementedError

    def step(self, state: dict, setting: PyTree, shared: PyTree) -> tuple[dict, PyTree]:
        """One training step: ``(new_state, out)``; ``out`` (e.g. the loss) is summarised in :class:`Block`."""
        raise NotImplementedError

    def record(self, state: dict, setting: PyTree, shared: PyTree, block: Block | None) -> PyTree:
        """What is recorded after each block of steps (``block`` is ``None`` for the initial record)."""
        return {"loss": block.last} if block is not None else {}

    def reduce(self, records: PyTree, valid: jax.Array) -> tuple[PyTree, PyTree]:
        """Statistics across the models of one vectorised block: ``(per_model_records, stats)``.

        ``records`` have leading axes (block, n_records); ``valid`` (block,) is 1 for real models and 0 for
        padding. ``stats`` leaves need a leading axis of length 1 (one entry per block). Default: none.
        """
        return records, None

    def group(self, n_models: int) -> int | None:
        """Models vectorised at once on one device when ``group="auto"`` (``None``: all)."""
        return None

    def memory(self) -> int | None:
        """Estimated working memory (bytes) of one model while it trains, to size sweep chunks (``None``: unknown)."""
        return None

    def losses(self, records: PyTree):
        """The records checked for divergence (default ``records["loss"]``; ``None``: no check)."""
        return records.get("loss") if isinstance(records, dict) else None


class Result(NamedTuple):
    """What every trainer returns.

    ``state``: final per-model state (dict with ``"params"``), leading model axis (or the family's own leading
    axes); ``records``: per-model records, leading axes (models, records); ``steps``: the step count at each
    record (0 first when the initial state is recorded); ``stats``: statistics across the ensemble (family
    defined, ``None`` if none); ``info``: facts of the run (resolved defaults such as a learning rate).
    """

    state: PyTree
    records: PyTree
    steps: np.ndarray
    stats: PyTree = None
    info: dict = {}

    @property
    def params(self) -> PyTree:
        return self.state["params"]

    @property
    def loss(self):
        return self.records["loss"]


@dataclasses.dataclass(frozen=True)
class Job:
    """A validated training job: what :func:`train` and :func:`sweep` need besides the key and placement.

    ``settings``: per-model settings (leading axis M on every leaf); ``ids``: optional (M,) key ids (default
    ``arange(M)``; models that must start alike share an id); ``unit``: models per sweep item (a sweep never
    splits a unit); ``finish``: ``Result -> Result`` applied to the trained models of one call (reshapes,
    ensemble statistics), ``info``: copied into ``Result.info``.
    """

    family: Family
    settings: PyTree
    steps: int
    n_records: int
    shared: PyTree = None
    ids: Any = None
    record_initial: bool = False
    unit: int = 1
    finish: Callable[[Result], Result] | None = None
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def n_models(self) -> int:
        return n_models(self.settings)

    def slice(self, start: int, stop: int) -> Job:
        """The job restricted to sweep items ``start … stop − 1`` (models ``unit·start … unit·stop − 1``)."""
        a, b = start * self.unit, stop * self.unit
        ids = np.arange(self.n_models) if self.ids is None else np.asarray(self.ids)
        settings = jax.tree.map(lambda x: x[a:b], self.settings)
        return dataclasses.replace(self, settings=settings, ids=ids[a:b])


def n_models(settings: PyTree) -> int:
    """Length of the leading (model) axis shared by every leaf of ``settings``."""
    leaves = jax.tree.leaves(settings)
    if not leaves:
        raise ParameterError("settings must hold at least one array with a leading model axis")
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in sizes or len(sizes) != 1:
        raise ParameterError(f"every per-model setting must have the same leading model axis; got sizes {sizes}")
    return int(sizes.pop())


def model_keys(key: jax.Array, ids) -> jax.Array:
    """``fold_in(key, i)`` for every model id ``i``: a model's key depends on its index only."""
    key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if not (jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.ndim == 0) and key.shape != (2,):
        raise ParameterError(f"key must be one PRNG key (jax.random.key(seed)); got shape {key.shape}")
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(ids, jnp.uint32))


# ----------------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------------
def _one_model(family: Family, n_records: int, every: int, state, setting, shared):
    """``n_records`` blocks of ``every`` steps of one model, with a record after each block."""
    out_shape = jax.eval_shape(lambda s: family.step(s, setting, shared)[1], state)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), out_shape)

    def inner(carry, _):
        s, total, _last = carry
        s, out = family.step(s, setting, shared)
        return (s, jax.tree.map(jnp.add, total, out), out), None

    def outer(s, _):
        (s, total, last), _ = jax.lax.scan(inner, (s, zeros, zeros), None, length=every)
        block = Block(jax.tree.map(lambda x: x / every, total), last)
        return s, family.record(s, setting, shared, block)

    return jax.lax.scan(outer, state, None, length=n_records)


@partial(jax.jit, static_argnames=("family",))
def _init(family: Family, keys, settings, shared):
    return jax.vmap(family.init, in_axes=(0, 0, None))(keys, settings, shared)


@partial(jax.jit, static_argnames=("family",))
def _initial_record(family: Family, state, settings, shared):
    return jax.vmap(lambda s, st: family.record(s, st, shared, None))(state, settings)


@partial(jax.jit, static_argnames=("family", "placement", "n_records", "every"), donate_argnums=(0,))
def _chunk(state, settings, valid, shared, family: Family, placement: Placement, n_records: int, every: int):
    def block(st, se, va, sh):
        st, rec = jax.vmap(partial(_one_model, family, n_records, every, shared=sh))(st, se)
        rec, stats = family.reduce(rec, va)
        return st, rec, stats

    return placement.apply(block, (state, settings, valid), (shared,))


def _records_per_chunk(n_records: int, progress: bool | None) -> int | None:
    """Default chunking: about 20 chunks (a divisor of ``n_records``, so one compilation) when a bar is shown."""
    shown = sys.stderr.isatty() if progress is None else progress
    if not shown or n_records < 2:
        return None
    target = max(1, n_records // 20)
    return min((d for d in range(1, n_records + 1) if n_records % d == 0), key=lambda d: (abs(d - target), d))


def train(
    job: Job,
    key: jax.Array,
    *,
    devices: int | str | None = None,
    group: int | str | None = "auto",
    records_per_chunk: int | None = None,
    progress: bool | None = None,
    desc: str | None = None,
) -> Result:
    """Train every model of ``job`` at once; see the module docstring.

    Args:
        job: the family, per-model settings, shared arrays, ``steps`` and ``n_records``.
        key: one PRNG key; model i starts from ``fold_in(key, ids[i])``.
        devices: devices the models are sharded over (``None``: the configured default, all local devices).
        group: models vectorised at once per device (``"auto"``: :meth:`Family.group`; ``None``: all).
        records_per_chunk: records per jitted call (the progress bar advances between calls); default about
            a twentieth of the records when a bar is shown, else one call.
        progress: show a progress bar (``None``: when stderr is a terminal).
        desc: progress-bar label (default ``family.label``).
    """
    family, settings, shared = job.family, job.settings, job.shared
    size = n_models(settings)
    steps = int(check_int(job.steps, "steps", minimum=1))
    n_records = int(check_int(job.n_records, "n_records", minimum=1))
    if steps % n_records:
        raise ParameterError(f"steps ({steps}) must be a multiple of n_records ({n_records})")
    every = steps // n_records
    ids = np.arange(size) if job.ids is None else np.asarray(job.ids)
    if ids.shape != (size,):
        raise ParameterError(f"ids must have shape ({size},), one per model; got {ids.shape}")
    placement = Placement.plan(size, devices, family.group(size) if group == "auto" else group)
    keys = model_keys(key, ids)
    settings = jax.tree.map(jnp.asarray, settings)
    state = _init(family, keys, settings, shared)
    rec0 = _initial_record(family, state, settings, shared) if job.record_initial else None
    state, settings = placement.put(placement.pad((state, settings)))
    valid = placement.put(placement.valid())
    if records_per_chunk is None:
        records_per_chunk = _records_per_chunk(n_records, progress)
    state, (records, stats) = run_chunked(
        lambda c, n: _split3(_chunk(c, settings, valid, shared, family, placement, n, every)),
        state,
        n_records,
        records_per_chunk=records_per_chunk,
        progress=progress,
        desc=desc or f"{family.label} ({size} models)",
        steps_per_record=every,
        time_axis=1,
    )
    state, records = placement.unpad((state, records))
    if rec0 is not None:
        if jax.tree.structure(rec0) != jax.tree.structure(records):
            raise ParameterError(
                f"record_initial needs {type(family).__name__}.record to return the same records with block=None"
            )
        records = jax.tree.map(lambda a, b: jnp.concatenate([a[:, None], b], axis=1), rec0, records)
    losses = family.losses(records)
    if losses is not None:
        check_losses(losses, family.label)
    result = Result(state, records, _record_steps(job), stats, dict(job.info))
    return job.finish(result) if job.finish is not None else result


def _split3(out):
    state, records, stats = out
    return state, (records, stats)


# ----------------------------------------------------------------------------------------------------------
# sweeps larger than memory
# ----------------------------------------------------------------------------------------------------------
def chunk_bounds(n_items: int, max_batch: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` covering range(n_items) in chunks of at most ``max_batch``."""
    if n_items < 1:
        raise ParameterError(f"a sweep needs at least one item; got {n_items}")
    if max_batch < 1:
        raise ParameterError(f"max_batch must be an integer >= 1; got {max_batch}")
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
        raise ParameterError(f"item_bytes must be > 0; got {item_bytes}")
    budget = available_memory() / 2 if budget_bytes is None else budget_bytes
    return max(1, int(budget // item_bytes))


def _process() -> tuple[int, int]:
    return jax.process_index(), jax.process_count()


def _atomic_npz(path: Path, arrays: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def stream_chunks(
    fn: Callable[[int, int], dict],
    n_items: int,
    *,
    name: str = "sweep",
    max_batch: int | None = None,
    work_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    wait_timeout: float = 24 * 3600.0,
) -> dict[str, np.ndarray]:
    """Run ``fn(start, stop) -> {name: array}`` over range(n_items) in chunks of ``max_batch``; merge the arrays.

    Every array must have leading axis ``stop − start``. With ``work_dir``, each finished chunk is written
    atomically to ``work_dir/name/<start>-<stop>.npz`` and chunks already there are skipped (resume); on a
    multi-host run (``jax.distributed``) process i computes the chunks c with c mod P = i, then waits for the
    other hosts' files and merges them in order. ``fn`` must give every item the same result whatever the
    chunking (the engine's keys depend on the model index only).
    """
    bounds = chunk_bounds(int(n_items), int(max_batch or n_items))
    rank, n_proc = _process()
    folder = None if work_dir is None else Path(work_dir) / name
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    mine = [i for i in range(len(bounds)) if i % n_proc == rank]
    todo = [i for i in mine if folder is None or not _chunk_path(folder, bounds[i]).exists()]
    if folder is not None and len(todo) < len(mine) and log is not None:
        log(f"  sweep {name}: resuming, {len(mine) - len(todo)} of {len(mine)} chunk(s) already on disk")
    from tqdm.auto import tqdm

    shown = sys.stderr.isatty() if progress is None else progress
    pieces: dict[int, dict] = {}
    for i in tqdm(todo, desc=f"sweep {name}", unit="chunk", disable=not shown or len(todo) < 2, leave=False):
        start, stop = bounds[i]
        out = {k: np.asarray(v) for k, v in fn(start, stop).items()}
        bad = {k: v.shape for k, v in out.items() if v.ndim == 0 or v.shape[0] != stop - start}
        if bad:
            raise ValueError(f"sweep {name}: every array must have leading axis {stop - start}; got {bad}")
        if folder is None:
            pieces[i] = out
        else:
            _atomic_npz(_chunk_path(folder, bounds[i]), out)
    if folder is None:
        if n_proc > 1:
            raise ParameterError("a multi-host sweep needs a work folder on a shared file system")
        parts = [pieces[i] for i in range(len(bounds))]
    else:
        _wait_for(folder, bounds, wait_timeout)
        parts = [_load(_chunk_path(folder, b)) for b in bounds]
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


def _chunk_path(folder: Path, bound: tuple[int, int]) -> Path:
    return folder / f"{bound[0]:08d}-{bound[1]:08d}.npz"


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _wait_for(folder: Path, bounds, timeout: float, poll_s: float = 1.0) -> None:
    """Block until every chunk file exists (other hosts write theirs), or ``timeout`` seconds pass."""
    t0 = time.monotonic()
    while True:
        missing = [b for b in bounds if not _chunk_path(folder, b).exists()]
        if not missing:
            return
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(
                f"sweep chunks {missing[:3]}… were not written within {timeout:.0f} s "
                f"(another host failed, or {folder} is not on a shared file system)"
            )
        time.sleep(poll_s)


def flatten_result(result: Result) -> dict[str, np.ndarray]:
    """``params`` and ``records`` of a result as ``{"params/W": array, "records/loss": array, …}``."""
    out = {}
    for prefix, tree in (("params", result.state["params"]), ("records", result.records)):
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            out[prefix + "/" + "/".join(_key_name(k) for k in path)] = np.asarray(leaf)
    return out


def _key_name(k) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(k, attr):
            return str(getattr(k, attr))
    return str(k)


def _shapes(job: Job):
    """Shapes of ``{"params": …, "records": …}`` of one model of the job, one record (traced, nothing computed)."""
    one = job.slice(0, 1)
    settings = jax.tree.map(jnp.asarray, one.settings)
    keys = model_keys(jax.random.key(0), np.asarray(one.ids))
    state = jax.eval_shape(
        lambda k, s: jax.vmap(job.family.init, in_axes=(0, 0, None))(k, s, job.shared), keys, settings
    )
    run = partial(_one_model, job.family, 1, 1, shared=job.shared)
    records = jax.eval_shape(lambda st, s: jax.vmap(run)(st, s)[1], state, settings)
    return {"params": state["params"], "records": records}


def _reduced_shapes(job: Job):
    """Shapes of one model's records after the family's ``reduce``, and of its statistics (``None``: none)."""
    records = _shapes(job)["records"]
    return jax.eval_shape(lambda r: job.family.reduce(r, jnp.ones((1,), bool)), records)


def _record_steps(job: Job) -> np.ndarray:
    every = job.steps // job.n_records
    steps = every * np.arange(1, job.n_records + 1)
    return np.concatenate([[0], steps]) if job.record_initial else steps


def sweep(
    job: Job,
    key: jax.Array,
    *,
    outputs: Callable[[Result], dict] | None = None,
    name: str = "sweep",
    max_batch: int | None = None,
    item_bytes: float | None = None,
    memory_budget: float | None = None,
    work_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    wait_timeout: float = 24 * 3600.0,
    **train_kw,
):
    """:func:`train` over the items of ``job`` (``job.unit`` models each) in chunks that stream to disk.

    Without ``outputs`` each chunk keeps its models' final ``params`` and ``records``, and the merged chunks are
    returned as one :class:`Result` (``job.finish`` applied to the whole), equal to one :func:`train` call's
    to float rounding (keys depend on the model index only). With ``outputs(result) -> {name: array}`` (every
    array with a leading item axis) the chunks keep those arrays instead and the merged dict is returned.

    Chunks hold ``max_batch`` items, or as many as fit ``memory_budget`` (default half the available memory) at
    ``item_bytes`` each (default: ``unit`` × (:meth:`Family.memory` + the model's records)), or all.
    """
    unit = int(check_int(job.unit, "unit", minimum=1))
    if job.n_models % unit:
        raise ParameterError(f"the job's {job.n_models} models are not a whole number of units of {unit}")
    n_items = job.n_models // unit
    if item_bytes is None and job.family.memory() is not None:
        recorded = sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(_shapes(job)["records"]))
        item_bytes = unit * (job.family.memory() + recorded * (job.n_records + job.record_initial))
    if max_batch is None and item_bytes is not None:
        max_batch = auto_max_batch(item_bytes, memory_budget)
    raw = dataclasses.replace(job, finish=None)
    if outputs is None and _reduced_shapes(job)[1] is not None:
        raise ParameterError(
            f"{type(job.family).__name__} gathers statistics across models (reduce), which chunks cannot merge; "
            "pass outputs= to keep per-model arrays"
        )

    def chunk(start: int, stop: int) -> dict:
        res = train(raw.slice(start, stop), key, **train_kw)
        if outputs is not None:
            return outputs(job.finish(res) if job.finish is not None else res)
        leaves = jax.tree.leaves({"params": res.state["params"], "records": res.records})
        return {f"{i:05d}": np.asarray(x).reshape(stop - start, unit, *x.shape[1:]) for i, x in enumerate(leaves)}

    merged = stream_chunks(
        chunk,
        n_items,
        name=name,
        max_batch=max_batch,
        work_dir=work_dir,
        progress=train_kw.get("progress"),
        log=log,
        wait_timeout=wait_timeout,
    )
    if outputs is not None:
        return merged
    leaves = [merged[k].reshape(-1, *merged[k].shape[2:]) for k in sorted(merged)]  # items × unit → models
    tree = jax.tree.unflatten(
        jax.tree.structure({"params": _shapes(job)["params"], "records": _reduced_shapes(job)[0]}), leaves
    )
    result = Result({"params": tree["params"]}, tree["records"], _record_steps(job), None, dict(job.info))
    return job.finish(result) if job.finish is not None else result
