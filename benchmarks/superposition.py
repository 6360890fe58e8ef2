"""Superposition training throughput: the batched sweep of Elhage et al.'s framework.

``python -m benchmarks superposition --instances 64 --n 20 --m 5 --batch 1024 --steps 300`` trains that many
independent toy models at once (importance 0.9^i, feature densities log-spaced over the instances from 1 to
1/20, Adam at 1e-3, a fresh batch every step; one jitted ``lax.scan`` vmapped over instances) and reports

* the placement: on a CPU the host is split into one XLA device per core (``--host-devices``) and each device
  trains its instances in cache-sized groups (``--group``; :mod:`toymodels.sharding`);
* the speed-up over training the same models one at a time (a Python loop over single-instance calls of the
  same jitted trainer);
* a profile: the share of the run spent drawing the random batches (sampling alone, same sampler, placement and
  scan);
* achieved FLOP/s as a fraction of a dense float32 matmul measured in the same run (the roof). FLOPs are those of
  the dense step (forward x·Wᵀ and h·W, backward twice that: 12·batch·n·m); the sparse sampler
  (``--sampler``, :func:`toymodels.superposition.sample_sparse_features`) does the two products with x as sums over
  the present entries, so for it this is a dense-equivalent rate. At the default sizes the matmuls are
  (1024 × 20)·(20 × 5) and the step is bound by random numbers and elementwise work, not by them;
* with the PyTorch peer's environment present (``make bench-torch`` builds ``.venv-torch``), the ratio to
  ``benchmarks/torch_peer/superposition.py`` run with the same sizes (``--torch-peer``);
* model-steps per second (instances × steps / wall seconds, compilation excluded) — the last line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
from theory.superposition import power_law_frequencies
from toymodels import superposition as tm
from toymodels.sharding import Placement


def parse(argv):
    p = benchmark_parser("superposition", __doc__)
    p.add_argument("--instances", type=int, default=64, help="models trained at once (default 64)")
    p.add_argument("--n", type=int, default=20, help="features per model (default 20)")
    p.add_argument("--m", type=int, default=5, help="hidden dimensions (default 5)")
    p.add_argument("--batch", type=int, default=1024, help="fresh samples per step (default 1024)")
    p.add_argument("--steps", type=int, default=300, help="training steps per timed run (default 300)")
    p.add_argument(
        "--loop-instances",
        type=int,
        default=8,
        help="models trained one at a time for the loop comparison (default 8; scaled to --instances)",
    )
    p.add_argument(
        "--group",
        default="auto",
        metavar="N|auto|all",
        help="instances vectorised at once on a device: 'auto' (sized to the CPU cache, default), 'all', or N",
    )
    p.add_argument(
        "--sampler",
        default="auto",
        choices=("auto", "dense", "sparse"),
        help="data sampler of the trainer (default auto: sparse when the features are sparse enough)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="feature frequencies p_i ∝ i^(−alpha), summing to 1, values on [0, 2] and importance 1/n (Liu et al.'s "
        "set-up) instead of the default densities 1 … 1/20 spread over the instances with importance 0.9^i",
    )
    p.add_argument(
        "--torch-peer",
        default="auto",
        metavar="PYTHON|auto|off",
        help="Python that runs the PyTorch peer for a ratio; 'auto' (default): .venv-torch/bin/python if it exists",
    )
    return parse_benchmark_args(
        p, argv, ("instances", "n", "m", "batch", "steps", "loop_instances"), check=_check_group
    )


def _check_group(p, args):
    """``--group``: 'auto' stays, 'all' → None (everything vectorised), else an integer >= 1."""
    if args.group == "all":
        args.group = None
    elif args.group != "auto":
        if not args.group.isdigit() or int(args.group) < 1:
            p.error(f"--group must be 'auto', 'all' or an integer >= 1; got {args.group!r}")
        args.group = int(args.group)


def torch_peer_rate(a):
    """The peer's best-of-``--repeats`` model-steps/s at the same sizes, or None (no peer, or it failed)."""
    python = Path(__file__).parents[1] / ".venv-torch/bin/python" if a.torch_peer == "auto" else a.torch_peer
    if a.torch_peer == "off" or not Path(python).exists():
        return None
    sizes = [f"--{k}={getattr(a, k)}" for k in ("instances", "n", "m", "batch", "steps", "repeats")]
    sizes += [] if a.alpha is None else [f"--alpha={a.alpha}"]
    script = Path(__file__).parent / "torch_peer" / "superposition.py"
    cmd = [str(python), str(script), *sizes, *(["--float64"] if a.float64 else [])]
    run = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("best_model_steps_per_s=")]
    if run.returncode or not lines:
        print(f"torch peer failed (exit {run.returncode}): {run.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return float(lines[-1].split("=")[1])


def flops_per_model_step(n: int, m: int, batch: int) -> float:
    """Matmul FLOPs of one step: forward x·Wᵀ (2bnm) and h·W (2bnm); backward twice that."""
    return 3 * 4 * batch * n * m


def main(argv=None) -> int:
    a = parse(argv)
    dtype = benchmark_dtype(a)
    if a.alpha is None:
        imp = 0.9 ** np.arange(a.n)
        dens = 20.0 ** -np.linspace(0, 1, a.instances)
        probs = np.repeat(dens[:, None], a.n, axis=1)
        value_range = (0.0, 1.0)
    else:
        imp = np.full(a.n, 1.0 / a.n)
        probs = np.repeat(np.asarray(power_law_frequencies(a.n, a.alpha))[None], a.instances, axis=0)
        value_range = (0.0, 2.0)
    family = tm.job(
        importance=imp,
        probabilities=probs,
        m=a.m,
        steps=1,
        batch_size=a.batch,
        n_records=1,
        sampler=a.sampler,
        value_range=value_range,
        dtype=dtype,
    ).family

    def run(k, p):
        return tm.train(
            k,
            importance=imp,
            probabilities=p,
            m=a.m,
            steps=a.steps,
            batch_size=a.batch,
            learning_rate=1e-3,
            n_records=1,
            group=a.group,
            sampler=a.sampler,
            value_range=value_range,
            dtype=dtype,
        ).loss

    key = jax.random.key(0)
    t_batched = best_time(lambda: run(key, probs), a.repeats)
    rate = a.instances * a.steps / t_batched

    n_loop = min(a.loop_instances, a.instances)
    keys = jax.random.split(key, n_loop)
    t_loop = best_time(lambda: [run(keys[i], probs[i : i + 1]) for i in range(n_loop)], a.repeats)
    loop_rate = n_loop * a.steps / t_loop

    # profile: the same sweep's random batches alone (same placement, same scan over steps, nothing trained)
    group = tm.auto_group(a.batch, a.n, dtype) if a.group == "auto" else a.group
    placement = Placement.plan(a.instances, None, group)

    def sample_block(keys, p):
        def one(k, q):
            def body(c, _):
                kk, sub = jax.random.split(c[0])
                if family.capacity is None:
                    x = tm.sample_features(sub, a.batch, q, value_range=value_range, dtype=dtype)
                else:
                    x = tm.sample_sparse_features(
                        sub, a.batch, q, family.capacity, value_range=value_range, dtype=dtype
                    )[2]
                return (kk, c[1] + jnp.sum(x)), None

            return jax.lax.scan(body, (k, jnp.zeros((), dtype)), None, length=a.steps)[0][1]

        return jax.vmap(one)(keys, p)

    sampler = jax.jit(lambda k, p: placement.apply(sample_block, (k, p)))
    pk, pj = placement.pad((jax.random.split(key, a.instances), jnp.asarray(probs, dtype)))
    t_rng = best_time(lambda: sampler(pk, pj), a.repeats)

    roof = matmul_roof(dtype=dtype)
    achieved = rate * flops_per_model_step(a.n, a.m, a.batch)
    maybe_profile(a, lambda: run(key, probs))
    print(device_line(dtype))
    sampler = "dense" if family.capacity is None else f"sparse ({sum(family.capacity):,} slots per step)"
    print(
        f"sweep: {a.instances} instances, n={a.n}, m={a.m}, batch {a.batch}, {a.steps} steps, {sampler} sampler: "
        f"{t_batched:.3f} s"
    )
    print(
        f"loop of single models ({n_loop} trained one at a time): {loop_rate:,.0f} model-steps/s; "
        f"batched/loop = {rate / loop_rate:.1f}x"
    )
    print(f"placement: {placement.describe()}")
    print(
        f"profile: drawing the random batches alone takes {t_rng:.3f} s = {100 * t_rng / t_batched:.0f}% of "
        f"the training run; the model, its gradient and Adam take the rest"
    )
    print(
        f"matmul FLOP/s: {achieved / 1e9:.2f} GFLOP/s achieved vs dense {jnp.dtype(dtype).name} matmul roof "
        f"{roof / 1e9:.1f} GFLOP/s = {100 * achieved / roof:.2f}% of roof"
    )
    torch_rate = torch_peer_rate(a)
    if torch_rate:
        print(f"torch peer (same sizes, best of {a.repeats}): {torch_rate:,.0f} model-steps/s")
        print(f"ratio jax/torch = {rate / torch_rate:.2f}")
    print(f"model_steps_per_s={rate:.1f}")
    return 0
