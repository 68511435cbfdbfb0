"""Hybrid starts on real digits: an SNN initialised from a trained ANN (weights, thresholds and a
half-threshold initial membrane by conversion; snnkit.conversion.hybrid.hybrid_start) and fine-tuned
with surrogate gradients at T steps, against a cold start: the same converted structure built from an
untrained ANN (same calibration), trained the same way. Reports optimiser steps until the test accuracy
first reaches each target, evaluated every few steps.

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/methods/hybrid_start.py --train 4000 --test 500 --steps 4
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from _common import accuracy, digits, load_average, train_classifier
from snnkit import conversion as C
from snnkit.conversion.hybrid import hybrid_start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--steps", type=int, default=4, help="time steps T of the SNN")
    ap.add_argument("--max-steps", type=int, default=250, help="optimiser steps of each fine-tune")
    ap.add_argument("--every", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = digits(a.train, a.test)
    T, targets = a.steps, (0.80, 0.90, 0.95)
    print(f"MNIST {a.train} train / {a.test} test, MLP 784-256-256-10, T={T}, Adam lr 1e-3 batch 64, "
          f"evaluated every {a.every} steps; {load_average()}")
    build = lambda: nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),  # noqa: E731
                                  nn.Linear(256, 10))
    torch.manual_seed(0)
    ann = build()
    ann_secs = train_classifier(ann, lambda m, xb: m(xb), xtr, ytr, epochs=2)
    print(f"ANN: {100 * accuracy(ann, lambda m, xb: m(xb), xte, yte):.2f} % after 2 epochs "
          f"({2 * (a.train // 64)} steps, {ann_secs:.0f} s)")
    fwd = lambda m, xb: C.snn_logits(m, xb, T)  # noqa: E731
    torch.manual_seed(1)
    starts = {"hybrid (from ANN)": hybrid_start(ann, xtr[:1000], T), "cold (untrained ANN)": hybrid_start(build(), xtr[:1000], T)}
    for name, snn in starts.items():
        curve = {0: accuracy(snn, fwd, xte, yte)}

        def on_step(step, snn=snn, curve=curve):
            if step % a.every == 0:
                curve[step] = accuracy(snn, fwd, xte, yte)
                snn.train()
            return step >= a.max_steps

        train_classifier(snn.train(), fwd, xtr, ytr, epochs=100, on_step=on_step)
        reached = {t: next((s for s, acc in sorted(curve.items()) if acc >= t), None) for t in targets}
        print(f"{name:22s} start {100 * curve[0]:5.1f} %, after {max(curve)} steps {100 * curve[max(curve)]:5.1f} %; "
              "steps to " + ", ".join(f"{100 * t:.0f} %: {'>' + str(a.max_steps) if s is None else s}"
                                      for t, s in reached.items()), flush=True)


if __name__ == "__main__":
    main()
