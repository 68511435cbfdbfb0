"""Learning without end-to-end backpropagation on real digits: direct feedback alignment and
Forward-Forward against BPTT, on the same spiking network and data.

Network: 784 -> 256 LIF -> 256 LIF (-> readout of the mean spike rate for BPTT and DFA), direct
(current) encoding for ``--steps`` steps, Adam, the same epochs and batches for all three. BPTT
backpropagates through everything; DFA sends the output error to each hidden layer through a fixed
random matrix; Forward-Forward trains each layer on its own goodness objective (positive: true label
embedded in the first 10 pixels, negative: a random wrong label) and predicts the label with the
largest goodness. Prints test accuracy per epoch for each.
"""
from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from _common import digits_run
from snnkit.neurons import LIF, Sequential
from snnkit.training.local import DirectFeedbackAlignment, ForwardForward


def block(n_in: int, n_out: int) -> nn.Module:
    return Sequential(nn.Linear(n_in, n_out), LIF(tau_mem=5.0))


def main() -> None:
    args, (train_x, train_y), (test_x, test_y), encode = digits_run(__doc__.splitlines()[0], train=4000)
    h = args.hidden
    models = {
        "BPTT": DirectFeedbackAlignment([block(784, h), block(h, h)], nn.Linear(h, 10)),
        "DFA": DirectFeedbackAlignment([block(784, h), block(h, h)], nn.Linear(h, 10), feedback_scale=0.05),
        "Forward-Forward": ForwardForward([block(784, h), block(h, h)], num_classes=10, threshold=float(h) * 0.05),
    }
    optimisers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
    g = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_y), generator=g)
        for batch in tqdm(order.split(64), desc=f"epoch {epoch}", disable=None):
            x, y = encode(train_x[batch]), train_y[batch]
            for name, model in models.items():
                optimisers[name].zero_grad()
                if name == "BPTT":
                    nn.functional.cross_entropy(model(x), y).backward()
                elif name == "DFA":
                    model.backward_dfa(x, y)
                else:
                    model.backward_ff(x, y, generator=g)
                optimisers[name].step()
        with torch.no_grad():
            scores = {}
            for name, model in models.items():
                predicted = torch.cat([model.predict(encode(x)) if name == "Forward-Forward"
                                       else model(encode(x)).argmax(1) for x in test_x.split(500)])
                scores[name] = float((predicted == test_y).float().mean())
        print(f"epoch {epoch}: " + ", ".join(f"{name} {acc:.3f}" for name, acc in scores.items()))


if __name__ == "__main__":
    main()
