"""Conversion in a handful of steps on real digits: a VGG-style CNN with max pooling and a small ResNet
(residual additions, average pooling), each trained as a ReLU ANN and as a QCFS ANN (quantised clip-
floor-shift, L levels), converted by snnkit and, for the ReLU ANNs, by spikingjelly's converter;
accuracy against T (direct encoding) next to the ANN's.

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/conversion/four_steps_digits.py --epochs 3 --levels 4 --test 1000
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "methods"))
from _common import digits, load_average, train_classifier  # noqa: E402

from snnkit import conversion as C  # noqa: E402

TS = (1, 2, 4, 8, 16, 32)


def vgg(act) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), act(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), act(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 128), act(), nn.Linear(128, 10))


class Block(nn.Module):
    def __init__(self, channels: int, act) -> None:
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(channels, channels, 3, padding=1), act()
        self.conv2, self.act2 = nn.Conv2d(channels, channels, 3, padding=1), act()

    def forward(self, x):
        return self.act2(self.conv2(self.act1(self.conv1(x))) + x)


class ResNet(nn.Module):
    def __init__(self, act) -> None:
        super().__init__()
        self.stem, self.act0, self.pool0 = nn.Conv2d(1, 16, 3, padding=1), act(), nn.AvgPool2d(2)
        self.block1, self.pool1, self.block2 = Block(16, act), nn.AvgPool2d(2), Block(16, act)
        self.flat, self.fc = nn.Flatten(), nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = self.pool0(self.act0(self.stem(x)))
        return self.fc(self.flat(self.block2(self.pool1(self.block1(x)))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=8000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--levels", type=int, default=4)
    ap.add_argument("--models", default="vgg,resnet")
    a = ap.parse_args()
    torch.set_num_threads(1)
    from benchmarks.conversion import spikingjelly_curve

    xtr, ytr, xte, yte = digits(a.train, a.test, flatten=False)
    calib = xtr[:1000]
    print(f"MNIST {a.train} train / {a.test} test, {a.epochs} epochs Adam, QCFS L={a.levels}, direct encoding; "
          f"{load_average()}")
    print(f"{'model':40s} ANN   " + " ".join(f"T={t:<4d}" for t in TS))
    fwd = lambda m, xb: m(xb)  # noqa: E731
    builders = {"vgg": vgg, "resnet": ResNet}
    for name in a.models.split(","):
        for kind in ("relu", "qcfs"):
            torch.manual_seed(0)
            act = nn.ReLU if kind == "relu" else (lambda: C.QCFS(a.levels, 2.0))
            ann = builders[name](act)
            secs = train_classifier(ann, fwd, xtr, ytr, a.epochs, lr=1e-3)
            ann.eval()
            ann_acc = C.ann_accuracy(ann, xte, yte)

            def show(label, curve):
                gap = 100 * (ann_acc - curve[4])
                print(f"{label:40s} {100 * ann_acc:5.2f} " + " ".join(f"{100 * curve[t]:6.2f}" for t in TS)
                      + f"  (gap at T=4: {gap:+.2f})", flush=True)

            t0 = time.time()
            if kind == "relu":
                show(f"{name}-relu snnkit p99.9 v0=th/2", C.accuracy_vs_T(C.convert(ann, calib), xte, yte, TS))
                for mode in ("Max", "99.9%"):
                    sj = spikingjelly_curve(copy.deepcopy(ann), calib, xte, yte, TS, mode)
                    if sj is None:
                        print("spikingjelly not installed")
                        break
                    show(f"{name}-relu spikingjelly {mode}", sj)
            else:
                show(f"{name}-qcfs snnkit", C.accuracy_vs_T(C.convert(ann, calib), xte, yte, TS))
            print(f"   ({name}-{kind}: trained {secs:.0f} s, converted and simulated {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
