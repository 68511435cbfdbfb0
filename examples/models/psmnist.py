"""Permuted sequential MNIST (the LMU's classic task) on real digits, small enough for a CPU: each
28x28 digit is average-pooled to 14x14 and read one pixel per time step (196 steps) in a fixed random
order. Trains the spiking LMU, LMUFormer and their ANN twins on the same data, and records LMUFormer's
accuracy against the fraction of the sequence seen (streaming with ``step()``).

    python examples/models/psmnist.py                 # ~10 minutes on one busy core (default: 3 epochs)
    python examples/models/psmnist.py --epochs 10 --train 8000

Writes ``psmnist.json`` next to this file. Data: ``snnkit.data.load_mnist_arrays`` (8000 train / 2000
test digits prepared offline); ``--train`` / ``--test`` take a fixed random N of each split (the files are sorted by class).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from snnkit import analysis, atomic_path, data, models

HERE = Path(__file__).resolve().parent
CONFIGS = {"lmu": {"hidden": 64, "memory_channels": 2, "order": 32},
           "lmuformer": {"dim": 48, "memory_channels": 2, "order": 32}}


def psmnist(split: str, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``x [196, N, 1]`` in [0, 1] (14x14 pixels, permuted), labels ``[N]``."""
    images, labels = data.load_mnist_arrays(split)
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:count]  # files are sorted by class
    images, labels = images[pick], labels[pick]
    small = F.avg_pool2d(images.float().unsqueeze(1) / 255.0, 2).flatten(1)       # [N, 196]
    perm = torch.randperm(196, generator=torch.Generator().manual_seed(seed))      # the same for both splits
    return small[:, perm].T.unsqueeze(-1).contiguous(), labels


def train(model, x, y, epochs: int, lr: float, batch: int, seed: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((x.shape[1] + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    gen, start = torch.Generator().manual_seed(seed), time.perf_counter()
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(x.shape[1], generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x[:, idx]).max(0).values, y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        print(f"    epoch {ep + 1}/{epochs}: loss {loss.item():.3f}", flush=True)
    return time.perf_counter() - start


@torch.no_grad()
def accuracy(model, x, y) -> float:
    model.eval()
    pred = torch.cat([model(x[:, i:i + 500]).max(0).values.argmax(-1) for i in range(0, x.shape[1], 500)])
    return (pred == y).float().mean().item()


@torch.no_grad()
def prefix_curve(model, x, y, fractions) -> dict[str, float]:
    """Accuracy when only the first ``fraction`` of the sequence has been streamed through ``step``
    (spiking: max of the readout membrane so far, as in training; ANN: logits of the prefix mean)."""
    model.eval()
    marks = {max(1, round(f * x.shape[0])): f for f in fractions}
    state, best, out = None, None, {}
    for t, x_t in enumerate(x.unbind(0), start=1):
        o, state = model.step(x_t, state)
        best = o if (best is None or not model.spiking) else torch.maximum(best, o)
        if t in marks:
            out[f"{marks[t]:.2f}"] = (best.argmax(-1) == y).float().mean().item()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    xtr, ytr = psmnist("train", args.train)
    xte, yte = psmnist("test", args.test)
    print(f"psMNIST (14x14, 196 steps): {xtr.shape[1]} train / {xte.shape[1]} test digits")
    rows = []
    for name, cfg in CONFIGS.items():
        for spiking in (True, False):
            torch.manual_seed(args.seed)
            model = models.create(name, spiking=spiking, in_features=1, num_classes=10, steps=196, **cfg)
            label = f"{name} {'spiking' if spiking else 'ANN twin'}"
            print(f"  {label}: {sum(q.numel() for q in model.parameters())} parameters", flush=True)
            seconds = train(model, xtr, ytr, args.epochs, args.lr, args.batch, args.seed)
            cost = analysis.count_costs(model.eval(), xte[:, :128], event_driven=spiking)
            row = {"model": name, "form": "spiking" if spiking else "ann", "accuracy": accuracy(model, xte, yte),
                   "params": cost.params, "macs": cost.macs, "acs": cost.acs, "energy_uj": cost.energy_uj,
                   "train_seconds": seconds, "config": cfg,
                   "twin": "" if spiking else getattr(model, "twin_note", "")}
            if name == "lmuformer":
                row["accuracy_vs_prefix"] = prefix_curve(model, xte, yte, (0.25, 0.5, 0.75, 1.0))
            print(f"  {label}: test accuracy {row['accuracy']:.3f} ({seconds:.0f} s)"
                  + (f", vs prefix {row['accuracy_vs_prefix']}" if "accuracy_vs_prefix" in row else ""), flush=True)
            rows.append(row)
    out = HERE / "psmnist.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"args": vars(args), "rows": rows,
                                   "command": "python examples/models/psmnist.py " + " ".join(argv or sys.argv[1:])},
                                  indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
