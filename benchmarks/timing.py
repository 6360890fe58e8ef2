"""Helpers shared by the benchmarks: best-of-k wall time (compilation excluded), a matmul roof, argument checks."""

from __future__ import annotations

import argparse
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
