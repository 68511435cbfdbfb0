"""snnkit's bit-exact fixed-point simulator against the real Lava runtime (lava-nc 0.10.0,
Loihi2SimCfg fixed_pt) on the same network, input and number of steps.

Network: Dense 100 -> 128 (mixed weights) -> LIF -> DelayDense 128 -> 10 (delays 0..7) -> LIF, one
sample, Bernoulli p = 0.1 input spikes, T = 200 steps. Lava runs in its own process (.venv-lava); its
first step (compilation, runtime start) is excluded from its time. snnkit is timed in this process
(median of repeats). Both outputs are checked to be identical. Summary:
``snnkit_vs_lava`` = snnkit median ms / Lava ms (target <= 0.01). ``peak_mb``: snnkit's peak traced
numpy/Python allocation during one run (tracemalloc); Lava's is not measured (null).

    python -m benchmarks.loihi [--steps 200] [--repeats 20]      # or: snnkit bench loihi --json
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

import numpy as np

from benchmarks import _interleave as il


def _network(rng):
    from snnkit.hardware.loihi import LoihiLayer

    l0 = LoihiLayer(weights=rng.integers(-256, 255, (128, 100)), du=4095, dv=300, vth=600, weight_exp=0,
                    bias_mant=rng.integers(-20, 20, 128), bias_exp=2)
    l1 = LoihiLayer(weights=rng.integers(-100, 255, (10, 128)), du=500, dv=400, vth=2000,
                    delays=rng.integers(0, 8, (10, 128)))
    return [l0, l1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="snnkit fixed-point simulator vs the Lava runtime")
    ap.add_argument("--steps", type=int, default=200, help="simulated time steps (default 200)")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs (median)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of snnkit and Lava")
    ap.add_argument("--json", action="store_true", help="accepted for `snnkit bench`; output is always JSON")
    args = ap.parse_args(argv)
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:  # pragma: no cover
        pass
    from snnkit.hardware.loihi import lava_available, run_lava, simulate

    rng = np.random.default_rng(0)
    layers = _network(rng)
    x = rng.random((args.steps, 100)) < 0.1
    simulate(layers, x)  # warm-up
    tracemalloc.start()
    ref = simulate(layers, x)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    load_start = il.load_average()
    have_lava = lava_available()
    ratios, exact = [], None
    # interleaved rounds: snnkit's simulator here, then the Lava runtime in its own process
    for r in range(args.rounds):
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            simulate(layers, x)
            times.append((time.perf_counter() - t0) * 1e3)
        ours = statistics.median(times)
        il.emit({"bench": "loihi", "impl": "snnkit-fixed", "round": r, "median_ms": round(ours, 3),
                 "peak_mb": round(peak, 2), "steps": args.steps})
        if not have_lava:
            continue
        res = run_lava([(layers, x)], mode="fixed", warmup=True, timeout=600)[0]
        lava_ms = res["seconds"] * 1e3 * args.steps / max(res["timed_steps"], 1)  # scaled to the same step count
        exact = all(np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64))
                    for key in ("spikes", "u", "v") for a, b in zip(ref[key], res[key])) and exact is not False
        il.emit({"bench": "loihi", "impl": "lava-fixed_pt", "round": r, "median_ms": round(lava_ms, 3),
                 "peak_mb": None, "steps": args.steps})
        ratios.append(ours / lava_ms)
    load_end = il.load_average()
    cores = os.cpu_count() or 1
    summary = {"bench": "loihi", "summary": True, "snnkit_vs_lava": il.median_ratio(ratios) if ratios else None,
               "snnkit_vs_lava_per_round": [round(v, 5) for v in ratios], "bit_exact": exact,
               "load_avg_start": load_start, "load_avg_end": load_end,
               "too_busy_to_trust": max(load_start, load_end) > il.BUSY_LOAD_PER_CORE * cores,
               "rounds_disagree": ["snnkit_vs_lava"] if il.disagree(ratios) else []}
    if not have_lava:
        summary["skipped"] = "Lava environment missing: run .ci/install_lava.sh"
    il.emit(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
