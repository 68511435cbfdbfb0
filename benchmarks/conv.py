"""Workload W2, a convolutional SNN: snnkit against each peer that imports, interleaved rounds.

Input: event frames [T=20, B=32, 2, 34, 34] (N-MNIST size), Bernoulli p = 0.1 per pixel and polarity.
Conv(2->32, 3x3, pad 1) - LIF - AvgPool(2) - Conv(32->64, 3x3, pad 1) - LIF - AvgPool(2) -
Linear(4096->10) - LIF, the LIF of W1 (beta 0.9, threshold 1, hard reset to 0, ATan surrogate).
Weights: PyTorch's default initialisation (seed 0) times GAIN so that every layer fires. One step = zero
grads, forward over T, loss = sum of output spikes, backward. Every implementation folds time into the
batch for the stateless layers (spikingjelly's ``SeqToANNContainer`` idea) and runs its own neurons:
snnkit's multi-step engine, spikingjelly's multi-step ``LIFNode``, snntorch ``Leaky`` and norse
``LIFBoxCell`` step by step. snnkit's ``Sequential`` runs each LIF and the pooling after it as one fused
engine pass (the spikes between them are never stored); ``snnkit-unfused`` is the same network with the
two run apart (``snnkit_vs_snnkit_unfused``: what the fusion is worth). ``floor`` is the same step without neurons (convolutions, pooling, linear)
in the fastest layout on the CPU, channels-last, which is the layout snnkit's ``TimeDistributed`` gives
a convolution; ``floor-nchw`` is the same in PyTorch's default layout, the one the peers run. The floor
pays PyTorch's pooling, which the fused pass replaces, so snnkit can come in under it.
``spikingjelly-cl`` is spikingjelly with its convolutions fed channels-last by hand: no peer does that
by default, so it is not a "best peer", but it shows how much of snnkit's lead is the layout.
Streaming: batch 1, no grad, one step at a time, latency per step.
"""
from __future__ import annotations

import sys

from benchmarks._worker import threads
from benchmarks._networks import IMPLS, LIF, bench_main, measure

GAIN = (4.0, 6.0, 6.0)


def _network(T: int, B: int):
    import torch
    from torch import nn

    torch.manual_seed(0)
    c1, c2, fc = nn.Conv2d(2, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1), nn.Linear(4096, 10)
    with torch.no_grad():
        for layer, g in zip((c1, c2, fc), GAIN):
            layer.weight.mul_(g)
    x = (torch.rand(T, B, 2, 34, 34, generator=torch.Generator().manual_seed(1)) < 0.1).float()
    return [c1, LIF, nn.AvgPool2d(2), c2, LIF, nn.AvgPool2d(2), nn.Flatten(), fc, LIF], x


def worker(impl: str, T: int, B: int, repeats: int, stream_steps: int) -> dict:
    import torch

    torch.set_num_threads(threads())
    layers, x = _network(T, B)
    return measure("conv-W2", impl, layers, x, repeats, stream_steps)


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, module="benchmarks.conv", bench="conv-W2", description=__doc__.splitlines()[0],
                      worker=worker, T=20, batch=32, stream_steps=20, floors=("floor", "floor-nchw"),
                      default_impls=(*IMPLS, "snnkit-unfused", "spikingjelly-cl"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
