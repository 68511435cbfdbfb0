"""Time-step reduction (IIR-SNN curriculum) on real digits and MNIST-1D: an MLP of LIF neurons trained
with the Trainer at T=5, then warm-started at T=4, 3, 2 and 1 (direct encoding), against training at
T=1 from scratch and at T=5 only, for the same number of epochs. Latency = T steps; synaptic
operations (and MACs of the analog first layer) per sample from snnkit.analysis.count_costs.

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/methods/curriculum_timesteps.py --train 4000 --test 1000
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from _common import digits, load_average, mnist1d
from snnkit.analysis import count_costs
from snnkit.neurons import LIF, Sequential
from snnkit.training import Trainer
from snnkit.training.schedules import TimestepCurriculum


def mlp(n_in: int, hidden: int) -> nn.Module:
    return Sequential(nn.Linear(n_in, hidden), LIF(2.0, reset="subtract"), nn.Linear(hidden, hidden),
                      LIF(2.0, reset="subtract"), nn.Linear(hidden, 10))


def run(name, xtr, ytr, xte, yte, epochs_per_stage, hidden, lr):
    T0 = 5
    rep = lambda x: x.unsqueeze(0).expand(T0, *x.shape).contiguous()  # noqa: E731 direct encoding
    train, test = (rep(xtr), ytr), (rep(xte), yte)
    cur = TimestepCurriculum.iir(T0, 1, epochs_per_stage)
    cfg = {"epochs": cur.epochs, "batch_size": 64, "lr": lr, "loss": "ce_mean_membrane", "progress": False}
    results = {}
    for label, sched in (("IIR 5->1", cur), ("T=1 only", TimestepCurriculum(((1, cur.epochs),))),
                         ("T=5 only", TimestepCurriculum(((5, cur.epochs),)))):
        torch.manual_seed(0)
        model = mlp(xtr.shape[1], hidden)
        trainer = Trainer(model, cfg, timesteps=sched)
        hist = trainer.fit(train, test)
        results[label] = (model, hist)
        stages = " ".join(f"T={h['timesteps']}:{100 * h['val_accuracy']:.1f}" for h in hist
                          if h is hist[-1] or hist[hist.index(h) + 1]["timesteps"] != h["timesteps"])
        print(f"{name} {label:9s} end of each stage (test %): {stages}", flush=True)
    with torch.no_grad():
        for T in (5, 1):
            model = results["IIR 5->1" if T == 1 else "T=5 only"][0].eval()
            c = count_costs(model, test[0][:T, :500])
            print(f"{name} T={T}: latency {T} steps, {c.acs:,.0f} synaptic ops (ACs) + {c.macs:,.0f} MACs per "
                  f"sample, {c.spikes:.1f} spikes", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs-per-stage", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"MLP of LIF neurons (tau 2, soft reset), {a.epochs_per_stage} epoch(s) per stage, Adam; {load_average()}")
    xtr, ytr, xte, yte = digits(a.train, a.test)
    print(f"MNIST {a.train} train / {a.test} test, 784-256-256-10")
    run("MNIST", xtr, ytr, xte, yte, a.epochs_per_stage, 256, 1e-3)
    xtr, ytr, xte, yte = mnist1d()
    print(f"MNIST-1D {len(ytr)} train / {len(yte)} test, 40-256-256-10")
    run("MNIST-1D", xtr, ytr, xte, yte, 4 * a.epochs_per_stage, 256, 2e-3)


if __name__ == "__main__":
    main()
