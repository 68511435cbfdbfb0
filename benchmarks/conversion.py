"""ANN-to-SNN conversion: accuracy against T for snnkit and spikingjelly's ``ann2snn`` on the same
trained ANNs and data (MNIST-1D generated offline; an MLP and a 1-D CNN, plus QCFS-trained copies).

Prints one JSON object per (implementation, model, T): ``{"bench": "conversion", "impl", "model",
"T", "accuracy", "ann_accuracy"}`` and a final summary line with every curve. Run:
``python -m benchmarks.conversion [--epochs 20] [--quick]`` or ``snnkit bench conversion --json``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
from typing import Callable

import torch
from torch import Tensor, nn

TS = (8, 16, 32, 64, 128)


def spikingjelly_curve(ann: nn.Module, x_cal: Tensor, x: Tensor, y: Tensor, Ts=TS, mode: str = "Max",
                       batch_size: int = 500) -> dict[int, float] | None:
    """spikingjelly's rate-coding converter (IF neurons, soft reset, voltage scaling by the calibrated
    activation ``mode``) on the same ANN; calibration in a single batch so 'Max' is the exact max.
    ``None`` when spikingjelly is not installed."""
    try:
        from spikingjelly.activation_based import ann2snn, functional
    except ImportError:
        return None
    if isinstance(ann, nn.Sequential) and isinstance(ann[0], nn.Unflatten):  # its step-mode adapter has none
        reshape, ann = ann[0], nn.Sequential(*list(ann)[1:])
        x_cal, x = reshape(x_cal), reshape(x)
    recipe = ann2snn.RateCodingRecipe(dataloader=[(x_cal, None)], mode=mode)
    snn = ann2snn.Converter(recipe=recipe, device="cpu").convert(copy.deepcopy(ann).eval())
    Ts = sorted(Ts)
    correct = {t: 0 for t in Ts}
    with torch.no_grad():
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            functional.reset_net(snn)
            total = 0
            for t in range(1, Ts[-1] + 1):
                total = total + snn(xb)
                if t in correct:
                    correct[t] += int((total.argmax(-1) == yb).sum())
    return {t: correct[t] / len(y) for t in Ts}


def trained_models(epochs: int, quick: bool, names: list[str]) -> tuple[dict[str, nn.Module], tuple[Tensor, ...]]:
    """ReLU and QCFS versions of an MLP and a CNN trained on MNIST-1D (fixed seeds)."""
    from snnkit.conversion.architectures import cnn1d, mlp, mnist1d, train_classifier

    data = mnist1d()
    xtr, ytr = data[0], data[1]
    hidden, channels = ((128, 64), (8, 16)) if quick else ((256, 128), (16, 32))
    builders: dict[str, Callable[[], nn.Module]] = {
        "mlp": lambda: mlp(hidden=hidden), "cnn": lambda: cnn1d(channels=channels),
        "mlp-qcfs": lambda: mlp(hidden=hidden, activation="qcfs", levels=8),
        "cnn-qcfs": lambda: cnn1d(channels=channels, activation="qcfs", levels=8)}
    models = {}
    for name, build in builders.items():
        if name not in names:
            continue
        torch.manual_seed(0)
        models[name] = train_classifier(build(), xtr, ytr, epochs=epochs, seed=0)
    return models, data


def main(argv: list[str] | None = None) -> int:
    from snnkit import conversion as C

    parser = argparse.ArgumentParser(prog="snnkit bench conversion", description=__doc__.split("\n\n")[0].replace("``", ""))
    parser.add_argument("--epochs", type=int, default=20, help="ANN training epochs before conversion (default 20)")
    parser.add_argument("--quick", action="store_true", help="smaller models and test set")
    parser.add_argument("--calib", type=int, default=1000, help="calibration samples (train set)")
    parser.add_argument("--models", default="mlp,cnn,mlp-qcfs,cnn-qcfs", help="comma-separated subset")
    parser.add_argument("--json", action="store_true", help="JSON lines (the only output format)")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    load_start = os.getloadavg()[0]
    models, (xtr, _, xte, yte) = trained_models(args.epochs, args.quick, args.models.split(","))
    if args.quick:
        xte, yte = xte[:500], yte[:500]
    x_cal = xtr[: args.calib]
    curves: dict[str, dict[str, dict[int, float]]] = {}

    def emit(impl: str, model: str, curve: dict[int, float] | None, ann_acc: float) -> None:
        if curve is None:
            return
        curves.setdefault(model, {}).setdefault(impl, {}).update(curve)
        for t, acc in curve.items():
            print(json.dumps({"bench": "conversion", "impl": impl, "model": model, "T": t,
                              "accuracy": round(acc, 4), "ann_accuracy": round(ann_acc, 4)}), flush=True)

    ann_accs: dict[str, float] = {}
    chosen: dict[str, float] = {}  # v_init="auto"'s choice per model and T
    for name, ann in models.items():
        ann_acc = ann_accs[name] = C.ann_accuracy(ann, xte, yte)
        if name.endswith("qcfs"):
            snn = C.convert(ann, x_cal, v_init=0.5)
            emit("snnkit-qcfs", name, C.accuracy_vs_T(snn, xte, yte, TS), ann_acc)
            continue
        plain = C.convert(ann, x_cal, normalisation="max", v_init=0.0)
        emit("snnkit-max", name, C.accuracy_vs_T(plain, xte, yte, TS), ann_acc)
        best = C.convert(ann, x_cal, normalisation="percentile", percentile=99.9, v_init=0.5)
        emit("snnkit-p99.9-halfv", name, C.accuracy_vs_T(best, xte, yte, TS), ann_acc)
        for t in TS:  # v_init="auto" chooses with the T it is given: one conversion per T
            auto = C.convert_detailed(ann, x_cal, T=t, normalisation="percentile", percentile=99.9, v_init="auto")
            chosen[f"{name}@T{t}"] = auto.options["v_init"]
            emit("snnkit-p99.9-autov", name, C.accuracy_vs_T(auto.snn, xte, yte, (t,)), ann_acc)
        calibrated = C.convert(ann, x_cal, T=16, normalisation="percentile", percentile=99.9, v_init=0.5,
                               bias_calibration=True)
        emit("snnkit-p99.9-halfv-biascal", name, C.accuracy_vs_T(calibrated, xte, yte, TS), ann_acc)
        emit("spikingjelly-max", name, spikingjelly_curve(ann, x_cal, xte, yte, TS, "Max"), ann_acc)
        emit("spikingjelly-p99.9", name, spikingjelly_curve(ann, x_cal, xte, yte, TS, "99.9%"), ann_acc)
    # accuracies do not depend on the load; it is recorded like every bench's (no timing here to interleave)
    print(json.dumps({"bench": "conversion", "summary": True, "ann_accuracy": ann_accs, "auto_v_init": chosen,
                      "load_avg_start": round(load_start, 2), "load_avg_end": round(os.getloadavg()[0], 2),
                      "curves": {m: {i: {str(t): round(a, 4) for t, a in c.items()} for i, c in d.items()}
                                 for m, d in curves.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
