"""Train a tiny SNN on Randman (offline), deploy it to Loihi 2 fixed point, report the accuracy drop
with and without quantisation-aware training, and write the NIR and lava-dl netx files.

    python examples/deploy/loihi_deploy.py [--epochs 20] [--qat-epochs 5] [--out runs/deploy] [--lava]

Prints one JSON line: float accuracy, deployed accuracy and drop without and with QAT, per-layer
quantisation errors; with ``--lava`` also checks that the real Lava runtime (netx file) gives the
simulator's output spikes on a few test samples.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import snnkit.neurons as N
from snnkit.data import RandmanDataset
from snnkit.hardware.loihi import deploy, disable_qat, enable_qat
from snnkit.ir import export_nir


def make_data(classes: int = 5, channels: int = 40, steps: int = 40, seed: int = 0):
    opts = dict(classes=classes, channels=channels, steps=steps, samples_per_class=120,
                eval_samples_per_class=60, seed=seed)
    train = RandmanDataset("train", **opts).dense()
    test = RandmanDataset("test", **opts).dense()
    return (train[0].clamp(max=1), train[1]), (test[0].clamp(max=1), test[1])  # Loihi inputs are binary spikes


def make_model(channels: int, classes: int, hidden: int = 64) -> N.Sequential:
    return N.Sequential(nn.Linear(channels, hidden), N.LIF(tau_mem=10.0), nn.Linear(hidden, classes), N.LIF(tau_mem=10.0))


def train(model: nn.Module, data, epochs: int, lr: float = 5e-3, seed: int = 0, desc: str = "train") -> nn.Module:
    torch.manual_seed(seed)
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[1]
    for _ in tqdm(range(epochs), desc=desc, leave=False):
        perm = torch.randperm(n)
        for start in range(0, n, 64):
            idx = perm[start:start + 64]
            counts = model(x[:, idx]).sum(0)
            loss = nn.functional.cross_entropy(counts, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def run(epochs: int = 20, qat_epochs: int = 5, seed: int = 0, out_dir: str | None = None) -> dict:
    torch.manual_seed(seed)
    train_data, (test_x, test_y) = make_data(seed=seed)
    model = train(make_model(test_x.shape[2], int(test_y.max()) + 1), train_data, epochs, seed=seed)
    plain = deploy(model, test_x, test_y)
    qat_model = enable_qat(copy.deepcopy(model))
    train(qat_model, train_data, qat_epochs, lr=5e-4, seed=seed + 1, desc="qat")
    disable_qat(qat_model)
    netx_path = nir_path = None
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        netx_path, nir_path = os.path.join(out_dir, "network.net"), os.path.join(out_dir, "network.nir")
        export_nir(qat_model, nir_path, dt=1e-3)
    with_qat = deploy(qat_model, test_x, test_y, netx_path=netx_path)
    return {"float_accuracy": plain["float_accuracy"], "deployed_accuracy": plain["accuracy"],
            "drop_without_qat": plain["accuracy_drop"],
            "qat_float_accuracy": with_qat["float_accuracy"], "qat_deployed_accuracy": with_qat["accuracy"],
            "drop_with_qat_vs_float": plain["float_accuracy"] - with_qat["accuracy"],
            "report": with_qat["report"], "netx": netx_path, "nir": nir_path,
            "_network": with_qat["network"], "_test": (test_x, test_y)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--qat-epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/deploy")
    ap.add_argument("--lava", action="store_true", help="also run the netx file in the real Lava runtime")
    args = ap.parse_args(argv)
    res = run(args.epochs, args.qat_epochs, args.seed, args.out)
    net, (test_x, _) = res.pop("_network"), res.pop("_test")
    if args.lava:
        from snnkit.hardware.loihi import read_netx, run_netx, simulate
        xs = [test_x[:, i].numpy().astype(bool) for i in range(3)]
        real = run_netx(res["netx"], xs, n_layers=net.latency)
        same = all(np.array_equal(simulate(read_netx(res["netx"]), x)["spikes"][-1], r["spikes"][-1])
                   for x, r in zip(xs, real))
        res["lava_netx_identical_on_3_samples"] = bool(same)
    print(json.dumps(res, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
