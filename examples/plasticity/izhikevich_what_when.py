"""What and when: a heterogeneous Izhikevich reservoir predicts the next symbol of a sequence and its time.

The sequence A B C D repeats; each symbol is announced by a 10 ms input pulse and lasts its own time
(A 40 ms, B 80 ms, C 40 ms, D 120 ms), so the reservoir must carry both identity and elapsed time.
The target is the one-hot of the NEXT symbol during the 10 ms before it appears (zero otherwise):
the readout must say what comes and when. Two readouts learn online on the same reservoir activity:

* FORCE: recursive least squares (Sussillo & Abbott 2009) on the filtered spikes;
* three-factor: the error-modulated local rule (error x presynaptic activity); with ``--attention`` it
  is attention-gated: only the output that is due and the output the readout currently picks learn,
  as in attention-gated reinforcement learning (Roelfsema & van Ooyen 2005).

Prints the prediction error (MSE per step, and the fraction of predictions whose arg-max output is
right when a target is due) per training cycle for both, and on held-out cycles with learning off;
saves a plot of the error over training.
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from _common import parser, plt, save_figure
from snnkit.models.reservoirs import IzhikevichReservoir
from snnkit.plasticity.readout import ErrorModulatedHebbian, RecursiveLeastSquares

DURATIONS_MS = (40, 80, 40, 120)
PULSE_MS, LEAD_MS = 10, 10
ZERO_MSE = LEAD_MS * len(DURATIONS_MS) / sum(DURATIONS_MS) / 4     # MSE of predicting nothing


def sequence(dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One cycle of inputs [T, 4] and targets [T, 4]."""
    steps = [int(d / dt) for d in DURATIONS_MS]
    x, y = torch.zeros(sum(steps), 4), torch.zeros(sum(steps), 4)
    start = 0
    for k, n in enumerate(steps):
        x[start:start + int(PULSE_MS / dt), k] = 1.0
        nxt = (k + 1) % 4
        y[start + n - int(LEAD_MS / dt):start + n, nxt] = 1.0
        start += n
    return x, y


def run(cycles: int, test_cycles: int, n: int, seed: int, lr: float = 3e-5, alpha: float = 100.0,
        gated: bool = False) -> dict[str, list[float]]:
    dt = 0.5
    reservoir = IzhikevichReservoir(4, n=n, dt=dt, input_scale=20.0, tau_trace=100.0, seed=seed)
    x, y = sequence(dt)
    total = cycles + test_cycles
    spikes, traces, _ = reservoir.run(x.repeat(total, 1)[:, None], generator=torch.Generator().manual_seed(seed))
    # standardised with the training cycles' statistics (a delta rule on raw, all-positive traces is
    # dominated by their common mean and needs a far smaller rate), plus a bias input
    train = traces[: cycles * x.shape[0], 0]
    features = (traces[:, 0] - train.mean(0)) / train.std(0).clamp_min(1e-3)
    features = torch.cat([features, torch.ones(traces.shape[0], 1)], 1)
    print(f"reservoir: {n} neurons, mean rate {spikes.mean().item() / dt * 1000:.1f} Hz")
    readouts = {"FORCE (RLS)": torch.nn.Linear(n + 1, 4, bias=False),
                "three-factor": torch.nn.Linear(n + 1, 4, bias=False)}
    for lin in readouts.values():
        torch.nn.init.zeros_(lin.weight)
    rules = {"FORCE (RLS)": RecursiveLeastSquares(readouts["FORCE (RLS)"], alpha=alpha),
             "three-factor": ErrorModulatedHebbian(readouts["three-factor"], lr=lr, tau_e=0)}
    history: dict[str, list[float]] = {name: [] for name in readouts}
    accuracy: dict[str, list[float]] = {name: [] for name in readouts}
    timing: dict[str, list[float]] = {name: [] for name in readouts}
    T = x.shape[0]
    for cycle in tqdm(range(total), desc="cycles", disable=None):
        learning = cycle < cycles
        r_cycle, y_cycle = features[cycle * T:(cycle + 1) * T], y
        for name, lin in readouts.items():
            sq, hits, due, outputs = 0.0, 0, 0, []
            for t in range(0, T, 2):                      # learn every other step (every 1 ms)
                r, target = r_cycle[t:t + 1], y_cycle[t:t + 1]
                out = lin(r).detach()
                outputs.append(out[0])
                error = out - target
                sq += float((error ** 2).mean())
                if target.sum() > 0:
                    due += 1
                    hits += int(out.argmax() == target.argmax())
                if learning:
                    if name == "three-factor":
                        # attention: the output that is due and the output the readout picks now learn
                        picked = torch.nn.functional.one_hot(out.argmax(1), 4).bool()
                        attention = ((target > 0) | picked).float() if gated else None
                        rules[name].step(r, out, modulator=error, attention=attention)
                    else:
                        rules[name].step(r, out, modulator=error)
            history[name].append(sq / len(range(0, T, 2)))
            accuracy[name].append(hits / max(due, 1))
            timing[name].append(onset_error_ms(torch.stack(outputs), dt * 2))
    return {"history": history, "accuracy": accuracy, "timing": timing, "cycles": cycles}


def onset_error_ms(outputs: torch.Tensor, step_ms: float) -> float:
    """When: in each symbol's interval, the time at which the output of the NEXT symbol peaks, against
    the middle of its due window; the mean absolute difference in ms."""
    errors, start = [], 0.0
    for k, duration in enumerate(DURATIONS_MS):
        first, last = int(start / step_ms), int((start + duration) / step_ms)
        peak = first + int(outputs[first:last, (k + 1) % 4].argmax())
        errors.append(abs(peak * step_ms - (start + duration - LEAD_MS / 2)))
        start += duration
    return sum(errors) / len(errors)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=20, help="training cycles of the sequence")
    p.add_argument("--test-cycles", type=int, default=5)
    p.add_argument("--neurons", type=int, default=300)
    p.add_argument("--lr", type=float, default=3e-5, help="learning rate of the three-factor rule")
    p.add_argument("--alpha", type=float, default=100.0, help="RLS regulariser (P starts at I / alpha)")
    p.add_argument("--attention", action="store_true",
                   help="gate the three-factor rule: only the output due and the output picked learn")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = run(args.cycles, args.test_cycles, args.neurons, args.seed, args.lr, args.alpha, args.attention)
    for name in out["history"]:
        train_err, test_err = out["history"][name][:args.cycles], out["history"][name][args.cycles:]
        test_acc = sum(out["accuracy"][name][args.cycles:]) / max(args.test_cycles, 1)
        test_when = sum(out["timing"][name][args.cycles:]) / max(args.test_cycles, 1)
        print(f"{name:>13}: MSE first cycle {train_err[0]:.4f}, last training cycle {train_err[-1]:.4f}, "
              f"held-out {sum(test_err) / len(test_err):.4f} (always-zero prediction: {ZERO_MSE:.4f}); held-out "
              f"what: next-symbol accuracy when due {test_acc:.2f}, when: onset error {test_when:.1f} ms")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, errs in out["history"].items():
        ax.plot(range(1, len(errs) + 1), errs, label=name)
    ax.axvline(args.cycles + 0.5, color="gray", ls="--", lw=0.8)
    ax.set_xlabel("sequence cycle (learning off right of the dashed line)")
    ax.set_ylabel("prediction MSE per 1 ms step")
    ax.set_yscale("log")
    ax.legend()
    print("figure:", save_figure(fig, args.out, "what_when_error.png"))


if __name__ == "__main__":
    main()
