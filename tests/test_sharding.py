"""Ensemble placement (toymodels.sharding): padding, grouping, errors, and sharded == single-device results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toymodels
from theory.common import ParameterError
from toymodels import engine
from toymodels.sharding import Placement, configure, default_devices, local_devices

ROOT = Path(__file__).resolve().parents[1]


def test_plan_pads_to_devices_times_group():
    p = Placement.plan(10, devices=1, group=4)
    assert (p.per_device, p.padded, p.n_blocks, p.block_size) == (12, 12, 3, 4)
    x = jnp.arange(10.0)
    padded = p.pad(x)
    np.testing.assert_array_equal(padded, np.r_[np.arange(10.0), 9.0, 9.0])  # repeats the last model
    np.testing.assert_array_equal(p.unpad(padded), x)
    np.testing.assert_array_equal(p.valid(), np.r_[np.ones(10), np.zeros(2)])
    assert Placement.plan(3, devices=1, group=8).group is None  # a group larger than the block is no group


def test_apply_groups_concatenate_in_order():
    p = Placement.plan(9, devices=1, group=2)
    x = p.pad(jnp.arange(9.0))
    out = jax.jit(lambda a: p.apply(lambda b, s: (b * s, b[:1] * 0 + b.shape[0]), (a,), (2.0,)))(x)
    np.testing.assert_array_equal(p.unpad(out[0]), 2.0 * np.arange(9.0))
    np.testing.assert_array_equal(out[1], np.full(p.n_blocks, 2.0))  # one per-block value per group


@pytest.mark.parametrize("bad", [0, -1, 1.5, "all", True])
def test_bad_devices_named(bad):
    with pytest.raises(ParameterError, match="devices"):
        local_devices(bad)


def test_bad_size_and_group_named():
    with pytest.raises(ParameterError, match="ensemble size"):
        Placement.plan(0)
    with pytest.raises(ParameterError, match="group"):
        Placement.plan(4, group=0)
    with pytest.raises(ParameterError, match="group"):
        job = next(iter(toymodels.families().values())).example_job()
        engine.train(job, jax.random.key(0), group="fast")
    with pytest.raises(ParameterError, match="ensemble size"):
        Placement.plan(2.5)
    with pytest.raises(ParameterError, match="devices must be between 1 and"):
        Placement.plan(4, devices=len(jax.local_devices()) + 1)


def test_configure_sets_default():
    before = default_devices()
    try:
        configure(devices=1)
        assert default_devices() == 1 and len(local_devices()) == 1
    finally:
        configure(devices=before)
    with pytest.raises(ParameterError, match="host_devices"):
        configure(host_devices=0)


@pytest.mark.parametrize("family", sorted(toymodels.families()))
def test_grouped_equals_vectorised(family):
    """Every family's example job: groups run the same per-model program one after another, equal to rounding
    (float64). 1e-12 relative is a margin of ~10⁴ ε for reduction-order differences, not a derived bound."""
    job = toymodels.families()[family].example_job()
    a = engine.train(job, jax.random.key(0), devices=1, group=None)
    b = engine.train(job, jax.random.key(0), devices=1, group=2)
    for got, want in zip(jax.tree.leaves((b.params, b.records)), jax.tree.leaves((a.params, a.records)), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-14)


def test_sharded_equals_single_device_on_four_cpu_devices():
    """Every family's example job (found by toymodels.families), sharded over 4 forced CPU devices (with padding,
    also in groups of 2) vs one device.

    The bound 1e-9 (relative, float64) is a stated margin over reduction-order rounding (see
    ``tests/multidevice_check.py``); the measured differences are ≤ 3e-16."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "multidevice_check.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("devices") == 4
    from toymodels import families

    assert sorted(out) == sorted(families()) and len(out) >= 1
    for fam, res in out.items():
        assert res.pop("result_devices") == 4, fam  # the run really was spread over the 4 devices
    diffs = {f"{fam}/{k}": v for fam, res in out.items() for k, v in res.items()}
    assert len(diffs) == 2 * len(out)
    assert all(v <= 1e-9 for v in diffs.values()), diffs
