"""Train a small CNN on MNIST-1D (generated offline), convert it to an SNN, and look at the result:
accuracy against T (PNG), per-layer rate/activation correlation, synaptic operations, and the
QCFS-trained variant at low T. Also writes the safe model file the CLI reads:

    python examples/conversion/convert_mnist1d.py --out runs/conversion
    snnkit convert runs/conversion/cnn.pt --calib mnist1d --out runs/conversion/cnn_snn.pt --plot runs/conversion/cli.png
"""
from __future__ import annotations

import argparse
import json
import os

import torch

from snnkit import conversion as C
from snnkit.conversion.architectures import cnn1d, mnist1d, train_classifier
from snnkit.conversion.serialization import save_ann


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/conversion")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    xtr, ytr, xte, yte = mnist1d()
    Ts = (4, 8, 16, 32, 64, 128)
    config = {"channels": [16, 32]}
    ann = train_classifier(cnn1d(**config), xtr, ytr, epochs=args.epochs, progress=True)
    save_ann(ann, os.path.join(args.out, "cnn.pt"), "cnn1d", config)
    qcfs = train_classifier(cnn1d(**config, activation="qcfs", levels=8), xtr, ytr, epochs=args.epochs, progress=True)
    ann_acc = C.ann_accuracy(ann, xte, yte)

    curves = {
        "max, v0=0": C.accuracy_vs_T(C.convert(ann, xtr[:1000], normalisation="max", v_init=0.0), xte, yte, Ts),
        "p99.9, v0=th/2": C.accuracy_vs_T(C.convert(ann, xtr[:1000]), xte, yte, Ts),
        "QCFS (L=8)": C.accuracy_vs_T(C.convert(qcfs, xtr[:1000]), xte, yte, Ts),
    }
    png = C.plot_accuracy_vs_T(curves, os.path.join(args.out, "accuracy_vs_T.png"), ann_acc)
    conv = C.convert_detailed(ann, xtr[:1000])
    report = {
        "ann_accuracy": ann_acc, "qcfs_ann_accuracy": C.ann_accuracy(qcfs, xte, yte),
        "curves": {k: {str(t): a for t, a in v.items()} for k, v in curves.items()},
        "layer_correlation_T128": C.layer_correlations(conv.ann, conv.snn, xte[:300], 128),
        "synaptic_operations_T32": C.synaptic_operations(conv.snn, xte[:200], 32)["total"],
        "plot": png,
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
