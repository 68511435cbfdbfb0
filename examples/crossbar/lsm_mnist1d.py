"""Resistive-memory liquid state machine on MNIST-1D (offline): the reservoir's weights are nothing but
the programming noise of RRAM devices all programmed to the same conductance; only a linear readout is
trained (ridge regression).

Each 40-sample signal is played one sample per time step, each sample repeated ``--hold`` steps and
encoded as spikes on ``--channels`` level channels (channel k spikes when the sample falls in level
bin k, a thermometer-free one-hot code). The reservoir runs on the profile's periphery (one DAC/ADC
read per time step). We report test accuracy at 1 s and 1 day after programming, and the same
reservoir with a fresh programming (another chip) to show that what matters is the statistics of the
device noise, not one draw.

    python examples/crossbar/lsm_mnist1d.py            # a few minutes on 2 cores
    python examples/crossbar/lsm_mnist1d.py --quick
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from snnkit import atomic_path
from snnkit.data.mnist1d import read_mnist1d
from snnkit.hardware.crossbar import ResistiveLSM

HERE = Path(__file__).resolve().parent


def encode(x: torch.Tensor, channels: int, hold: int) -> torch.Tensor:
    """``[B, 40]`` standardised signals -> one-hot level spikes ``[40 * hold, B, channels]``."""
    edges = torch.linspace(-2.0, 2.0, channels - 1)
    level = torch.bucketize(x.clamp(-3, 3), edges)  # [B, 40] in 0..channels-1
    spikes = torch.nn.functional.one_hot(level, channels).float()  # [B, 40, C]
    return spikes.transpose(0, 1).repeat_interleave(hold, dim=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="rram")
    ap.add_argument("--neurons", type=int, default=400)
    ap.add_argument("--channels", type=int, default=12)
    ap.add_argument("--hold", type=int, default=2)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--ridge", type=float, default=0.1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--root", type=Path, default=Path(".cache/datasets"))
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    d = read_mnist1d(args.root)
    x, xt = torch.tensor(d["x"]), torch.tensor(d["x_test"])
    mu, sd = x.mean(), x.std()
    y, yt = torch.tensor(d["y"]), torch.tensor(d["y_test"])
    if args.quick:
        x, y, xt, yt, args.neurons = x[:500], y[:500], xt[:200], yt[:200], 150
    s_train, s_test = encode((x - mu) / sd, args.channels, args.hold), encode((xt - mu) / sd, args.channels, args.hold)
    results = {}
    for chip, t in (("chip0", 1.0), ("chip0", 86400.0), ("chip1", 1.0)):
        lsm = ResistiveLSM(args.channels, args.neurons, profile=args.profile, t_inference=t,
                           windows=args.windows, seed=0 if chip == "chip0" else 1, input_gain=3.0,
                           recurrent_gain=1.0, tau_mem=10.0, ridge=args.ridge)
        lsm.fit(s_train, y, n_classes=10)
        acc_train = float((lsm(s_train).argmax(1) == y).float().mean())
        acc = float((lsm(s_test).argmax(1) == yt).float().mean())
        rate = float(lsm.reservoir(s_test[:, :64]).mean())
        key = f"{chip} t={t:g}s"
        results[key] = {"test_accuracy": acc, "train_accuracy": acc_train, "firing_rate": rate}
        print(f"{key}: test {100 * acc:.1f} %, train {100 * acc_train:.1f} %, rate {rate:.3f} spikes/step")
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "lsm_mnist1d.json") as tmp:
        tmp.write_text(json.dumps({"profile": args.profile, "neurons": args.neurons, **results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
