"""Accuracy against time after programming on PCM crossbars: a small SNN and its ANN twin on MNIST-1D.

Both nets are Linear(40, 128) - act - Linear(128, 128) - act - Linear(128, 10); the ANN uses ReLU, the
SNN LIF neurons over T time steps with the standardised signal as a constant input current (the first
layer reads it through the DAC, the others read binary spikes, one ADC read per time step). Each is
trained briefly, then programmed onto PCM crossbars (``hardware/pcm.toml``: IBM's statistical model,
aihwkit's default periphery) and evaluated 1 s, 1 hour, 1 day and 1 year after programming, with and
without global drift compensation, over several programmings. ``--hwa`` also trains both with
hardware-aware noise injection.

    python examples/crossbar/drift_study.py            # ~3 min on 2 cores
    python examples/crossbar/drift_study.py --quick    # smoke run

Writes ``examples/crossbar/results/drift_study.{png,md,json}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

import snnkit
from snnkit import atomic_path
from snnkit.data.mnist1d import read_mnist1d
from snnkit.hardware import crossbar as cb

HERE = Path(__file__).resolve().parent


def load(root: Path):
    d = read_mnist1d(root)
    x, xt = torch.tensor(d["x"]), torch.tensor(d["x_test"])
    mu, sd = x.mean(), x.std()
    return (x - mu) / sd, torch.tensor(d["y"]), (xt - mu) / sd, torch.tensor(d["y_test"])


def ann(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(40, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))


class SNN(nn.Module):
    """Time-major SNN; ``forward`` takes ``[B, 40]`` signals or ``[T, B, 40]`` currents."""

    def __init__(self, hidden: int, steps: int) -> None:
        super().__init__()
        self.steps = steps
        lif = dict(tau_mem=4.0, reset="subtract")
        self.net = snnkit.neurons.Sequential(nn.Linear(40, hidden), snnkit.neurons.LIF(**lif),
                                             nn.Linear(hidden, hidden), snnkit.neurons.LIF(**lif),
                                             nn.Linear(hidden, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.steps, -1, -1)
        return self.net(x)  # [T, B, 10]; the class is the argmax of the sum over time


def train(model: nn.Module, x, y, epochs: int, lr: float, desc: str) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(0)
    for _ in tqdm(range(epochs), desc=desc, leave=False):
        model.train()
        for idx in torch.randperm(len(y), generator=g).split(128):
            out = model(x[idx])
            logits = out.mean(0) if out.dim() == 3 else out
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="pcm")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8, help="SNN time steps")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3, help="independent programmings per time")
    ap.add_argument("--hwa", action="store_true", help="also train with hardware-aware noise injection")
    ap.add_argument("--quick", action="store_true", help="tiny run for smoke tests")
    ap.add_argument("--root", type=Path, default=Path(".cache/datasets"), help="dataset cache folder")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats, args.hidden = 2, 1, 32
    torch.manual_seed(0)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    x, y, xt, yt = load(args.root)
    if args.quick:
        xt, yt = xt[:200], yt[:200]
    models = {"ANN": train(ann(args.hidden), x, y, args.epochs, 2e-3, "ANN"),
              "SNN": train(SNN(args.hidden, args.steps), x, y, args.epochs, 2e-3, "SNN")}
    if args.hwa:
        torch.manual_seed(0)
        models["ANN-HWA"] = train(cb.hardware_aware(models["ANN"], args.profile, 0.05), x, y,
                                  max(1, args.epochs // 4), 5e-4, "ANN-HWA")
        models["SNN-HWA"] = train(cb.hardware_aware(models["SNN"], args.profile, 0.05), x, y,
                                  max(1, args.epochs // 4), 5e-4, "SNN-HWA")
    tables = []
    for name, model in models.items():
        tab = cb.drift_study(model, xt, yt, profile=args.profile, times=cb.DEFAULT_TIMES, repeats=args.repeats,
                             batch_dim=0, label=name)
        tables.append(tab)
        print(f"{name}: digital {100 * tab['digital']:.1f} %, compensated "
              + ", ".join(f"{lab} {100 * a:.1f}" for lab, a in zip(tab["time_labels"], tab["compensated"])))
    args.out.mkdir(parents=True, exist_ok=True)
    cb.plot_drift_study(tables, args.out / "drift_study.png")
    md = cb.drift_table_markdown(tables)
    with atomic_path(args.out / "drift_study.md") as tmp:
        tmp.write_text(f"Accuracy (%) on MNIST-1D test vs time after programming, profile `{args.profile}`, "
                       f"{args.repeats} programmings (mean +- std)\n\n{md}\n")
    with atomic_path(args.out / "drift_study.json") as tmp:
        tmp.write_text(json.dumps(tables, indent=1))
    print(md)
    print(f"wrote {args.out / 'drift_study.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
