"""Streaming-parity RNNs: training throughput of the seed × length sweep vs one model at a time.

``python -m benchmarks streaming_parity --seeds 8 --lengths 2 3 4 5 6 --hidden 32 --steps 200`` trains
seeds × lengths Elman RNNs at once (full batch: all 2^Lmax streams, output at every step; one jitted ``lax.scan``
over steps, vmapped over seeds and lengths) and reports

* sequence-steps per second: models × steps × 2^Lmax streams × Lmax time steps / wall seconds (compilation
  excluded) — the last line, ``sequence_steps_per_s=``;
* the speed-up over training the same models one at a time (a Python loop over one-model calls of the same
  jitted trainer);
* achieved matmul FLOP/s as a fraction of a dense matmul measured in the same run (the recurrent matmuls are
  (2^Lmax × P) · (P × P) per time step: small, so the fraction is modest on CPU).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks.timing import (
    benchmark_parser,
    best_time,
    device_line,
    matmul_roof,
    maybe_profile,
    parse_benchmark_args,
)
from toymodels import streaming_parity as tm


def parse(argv):
    p = benchmark_parser("streaming_parity", __doc__, float64=False)
    p.add_argument("--seeds", type=int, default=8, help="initialisations per length (default 8)")
    p.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        default=[2, 3, 4, 5, 6],
        help="training lengths L swept at once (default 2 3 4 5 6)",
    )
    p.add_argument("--hidden", type=int, default=32, help="hidden units P (default 32)")
    p.add_argument("--steps", type=int, default=200, help="full-batch steps per timed run (default 200)")
    p.add_argument("--loop-models", type=int, default=4, help="models trained one at a time for the loop comparison")
    return parse_benchmark_args(p, argv, ("seeds", "hidden", "steps", "loop_models"), check=_check_lengths)


def _check_lengths(p, args):
    if min(args.lengths) < 1 or max(args.lengths) > 14:
        p.error(f"--lengths must lie in [1, 14]; got {args.lengths}")


def flops_per_model_step(lmax: int, hidden: int) -> float:
    """Recurrent + readout matmul FLOPs of one full-batch step: forward 2·B·T·(P² + 2P), backward twice that."""
    return 3 * 2 * (2**lmax) * lmax * (hidden * hidden + 2 * hidden)


def main(argv=None) -> int:
    a = parse(argv)
    cfg = tm.RNNConfig(hidden=a.hidden, gain=0.1, learning_rate=1e-2)
    lmax = max(a.lengths)
    n_models = a.seeds * len(a.lengths)

    def run(key, lengths, seeds):
        return tm.train(key, lengths, cfg, seeds=seeds, steps=a.steps, n_records=1, max_length=lmax).loss

    key = jax.random.key(0)
    t_batched = best_time(lambda: run(key, a.lengths, a.seeds), a.repeats)
    per_model = a.steps * (2**lmax) * lmax
    rate = n_models * per_model / t_batched
    n_loop = min(a.loop_models, n_models)
    t_loop = best_time(lambda: [run(jax.random.key(i), [lmax], 1) for i in range(n_loop)], a.repeats)
    loop_rate = n_loop * per_model / t_loop
    roof = matmul_roof(dtype=jnp.float32)
    achieved = n_models * a.steps * flops_per_model_step(lmax, a.hidden) / t_batched
    maybe_profile(a, lambda: run(key, a.lengths, a.seeds))
    print(device_line(jnp.float32))
    print(
        f"sweep: {a.seeds} seeds x lengths {a.lengths} = {n_models} RNNs, P={a.hidden}, {2**lmax} streams x "
        f"{lmax} steps, {a.steps} full-batch steps: {t_batched:.3f} s"
    )
    print(
        f"loop of single models ({n_loop} trained one at a time): {loop_rate:,.0f} sequence-steps/s; "
        f"batched/loop = {rate / loop_rate:.1f}x"
    )
    print(
        f"matmul FLOP/s: {achieved / 1e9:.2f} GFLOP/s achieved vs dense float32 matmul roof {roof / 1e9:.1f} "
        f"GFLOP/s = {100 * achieved / roof:.1f}% of roof"
    )
    print(f"sequence_steps_per_s={rate:.1f}")
    return 0
