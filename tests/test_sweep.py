"""Chunked sweeps (experiments.sweep): chunking, streaming to disk, resume, chunk-independent results, and a
peak-memory bound measured in fresh processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import toymodels
from experiments.contract import ConfigError, RunContext
from experiments.sweep import auto_max_batch, chunk_bounds, sweep, train_sweep
from theory.common import ParameterError
from toymodels import engine

ROOT = Path(__file__).resolve().parents[1]


def test_chunk_bounds_cover_in_order():
    assert chunk_bounds(7, 3) == [(0, 3), (3, 6), (6, 7)]
    assert chunk_bounds(4, 10) == [(0, 4)]
    with pytest.raises(ConfigError, match="max_batch"):
        chunk_bounds(4, 0)
    with pytest.raises(ConfigError, match="at least one item"):
        chunk_bounds(0, 2)


def test_auto_max_batch_fits_budget():
    assert auto_max_batch(100.0, 1050.0) == 10
    assert auto_max_batch(1e12, 1.0) == 1  # never zero
    with pytest.raises(ConfigError, match="item_bytes"):
        auto_max_batch(0.0, 1.0)


def _squares(calls):
    def fn(start, stop):
        calls.append((start, stop))
        i = np.arange(start, stop)
        return {"x": i.astype(float) ** 2, "pair": np.stack([i, -i], axis=1)}

    return fn


def test_sweep_streams_chunks_and_merges(tmp_path):
    calls = []
    ctx = RunContext(progress=False, verbose=False, max_batch=4, work_dir=tmp_path)
    out = sweep(ctx, "sq", _squares(calls), 10)
    np.testing.assert_array_equal(out["x"], np.arange(10.0) ** 2)
    assert out["pair"].shape == (10, 2)
    assert calls == [(0, 4), (4, 8), (8, 10)]
    assert sorted(p.name for p in (tmp_path / "sq").iterdir()) == [
        "00000000-00000004.npz",
        "00000004-00000008.npz",
        "00000008-00000010.npz",
    ]
    in_memory = sweep(RunContext(progress=False, verbose=False, max_batch=3), "sq", _squares([]), 10)
    np.testing.assert_array_equal(in_memory["x"], out["x"])


def test_interrupted_sweep_resumes_at_next_chunk(tmp_path):
    ctx = RunContext(progress=False, verbose=False, max_batch=3, work_dir=tmp_path)
    calls = []
    good = _squares(calls)

    def dies_at_third(start, stop):
        if start == 6:
            raise KeyboardInterrupt
        return good(start, stop)

    with pytest.raises(KeyboardInterrupt):
        sweep(ctx, "sq", dies_at_third, 11)
    assert calls == [(0, 3), (3, 6)]  # both finished chunks are on disk
    calls.clear()
    out = sweep(ctx, "sq", good, 11)
    assert calls == [(6, 9), (9, 11)]  # nothing finished is recomputed
    np.testing.assert_array_equal(out["x"], np.arange(11.0) ** 2)


def test_sweep_rejects_wrong_leading_axis(tmp_path):
    ctx = RunContext(progress=False, verbose=False, max_batch=2, work_dir=tmp_path)
    with pytest.raises(ValueError, match="leading axis 2"):
        sweep(ctx, "bad", lambda s, e: {"x": np.zeros(3)}, 4)


@pytest.mark.parametrize("family", sorted(toymodels.families()))
def test_chunked_training_equals_one_call(family):
    """Every family's example job: model i keeps key fold_in(key, i) in any chunking, so the models are the same
    (float64: the per-model programs are identical, only XLA's reduction order may differ; 1e-12 relative is a
    margin of ~10⁴ ε for that, not a derived bound)."""
    job = toymodels.families()[family].example_job()
    # a family that gathers statistics across models (reduce) cannot be merged without outputs: keep per-model arrays
    per_model = lambda r: {f"{i:03d}": np.asarray(x) for i, x in enumerate(jax.tree.leaves((r.params, r.records)))}
    outputs = per_model if engine._reduced_shapes(job)[1] is not None else None
    if outputs is not None:
        with pytest.raises(ParameterError, match="pass outputs="):
            engine.sweep(job, jax.random.key(5))
    runs = [
        train_sweep(RunContext(progress=False, verbose=False, max_batch=b), n, job, jax.random.key(5), outputs=outputs)
        for n, b in (("a", None), ("b", 2))
    ]
    whole, parts = (r if outputs is not None else (r.params, r.records) for r in runs)
    for got, want in zip(jax.tree.leaves(parts), jax.tree.leaves(whole), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-14)


def test_two_process_sweep_splits_chunks_and_merges(tmp_path):
    """Two local processes joined by jax.distributed: each computes only chunks c ≡ its index (mod 2), writes
    them to the shared folder, and both return the full merged sweep."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "multihost_check.py"), str(i), str(port), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for i in range(2)
    ]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    outs.sort(key=lambda o: o["process"])
    assert [o["count"] for o in outs] == [2, 2]
    assert outs[0]["computed"] == [[0, 2], [4, 6], [8, 9]]
    assert outs[1]["computed"] == [[2, 4], [6, 8]]
    for o in outs:
        assert o["merged"] == (np.arange(9) ** 2.0).tolist()
