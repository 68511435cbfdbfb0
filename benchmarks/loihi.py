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
import json
import statistics
import time
import tracemalloc

import numpy as np


def _network(rng):
    from snnkit.hardware.loihi import LoihiLayer

    l0 = LoihiLayer(weights=rng.integers(-256, 255, (128, 100)), du=4095, dv=300, vth=600, weight_exp=0,
                    bias_mant=rng.integers(-20, 20, 128), bias_exp=2)
    l1 = LoihiLayer(weights=rng.integers(-100, 255, (10, 128)), du=500, dv=400, vth=2000,
                    delays=rng.integers(0, 8, (10, 128)))
    return [l0, l1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="snnkit fixed-point simulator vs the Lava runtime")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=20)
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
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ref = simulate(layers, x)
        times.append((time.perf_counter() - t0) * 1e3)
    tracemalloc.start()
    simulate(layers, x)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    ours = statistics.median(times)
    print(json.dumps({"bench": "loihi", "impl": "snnkit-fixed", "median_ms": round(ours, 3), "peak_mb": round(peak, 2),
                      "steps": args.steps}), flush=True)
    summary = {"bench": "loihi", "summary": True, "snnkit_vs_lava": None, "bit_exact": None}
    if not lava_available():
        summary["skipped"] = "Lava environment missing: run .ci/install_lava.sh"
        print(json.dumps(summary))
        return 0
    res = run_lava([(layers, x)], mode="fixed", warmup=True, timeout=600)[0]
    lava_ms = res["seconds"] * 1e3 * args.steps / max(res["timed_steps"], 1)  # scaled to the same step count
    exact = all(np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64))
                for key in ("spikes", "u", "v") for a, b in zip(ref[key], res[key]))
    print(json.dumps({"bench": "loihi", "impl": "lava-fixed_pt", "median_ms": round(lava_ms, 3), "peak_mb": None,
                      "steps": args.steps}), flush=True)
    summary.update(snnkit_vs_lava=round(ours / lava_ms, 5), bit_exact=bool(exact))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
