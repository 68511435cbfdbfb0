"""Conversion beyond classification: forecasting MNIST-1D-style signals. An MLP reads the first 30
samples of each standardised MNIST-1D signal and predicts the last 10 (regression, MSE); trained as a
ReLU ANN and as a QCFS ANN (L levels), converted to IF neurons (the output layer stays analog: its
time-averaged value is the prediction), and compared by mean squared error against the targets and
against the ANN's own predictions at each T.

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/conversion/regression_mnist1d.py --epochs 30
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "methods"))
from _common import load_average, mnist1d  # noqa: E402

from snnkit import conversion as C  # noqa: E402

TS = (1, 2, 4, 8, 16, 32, 64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--levels", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(1)
    xtr, _, xte, _ = mnist1d()
    (itr, ttr), (ite, tte) = (xtr[:, :30], xtr[:, 30:]), (xte[:, :30], xte[:, 30:])
    print(f"MNIST-1D forecasting: 30 samples -> next 10, {len(xtr)} train / {len(xte)} test signals, MLP "
          f"30-128-128-10, {a.epochs} epochs Adam; {load_average()}")
    print(f"predict-zero baseline MSE {float(tte.pow(2).mean()):.4f}")
    print(f"{'model':24s} ANN MSE  " + " ".join(f"T={t:<6d}" for t in TS))
    for kind in ("relu", "qcfs"):
        torch.manual_seed(0)
        act = nn.ReLU if kind == "relu" else (lambda: C.QCFS(a.levels, 2.0))
        ann = nn.Sequential(nn.Linear(30, 128), act(), nn.Linear(128, 128), act(), nn.Linear(128, 10))
        opt = torch.optim.Adam(ann.parameters(), lr=2e-3)
        for _ in range(a.epochs):
            for idx in torch.randperm(len(itr)).split(64):
                loss = nn.functional.mse_loss(ann(itr[idx]), ttr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        ann.eval()
        with torch.no_grad():
            want = ann(ite)
            ann_mse = float((want - tte).pow(2).mean())
            snn = C.convert(ann, itr[:1000])
            out = snn(C.encode(ite, max(TS))).cumsum(0)
            mse = {t: float((out[t - 1] / t - tte).pow(2).mean()) for t in TS}
            dev = {t: float((out[t - 1] / t - want).pow(2).mean()) for t in TS}
        print(f"{kind + ' SNN vs target':24s} {ann_mse:.4f}   " + " ".join(f"{mse[t]:.4f}  " for t in TS))
        print(f"{kind + ' SNN vs its ANN':24s}          " + " ".join(f"{dev[t]:.4f}  " for t in TS), flush=True)


if __name__ == "__main__":
    main()
