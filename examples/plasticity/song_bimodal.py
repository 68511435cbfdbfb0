"""Song, Miller & Abbott (2000): additive STDP drives a neuron's input weights to a bimodal distribution.

One LIF neuron receives 200 Poisson inputs (20 Hz). Additive pair STDP with depression slightly
stronger than potentiation (A- tau- = 1.05 A+ tau+) and hard bounds [0, w_max] makes the weights
compete: they leave the uniform start and pile up at the two bounds, and the output rate is regulated.
Prints the fraction of weights near each bound and the output rate; saves a histogram PNG.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from _common import parser, plt, save_figure
from snnkit.functional import LIFParameters, lif_step
from snnkit.plasticity import PairSTDP


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=90.0)
    args = p.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    n, rate, dt, w_max = 200, 20.0, 1.0, 0.05
    inhibition = 0.06  # constant inhibitory current per step: a fluctuation-driven neuron, as in the paper  # dt in ms
    w = torch.rand(1, n) * w_max
    w0 = w.clone()
    stdp = PairSTDP(w, tau_pre=20.0, tau_post=20.0, a_plus=0.03 * w_max, a_minus=0.0315 * w_max,
                    dt=dt, w_min=0.0, w_max=w_max)
    lif = LIFParameters(tau_mem=20.0, dt=dt, v_th=1.0, reset="hard")
    v = torch.zeros(1, 1)
    steps = int(args.seconds * 1000 / dt)
    p_spike = rate * dt / 1000
    out_spikes = []
    for t in tqdm(range(steps), desc="simulating", mininterval=2):
        pre = (torch.rand(1, n) < p_spike).float()
        s, v = lif_step(pre @ w.t() - inhibition, v, lif)
        stdp.step(pre, s)
        out_spikes.append(s.item())
    w_final = w.flatten()
    low, high = (w_final < 0.1 * w_max).float().mean().item(), (w_final > 0.9 * w_max).float().mean().item()
    last = out_spikes[-int(5000 / dt):]
    print(f"weights near 0: {low:.1%}, near w_max: {high:.1%}, in between: {1 - low - high:.1%}")
    print(f"output rate over the first 5 s: {sum(out_spikes[:5000]) / 5:.1f} Hz, last 5 s: {sum(last) / 5:.1f} Hz")
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ax[0].hist((w0.flatten() / w_max).numpy(), bins=40, color="gray")
    ax[0].set_title("initial weights / w_max")
    ax[1].hist((w_final / w_max).numpy(), bins=40, color="C0")
    ax[1].set_title(f"after {args.seconds:.0f} s of STDP")
    print("saved", save_figure(fig, args.out, "song_bimodal.png"))


if __name__ == "__main__":
    main()
