"""Train a small convolutional SNN on real MNIST digits (rate-coded spikes), deploy it to Loihi 2 fixed
point (Lava ``Conv`` + ``Dense`` + ``LIF``, pooling folded into the next synapse) and report the
float-vs-fixed-point accuracy drop; write the lava-dl netx file and, with ``--lava N``, check that the
real lava-dl netx loader + Lava runtime give the simulator's output on N test digits.

    python examples/deploy/loihi_conv_mnist.py [--train 4000] [--test 1000] [--epochs 2] [--lava 2]

Prints one JSON line with the figures (docs/loihi.md quotes them with the command that made them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import snnkit.neurons as N
from snnkit.data import load
from snnkit.hardware.loihi import deploy
from snnkit.synapses import TimeDistributed as TD

STEPS = 8


def digits(split: str, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rate-coded digits as time-major spikes ``[T, B, 1, 28, 28]`` and labels ``[B]``."""
    ds = load("mnist", split, encoding="rate", steps=STEPS, flatten=False, limit=limit)
    xs, ys = zip(*(ds[i] for i in range(len(ds))))
    return torch.stack(xs, 1), torch.as_tensor(ys)


def make_model() -> N.Sequential:
    """Conv 1->8 -> LIF -> AvgPool 2 -> Conv 8->16 -> LIF -> AvgPool 2 -> Linear 784->10 -> LI readout."""
    return N.Sequential(TD(nn.Conv2d(1, 8, 3, padding=1)), N.LIF(tau_mem=4.0),
                        TD(nn.AvgPool2d(2)), TD(nn.Conv2d(8, 16, 3, padding=1)), N.LIF(tau_mem=4.0),
                        TD(nn.AvgPool2d(2)), TD(nn.Flatten()), nn.Linear(16 * 7 * 7, 10), N.LI(tau_mem=8.0))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, lr: float = 2e-3) -> None:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[1]
    for _ in range(epochs):
        perm = torch.randperm(n)
        for start in tqdm(range(0, n, 64), desc="train", leave=False, disable=not sys.stderr.isatty()):
            idx = perm[start:start + 64]
            logits = model(x[:, idx]).mean(0)       # mean LI membrane, as deploy() decodes it
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def run(n_train: int = 4000, n_test: int = 1000, epochs: int = 2, seed: int = 0, out_dir: str = "runs/loihi_conv",
        lava: int = 0) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    start = time.time()
    train_x, train_y = digits("train", n_train)
    test_x, test_y = digits("test", n_test)
    model = make_model()
    train(model, train_x, train_y, epochs, seed)
    os.makedirs(out_dir, exist_ok=True)
    netx_path = os.path.join(out_dir, "network.net")
    res = deploy(model, test_x, test_y, input_shape=(1, 28, 28), netx_path=netx_path, batch_size=200)
    out = {"train_digits": n_train, "test_digits": n_test, "epochs": epochs, "steps": STEPS,
           "float_accuracy": res["float_accuracy"], "loihi_accuracy": res["accuracy"],
           "accuracy_drop": res["accuracy_drop"], "netx": res["netx"],
           "layers": [{k: r[k] for k in ("kind", "neurons", "weight_exp", "weight_rel_error", "threshold_rel_error")}
                      for r in res["report"]],
           "seconds": round(time.time() - start, 1), "load_average": os.getloadavg()[0]}
    if lava:
        from snnkit.hardware.loihi import read_netx, run_netx_files, simulate

        layers = read_netx(netx_path)
        lat = len(layers)
        xs = [np.concatenate([test_x[:, i].reshape(STEPS, -1).numpy(), np.zeros((lat, 784))]).astype(bool)
              for i in range(lava)]
        real = run_netx_files([(netx_path, xb, lat) for xb in xs], timeout=600)
        out[f"lava_netx_bit_exact_on_{lava}_digits"] = all(
            all(np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64))
                for key in ("spikes", "u", "v") for a, b in zip(simulate(layers, xb)[key], r[key]))
            for xb, r in zip(xs, real))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/loihi_conv")
    ap.add_argument("--lava", type=int, default=0, help="check N test digits in the real Lava runtime (netx)")
    args = ap.parse_args(argv)
    print(json.dumps(run(args.train, args.test, args.epochs, args.seed, args.out, args.lava), default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
