"""Streaming-parity RNNs at the paper's setting: training throughput of many networks at once vs one at a time.

``python -m benchmarks streaming_parity --networks 16 --epochs 20`` trains that many RNNs of App. C.1 (100 ReLU
units, L = 10, per-length minibatches of 128, SGD lr 0.02: 21 SGD steps per epoch) in one vmapped sweep — the shape of
the Fig. 9 grid — and reports

* network-epochs per second (compilation excluded): the last line, ``network_epochs_per_s=``; one epoch runs the
  recurrent cell Σ_ℓ ℓ·2^ℓ = 18,434 times per network at L = 10;
* the speed-up over training the same networks one at a time (a Python loop over one-network calls of the same jitted
  trainer);
* achieved matmul FLOP/s against a dense float32 matmul measured in the same run (the recurrent matmuls are
  (≤ 128 × P)·(P × P): small, so the fraction is modest on CPU).

The PyTorch peer (``benchmarks/torch_peer/streaming_parity.py``, ``make bench-torch``) runs the same training as the
authors' loop does, one network at a time.
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
    p.add_argument("--networks", type=int, default=16, help="networks trained at once (default 16)")
    p.add_argument("--length", type=int, default=10, help="training length L (default 10, the paper's)")
    p.add_argument("--hidden", type=int, default=100, help="hidden units P (default 100, the paper's)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per timed run (default 20)")
    p.add_argument("--loop-networks", type=int, default=2, help="networks trained one at a time for the loop ratio")
    return parse_benchmark_args(p, argv, ("networks", "length", "hidden", "epochs", "loop_networks"), check=_check)


def _check(p, args):
    if args.length > 14:
        p.error(f"--length must lie in [1, 14]; got {args.length}")


def cell_steps_per_epoch(length: int) -> int:
    """Recurrent-cell applications per sequence batch row in one epoch: Σ_ℓ ℓ·2^ℓ (every sequence once)."""
    return sum(ell * 2**ell for ell in range(1, length + 1))


def flops_per_network_epoch(length: int, hidden: int) -> float:
    """Recurrent matmul FLOPs of one epoch: forward 2P² per cell step (plus 2·2P for the input), backward twice that."""
    return 3 * 2 * cell_steps_per_epoch(length) * (hidden * hidden + 2 * hidden)


def main(argv=None) -> int:
    a = parse(argv)
    cfg = tm.RNNConfig(hidden=a.hidden)

    def run(key, networks):
        # one seed, `networks` gains: the Fig. 9 layout (cells of one sweep item share the key)
        gains = [0.1 + 0.9 * i / max(networks - 1, 1) for i in range(networks)]
        return tm.train(key, a.length, cfg, gains=gains, epochs=a.epochs, n_records=1, progress=False).loss

    key = jax.random.key(0)
    t_batched = best_time(lambda: run(key, a.networks), a.repeats)
    rate = a.networks * a.epochs / t_batched
    n_loop = min(a.loop_networks, a.networks)
    t_loop = best_time(lambda: [run(jax.random.key(i), 1) for i in range(n_loop)], a.repeats)
    loop_rate = n_loop * a.epochs / t_loop
    roof = matmul_roof(dtype=jnp.float32)
    achieved = rate * flops_per_network_epoch(a.length, a.hidden)
    maybe_profile(a, lambda: run(key, a.networks))
    print(device_line(jnp.float32))
    print(
        f"sweep: {a.networks} RNNs, P={a.hidden}, L={a.length} ({tm.sequence_count(a.length)} sequences, "
        f"{cell_steps_per_epoch(a.length)} cell steps per epoch), {a.epochs} epochs: {t_batched:.3f} s "
        f"({1e3 * t_batched / (a.networks * a.epochs):.2f} ms per network-epoch)"
    )
    print(
        f"loop of single networks ({n_loop} trained one at a time): {loop_rate:,.1f} network-epochs/s; "
        f"batched/loop = {rate / loop_rate:.2f}x"
    )
    print(
        f"matmul FLOP/s: {achieved / 1e9:.2f} GFLOP/s achieved vs dense float32 matmul roof {roof / 1e9:.1f} "
        f"GFLOP/s = {100 * achieved / roof:.1f}% of roof"
    )
    print(f"network_epochs_per_s={rate:.2f}")
    return 0
