"""Programmed inference of one 512 x 512 PCM crossbar layer: snnkit against aihwkit's pure-torch tile.

Both sides: weights ``nn.Linear(512, 512, bias=False)`` (seed 0) divided by their largest magnitude (so
aihwkit's default unscaled tile holds the same values as snnkit's normalised arrays), PCM statistical model, programmed then
read at t = 1 hour with global drift compensation, aihwkit's default periphery (7-bit DAC with abs-max
noise management, 9-bit ADC with bound 12, output noise 0.06, iterative bound management), eval mode,
``torch.no_grad``. snnkit: ``simulate(linear, "pcm", t_inference=3600)``; aihwkit:
``AnalogLinear(..., rpu_config=TorchInferenceRPUConfig())`` with ``program_analog_weights`` and
``drift_analog_weights(3600)``. Workloads: ``analog`` (Gaussian inputs ``[B, 512]``) and ``spikes``
(Bernoulli p = 0.1 inputs ``[T * B, 512]``, one read per time step). Each implementation runs in its own
process, ``--rounds`` times alternating (best median kept, with peak memory); when both are installed
``median_ms`` comes from one extra process that alternates calls of the two layers, so that the load of
a shared machine hits both alike (the separate-process median is kept as ``median_ms_alone``). Summary: ``snnkit_vs_aihwkit`` = snnkit median / aihwkit median on ``analog`` (target <= 1.0).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys

from benchmarks import _interleave as il
from benchmarks._worker import run_worker
from benchmarks._interleave import rss_mb as _rss_mb, timed_median_ms as _median_ms  # the shared helpers

IMPLS = ["snnkit", "aihwkit"]
WORKLOADS = ["analog", "spikes"]


def _layer(impl: str):
    import torch

    torch.manual_seed(0)
    lin = torch.nn.Linear(512, 512, bias=False)
    with torch.no_grad():  # max |w| = 1: aihwkit's unscaled tile and snnkit's normalised read then coincide
        lin.weight /= lin.weight.abs().max()
    if impl == "snnkit":
        from snnkit.hardware.crossbar import simulate

        return simulate(lin, "pcm", t_inference=3600.0, seed=0)
    if impl == "aihwkit":
        from aihwkit.nn import AnalogLinear
        from aihwkit.simulator.configs import TorchInferenceRPUConfig

        layer = AnalogLinear(512, 512, bias=False, rpu_config=TorchInferenceRPUConfig())
        layer.set_weights(lin.weight.detach())
        layer.eval()
        layer.program_analog_weights()
        layer.drift_analog_weights(3600.0)
        return layer
    raise ValueError(f"impl={impl!r} is unknown; allowed: {IMPLS}")


def _input(workload: str, batch: int, T: int):
    import torch

    g = torch.Generator().manual_seed(1)
    if workload == "analog":
        return torch.randn(batch, 512, generator=g)
    return (torch.rand(T * batch, 512, generator=g) < 0.1).float()


def worker(impl: str, workload: str, batch: int, T: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(2)
    layer = _layer(impl)
    x = _input(workload, batch, T)

    def run():
        with torch.no_grad():
            return layer(x)

    run()
    base = _rss_mb()
    run()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    ms = _median_ms(run, repeats, warmup=10)
    return {"bench": "crossbar-512", "impl": impl, "workload": workload, "rows": int(x.shape[0]),
            "median_ms": round(ms, 3), "peak_mb": round(max(peak_mb, 0.0), 1)}


def pair_worker(workload: str, batch: int, T: int, repeats: int) -> dict:
    """Both implementations in one process, calls alternating: the same machine load hits both."""
    import time

    import torch

    torch.set_num_threads(2)
    layers = {impl: _layer(impl) for impl in IMPLS}
    x = _input(workload, batch, T)
    times: dict[str, list[float]] = {impl: [] for impl in IMPLS}
    with torch.no_grad():
        for i in range(10 + repeats):
            for impl in (IMPLS if i % 2 else IMPLS[::-1]):
                t0 = time.perf_counter()
                layers[impl](x)
                if i >= 10:
                    times[impl].append(time.perf_counter() - t0)
    return {impl: round(statistics.median(v) * 1000, 3) for impl, v in times.items()}


def _spawn(impl: str, workload: str, batch: int, T: int, repeats: int) -> dict:
    args = [impl, "--workload", workload, "--batch", str(batch), "--T", str(T), "--repeats", str(repeats)]
    return run_worker("benchmarks.crossbar", args, {"bench": "crossbar-512", "impl": impl, "workload": workload})


def _has_aihwkit() -> bool:
    import importlib.util

    return importlib.util.find_spec("aihwkit") is not None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench crossbar", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--batch", type=int, default=256, help="input vectors per call (analog) / batch (spikes)")
    ap.add_argument("--T", type=int, default=16, help="time steps of the spikes workload")
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per process (median)")
    ap.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated implementations (default: {','.join(IMPLS)})")
    ap.add_argument("--rounds", type=int, default=3,
                    help="worker processes per implementation, alternating; the best median is kept "
                         "(shared machines: a burst of load hits one round, not the comparison)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="analog", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "pair":
        print(json.dumps(pair_worker(args.workload, args.batch, args.T, args.repeats)), flush=True)
        return 0
    if args.worker:
        print(json.dumps(worker(args.worker, args.workload, args.batch, args.T, args.repeats)), flush=True)
        return 0
    impls = [i for i in args.impls.split(",") if i]
    for i in impls:
        if i not in IMPLS:
            raise SystemExit(f"--impls: {i!r} is unknown; allowed: {IMPLS}")
    results: dict[tuple[str, str], dict] = {}
    load_start = il.load_average()
    for workload in WORKLOADS:
        for _ in range(max(1, args.rounds)):
            for impl in impls:
                if impl == "aihwkit" and not _has_aihwkit():
                    rec = {"bench": "crossbar-512", "impl": impl, "workload": workload,
                           "skipped": "aihwkit not installed (bash .ci/install_aihwkit.sh)"}
                else:
                    rec = _spawn(impl, workload, args.batch, args.T, args.repeats)
                best = results.get((impl, workload))
                if best is None or ("median_ms" in rec and rec["median_ms"] < best.get("median_ms", float("inf"))):
                    results[(impl, workload)] = rec
        if set(IMPLS) <= set(impls) and _has_aihwkit():
            # Timing from one process with alternating calls (robust to load on shared machines);
            # memory and the stand-alone medians from the separate processes above.
            pair = _spawn("pair", workload, args.batch, args.T, args.repeats)
            for impl in IMPLS:
                rec = results[(impl, workload)]
                if impl in pair and "median_ms" in rec:
                    rec["median_ms_alone"], rec["median_ms"] = rec["median_ms"], pair[impl]
                    rec["timing"] = "interleaved"
        for impl in impls:
            print(json.dumps(results[(impl, workload)]), flush=True)
    cores = os.cpu_count() or 1
    load_end = il.load_average()
    summary: dict = {"bench": "crossbar", "summary": True, "batch": args.batch, "T": args.T,
                     "load_avg_start": load_start, "load_avg_end": load_end,
                     "too_busy_to_trust": max(load_start, load_end) > il.BUSY_LOAD_PER_CORE * cores}
    for workload in WORKLOADS:
        a, b = results.get(("snnkit", workload), {}), results.get(("aihwkit", workload), {})
        if "median_ms" in a and "median_ms" in b:
            key = "snnkit_vs_aihwkit" if workload == "analog" else f"snnkit_vs_aihwkit_{workload}"
            summary[key] = round(a["median_ms"] / b["median_ms"], 3)
    summary.setdefault("snnkit_vs_aihwkit", None)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
