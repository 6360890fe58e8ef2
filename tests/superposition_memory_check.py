"""Run by ``test_toymodel_superposition.py`` in a fresh process: a superposition sweep chunked at ``--max-batch`` (or whole),
reporting the process's resident memory before it and its peak during it (bytes, JSON)."""

import argparse
import json
import sys
import tempfile


def status(field: str) -> int:
    """A memory field of /proc/self/status in bytes: VmRSS (now) or VmHWM (this process's peak). Not
    getrusage's ru_maxrss: Linux carries that over from the parent across fork + exec, so a child of a big
    pytest process would report the parent's peak."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-batch", type=int, default=None)
    ap.add_argument("--instances", type=int, default=32)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4096)
    a = ap.parse_args()
    import jax
    import numpy as np

    from experiments.contract import RunContext
    from experiments.sweep import train_sweep
    from toymodels import superposition as tm

    jax.numpy.zeros(1).block_until_ready()  # backend up: part of the baseline
    before = status("VmRSS")
    with tempfile.TemporaryDirectory() as work:
        ctx = RunContext(progress=False, verbose=False, max_batch=a.max_batch or a.instances, work_dir=work)
        job = tm.job(
            importance=np.ones(a.n),
            probabilities=np.full((a.instances, a.n), 0.1),
            m=4,
            batch_size=a.batch,
            steps=2,
            n_records=1,
        )
        res = train_sweep(ctx, "mem", job, jax.random.key(0), group=None)
    peak = status("VmHWM")
    json.dump(
        {
            "before": before,
            "peak": peak,
            "item_bytes": tm.instance_bytes(a.batch, a.n, 4),
            "instances": a.instances,
            "finite": bool(np.isfinite(res.loss).all()),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
