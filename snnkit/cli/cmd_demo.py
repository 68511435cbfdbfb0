"""``snnkit demo [--out DIR] [--epochs N]``: the main job. Train a small SNN and its ANN twin on data
generated offline, print both accuracies, write a raster plot, learning curves and a checkpoint, then
deploy the SNN to NIR, the Loihi 2 fixed-point simulator and a simulated PCM crossbar."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="train a small SNN beside its ANN twin and deploy it (no download)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, default=6, help="training epochs for each model (default 6)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-deploy", action="store_true", help="skip the NIR / Loihi / crossbar steps")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import data
    from ..training import predict
    from .demo import run_demo
    from .deploy import run_steps

    res = run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    if not args.no_deploy:
        test = res["test_data"]
        x, y = data.collate_time_major([test[i] for i in range(len(test))])
        model = res["model"].eval()
        loss = res["trainer"].config.loss
        print("\ndeploying the trained SNN:")
        res["deploy"] = run_steps(model, x, y, Path(args.out) / "deploy", lambda out: predict(out, loss),
                                  membrane_decode="mean" if loss == "ce_mean_membrane" else "max")
    return 0
