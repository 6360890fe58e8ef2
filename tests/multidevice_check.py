"""Run by ``test_sharding.py`` in a subprocess with 4 forced CPU devices: every family's example job
(:func:`toymodels.families`) on one device, sharded over four, and sharded in groups of 2, at sizes that need
padding; prints the largest relative differences and the devices holding the results, as JSON.

Float64 throughout. Each model runs the same operations in every layout; only the order of XLA's reductions
may change with the block shape, so each step can differ by O(ε) = 1.1e-16 relative, and T ≤ 60 stable
optimiser steps can grow that by at most the product of the step maps' Lipschitz constants. The test's bound
of 1e-9 is a margin (about 10⁷ ε, leaving room for growth by that factor), not a derived number.
"""

import dataclasses
import json
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def tree_rel(a, b):
    return max(rel(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def check(module) -> dict:
    from toymodels import engine

    job = module.example_job()
    key = jax.random.key(3)
    fields = lambda r: (r.state["params"], r.records, r.stats)  # noqa: E731
    base = engine.train(job, key, devices=1, group=None)
    out = {}
    for name, devices, group in (("sharded", 4, None), ("sharded_grouped", 4, 2)):
        res = engine.train(job, key, devices=devices, group=group)
        out[name] = tree_rel(fields(res), fields(base))
    raw = engine.train(dataclasses.replace(job, finish=None), key, devices=4, group=None)
    out["result_devices"] = len(jax.tree.leaves(raw.state["params"])[0].sharding.device_set)
    return out


if __name__ == "__main__":
    from toymodels import families

    result = {"devices": jax.device_count()}
    result.update({name: check(module) for name, module in families().items()})
    json.dump(result, sys.stdout)
