"""Deep linear networks: full-batch GD throughput of wide nets, and how close it gets to the matmul roof.

``python -m benchmarks deep_linear --models 4 --depth 3 --width 1024 --steps 20`` trains that many deep linear
networks of ``depth`` layers, every layer ``width`` × ``width``, on a whitened synthetic task (Saxe et al.'s
correlation form: the step needs only Σyx and Σxx, so its cost is products of width × width matrices), by
full-batch GD in one jitted ``lax.scan`` vmapped (and sharded) over the models, and reports

* achieved FLOP/s as a fraction of a dense float32 width × width matmul measured in the same run (the roof). The
  FLOPs are XLA's own count for one compiled GD step of all the models, so nothing is estimated by hand;
* the speed-up over a loop that trains the same models one at a time (``train`` per model);
* model-steps per second (models × steps / wall seconds, compilation excluded) — the last line.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.timing import (
    benchmark_dtype,
    benchmark_parser,
    best_time,
    compiled_flops,
    device_line,
    matmul_roof,
    maybe_profile,
    parse_benchmark_args,
)


def parse(argv):
    p = benchmark_parser("deep_linear", __doc__)
    p.add_argument("--models", type=int, default=4, help="networks trained at once (default 4)")
    p.add_argument("--depth", type=int, default=3, help="weight layers per network (default 3)")
    p.add_argument("--width", type=int, default=1024, help="width of every layer, input and output (default 1024)")
    p.add_argument("--steps", type=int, default=20, help="GD steps per timed run (default 20)")
    return parse_benchmark_args(p, argv, ("models", "depth", "width", "steps"))


def main(argv=None) -> int:
    a = parse(argv)
    from toymodels import deep_linear as tm

    dtype = benchmark_dtype(a)
    key = jax.random.key(0)
    svals = np.linspace(3.0, 0.5, 16)
    task = tm.synthetic_task(key, svals, a.width, a.width, dtype=dtype)
    widths = (a.width,) * (a.depth + 1)
    keys = jax.random.split(jax.random.fold_in(key, 1), a.models)
    params = jax.vmap(lambda k: tm.init_params(k, widths, "scaled_gaussian", scale=0.1, dtype=dtype))(keys)
    lr = 0.05

    t_batched = best_time(lambda: tm.train(params, task, lr, steps=a.steps, n_records=1).loss, a.repeats)
    rate = a.models * a.steps / t_batched
    one = jax.tree.map(lambda x: x[0], params)
    t_loop = best_time(
        lambda: [
            tm.train(jax.tree.map(lambda x, i=i: x[i], params), task, lr, steps=a.steps, n_records=1).loss
            for i in range(a.models)
        ],
        a.repeats,
    )

    def gd_step(p):
        grads = jax.grad(tm.loss)(p, task)
        return optax.apply_updates(p, jax.tree.map(lambda g: -lr * g, grads))

    flops = a.models * compiled_flops(gd_step, one)
    roof = matmul_roof(size=a.width, dtype=dtype)
    achieved = flops * a.steps / t_batched
    maybe_profile(a, lambda: tm.train(params, task, lr, steps=a.steps, n_records=1).loss)
    print(device_line(dtype))
    print(
        f"{a.models} nets, {a.depth} layers of {a.width}x{a.width}, {a.steps} GD steps: {t_batched:.3f} s; "
        f"{flops / a.models / 1e9:.2f} GFLOP per net-step (XLA cost analysis)"
    )
    print(
        f"loop of single nets ({a.models} trained one at a time): {a.models * a.steps / t_loop:,.1f} "
        f"model-steps/s; batched/loop = {t_loop / t_batched:.2f}x"
    )
    print(
        f"matmul FLOP/s: {achieved / 1e9:.1f} GFLOP/s achieved vs dense {jnp.dtype(dtype).name} {a.width}^3 "
        f"matmul roof {roof / 1e9:.1f} GFLOP/s = {100 * achieved / roof:.0f}% of roof"
    )
    print(f"model_steps_per_s={rate:.2f}")
    return 0
