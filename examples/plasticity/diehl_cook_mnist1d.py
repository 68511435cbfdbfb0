"""Unsupervised STDP with winner-take-all and adaptive thresholds (Diehl & Cook 2015) on MNIST-1D.

MNIST-1D (generated offline) is rate-coded: each of the 40 samples becomes an ON and an OFF channel
(80 Poisson inputs). 100 excitatory LIF neurons receive them through a plastic synapse trained with
pair STDP (no labels); lateral inhibition lets one winner fire per step, adaptive thresholds spread the
work over all neurons, and each neuron's weights are renormalised to a fixed sum (as in the paper).
Afterwards every neuron is labelled with the class it responds to most on the training set, and a
test sample is classified by the labelled neurons' votes. Prints the unsupervised accuracy (chance
10 %; logistic regression on raw MNIST-1D reaches 32 %) and saves the learned receptive fields.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from _common import mnist1d, parser, plt, save_figure
from snnkit.functional import LIFParameters, lif_step
from snnkit.plasticity import AdaptiveThreshold, PairSTDP, lateral_inhibition, winner_take_all


def encode(x: torch.Tensor, steps: int, p_max: float, g: torch.Generator) -> torch.Tensor:
    """ON/OFF rate code: [B, 40] -> Bernoulli spikes [T, B, 80]."""
    rates = torch.cat([x.clamp_min(0), (-x).clamp_min(0)], 1) / 4.0
    rates = (rates * p_max).clamp(0, 1)
    return (torch.rand(steps, *rates.shape, generator=g) < rates).float()


def run_batch(pre_seq, w, theta: AdaptiveThreshold, stdp: PairSTDP | None, inhibition_strength: float = 2.0
              ) -> torch.Tensor:
    """Simulate one batch of input spikes [T, B, n_in]; returns the spike counts [B, n_exc]. Learns when
    ``stdp`` is given."""
    v = torch.zeros(pre_seq.shape[1], w.shape[0])
    inhibition = torch.zeros_like(v)
    counts = torch.zeros_like(v)
    if stdp is not None:
        stdp.reset()
    for pre in pre_seq.unbind(0):
        params = LIFParameters(tau_mem=20.0, v_th=theta.threshold(), reset="hard")
        h = v * params.beta(v) + pre @ w.t() + inhibition
        s, v = lif_step(pre @ w.t() + inhibition, v, params)
        s = winner_take_all(s, h - theta.threshold(), k=1)
        inhibition = lateral_inhibition(s, inhibition_strength)
        counts += s
        if stdp is not None:
            stdp.step(pre, s)
            theta.step(s)
    return counts


def vote_accuracy(r_train, y_train, r_test, y_test) -> tuple[float, torch.Tensor]:
    """Diehl & Cook's neuron-assignment rule: each neuron takes the class it responds to most on the
    training set; a test sample gets the class whose neurons respond most on average."""
    class_mean = torch.stack([r_train[y_train == c].mean(0) for c in range(10)])  # [10, n_exc]
    labels = class_mean.argmax(0)
    votes = torch.stack([r_test[:, labels == c].mean(1) if (labels == c).any() else torch.zeros(len(r_test))
                         for c in range(10)], 1)
    return (votes.argmax(1) == y_test).float().mean().item(), labels


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--neurons", type=int, default=100)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(args.seed)
    x, y, x_test, y_test = mnist1d(args.seed)
    n_in, n_exc, batch = 80, args.neurons, 16
    w = torch.rand(n_exc, n_in) * 0.3
    norm_total = w.sum(1, keepdim=True).mean()
    theta = AdaptiveThreshold(n_exc, v_th=1.0, theta_plus=0.02, tau_theta=None)
    stdp = PairSTDP(w, tau_pre=10.0, tau_post=10.0, a_plus=0.01, a_minus=0.003, w_min=0.0, w_max=1.0)
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=g)
        for i in tqdm(range(0, len(x), batch), desc=f"STDP epoch {epoch + 1}", mininterval=2):
            run_batch(encode(x[order[i:i + batch]], args.steps, 0.25, g), w, theta, stdp)
            with torch.no_grad():  # Diehl & Cook: each neuron's input weights keep a fixed sum
                w.mul_(norm_total / w.sum(1, keepdim=True).clamp_min(1e-6))

    def responses(data):
        return torch.cat([run_batch(encode(data[i:i + 256], args.steps, 0.25, g), w, theta, None)
                          for i in range(0, len(data), 256)])

    r_train, r_test = responses(x), responses(x_test)
    acc, labels = vote_accuracy(r_train, y, r_test, y_test)
    used = (r_train.sum(0) > 0).float().mean().item()
    print(f"unsupervised STDP on MNIST-1D: test accuracy {acc:.1%} with {n_exc} neurons "
          f"({used:.0%} of neurons active; chance 10%, logistic regression 32%)")
    fig, axes = plt.subplots(10, 10, figsize=(10, 6))
    for k, ax in enumerate(axes.flat):
        if k < n_exc:
            ax.plot(w[k, :40].numpy(), color="C0")
            ax.plot(-w[k, 40:].numpy(), color="C3")
            ax.set_title(str(int(labels[k])), fontsize=7)
        ax.axis("off")
    fig.suptitle("receptive fields (ON blue, OFF red) and assigned labels")
    print("saved", save_figure(fig, args.out, "diehl_cook_mnist1d.png"))


if __name__ == "__main__":
    main()
