"""Do synaptic delays matter? Learned vs fixed random vs no delays on a task decided by spike timing.

    python examples/dcls/delays_matter.py [--epochs 30] [--hidden 8] [--seeds 0 1 2] [--finetune-epochs N]

Task (delay_task.make_timing_task, beside this script): 6 channels fire once each, at offsets 0, 3, ..., 15
permuted per class, from a random start, plus background spikes: equal counts in every class and no
coincident pattern spikes, so only timing separates the classes. The three networks
(DelayedLinear -> LIF -> Linear on spike counts) have the same number of trainable parameters; all
are tested with integer delays ("learned"), and the learned network also as trained, with its
Gaussian kernel of sigma 0.5 ("learned_interpolated"). Prints one line per variant and seed, then
the means.
"""
from __future__ import annotations

import argparse
import json
import statistics

import torch

from delay_task import compare_delay_modes  # examples/dcls/delay_task.py


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=8, help="hidden neurons of the learned-delay net")
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--finetune-epochs", type=int, default=None, help="weight epochs after rounding delays (default epochs // 2)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--json", action="store_true", help="print one JSON line per seed")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    accs: dict[str, list[float]] = {"learned_interpolated": [], "learned": [], "random": [], "none": []}
    for seed in args.seeds:
        res = compare_delay_modes(epochs=args.epochs, hidden=args.hidden, classes=args.classes, seed=seed,
                                  finetune_epochs=args.finetune_epochs, progress=not args.json)
        if args.json:
            print(json.dumps({"seed": seed, **res}))
        for k in accs:
            accs[k].append(res[k])
    print("mean test accuracy (chance {:.3f}): ".format(1 / args.classes)
          + ", ".join(f"{k} {statistics.mean(v):.3f}" for k, v in accs.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
