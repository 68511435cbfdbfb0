"""``snnkit demo [--out DIR] [--epochs N]``: train a small SNN and its ANN twin on data generated
offline, print both accuracies, write a raster plot, learning curves and a checkpoint."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="train a small SNN beside its ANN twin (no download, a few minutes)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--epochs", type=int, default=6, help="training epochs for each model (default 6)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .demo import run_demo
    run_demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)
    return 0
