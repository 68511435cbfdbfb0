"""A ReLU MLP (784-48-10) trained briefly on real MNIST digits, deployed on Loihi 2 as Lava sigma-delta
neurons (graded spikes); prints ANN and sigma-delta accuracy on the test digits and the largest logit error.

    python examples/deploy/loihi_sigma_delta_mnist.py [--train 2000] [--test 2000]
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch
from torch import nn

from snnkit.data import load_mnist_arrays
from snnkit.hardware.loihi import sigma_delta_network


def run(n_train: int = 2000, n_test: int = 2000, epochs: int = 4, seed: int = 0) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    xs, ys = load_mnist_arrays("train")
    xt, yt = load_mnist_arrays("test")
    x, y = torch.as_tensor(xs[:n_train]).float() / 255.0, torch.as_tensor(ys[:n_train])
    x_test, y_test = torch.as_tensor(xt[:n_test]).float() / 255.0, torch.as_tensor(yt[:n_test])
    ann = nn.Sequential(nn.Flatten(), nn.Linear(784, 48), nn.ReLU(), nn.Linear(48, 10))
    opt = torch.optim.Adam(ann.parameters(), lr=3e-3)
    for _ in range(epochs):
        for i in range(0, n_train, 100):
            loss = nn.functional.cross_entropy(ann(x[i:i + 100]), y[i:i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        logits = ann(x_test).double().numpy()
    net = sigma_delta_network(ann, x[:500])
    out = net.run(x_test)
    labels = y_test.numpy()
    return {"ann_accuracy": float((logits.argmax(1) == labels).mean()),
            "sigma_delta_accuracy": float((out.argmax(1) == labels).mean()),
            "max_logit_error_relative": float(np.abs(out - logits).max() / np.abs(logits).max()),
            "state_exp": [layer.state_exp for layer in net.layers]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=2000)
    args = ap.parse_args(argv)
    print(json.dumps(run(args.train, args.test)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
