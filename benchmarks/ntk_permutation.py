"""NTK permutation ensembles: training throughput of M members at once vs one at a time.

``python -m benchmarks ntk_permutation --members 256 --width 4096 --k 8 --steps 30`` trains M two-layer ReLU
networks (NTK parameterisation, full-batch GD on the k permuted basis vectors, one jitted ``lax.scan`` over steps
with the member axis vectorised) and reports

* member-steps per second (M × steps / wall seconds, compilation excluded) — the last line;
* the speed-up over training the same members one at a time (a Python loop over ``members=1`` calls of the same
  jitted trainer);
* achieved FLOP/s as a fraction of a dense matmul measured in the same run (the roof). The step is tiny and
  memory-bound (X = I_k), so this fraction is low by nature; parameter bytes touched per second are printed too.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import (
    benchmark_dtype,
    benchmark_parser,
    best_time,
    device_line,
    matmul_roof,
    maybe_profile,
    parse_benchmark_args,
)
from toymodels import ntk_permutation as tm


def parse(argv):
    p = benchmark_parser("ntk_permutation", __doc__)
    p.add_argument("--members", type=int, default=256, help="ensemble size M trained at once (default 256)")
    p.add_argument("--width", type=int, default=4096, help="hidden width n (default 4096)")
    p.add_argument("--k", type=int, default=8, help="input/output dimension k (default 8)")
    p.add_argument("--steps", type=int, default=30, help="GD steps per timed run (default 30)")
    p.add_argument(
        "--loop-members", type=int, default=8, help="members trained one at a time for the loop comparison (default 8)"
    )
    return parse_benchmark_args(p, argv, ("members", "width", "k", "steps", "loop_members"))


def flops_per_member_step(k: int, width: int) -> float:
    """Matmul FLOPs of one GD step on the k training inputs: forward 2·k·k·n twice, backward twice that."""
    return 3 * 4 * k * k * width


def main(argv=None) -> int:
    a = parse(argv)
    dtype = benchmark_dtype(a)
    perm = np.roll(np.arange(a.k), 1)

    def run(key, members):
        return tm.train(key, perm, members=members, width=a.width, steps=a.steps, n_records=1, dtype=dtype).loss

    key = jax.random.key(0)
    t_batched = best_time(lambda: run(key, a.members), a.repeats)
    rate = a.members * a.steps / t_batched
    n_loop = min(a.loop_members, a.members)
    keys = jax.random.split(key, n_loop)
    t_loop = best_time(lambda: [run(keys[i], 1) for i in range(n_loop)], a.repeats)
    loop_rate = n_loop * a.steps / t_loop
    roof = matmul_roof(dtype=dtype)
    achieved = rate * flops_per_member_step(a.k, a.width)
    bytes_per_s = rate * 2 * a.k * a.width * jnp.dtype(dtype).itemsize * 3  # read W, read grad, write W
    maybe_profile(a, lambda: run(key, a.members))
    print(device_line(dtype))
    print(f"ensemble: M={a.members}, n={a.width}, k={a.k}, {a.steps} steps: {t_batched:.3f} s")
    print(
        f"loop of single members ({n_loop} trained one at a time): {loop_rate:,.0f} member-steps/s; "
        f"batched/loop = {rate / loop_rate:.1f}x"
    )
    print(
        f"matmul FLOP/s: {achieved / 1e9:.2f} GFLOP/s achieved vs dense {jnp.dtype(dtype).name} matmul roof "
        f"{roof / 1e9:.1f} GFLOP/s = {100 * achieved / roof:.2f}% of roof; parameter traffic ≈ "
        f"{bytes_per_s / 1e9:.1f} GB/s"
    )
    print(f"member_steps_per_s={rate:.1f}")
    return 0
