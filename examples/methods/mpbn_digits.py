"""MPBN on real digits: an MLP 784-256-256-10 of LIF neurons with and without batch norm of the membrane
before firing, trained with surrogate gradients (direct encoding, T steps), then MPBN folded into
per-channel thresholds and weights: the folded network must score exactly the same.

    PYTHONPATH=. python examples/methods/mpbn_digits.py --train 4000 --test 1000 --epochs 2 --steps 4
"""
from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

from _common import accuracy, digits, load_average, train_classifier
from snnkit.neurons import LIF, Sequential
from snnkit.training.mpbn import MPBNLIF, fold_mpbn


def build(mpbn: bool, tau: float = 2.0) -> nn.Module:
    def neuron(width: int) -> nn.Module:
        return MPBNLIF(width, tau_mem=tau) if mpbn else LIF(tau, reset="hard")
    return Sequential(nn.Linear(784, 256), neuron(256), nn.Linear(256, 256), neuron(256), nn.Linear(256, 10))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = digits(a.train, a.test)
    T = a.steps

    def forward(model, xb):  # direct encoding: the analog image at every step; logits = mean output
        return model(xb.unsqueeze(0).expand(T, *xb.shape)).mean(0)

    print(f"MNIST {a.train} train / {a.test} test, T={T}, {a.epochs} epochs, MLP 784-256-256-10; {load_average()}")
    for seed in range(a.seeds):
        for mpbn in (False, True):
            torch.manual_seed(seed)
            model = build(mpbn)
            secs = train_classifier(model, forward, xtr, ytr, a.epochs, seed=seed)
            acc = accuracy(model, forward, xte, yte)
            line = f"seed {seed} {'MPBN' if mpbn else 'plain LIF':9s}: test accuracy {100 * acc:.2f} % ({secs:.0f} s)"
            if mpbn:
                folded = fold_mpbn(copy.deepcopy(model).eval())
                acc_f = accuracy(folded, forward, xte, yte)
                with torch.no_grad():
                    xs = xte[:200].unsqueeze(0).expand(T, 200, 784)
                    same = torch.equal(model.eval()(xs), folded(xs))
                line += f"; folded {100 * acc_f:.2f} % (outputs identical: {same})"
            print(line, flush=True)


if __name__ == "__main__":
    main()
