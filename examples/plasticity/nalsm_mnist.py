"""NALSM on real digits: a liquid whose excitatory synapses learn by astrocyte-gated STDP, against the same
liquid with plain STDP and with no plasticity.

MNIST digits (the 10,000 real digits of `snnkit data prepare mnist`), pooled to 14 x 14 and rate-coded
for ``--steps`` steps, drive an 80/20 excitatory/inhibitory LIF liquid. In the plastic variants the
liquid's excitatory recurrent synapses learn unsupervised on ``--plastic-digits`` training digits;
the astrocyte (snnkit.plasticity.AstrocyteGatedSTDP) pushes the branching factor toward its target
(0.9: in these short driven trials the regression estimate of a stationary liquid stays below 1, and a
target of 1 drives the liquid into saturation; depression is 1.5x potentiation so that plain STDP
stays balanced). Then the
liquid is frozen and a ridge-regression readout of each neuron's spike count is fitted on the
training digits and scored on held-out test digits; a ridge readout of the input rates themselves is
the baseline the liquid must beat. Prints the accuracies and the branching factor (regression
estimator on a fixed probe batch) over plastic training, and plots the latter.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from _common import parser, plt, save_figure
from snnkit.analysis.branching import branching_factor, population_activity
from snnkit.data import load_mnist_arrays
from snnkit.models.reservoirs import ExcitatoryInhibitoryLSM
from snnkit.plasticity.astrocyte import Astrocyte, AstrocyteGatedSTDP


def digits(split: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_mnist_arrays(split)
    chosen = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:count]
    pooled = torch.nn.functional.avg_pool2d(images[chosen, None].float() / 255, 2).flatten(1)   # [N, 196]
    return pooled, labels[chosen]


def encode(rates: torch.Tensor, steps: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((steps, *rates.shape), generator=g) < 0.3 * rates).float()


def counts(lsm: ExcitatoryInhibitoryLSM, rates: torch.Tensor, steps: int, batch: int = 250) -> torch.Tensor:
    return torch.cat([lsm(encode(r, steps, i)).sum(0) for i, r in enumerate(rates.split(batch))])


def ridge_accuracy(train_x, train_y, test_x, test_y, alpha: float = 1.0) -> float:
    mean, std = train_x.mean(0), train_x.std(0).clamp_min(1e-3)
    a = torch.cat([(train_x - mean) / std, torch.ones(len(train_x), 1)], 1).double()
    b = torch.cat([(test_x - mean) / std, torch.ones(len(test_x), 1)], 1).double()
    targets = torch.nn.functional.one_hot(train_y, 10).double()
    w = torch.linalg.solve(a.T @ a + alpha * torch.eye(a.shape[1], dtype=torch.double), a.T @ targets)
    return float(((b @ w).argmax(1) == test_y).double().mean())


def branching(lsm: ExcitatoryInhibitoryLSM, probe: torch.Tensor, steps: int) -> float:
    return branching_factor(population_activity(lsm(encode(probe, steps, 999))), "regression")


def train_liquid(lsm, rates, steps, gain, batch, lr, probe, target=0.9, ltd_ratio=1.5):
    """Unsupervised STDP on the excitatory recurrent synapses; returns the branching factor history."""
    rule = AstrocyteGatedSTDP(lsm.w_rec, astrocyte=Astrocyte(target=target, tau_astro=200.0), gain=gain,
                              mask=lsm.plastic_mask, a_plus=lr, a_minus=ltd_ratio * lr, tau_pre=10.0,
                              tau_post=10.0, w_min=0.0, w_max=0.5)
    history = [branching(lsm, probe, steps)]
    for i, chunk in enumerate(tqdm(rates.split(batch), desc=f"STDP gain={gain}", disable=None)):
        state, previous = None, None
        rule.reset()
        for x_t in encode(chunk, steps, 10_000 + i).unbind(0):
            s, state = lsm.step(x_t, state)
            if previous is not None:
                rule.step(previous, s)
            previous = s
        lsm.w_rec.mul_(lsm.plastic_mask | (lsm.w_rec < 0))   # exact zeros stay zeros (sparsity kept)
        history.append(branching(lsm, probe, steps))
    return history


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=3000, help="training digits for the readout")
    p.add_argument("--test", type=int, default=1000, help="held-out test digits")
    p.add_argument("--plastic-digits", type=int, default=1000, help="digits shown during unsupervised STDP")
    p.add_argument("--neurons", type=int, default=500)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--lr", type=float, default=5e-4, help="STDP amplitude a_plus (a_minus = 1.05 a_plus)")
    args = p.parse_args()
    torch.set_num_threads(1)
    train_x, train_y = digits("train", args.train)
    test_x, test_y = digits("test", args.test)
    plastic = train_x[: args.plastic_digits]
    probe = train_x[-50:]
    print(f"input baseline (ridge readout of the 196 input rates): {ridge_accuracy(train_x, train_y, test_x, test_y):.3f}")
    histories, results = {}, {}
    for name, gain in (("no plasticity", None), ("plain STDP", 0.0), ("NALSM (astrocyte-gated STDP)", 5.0)):
        lsm = ExcitatoryInhibitoryLSM(196, n=args.neurons, seed=args.seed)
        if gain is not None:
            histories[name] = train_liquid(lsm, plastic, args.steps, gain, 50, args.lr, probe)
        else:
            histories[name] = [branching(lsm, probe, args.steps)]
        features_train, features_test = counts(lsm, train_x, args.steps), counts(lsm, test_x, args.steps)
        results[name] = ridge_accuracy(features_train, train_y, features_test, test_y)
        rate = float(features_test.mean()) / args.steps
        print(f"{name:>30}: test accuracy {results[name]:.3f}, branching factor {histories[name][0]:.3f} -> "
              f"{histories[name][-1]:.3f}, mean firing probability per step {rate:.3f}")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, history in histories.items():
        if len(history) > 1:
            ax.plot([i * 50 for i in range(len(history))], history, label=name)
    ax.axhline(1.0, color="gray", ls="--", lw=0.8)
    ax.set_xlabel("digits seen during unsupervised STDP")
    ax.set_ylabel("branching factor (regression estimate)")
    ax.legend()
    print("figure:", save_figure(fig, args.out, "nalsm_branching.png"))


if __name__ == "__main__":
    main()
