"""PyTorch peer of ``python -m benchmarks streaming_parity``: the paper's training written as the loop a PyTorch user
(and the authors) would write, one network at a time.

``.venv-torch/bin/python benchmarks/torch_peer/streaming_parity.py --networks 2 --epochs 20`` (or ``make bench-torch``)
trains RNNs of App. C.1: ``nn.RNN(2, 100, nonlinearity="relu", batch_first=True)`` and ``nn.Linear(100, 2)``,
Xavier-normal weights at gain 0.1, zero biases, initial state all ones, output read after the last step; every binary
sequence of length 1…L, one shuffled ``DataLoader`` per length with batches of 128, the lengths visited in order every
epoch, ``torch.optim.SGD(lr=0.02)`` on ``nn.MSELoss()`` of the batch: 21 SGD steps per epoch at L = 10.

Eager mode, ``torch.set_num_threads`` = the cores available. One warm-up epoch, then ``--repeats`` timed runs of
``--epochs`` epochs (each from a fresh initialisation). The last line is ``network_epochs_per_s=`` of the median run;
the line before gives the best run, the statistic the JAX benchmark reports. Needs only torch and numpy.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time

import torch
from torch import nn


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", type=int, default=2, help="networks trained one after another per run (default 2)")
    p.add_argument("--length", type=int, default=10, help="training length L (default 10)")
    p.add_argument("--hidden", type=int, default=100, help="hidden units (default 100)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per network and timed run (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the median is reported last (default 3)")
    a = p.parse_args(argv)
    for name in ("networks", "length", "hidden", "epochs", "repeats"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be an integer >= 1; got {getattr(a, name)}")
    return a


class Model(nn.Module):
    def __init__(self, hidden: int, gain: float = 0.1):
        super().__init__()
        self.rnn = nn.RNN(2, hidden, 1, batch_first=True, nonlinearity="relu")
        self.fc = nn.Linear(hidden, 2)
        for par in self.parameters():
            if par.dim() == 2:
                nn.init.xavier_normal_(par, gain=gain)
            else:
                nn.init.zeros_(par)

    def forward(self, x):
        h0 = torch.ones(1, x.shape[0], self.rnn.hidden_size)
        out, _ = self.rnn(x, h0)
        return self.fc(out[:, -1])


def datasets(length: int):
    """Per length: one-hot inputs (2^ℓ, ℓ, 2) and one-hot parity targets (2^ℓ, 2)."""
    out = []
    for ell in range(1, length + 1):
        bits = torch.tensor(list(itertools.product([0, 1], repeat=ell)))
        x = nn.functional.one_hot(bits, 2).float()
        y = nn.functional.one_hot(bits.sum(1) % 2, 2).float()
        out.append(torch.utils.data.TensorDataset(x, y))
    return out


def train(model, loaders, epochs: int):
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0, weight_decay=0)
    loss_fn = nn.MSELoss()
    for _ in range(epochs):
        for loader in loaders:
            for x, y in loader:
                opt.zero_grad()
                loss_fn(model(x), y).backward()
                opt.step()


def main(argv=None) -> int:
    a = parse(argv)
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    loaders = [torch.utils.data.DataLoader(d, batch_size=128, shuffle=True) for d in datasets(a.length)]
    torch.manual_seed(0)
    train(Model(a.hidden), loaders, 1)  # warm-up
    times = []
    for r in range(a.repeats):
        torch.manual_seed(r)
        t0 = time.perf_counter()
        for _ in range(a.networks):
            train(Model(a.hidden), loaders, a.epochs)
        times.append(time.perf_counter() - t0)
    steps = sum(-(-(2**ell) // 128) for ell in range(1, a.length + 1))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {steps} SGD steps per epoch")
    print(
        f"{a.networks} networks x {a.epochs} epochs, one at a time: best {min(times):.3f} s "
        f"({a.networks * a.epochs / min(times):.2f} network-epochs/s)"
    )
    print(f"network_epochs_per_s={a.networks * a.epochs / statistics.median(times):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
