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

from experiments.contract import ConfigError, RunContext
from experiments.sweep import auto_max_batch, chunk_bounds, sweep, train_sweep
from toymodels import superposition as tm

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


def test_chunked_training_equals_one_call():
    """Instance i keeps key fold_in(key, i) in any chunking, so the models are the same (float64: the
    per-instance programs are identical, only XLA's reduction order may differ; 1e-12 relative is a margin of
    ~10⁴ ε for that, not a derived bound)."""
    kw = dict(
        importance=np.ones(4),
        probabilities=np.geomspace(1, 0.1, 5)[:, None] * np.ones(4),
        m=2,
        steps=20,
        batch_size=16,
        n_records=2,
        dtype=np.float64,
    )
    whole = train_sweep(RunContext(progress=False, verbose=False), "a", tm.job(**kw), jax.random.key(5))
    parts = train_sweep(RunContext(progress=False, verbose=False, max_batch=2), "b", tm.job(**kw), jax.random.key(5))
    np.testing.assert_allclose(parts.params.W, whole.params.W, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(parts.loss, whole.loss, rtol=1e-12)


def _peak(*args):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "memory_check.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["finite"]
    return out["peak"] - out["before"], out


def test_chunked_sweep_peak_memory_stays_under_bound():
    """32 superposition instances with a 4096 × 512 batch each (≈ 67 MB of working memory per instance by
    ``instance_bytes``). Bound for a chunked run: max_batch × instance_bytes plus the fixed cost of compiling
    and running the program, which is measured here on the same sweep with a negligible batch (×1.5 margin).
    The whole sweep at once must exceed that bound (else the test proves nothing) and stay under its own
    estimate (the estimate is an upper bound)."""
    fixed, _ = _peak("--max-batch", "2", "--batch", "8")
    chunked, info = _peak("--max-batch", "2")
    whole, _ = _peak("--max-batch", "32")
    bound = 2 * info["item_bytes"] + 1.5 * fixed
    assert chunked <= bound, (chunked, bound, fixed)
    assert whole > bound, (whole, bound)
    assert whole <= 32 * info["item_bytes"] + 1.5 * fixed, (whole, info)


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
