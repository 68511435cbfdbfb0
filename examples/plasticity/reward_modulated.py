"""A reward-modulated task: two output neurons learn which input pattern calls for which of them.

Each trial shows one of two Poisson input patterns (40 inputs, 50 steps) to two LIF output neurons.
At the end of the trial the network "answers" with the neuron that fired more; the reward is +1 for
the correct answer and -1 otherwise (minus its running mean). Reward-modulated STDP with an
eligibility trace (Florian's MSTDPET, one eligibility per sample so each trial gets its own reward)
bridges the delay between the spikes and the reward. Prints the accuracy and mean reward per block
of trials; saves the learning curve and the final weights.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from _common import parser, plt, save_figure
from snnkit.functional import LIFParameters, lif_step
from snnkit.plasticity import mstdpet


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=40)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(args.seed)
    n_in, steps, batch = 40, 50, 16
    rates = torch.full((2, n_in), 0.02)
    rates[0, :20], rates[1, 20:] = 0.12, 0.12  # pattern 0 drives inputs 0-19, pattern 1 inputs 20-39
    w = torch.full((2, n_in), 0.12) + 0.02 * torch.rand(2, n_in, generator=g)
    rule = mstdpet(w, tau_plus=10.0, tau_minus=10.0, tau_z=steps, a_plus=1.0, a_minus=1.0, per_sample=True,
                   lr=0.05, w_min=0.0, w_max=0.4)
    lif = LIFParameters(tau_mem=10.0, v_th=1.0, reset="hard")
    baseline, curve = 0.0, []
    for block in tqdm(range(args.blocks), desc="trials", mininterval=2):
        labels = torch.randint(0, 2, (batch,), generator=g)
        pre_seq = (torch.rand(steps, batch, n_in, generator=g) < rates[labels]).float()
        v, counts = torch.zeros(batch, 2), torch.zeros(batch, 2)
        rule.reset()
        for t, pre in enumerate(pre_seq.unbind(0)):
            s, v = lif_step(pre @ w.t() + 0.05 * torch.randn(batch, 2, generator=g), v, lif)
            counts += s
            if t < steps - 1:
                rule.step(pre, s)  # eligibility only: no reward yet
        answer = torch.where(counts[:, 0] == counts[:, 1], torch.randint(0, 2, (batch,), generator=g),
                             counts.argmax(1))
        reward = (answer == labels).float() * 2 - 1
        rule.step(pre_seq[-1], s, modulator=reward - baseline)  # the reward arrives at the end of the trial
        baseline = 0.9 * baseline + 0.1 * reward.mean().item()
        curve.append((answer == labels).float().mean().item())
        if block % 5 == 4:
            print(f"trials {block * batch + 1:4d}-{(block + 1) * batch:4d}: accuracy {sum(curve[-5:]) / 5:.0%}, "
                  f"reward baseline {baseline:+.2f}")
    print(f"first 5 blocks: {sum(curve[:5]) / 5:.0%} correct; last 5 blocks: {sum(curve[-5:]) / 5:.0%} correct")
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].plot(curve)
    ax[0].set_xlabel(f"block of {batch} trials")
    ax[0].set_ylabel("accuracy")
    ax[1].imshow(w.numpy(), aspect="auto", cmap="viridis")
    ax[1].set_xlabel("input")
    ax[1].set_ylabel("output neuron")
    ax[1].set_title("weights after learning")
    print("saved", save_figure(fig, args.out, "reward_modulated.png"))


if __name__ == "__main__":
    main()
