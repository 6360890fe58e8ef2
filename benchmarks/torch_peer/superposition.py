"""PyTorch peer of ``python -m benchmarks superposition``: the same sweep written as the loop a PyTorch user would.

``.venv-torch/bin/python benchmarks/torch_peer/superposition.py --instances 64 --n 20 --m 5 --batch 1024 --steps 300``
(or ``make bench-torch``) trains that many independent toy models x' = ReLU(WᵀW x + b), W of shape (m, n), as one
batched tensor (W: (instances, m, n), ``torch.bmm``), with the JAX benchmark's set-up:

* importance 0.9^i, feature densities log-spaced over the instances from 1 to 1/20; with ``--alpha`` Liu et
  al.'s set-up instead: p_i ∝ i^(−alpha) summing to 1, values on [0, 2], importance 1/n;
* a fresh batch every step, feature i = 0 with probability 1 - p_i, else Uniform(0, 1), drawn as in
  ``toymodels.superposition.sample_features`` (one uniform u per entry: x = u/p if u < p else 0);
* loss per instance: mean over the batch of Σ_i I_i (x_i - x'_i)², summed over instances (so each instance
  gets its own gradient);
* W Xavier-normal, b = 0, ``torch.optim.Adam`` at lr 1e-3 (betas 0.9/0.999, eps 1e-8: optax's
  ``scale_by_adam`` + constant learning rate, no weight decay, as the toymodel's default optimiser).

Eager mode, ``torch.set_num_threads`` = the cores available. One warm-up run, then ``--repeats`` timed runs
(each a full training from a fresh initialisation). The last line is ``model_steps_per_s=`` of the median run;
the line before it gives the best run, the statistic the JAX benchmark reports. Needs only torch and numpy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instances", type=int, default=64, help="models trained at once (default 64)")
    p.add_argument("--n", type=int, default=20, help="features per model (default 20)")
    p.add_argument("--m", type=int, default=5, help="hidden dimensions (default 5)")
    p.add_argument("--batch", type=int, default=1024, help="fresh samples per step (default 1024)")
    p.add_argument("--steps", type=int, default=300, help="training steps per timed run (default 300)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported last (default 3)")
    p.add_argument("--alpha", type=float, default=None, help="Liu et al.'s frequencies p_i ∝ i^(−alpha) (see above)")
    p.add_argument("--float64", action="store_true", help="train in float64 instead of float32")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the cores available)")
    a = p.parse_args(argv)
    for name in ("instances", "n", "m", "batch", "steps", "repeats"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be an integer >= 1; got {getattr(a, name)}")
    return a


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def train(a, imp, probs, dtype, seed=0, scale=1.0):
    """One full training run of all instances; returns the last step's loss per instance."""
    torch.manual_seed(seed)
    W = (torch.randn(a.instances, a.m, a.n, dtype=dtype) * (2.0 / (a.n + a.m)) ** 0.5).requires_grad_()
    b = torch.zeros(a.instances, 1, a.n, dtype=dtype, requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=1e-3)
    for _ in range(a.steps):
        u = torch.rand(a.instances, a.batch, a.n, dtype=dtype)
        x = torch.where(u < probs, scale * u / probs, 0.0)
        out = torch.relu(torch.bmm(torch.bmm(x, W.transpose(1, 2)), W) + b)
        per_instance = (imp * (x - out) ** 2).sum(-1).mean(-1)
        opt.zero_grad()
        per_instance.sum().backward()
        opt.step()
    return per_instance.detach()


def main(argv=None) -> int:
    a = parse(argv)
    torch.set_num_threads(a.threads or cores())
    dtype = torch.float64 if a.float64 else torch.float32
    if a.alpha is None:
        imp = torch.as_tensor(0.9 ** np.arange(a.n), dtype=dtype)
        dens = 20.0 ** -np.linspace(0, 1, a.instances)
        probs = torch.as_tensor(np.repeat(dens[:, None], a.n, axis=1), dtype=dtype)[:, None, :]  # (I, 1, n)
        scale = 1.0
    else:
        imp = torch.full((a.n,), 1.0 / a.n, dtype=dtype)
        q = np.arange(1, a.n + 1, dtype=float) ** -a.alpha
        probs = torch.as_tensor(np.repeat((q / q.sum())[None], a.instances, axis=0), dtype=dtype)[:, None, :]
        scale = 2.0

    loss = train(a, imp, probs, dtype, scale=scale)  # warm-up
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        loss = train(a, imp, probs, dtype, scale=scale)
        times.append(time.perf_counter() - t0)
    med, best = statistics.median(times), min(times)
    work = a.instances * a.steps
    print(f"device: cpu (torch {torch.__version__}, {torch.get_num_threads()} thread(s)), dtype {str(dtype)[6:]}")
    print(
        f"sweep: {a.instances} instances, n={a.n}, m={a.m}, batch {a.batch}, {a.steps} steps: "
        f"median {med:.3f} s, best {best:.3f} s of {a.repeats}; last-step loss, mean over instances {loss.mean():.4f}"
    )
    print(f"best_model_steps_per_s={work / best:.1f}")
    print(f"model_steps_per_s={work / med:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
