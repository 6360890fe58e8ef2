"""Where an ensemble axis runs: sharded over local devices, and in vectorised groups on each device.

Every family trains many independent models along one leading axis (instances of a toy model, runs at
several learning rates, ensemble members, seeds × training lengths). :class:`Placement` lays that axis out:

* **over devices** — the axis is padded to a multiple of the device count and split with
  ``jax.shard_map`` over a one-axis :class:`jax.sharding.Mesh` (axis name
  ``"ensemble"``). Models are independent, so no communication is needed and each device runs its block
  with the same program; results equal the single-device run to float rounding (tested with 4 forced
  CPU devices).
* **in groups** — on each device, ``group`` models are vectorised at once and the groups run one after
  another (``lax.map``). On CPU this keeps a group's per-step arrays in cache (a 64-model autoencoder
  benchmark is ≈ 1.5× faster at 16 models per group than with all 64 vectorised); it also bounds the temporaries of
  one dispatched program. ``group=None`` vectorises the whole block (what a GPU wants).

The default device count is every local device when there is more than one (``"auto"``) and is set with
:func:`configure` (the experiment and benchmark command lines expose it as ``--devices``). On a CPU-only
machine ``configure(host_devices=N)`` (``--host-devices N``) splits the host into N XLA devices, which
lets N cores each run their own block: it must run before JAX creates its backend.

Padding repeats the last model; padded copies are computed and dropped (:meth:`Placement.unpad`), and
:meth:`Placement.valid` masks them where a family reduces across the ensemble.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from theory.common import ParameterError

__all__ = ["AXIS", "Placement", "configure", "default_devices", "local_devices"]

AXIS = "ensemble"
PyTree = Any

_SETTINGS: dict[str, Any] = {"devices": "auto"}


def configure(devices: int | str | None = None, host_devices: int | None = None) -> None:
    """Set the default devices of every ensemble (``"auto"``: all local devices; an int: the first N).

    ``host_devices`` splits a CPU host into that many XLA devices (``jax_num_cpu_devices``); it only takes
    effect before JAX initialises its backend (before the first computation), so call it first.
    """
    if host_devices is not None:
        if int(host_devices) < 1:
            raise ParameterError(f"host_devices must be an integer >= 1; got {host_devices}")
        jax.config.update("jax_num_cpu_devices", int(host_devices))
    if devices is not None:
        _check_devices_arg(devices)
        _SETTINGS["devices"] = devices


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _check_devices_arg(devices) -> None:
    if isinstance(devices, str) and devices == "auto":
        return
    if not _is_int(devices) or devices < 1:
        raise ParameterError(f"devices must be 'auto' or an integer >= 1; got {devices!r}")


def default_devices() -> int | str:
    """The current default (``"auto"`` or a device count)."""
    return _SETTINGS["devices"]


def local_devices(devices: int | str | None = None) -> tuple:
    """The devices an ensemble is spread over: ``None`` → the configured default; ``"auto"`` → all local."""
    devices = _SETTINGS["devices"] if devices is None else devices
    _check_devices_arg(devices)
    available = jax.local_devices()
    if devices == "auto":
        return tuple(available)
    if devices > len(available):
        raise ParameterError(f"devices must be between 1 and the {len(available)} local device(s); got {devices}")
    return tuple(available[:devices])


@dataclass(frozen=True)
class Placement:
    """Layout of an ensemble axis of ``size`` models over ``devices``, ``group`` models vectorised at once.

    Build with :meth:`plan`. Hashable, so it can be a static argument of a jitted function.
    """

    size: int
    devices: tuple
    group: int | None = None

    @classmethod
    def plan(cls, size: int, devices: int | str | None = None, group: int | None = None) -> Placement:
        """Placement of ``size`` models on ``devices`` (see :func:`local_devices`), ``group`` per vectorised batch."""
        if not _is_int(size) or size < 1:
            raise ParameterError(f"ensemble size must be an integer >= 1; got {size!r}")
        devs = local_devices(devices)
        devs = devs[: max(1, min(len(devs), int(size)))]  # never more devices than models
        if group is not None:
            if not _is_int(group) or group < 1:
                raise ParameterError(f"group must be None, 'auto' (where offered) or an integer >= 1; got {group!r}")
            group = int(group)
            if group >= math.ceil(size / len(devs)):
                group = None
        return cls(int(size), devs, group)

    # ------------------------------------------------------------------------------------------------
    @property
    def n_devices(self) -> int:
        return len(self.devices)

    @property
    def per_device(self) -> int:
        """Models on each device, padding included (a multiple of ``group``)."""
        block = math.ceil(self.size / self.n_devices)
        return block if self.group is None else self.group * math.ceil(block / self.group)

    @property
    def padded(self) -> int:
        return self.per_device * self.n_devices

    @property
    def n_blocks(self) -> int:
        """Vectorised blocks in all: devices × groups per device."""
        return self.n_devices * (1 if self.group is None else self.per_device // self.group)

    @property
    def block_size(self) -> int:
        return self.per_device if self.group is None else self.group

    @property
    def mesh(self) -> Mesh:
        return Mesh(np.array(self.devices), (AXIS,))

    def describe(self) -> str:
        grp = "all" if self.group is None else str(self.group)
        return (
            f"{self.size} models on {self.n_devices} {self.devices[0].platform} device(s), "
            f"{grp} vectorised at once, padded to {self.padded}"
        )

    # ------------------------------------------------------------------------------------------------
    def pad(self, tree: PyTree, axis: int = 0) -> PyTree:
        """Pad ``axis`` of every leaf from ``size`` to ``padded`` by repeating the last model."""
        extra = self.padded - self.size
        if extra == 0:
            return tree

        def one(x):
            last = jax.lax.slice_in_dim(x, self.size - 1, self.size, axis=axis)
            return jnp.concatenate([x, jnp.repeat(last, extra, axis=axis)], axis=axis)

        return jax.tree.map(one, tree)

    def unpad(self, tree: PyTree, axis: int = 0) -> PyTree:
        """Drop the padded models (``axis`` of every leaf back to ``size``)."""
        if self.padded == self.size:
            return tree
        return jax.tree.map(lambda x: jax.lax.slice_in_dim(x, 0, self.size, axis=axis), tree)

    def valid(self, dtype=jnp.float32) -> jnp.ndarray:
        """(padded,) mask: 1 for real models, 0 for padding."""
        return (jnp.arange(self.padded) < self.size).astype(dtype)

    def put(self, tree: PyTree, axis: int = 0) -> PyTree:
        """Place already-padded arrays with their ``axis`` split over the devices (``NamedSharding``)."""
        if self.n_devices == 1:
            return tree
        spec = NamedSharding(self.mesh, P(*([None] * axis), AXIS))
        return jax.tree.map(lambda x: jax.device_put(x, spec), tree)

    # ------------------------------------------------------------------------------------------------
    def apply(
        self, fn: Callable[..., PyTree], batched: Sequence[PyTree], shared: Sequence[PyTree] = (), out_axis: int = 0
    ) -> PyTree:
        """``fn(*batched, *shared)`` over the padded ensemble axis, sharded and grouped. Call inside ``jit``.

        ``fn`` receives one block: every leaf of ``batched`` with leading axis ``block_size`` (``shared`` is
        passed whole to every block) and must return leaves whose axis ``out_axis`` is per block; the blocks'
        outputs are concatenated along it (a per-block statistic can use a block axis of length 1).
        """
        batched, shared = tuple(batched), tuple(shared)
        g = self.group

        def local(b, s):
            if g is None:
                return fn(*b, *s)
            n_groups = jax.tree.leaves(b)[0].shape[0] // g
            grouped = jax.tree.map(lambda x: x.reshape(n_groups, g, *x.shape[1:]), b)
            out = jax.lax.map(lambda bb: fn(*bb, *s), grouped)
            return jax.tree.map(lambda y: _merge_leading(y, out_axis), out)

        if self.n_devices == 1:
            return local(batched, shared)
        out_spec = P(*([None] * out_axis), AXIS)
        if hasattr(jax, "shard_map"):  # jax >= 0.7
            mapped = jax.shard_map(local, mesh=self.mesh, in_specs=(P(AXIS), P()), out_specs=out_spec, check_vma=False)
        else:  # older jax (the pinned oracle environment)
            from jax.experimental.shard_map import shard_map

            mapped = shard_map(local, mesh=self.mesh, in_specs=(P(AXIS), P()), out_specs=out_spec, check_rep=False)
        return mapped(batched, shared)


def _merge_leading(y: jnp.ndarray, out_axis: int) -> jnp.ndarray:
    """(groups, ..., block at out_axis, ...) → (..., groups·block, ...)."""
    y = jnp.moveaxis(y, 0, out_axis)
    shape = y.shape
    return y.reshape(*shape[:out_axis], shape[out_axis] * shape[out_axis + 1], *shape[out_axis + 2 :])
