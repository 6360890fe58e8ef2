"""Helpers shared by the benchmarks: best-of-k wall time (compilation excluded), a matmul roof, FLOPs from XLA's
cost analysis, argument checks and the device options."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs after one warm-up (compile) run."""
    jax.block_until_ready(fn())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_roof(size: int = 1024, dtype=jnp.float32, repeats: int = 5) -> float:
    """Achieved FLOP/s of a dense size×size×size matmul on this machine (the roof the ratios refer to)."""
    a = jax.random.normal(jax.random.key(0), (size, size), dtype)
    b = jax.random.normal(jax.random.key(1), (size, size), dtype)
    f = jax.jit(lambda x, y: x @ y)
    return 2 * size**3 / best_time(lambda: f(a, b), repeats)


def require_positive(parser: argparse.ArgumentParser, args: argparse.Namespace, names) -> None:
    """``parser.error`` naming the option unless every ``args.<name>`` is an integer >= 1."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be an integer >= 1; got {getattr(args, name)}")


def benchmark_parser(name: str, doc: str | None, *, float64: bool = True) -> argparse.ArgumentParser:
    """The parser every benchmark starts from: ``--repeats``, ``--float64`` (unless ``float64=False``) and the
    device options; the benchmark adds its own sizes and calls :func:`parse_benchmark_args`."""
    p = argparse.ArgumentParser(
        prog=f"python -m benchmarks {name}", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions; the best is reported (default 3)")
    if float64:
        p.add_argument("--float64", action="store_true", help="train in float64 instead of float32")
    add_device_options(p)
    return p


def parse_benchmark_args(parser: argparse.ArgumentParser, argv, positive, check=None) -> argparse.Namespace:
    """Parse, require ``positive`` options (and ``--repeats``) to be >= 1, run ``check(parser, args)`` if given,
    then apply the device options (before any JAX computation)."""
    args = parser.parse_args(argv)
    require_positive(parser, args, (*positive, "repeats"))
    if check is not None:
        check(parser, args)
    apply_device_options(parser, args)
    return args


def benchmark_dtype(args: argparse.Namespace):
    """float32, or float64 (with x64 enabled) under ``--float64``."""
    if getattr(args, "float64", False):
        jax.config.update("jax_enable_x64", True)
        return jnp.float64
    return jnp.float32


def add_device_options(parser: argparse.ArgumentParser) -> None:
    """``--host-devices`` and ``--devices`` (see :mod:`toymodels.sharding`), shared by every benchmark."""
    parser.add_argument(
        "--host-devices",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="split a CPU host into N XLA devices so that each core runs its own block of models "
        "(default: the number of cores here, %(default)s; no effect on a GPU)",
    )
    parser.add_argument(
        "--devices",
        default="auto",
        metavar="N|auto",
        help="devices the models are sharded over: 'auto' = all local devices (default), or N",
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="DIR",
        help="also record one run of the batched trainer with jax.profiler into DIR (open it with "
        "TensorBoard's profile plugin or Perfetto)",
    )


def apply_device_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Check and apply the device options; must run before the first JAX computation."""
    from toymodels.sharding import configure

    if args.host_devices < 1:
        parser.error(f"--host-devices must be an integer >= 1; got {args.host_devices}")
    if args.devices != "auto":
        try:
            args.devices = int(args.devices)
        except ValueError:
            parser.error(f"--devices must be 'auto' or an integer >= 1; got {args.devices!r}")
        if args.devices < 1:
            parser.error(f"--devices must be 'auto' or an integer >= 1; got {args.devices}")
    configure(devices=args.devices, host_devices=args.host_devices)


def device_line(dtype) -> str:
    """One line naming the device(s) the benchmark ran on."""
    dev = jax.devices()[0]
    return (
        f"device: {dev.platform} ({getattr(dev, 'device_kind', dev)}), {jax.device_count()} device(s), "
        f"dtype {jnp.dtype(dtype).name}"
    )


def compiled_flops(fn: Callable, *args) -> float:
    """FLOPs of one call of ``jax.jit(fn)(*args)`` from XLA's cost analysis of the compiled program."""
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


def maybe_profile(args: argparse.Namespace, fn: Callable[[], object]) -> None:
    """With ``--profile DIR``: one more (already compiled) run of ``fn`` under ``jax.profiler.trace(DIR)``."""
    if args.profile:
        with jax.profiler.trace(args.profile):
            jax.block_until_ready(fn())
        print(f"profile of one run written to {args.profile}")
