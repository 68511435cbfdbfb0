"""Workload W1 of REFERENCE.md section 1: snnkit against each peer that imports, interleaved rounds.

Input Bernoulli spikes [T, 32, 700] (p = 0.05), Linear 700->512, LIF, Linear 512->20, LIF, with
v[t] = 0.9 v[t-1] (1 - s[t-1]) + I[t], threshold 1, hard reset to 0, float32, ATan surrogate. One step =
zero grads, forward over T, loss = sum of output spikes, backward. Linear weights are PyTorch's default
initialisation (seed 0) times GAIN so that both layers fire (about 8 % of neuron-steps). ``floor`` is the
same step with the neurons removed (the GEMMs forward and backward). Streaming: batch 1, no grad, one
step at a time through each library's single-step form, latency per step. ``snnkit-events`` is snnkit
with event-driven synapses (``snnkit.kernels.set_event_driven``, opt-in): summary keys
``snnkit_events_vs_snnkit``, ``snnkit_events_vs_best_peer`` and ``snnkit_events_same_spike_count``.

Each round runs every case once in a process of its own (A B C A B C ...); the summary gives the median
of the per-round ratios and the 1-minute load average at start and end (see benchmarks/_interleave.py).
``peak_mb`` is the peak resident memory of a step above the worker's memory before it.
"""
from __future__ import annotations

import sys

from benchmarks._worker import threads
from benchmarks._networks import BETA, IMPLS, LIF, bench_main, measure

GAIN = 6.0
__all__ = ["BETA", "IMPLS", "GAIN", "main"]


def _data(T: int, B: int, width: int = 512):
    import torch

    torch.manual_seed(0)
    l1, l2 = torch.nn.Linear(700, width), torch.nn.Linear(width, 20)
    with torch.no_grad():
        l1.weight.mul_(GAIN)
        l2.weight.mul_(GAIN)
    x = (torch.rand(T, B, 700, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    return x, l1, l2


def worker(impl: str, T: int, B: int, repeats: int, stream_steps: int, width: int = 512) -> dict:
    import torch

    torch.set_num_threads(threads())
    x, l1, l2 = _data(T, B, width)
    return measure("core-W1", impl, [l1, LIF, l2, LIF], x, repeats, stream_steps)


def main(argv: list[str] | None = None) -> int:
    return bench_main(argv, module="benchmarks.core", bench="core-W1", description=__doc__.splitlines()[0],
                      worker=worker, T=100, batch=32, stream_steps=100, default_impls=(*IMPLS, "snnkit-events"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
