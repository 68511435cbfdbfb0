"""Counter-current learning against BPTT on real digits, on the same spiking network and data.

Network: 784 -> hidden LIF -> hidden LIF -> linear readout of the mean spike rate, direct (current)
encoding for ``--steps`` steps, Adam, the same epochs and batches for both. BPTT backpropagates the
cross-entropy through everything. Counter-current learning pairs the forward network with a rate
feedback network (10 -> hidden -> hidden -> 784, sigmoid) that maps the one-hot target back toward the
input; each forward layer learns to match the feedback activation of the same depth (spike rates) and
each feedback layer the forward activation (the bottom one the input), no gradient between layers.
Prints test accuracy per epoch for each.
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from _common import digits_run
from snnkit.neurons import LIF, Sequential
from snnkit.training.counter_current import CounterCurrent, time_mean


def forward_blocks(h: int) -> list[nn.Module]:
    return [Sequential(nn.Linear(784, h), LIF(tau_mem=5.0)), Sequential(nn.Linear(h, h), LIF(tau_mem=5.0)),
            nn.Linear(h, 10)]


def main() -> None:
    args, (train_x, train_y), (test_x, test_y), encode = digits_run(__doc__.splitlines()[0], train=3000)
    h = args.hidden
    bptt = nn.Sequential(*forward_blocks(h))
    feedback = [nn.Sequential(nn.Linear(h, 784), nn.Sigmoid()), nn.Sequential(nn.Linear(h, h), nn.Sigmoid()),
                nn.Sequential(nn.Linear(10, h), nn.Sigmoid())]
    ccl = CounterCurrent(forward_blocks(h), feedback, summary=time_mean)
    optimisers = {"BPTT": torch.optim.Adam(bptt.parameters(), lr=1e-3),
                  "counter-current": torch.optim.Adam(ccl.parameters(), lr=1e-3)}
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_y), generator=g)
        for batch in tqdm(order.split(64), desc=f"epoch {epoch}", disable=None):
            x, y = encode(train_x[batch]), train_y[batch]
            for opt in optimisers.values():
                opt.zero_grad()
            nn.functional.cross_entropy(bptt(x).mean(0), y).backward()
            ccl.backward_ccl(x, y, num_classes=10)
            for opt in optimisers.values():
                opt.step()
        with torch.no_grad():
            scores = {name: float((torch.cat([model(encode(x)) if name == "counter-current" else model(encode(x)).mean(0)
                                               for x in test_x.split(500)]).argmax(1) == test_y).float().mean())
                      for name, model in (("BPTT", bptt), ("counter-current", ccl))}
        print(f"epoch {epoch}: " + ", ".join(f"{name} {acc:.3f}" for name, acc in scores.items()), flush=True)


if __name__ == "__main__":
    main()
