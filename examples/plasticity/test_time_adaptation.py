"""Neuro-modulated Hebbian test-time adaptation on real digits: a network trained on clean digits,
tested on clean, noisy and rotated digits, without adaptation, with plain SoftHebb adaptation and with
modulated adaptation; against the same network trained end to end by backpropagation and a spiking
(LIF) network of the same width trained by BPTT, both without adaptation.

Hebbian network: 784 -> hidden SoftHebb layer (trained without labels on the clean training digits)
-> triangle activation -> linear readout (trained on clean digits, then frozen). At test time the
digits arrive in batches; each batch is predicted, then the SoftHebb layer adapts on it (plain: every
sample counts fully; modulated: each sample's update is scaled by a modulation layer that learns,
without labels, to lower the prediction entropy after the update). Inputs are centred and scaled to
unit norm per digit for every network (the spiking network receives them times 10 as input current);
the readout and the backprop network use Adam at 1e-2, the spiking network Adam at 1e-3. Prints test accuracy per condition and variant.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn
from tqdm import tqdm

from _common import parser
from snnkit.data import load_mnist_arrays
from snnkit.neurons import LIF, Sequential
from snnkit.plasticity import SoftHebb
from snnkit.plasticity.modulated import ModulatedHebbianAdaptation, triangle


class Triangle(nn.Module):
    """SoftHebb's forward activation as a module."""
    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return triangle(u)


def images(split: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_mnist_arrays(split)
    return x[:count].float().unsqueeze(1) / 255, y[:count]


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).expand(len(x), 2, 3)
    grid = nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    return nn.functional.grid_sample(x, grid, align_corners=False)


def prepare(x: torch.Tensor) -> torch.Tensor:
    """[N, 1, 28, 28] in [0, 1] -> [N, 784] centred, unit norm per digit."""
    x = x.flatten(1)
    x = x - x.mean(1, keepdim=True)
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)


def train_softhebb(x: torch.Tensor, hidden: int, epochs: int, lr: float, temperature: float, seed: int) -> nn.Linear:
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(x.shape[1], hidden, bias=False)
    with torch.no_grad():
        # start from random training digits plus noise: from random directions a few neurons win every
        # digit and the rest never learn (measured: 2 of 128 neurons winning)
        w = x[torch.randperm(len(x), generator=g)[:hidden]] + 0.02 * torch.randn(hidden, x.shape[1], generator=g)
        layer.weight.copy_(w / w.norm(dim=1, keepdim=True))
    rule = SoftHebb(layer, lr=lr, temperature=temperature)
    for epoch in range(epochs):
        for batch in tqdm(torch.randperm(len(x), generator=g).split(32), desc=f"SoftHebb epoch {epoch + 1}",
                          disable=None):
            with torch.no_grad():
                rule.step(x[batch], layer(x[batch]))
    return layer


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, lr: float = 1e-3,
        encode=lambda b: b, decode=lambda out: out) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(decode(model(encode(x[batch]))), y[batch]).backward()
            opt.step()


def accuracy(predict, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    logits = torch.cat([predict(b) for b in x.split(batch)])
    return float((logits.argmax(1) == y).float().mean())


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--hebb-epochs", type=int, default=1)
    p.add_argument("--hebb-lr", type=float, default=0.5)
    p.add_argument("--temperature", type=float, default=0.05)
    p.add_argument("--epochs", type=int, default=3, help="readout / backprop / BPTT epochs")
    p.add_argument("--adapt-lr", type=float, default=0.5, help="SoftHebb learning rate at test time")
    p.add_argument("--modulation-lr", type=float, default=5.0)
    p.add_argument("--passes", type=int, default=1, help="passes of adaptation over the test stream; "
                   "the accuracy printed is the last pass's")
    p.add_argument("--batch", type=int, default=50, help="test batch (adaptation step) size")
    p.add_argument("--noise", type=float, default=0.4, help="std of the Gaussian pixel noise")
    p.add_argument("--degrees", type=float, default=35.0, help="rotation of the rotated digits")
    p.add_argument("--steps", type=int, default=8, help="time steps of the spiking BPTT network")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    train_img, train_y = images("train", args.train)
    test_img, test_y = images("test", args.test)
    g = torch.Generator().manual_seed(args.seed + 1)
    conditions = {"clean": prepare(test_img),
                  "noisy": prepare((test_img + args.noise * torch.randn(test_img.shape, generator=g)).clamp(0, 1)),
                  "rotated": prepare(rotate(test_img, args.degrees))}
    train_x = prepare(train_img)

    layer = train_softhebb(train_x, args.hidden, args.hebb_epochs, args.hebb_lr, args.temperature, args.seed)
    layer.weight.requires_grad_(False)
    readout = nn.Linear(args.hidden, 10)
    fit(nn.Sequential(layer, Triangle(), readout), train_x, train_y, args.epochs, args.seed, lr=1e-2)
    readout.requires_grad_(False)

    backprop = nn.Sequential(nn.Linear(784, args.hidden, bias=False), Triangle(), nn.Linear(args.hidden, 10))
    fit(backprop, train_x, train_y, args.epochs, args.seed, lr=1e-2)
    spiking = nn.Sequential(Sequential(nn.Linear(784, args.hidden), LIF(tau_mem=5.0)), nn.Linear(args.hidden, 10))
    # direct encoding of the unit-norm digits, scaled so that input currents are comparable to [0, 1] pixels
    encode = lambda b: (b * 10).expand(args.steps, -1, -1)  # noqa: E731
    fit(spiking, train_x, train_y, args.epochs, args.seed, encode=encode, decode=lambda out: out.mean(0))

    results: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for name, x in conditions.items():
            results.setdefault("backprop (no adaptation)", {})[name] = accuracy(backprop, x, test_y, args.batch)
            results.setdefault("BPTT spiking (no adaptation)", {})[name] = accuracy(
                lambda b: spiking(encode(b)).mean(0), x, test_y, args.batch)
    for mode, label in (("none", "SoftHebb, no adaptation"), ("hebbian", "SoftHebb, plain Hebbian adaptation"),
                        ("modulated", "SoftHebb, modulated adaptation")):
        for name, x in conditions.items():
            adapter = ModulatedHebbianAdaptation(copy.deepcopy(layer), readout, 10, lr=args.adapt_lr,
                                                 temperature=args.temperature, mode=mode,
                                                 modulation_lr=args.modulation_lr)
            modulations: list[torch.Tensor] = []
            for _ in range(args.passes):       # online: each batch is predicted before it adapts the layer
                score = accuracy(adapter.adapt_step, x, test_y, args.batch)
                if mode == "modulated":
                    modulations.append(adapter.modulation_of(adapter(x)).detach())
            results.setdefault(label, {})[name] = score
            if modulations:
                print(f"{name}: mean modulation after each pass "
                      + ", ".join(f"{float(m.mean()):.3f}" for m in modulations), flush=True)
    print(f"{'variant':38s} " + " ".join(f"{c:>8s}" for c in conditions))
    for label, row in results.items():
        print(f"{label:38s} " + " ".join(f"{row[c]:8.3f}" for c in conditions), flush=True)


if __name__ == "__main__":
    main()
