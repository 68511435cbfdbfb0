"""snnkit convert MODEL.pt --calib DATA --out OUT: ANN -> SNN conversion from the command line.

MODEL.pt is a weights-only file written by snnkit.conversion.save_ann (a registered architecture name,
its config and a state_dict; never a pickled module, never code to import: a model of your own needs
--architecture-builder MODULE:FUNCTION). DATA is a .pt file holding a tensor [N, ...] or a dict
{"x": ..., "y": ...} (labels enable the accuracy report), or the name of an offline data set
(mnist1d). Prints one JSON object per line."""
from __future__ import annotations

import argparse
import json
import os
from typing import Any


def _load_data(spec: str, samples: int) -> tuple[Any, Any, Any]:
    """(calibration inputs, evaluation inputs, evaluation labels)."""
    import torch
    if spec == "mnist1d":
        from ..conversion.architectures import mnist1d
        x, _, xt, yt = mnist1d()
        return x[:samples], xt, yt
    if not os.path.exists(spec):
        raise FileNotFoundError(f"--calib {spec!r} is neither an existing .pt file nor a named data set "
                                "(allowed names: ['mnist1d'])")
    from .._torchfile import load_weights_only
    blob = load_weights_only(spec)
    if isinstance(blob, torch.Tensor):
        return blob[:samples].float(), None, None
    if isinstance(blob, dict) and isinstance(blob.get("x"), torch.Tensor):
        x, y = blob["x"].float(), blob.get("y")
        return x[:samples], (x if y is not None else None), y
    raise ValueError(f"--calib {spec!r} must hold a tensor [N, ...] or a dict with 'x' (and 'y'); "
                     f"got {type(blob).__name__}")


def _int_list(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: time steps must be integers >= 1")
    return values


def _v_init(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a fraction of the threshold nor 'auto'") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: the initial membrane is a fraction of the threshold in [0, 1)")
    return value


def _run(args: argparse.Namespace) -> int:
    from ..conversion import accuracy_vs_T, ann_accuracy, convert_detailed, plot_accuracy_vs_T
    from ..conversion.serialization import ANN_FORMAT, load_ann, read_model_file, save_converted

    ann = load_ann(args.model, builder=args.architecture_builder)
    meta = read_model_file(args.model, ANN_FORMAT)
    x_cal, x_eval, y_eval = _load_data(args.calib, args.samples)
    conversion = convert_detailed(
        ann, x_cal, args.T, normalisation=args.normalisation, percentile=args.percentile,
        channel_wise=args.channel_wise, v_init=args.v_init, reset=args.reset,
        threshold_balancing=args.threshold_balancing,
        bias_calibration=args.bias_calibration, encoding=args.encoding)
    save_converted(conversion, args.out, meta["architecture"], meta["config"], tuple(x_cal.shape[1:]))
    print(json.dumps({"converted": args.model, "out": args.out, "sites": conversion.sites,
                      "snn": type(conversion.snn).__name__, "v_init": conversion.options["v_init"]}))
    if y_eval is not None:
        Ts = [t for group in args.eval_T for t in group]
        ann_acc = ann_accuracy(ann, x_eval, y_eval)
        curve = accuracy_vs_T(conversion.snn, x_eval, y_eval, Ts, args.encoding)
        for t, acc in curve.items():
            print(json.dumps({"T": t, "snn_accuracy": acc, "ann_accuracy": ann_acc}))
        if args.plot:
            plot_accuracy_vs_T({"snnkit": curve}, args.plot, ann_acc)
        print(json.dumps({"summary": "convert", "ann_accuracy": ann_acc,
                          "snn_accuracy": {str(k): v for k, v in curve.items()}}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("convert", help="convert a trained ANN into an SNN",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL.pt", help="ANN file written by snnkit.conversion.save_ann")
    p.add_argument("--architecture-builder", metavar="MODULE:FUNCTION", default=None,
                   help="import this function to build the ANN (a model of your own); without it only "
                        "registered architecture names in MODEL.pt are accepted, a file never names code")
    p.add_argument("--calib", required=True, metavar="DATA", help=".pt tensor/dict file or 'mnist1d'")
    p.add_argument("--out", required=True, metavar="OUT", help="where to write the converted SNN (.pt)")
    p.add_argument("--T", type=int, default=32, help="time steps for the calibrations (default 32)")
    p.add_argument("--normalisation", choices=["max", "percentile"], default="percentile",
                   help="threshold from the maximum or a percentile of the activations (default percentile)")
    p.add_argument("--percentile", type=float, default=99.9,
                   help="percentile used by --normalisation percentile (default 99.9)")
    p.add_argument("--channel-wise", action="store_true", help="one threshold per channel")
    p.add_argument("--v-init", type=_v_init, default=0.5,
                   help="initial membrane / threshold, or 'auto': of 0, 0.25 and 0.5 the one agreeing best "
                        "with the ANN on the calibration data (default 0.5)")
    p.add_argument("--reset", choices=["subtract", "zero"], default="subtract",
                   help="after a spike subtract the threshold (default) or reset to 0; "
                        "--reset zero --v-init 0 is the Loihi-ready setting")
    p.add_argument("--threshold-balancing", action="store_true",
                   help="balance thresholds layer by layer on the calibration data")
    p.add_argument("--bias-calibration", action="store_true",
                   help="correct each layer's bias for the conversion error on the calibration data")
    p.add_argument("--encoding", choices=["direct", "rate"], default="direct",
                   help="input encoding: the analog value every step (direct) or Poisson spikes (rate)")
    p.add_argument("--samples", type=int, default=1000, help="calibration samples used (default 1000)")
    p.add_argument("--eval-T", nargs="+", type=_int_list, default=[[8, 16, 32, 64, 128]], metavar="T",
                   help="T values for the accuracy report, e.g. --eval-T 8 16 32 (or 8,16,32)")
    p.add_argument("--plot", metavar="PNG", help="write the accuracy-vs-T plot here")
    p.set_defaults(func=_run)
