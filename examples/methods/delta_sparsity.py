"""Temporal sparsity on real digits seen as a noisy video: each of T frames is the digit plus fresh
Gaussian pixel noise. A per-frame MLP 784-256-256-10 (ReLU, logits averaged over frames) run densely,
against the same network with delta layers (only changes of at least `threshold` propagate;
snnkit.synapses.delta) trained with and without the L1 change penalty (delta_l1). Reports accuracy, the
fraction of activations (changes) that are zero per layer, and multiply-accumulates per sample:
dense T x synapses vs one per synapse of each non-zero change.

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/methods/delta_sparsity.py --train 4000 --test 1000
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from _common import accuracy, digits, load_average
from snnkit.synapses.delta import Delta, Sigma
from snnkit.training.regularizers import delta_l1

WIDTHS = (784, 256, 256, 10)


class DeltaMLP(nn.Module):
    def __init__(self, threshold: float | None) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
        self.deltas = None if threshold is None else nn.ModuleList(Delta(threshold) for _ in self.layers)
        self.recorded: list[torch.Tensor] = []

    def forward(self, frames):  # [T, B, 784] -> logits [B, 10]
        self.recorded = []
        x = frames
        for i, layer in enumerate(self.layers):
            if self.deltas is None:
                self.recorded.append(x)  # the activations a zero-skipping layer would send
                x = layer(x)
            else:
                d = self.deltas[i](x)
                self.recorded.append(d)
                x = Sigma(layer)(d)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x.mean(0)


def frames(x, T, noise, seed):
    g = torch.Generator().manual_seed(seed)
    return (x.unsqueeze(0) + noise * torch.randn(T, *x.shape, generator=g)).clamp(0, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--threshold", type=float, default=0.1)
    ap.add_argument("--l1", type=float, default=0.05)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = digits(a.train, a.test)
    T = a.frames
    print(f"MNIST {a.train} train / {a.test} test as {T} noisy frames (noise std {a.noise}), MLP 784-256-256-10, "
          f"{a.epochs} epochs, delta threshold {a.threshold}, L1 weight {a.l1}; {load_average()}")
    synapses = [a_ * b for a_, b in zip(WIDTHS[:-1], WIDTHS[1:])]
    dense_macs = T * sum(synapses)
    fte = frames(xte, T, a.noise, 123)
    for name, th, l1 in (("dense", None, 0.0), ("delta", a.threshold, 0.0), ("delta + L1", a.threshold, a.l1)):
        torch.manual_seed(0)
        model = DeltaMLP(th)
        train(model, xtr, ytr, a.epochs, T, a.noise, l1)
        acc = accuracy(model, lambda m, fb: m(fb.transpose(0, 1)), fte.transpose(0, 1), yte)
        with torch.no_grad():
            model.eval()(fte)
        zero = [float((d == 0).float().mean()) for d in model.recorded]
        macs = sum(float((d != 0).sum()) / len(yte) * w for d, w in zip(model.recorded, WIDTHS[1:]))
        print(f"{name:11s} accuracy {100 * acc:.2f} %, zero {'activations' if th is None else 'changes'} per layer "
              + " / ".join(f"{100 * z:.1f} %" for z in zero)
              + f", MACs/sample skipping zeros {macs:,.0f} ({dense_macs / max(macs, 1):.1f}x fewer than dense "
              f"{dense_macs:,.0f})", flush=True)


def train(model, x, y, epochs, T, noise, l1, batch=64, lr=1e-3):
    """Adam on cross-entropy (+ ``l1`` x the mean absolute change of every delta layer); fresh noise per batch."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step = 0
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y) - batch + 1, batch):
            idx, step = perm[i:i + batch], step + 1
            loss = nn.functional.cross_entropy(model(frames(x[idx], T, noise, step)), y[idx])
            if l1 > 0:
                loss = loss + delta_l1(model.recorded, l1)
            opt.zero_grad()
            loss.backward()
            opt.step()


if __name__ == "__main__":
    main()
