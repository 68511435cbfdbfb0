"""Continual learning with and without HLOP (Hebbian orthogonal projection) in a spiking network.

Three tasks share one spiking MLP (120 -> 128 LIF -> 10, surrogate-gradient BPTT over 4 steps):
each task is MNIST-1D (generated offline) embedded in its own random 40-dimensional subspace of R^120
(like permuted MNIST: same labels, new input statistics). Plain fine-tuning trains task after task;
with HLOP, after each task lateral Hebbian neurons learn the principal subspace of each layer's
inputs (Oja's subspace rule, ``HLOP.observing``) and later gradients are projected away from it.
Prints the accuracy on every task after each stage and saves a PNG of task 1's accuracy over time.
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from _common import mnist1d, parser, plt, save_figure
from snnkit.neurons import LIF
from snnkit.plasticity import HLOP

STEPS = 4


class SpikingMLP(nn.Module):
    def __init__(self, n_in: int, hidden: int, classes: int) -> None:
        super().__init__()
        self.fc1, self.lif, self.fc2 = nn.Linear(n_in, hidden, bias=False), LIF(tau_mem=5.0), nn.Linear(hidden, classes,
                                                                                                       bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xs = x.unsqueeze(0).expand(STEPS, *x.shape)  # constant current input over [T, B, n_in]
        return self.fc2(self.lif(self.fc1(xs))).mean(0)


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(model, x, y, epochs: int, hlop: HLOP | None, g) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)  # fresh per task: no momentum leak
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            if hlop is not None:
                hlop.project_gradients()
            opt.step()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--components", type=int, default=30, help="lateral neurons per task for fc1 (fc2: +10)")
    args = p.parse_args()
    torch.set_num_threads(2)
    x, y, x_test, y_test = mnist1d(args.seed)
    mean, std = x.mean(0), x.std(0)
    x, x_test = (x - mean) / std, (x_test - mean) / std
    g = torch.Generator().manual_seed(args.seed)
    embeds = [torch.linalg.qr(torch.randn(120, 40, generator=g))[0] for _ in range(3)]
    tasks = [(x @ q.t(), y, x_test @ q.t(), y_test) for q in embeds]
    table = {}
    for use_hlop in (False, True):
        torch.manual_seed(args.seed)
        model = SpikingMLP(120, 128, 10)
        hlop = HLOP([model.fc1, model.fc2], components_per_task=[args.components, args.components + 10],
                    lr=0.05, iterations=10) if use_hlop else None
        rows = []
        for t, (xt, yt, _, _) in enumerate(tqdm(tasks, desc="HLOP" if use_hlop else "fine-tuning")):
            train(model, xt, yt, args.epochs, hlop if t > 0 else None, g)
            rows.append([accuracy(model, task[2], task[3]) for task in tasks])
            if hlop is not None:
                with torch.no_grad(), hlop.observing():  # Hebbian subspace learning on this task's inputs
                    for _ in range(3):
                        for i in range(0, len(xt), 256):
                            model(xt[i:i + 256])
                hlop.consolidate()
        table["HLOP" if use_hlop else "fine-tuning"] = rows
    for name, rows in table.items():
        print(f"{name}:")
        for t, row in enumerate(rows):
            print(f"  after task {t + 1}: " + ", ".join(f"task {k + 1} {a:.1%}" for k, a in enumerate(row)))
    ft, hl = table["fine-tuning"], table["HLOP"]
    print(f"task 1 accuracy after task 2 / task 3: fine-tuning {ft[1][0]:.1%} / {ft[2][0]:.1%}, "
          f"HLOP {hl[1][0]:.1%} / {hl[2][0]:.1%} (after task 1: {ft[0][0]:.1%} / {hl[0][0]:.1%})")
    avg = {k: sum(r[-1]) / 3 for k, r in table.items()}
    print(f"mean accuracy over the 3 tasks at the end: fine-tuning {avg['fine-tuning']:.1%}, HLOP {avg['HLOP']:.1%}")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, rows in table.items():
        ax.plot([1, 2, 3], [r[0] for r in rows], marker="o", label=name)
    ax.set_xlabel("after training task")
    ax.set_ylabel("task 1 test accuracy")
    ax.set_xticks([1, 2, 3])
    ax.legend()
    print("saved", save_figure(fig, args.out, "continual_hlop.png"))


if __name__ == "__main__":
    main()
