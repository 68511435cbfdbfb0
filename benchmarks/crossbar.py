"""Programmed inference of one 512 x 512 PCM crossbar layer: snnkit against aihwkit's pure-torch tile.

Both sides: weights ``nn.Linear(512, 512, bias=False)`` (seed 0), PCM statistical model, programmed then
read at t = 1 hour with global drift compensation, aihwkit's default periphery (7-bit DAC with abs-max
noise management, 9-bit ADC with bound 12, output noise 0.06, iterative bound management), eval mode,
``torch.no_grad``. snnkit: ``simulate(linear, "pcm", t_inference=3600)``; aihwkit:
``AnalogLinear(..., rpu_config=TorchInferenceRPUConfig())`` with ``program_analog_weights`` and
``drift_analog_weights(3600)``. Workloads: ``analog`` (Gaussian inputs ``[B, 512]``) and ``spikes``
(Bernoulli p = 0.1 inputs ``[T * B, 512]``, one read per time step). Each implementation runs in its own
process. Summary: ``snnkit_vs_aihwkit`` = snnkit median / aihwkit median on ``analog`` (target <= 1.0).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

from benchmarks.core import _median_ms, _rss_mb  # same timing and memory helpers as the core benchmark

IMPLS = ["snnkit", "aihwkit"]
WORKLOADS = ["analog", "spikes"]


def _layer(impl: str):
    import torch

    torch.manual_seed(0)
    lin = torch.nn.Linear(512, 512, bias=False)
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


def worker(impl: str, workload: str, batch: int, T: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(2)
    layer = _layer(impl)
    g = torch.Generator().manual_seed(1)
    if workload == "analog":
        x = torch.randn(batch, 512, generator=g)
    else:
        x = (torch.rand(T * batch, 512, generator=g) < 0.1).float()

    def run():
        with torch.no_grad():
            return layer(x)

    run()
    base = _rss_mb()
    run()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    ms = _median_ms(run, repeats)
    return {"bench": "crossbar-512", "impl": impl, "workload": workload, "rows": int(x.shape[0]),
            "median_ms": round(ms, 3), "peak_mb": round(max(peak_mb, 0.0), 1)}


def _spawn(impl: str, workload: str, batch: int, T: int, repeats: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.crossbar", "--worker", impl, "--workload", workload,
           "--batch", str(batch), "--T", str(T), "--repeats", str(repeats)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, env=env, timeout=1800)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"bench": "crossbar-512", "impl": impl, "workload": workload, "error": err[:300]}
    return json.loads(lines[-1])


def _has_aihwkit() -> bool:
    import importlib.util

    return importlib.util.find_spec("aihwkit") is not None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench crossbar", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--batch", type=int, default=256, help="input vectors per call (analog) / batch (spikes)")
    ap.add_argument("--T", type=int, default=16, help="time steps of the spikes workload")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--workload", default="analog", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.workload, args.batch, args.T, args.repeats)), flush=True)
        return 0
    impls = [i for i in args.impls.split(",") if i]
    for i in impls:
        if i not in IMPLS:
            raise SystemExit(f"--impls: {i!r} is unknown; allowed: {IMPLS}")
    results: dict[tuple[str, str], dict] = {}
    for workload in WORKLOADS:
        for impl in impls:
            if impl == "aihwkit" and not _has_aihwkit():
                rec = {"bench": "crossbar-512", "impl": impl, "workload": workload,
                       "skipped": "aihwkit not installed (bash .ci/install_aihwkit.sh)"}
            else:
                rec = _spawn(impl, workload, args.batch, args.T, args.repeats)
            results[(impl, workload)] = rec
            print(json.dumps(rec), flush=True)
    summary: dict = {"bench": "crossbar", "summary": True, "batch": args.batch, "T": args.T}
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
