"""Learnable-delay layer: snnkit ``DelayedLinear`` vs the ``dcls`` package's ``Dcls1d`` (GPL-3,
benchmark-only peer; ``pip install -c .ci/constraints.txt -r .ci/requirements-delays.txt``).

SHD shape of the DCLS recipe: 140 inputs, 256 outputs, max delay D = 25, T = 100, Gaussian kernel,
input Bernoulli spikes (p = 0.05). One step = zero grads, forward on time-major ``[T, B, 140]`` (dcls is
fed the permuted, left-padded ``[B, 140, T + D - 1]`` its users build, and its output is permuted
back), loss = sum of outputs, backward (weights, delays/positions and, with ``--input-grad``, the
input: the case of every hidden layer). Each implementation runs in its own processes; ``peak_mb`` is
the peak resident memory of the timing process above its resident memory just before the first step
(this includes what glibc's allocator keeps after frees: its dynamic mmap threshold serves 8-32 MB
buffers from the heap and does not return them); ``live_peak_mb`` is the same measure in a second
process run with ``MALLOC_MMAP_THRESHOLD_=1048576``, where large buffers go back to the system when
freed, so it tracks the memory the implementation really holds at its peak. The summary's memory
ratio uses ``live_peak_mb``; both are printed.

Cases run in interleaved rounds (benchmarks/_interleave.py). Prints one JSON line per case and round
and a summary line with the per-round ratios, their median per batch size, ``snnkit_vs_dcls`` = the
largest of those medians over the batch sizes (lower is better) and the load average.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

from benchmarks import _interleave as il
from benchmarks._worker import threads

T, IN, OUT, D, P_SPIKE = 100, 140, 256, 25, 0.05
IMPLS = ["snnkit", "dcls"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _step_fn(impl: str, B: int, input_grad: bool):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    x = (torch.rand(T, B, IN, generator=torch.Generator().manual_seed(1)) < P_SPIKE).float()
    x.requires_grad_(input_grad)
    if impl == "snnkit":
        from snnkit.synapses.delays import DelayedLinear

        layer = DelayedLinear(IN, OUT, D)  # sigma = D / 2, as training starts (cost does not depend on it)

        def forward():
            return layer(x)
    elif impl == "dcls":
        from DCLS.construct.modules import Dcls1d

        layer = Dcls1d(IN, OUT, kernel_count=1, dilated_kernel_size=D, bias=False, version="gauss")
        with torch.no_grad():
            layer.P.uniform_(-(D // 2), D // 2)
            layer.SIG.fill_(D / 2 - 0.27)
        layer.SIG.requires_grad_(False)  # the recipe schedules sigma, it is not learned

        def forward():
            return layer(F.pad(x.permute(1, 2, 0), (D - 1, 0))).permute(2, 0, 1)
    else:
        raise ValueError(f"impl={impl!r} is unknown; allowed: {IMPLS}")
    params = [p for p in layer.parameters() if p.requires_grad]

    def step() -> float:
        for p in params:
            p.grad = None
        x.grad = None
        y = forward()
        y.sum().backward()
        return float(y.detach().abs().sum())

    return step


def _worker(impl: str, B: int, repeats: int, input_grad: bool) -> dict:
    import torch

    torch.set_num_threads(threads())
    step = _step_fn(impl, B, input_grad)
    base = _rss_mb()
    step()  # warm-up (allocator, DFT matrices, oneDNN primitives)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"bench": "delays", "impl": impl, "batch": B, "T": T, "in": IN, "out": OUT, "max_delay": D,
            "input_grad": input_grad, "median_ms": round(statistics.median(times), 2),
            "min_ms": round(min(times), 2), "peak_mb": round(max(0.0, peak - base), 1), "repeats": repeats}


def _available(impl: str) -> bool:
    if impl == "dcls":
        try:
            import DCLS.construct.modules  # noqa: F401
        except ImportError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench delays", description=__doc__.split("\n\n")[0].replace("``", ""))
    ap.add_argument("--json", action="store_true", help="JSON lines only (the default output format too)")
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 256], help="batch sizes (default 32 256; the summary is the worst ratio)")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per process (median)")
    ap.add_argument("--impl", nargs="+", default=IMPLS, choices=IMPLS, help="implementations to run (default: all)")
    ap.add_argument("--no-input-grad", action="store_true", help="input without gradient (first layer)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one process per case each)")
    il.add_threads_option(ap)
    ap.add_argument("--worker", nargs=2, metavar=("IMPL", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    input_grad = not args.no_input_grad
    if args.worker:
        print(json.dumps(_worker(args.worker[0], int(args.worker[1]), args.repeats, input_grad)), flush=True)
        return 0
    il.apply_threads_option(args)
    impls = [i for i in args.impl if _available(i) or
             print(json.dumps({"bench": "delays", "impl": i, "skipped": "not installed"}))]
    extra_args = ["--repeats", str(args.repeats)] + ([] if input_grad else ["--no-input-grad"])
    cases = {f"{impl}@B{B}": [impl, str(B), *extra_args] for B in args.batch for impl in impls}
    rounds = il.Rounds("benchmarks.delays", "delays", cases, args.rounds)
    # memory: one more process per case with large buffers returned to the system when freed
    live = {}
    for name, worker_args in cases.items():
        worker_args = list(worker_args)
        worker_args[worker_args.index("--repeats") + 1] = "1"
        rec = il.live_peak_mb("benchmarks.delays", worker_args)
        live[name] = rec
        il.emit({"bench": "delays", "case": name, "live_peak_mb": rec})
    pairs = {f"snnkit_vs_dcls_B{B}": (f"snnkit@B{B}", f"dcls@B{B}") for B in args.batch}
    summary = il.summarise(rounds, pairs)
    ratios = [summary[k] for k in pairs if summary.get(k) is not None]
    mem = {str(B): round(live[f"snnkit@B{B}"] / max(live[f"dcls@B{B}"], 1e-9), 3) for B in args.batch
           if live.get(f"snnkit@B{B}") is not None and live.get(f"dcls@B{B}") is not None}
    summary.update({"snnkit_vs_dcls": max(ratios) if ratios else None, "memory_ratio_per_batch": mem,
                    "target": "time <= 0.5x dcls at equal or lower memory",
                    "met": bool(ratios) and max(ratios) <= 0.5 and bool(mem) and max(mem.values()) <= 1.0})
    il.emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
