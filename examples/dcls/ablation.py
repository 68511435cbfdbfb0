"""Learned vs random vs no delays in the DCLS network as published (snnkit.models delay_net: delays on
every layer including the output, hard reset, one-cycle/cosine schedule, the DCLS recipe attached to
the Trainer, evaluation with integer delays), on the synthetic timing task and on MNIST-1D presented as
a sequence (one sample per step). Same widths in every variant, so the learned network has the extra
delay parameters (counts printed).

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/dcls/ablation.py --epochs 15 --hidden 32
"""
from __future__ import annotations

import argparse
import os

import torch

from snnkit import models
from snnkit.synapses import DCLSRecipe, freeze_delays
from snnkit.training import Trainer

from delay_task import make_timing_task  # examples/dcls/delay_task.py, beside this script


def mnist1d_sequences(n_train: int, n_test: int):
    from snnkit.data import load
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        ds = load("mnist1d", split, encoding="sequence")
        n = min(n, len(ds))
        out += [torch.stack([ds[i][0] for i in range(n)], 1), torch.tensor([int(ds[i][1]) for i in range(n)])]
    return out


def run(task: str, data, classes: int, args) -> None:
    xtr, ytr, xte, yte = data
    for mode in ("learned", "random", "none"):
        torch.manual_seed(args.seed)
        model = models.create("delay_net", True, in_features=xtr.shape[-1], num_classes=classes, hidden=args.hidden, layers=2,
                              max_delay=args.max_delay, dropout=0.1, tau_mem=2.0, tau_out=2.0, delay_mode=mode)
        cfg = {"epochs": args.epochs, "batch_size": 64, "lr": 1e-3, "schedule": "dcls_onecycle",
               "loss": "ce_softmax_sum", "progress": False, "seed": args.seed}
        trainer = Trainer(model, cfg)
        if mode == "learned":
            recipe = DCLSRecipe(model, args.epochs)
            recipe.attach(trainer)
            trainer.callbacks.append(recipe)
        trainer.fit((xtr, ytr))
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        soft = trainer.evaluate((xte, yte))["accuracy"] if mode == "learned" else None
        freeze_delays(model)
        acc = trainer.evaluate((xte, yte))["accuracy"]
        extra = "" if soft is None else f", as trained (interpolated, sigma 0.5) {100 * soft:5.1f} %"
        print(f"{task:8s} {mode:8s} seed {args.seed} test accuracy, integer delays {100 * acc:5.1f} %{extra}  "
              f"({n} trainable parameters)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--max-delay", type=int, default=17)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mnist1d-train", type=int, default=2000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"delay_net as published, 2 x {args.hidden} LIF, D={args.max_delay}, {args.epochs} epochs, seed {args.seed}; "
          "load average %.2f %.2f %.2f" % os.getloadavg())
    xtr, ytr = make_timing_task(512, seed=args.seed)
    xte, yte = make_timing_task(1024, seed=args.seed + 100)
    run("timing", (xtr, ytr, xte, yte), 8, args)
    run("MNIST-1D", mnist1d_sequences(args.mnist1d_train, 1000), 10, args)


if __name__ == "__main__":
    main()
