"""Shared helpers of the method examples: small real-digit tensors and a plain training loop."""
from __future__ import annotations

import time

import torch
from torch import nn


def digits(n_train: int = 4000, n_test: int = 1000, flatten: bool = True):
    """MNIST digits as float tensors in [0, 1]: ``(x_train [N, 784] or [N, 1, 28, 28], y_train, x_test, y_test)``."""
    from snnkit.data import load_mnist_arrays
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        x, y = load_mnist_arrays(split)
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(y), generator=g)[:n]  # the files are sorted by label: shuffle
        x = x[idx].float() / 255.0
        out += [x.reshape(len(idx), -1) if flatten else x.unsqueeze(1), y[idx]]
    return tuple(out)


def mnist1d(n_train: int | None = None, n_test: int | None = None):
    """MNIST-1D as ``(x_train [N, 40], y_train, x_test, y_test)``: the standardised 40-sample signals."""
    from snnkit.data import load
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        ds = load("mnist1d", split, steps=1)
        n = len(ds) if n is None else min(n, len(ds))
        xs = torch.stack([ds[i][0][0] for i in range(n)])  # current encoding: [T, 40], the same at every step
        ys = torch.tensor([int(ds[i][1]) for i in range(n)])
        out += [xs, ys]
    return tuple(out)


def train_classifier(model: nn.Module, forward, x: torch.Tensor, y: torch.Tensor, epochs: int = 2,
                     batch: int = 64, lr: float = 1e-3, seed: int = 0, on_step=None) -> float:
    """Adam on cross-entropy of ``forward(model, xb)`` (logits ``[B, K]``); returns seconds taken.
    ``on_step(step)`` is called after every optimiser step (returns True to stop)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0, step = time.time(), 0
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y) - batch + 1, batch):
            idx = perm[i:i + batch]
            loss = nn.functional.cross_entropy(forward(model, x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if on_step is not None and on_step(step):
                return time.time() - t0
    return time.time() - t0


@torch.no_grad()
def accuracy(model: nn.Module, forward, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    model.eval()
    correct = sum(int((forward(model, x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
                  for i in range(0, len(y), batch))
    return correct / len(y)


def load_average() -> str:
    import os
    return "load average %.2f %.2f %.2f" % os.getloadavg()
