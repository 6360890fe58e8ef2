"""Run by ``test_sweep.py`` as two processes on this machine: ``jax.distributed.initialize`` with a local
coordinator, then one chunked sweep; each process prints the chunks it computed and the merged result (JSON)."""

import json
import sys


def main() -> None:
    process_id, port, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    import jax

    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
    import numpy as np

    from experiments.contract import RunContext
    from experiments.sweep import sweep

    done = []

    def fn(start, stop):
        done.append([start, stop])
        return {"x": np.arange(start, stop) ** 2.0}

    ctx = RunContext(progress=False, verbose=False, max_batch=2, work_dir=work, wait_timeout=120)
    out = sweep(ctx, "multihost", fn, 9)
    json.dump(
        {"process": jax.process_index(), "count": jax.process_count(), "computed": done, "merged": out["x"].tolist()},
        sys.stdout,
    )
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
