"""Scaling of workload W1: time and peak memory of one training step for snnkit and a peer against
the number of steps T, the batch and the hidden width, one process per point, snnkit and the peer
interleaved at each point. Writes ``docs/img/scaling_w1.png`` (``--out``) and prints JSON lines.

Default sweep: T in 10..2000 (batch 32, width 512), batch in 1..256 (T 100), width in 128..8192
(T 100, batch 32); ``--quick`` runs a shorter sweep with smaller ends. Log-log axes: a line of slope 1
is linear growth.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks import _interleave as il
from benchmarks._worker import threads

SWEEPS = {"T": [10, 100, 500, 2000], "batch": [1, 16, 64, 256], "width": [128, 512, 2048, 8192]}
QUICK = {"T": [10, 100, 500], "batch": [1, 32, 128], "width": [128, 512, 2048]}
BASE = {"T": 100, "batch": 32, "width": 512}


def worker(impl: str, T: int, B: int, width: int, repeats: int) -> dict:
    import torch

    torch.set_num_threads(threads())
    from benchmarks.core import worker as core_worker

    return {**core_worker(impl, T, B, repeats, 0, width), "width": width}


def scaling_figure(rows: list[dict]):
    """CPU time (the worker's own, robust to load; wall time where absent) and peak memory against T,
    batch and width (one column each), one line per implementation."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.5), constrained_layout=True)
    axes = fig.subplots(2, 3)
    for col, axis in enumerate(SWEEPS):
        for impl in sorted({r["impl"] for r in rows}):
            pts = sorted((r[axis], r.get("cpu_ms") or r["median_ms"], r["peak_mb"]) for r in rows
                         if r.get("sweep") == axis and r["impl"] == impl and "median_ms" in r)
            if not pts:
                continue
            xs = [p[0] for p in pts]
            axes[0, col].plot(xs, [p[1] for p in pts], "o-", label=impl)
            axes[1, col].plot(xs, [max(p[2], 0.1) for p in pts], "o-", label=impl)
        for row, label in enumerate(("CPU time per step (ms)", "peak memory above start (MB)")):
            ax = axes[row, col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(axis)
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        axes[0, col].legend(fontsize=8)
    fig.suptitle("W1 training step (Linear 700-W-20, 2 LIF layers): scaling")
    return fig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench scaling", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--quick", action="store_true", help="a shorter sweep")
    ap.add_argument("--peer", default="spikingjelly", help="the peer implementation (see benchmarks/core.py)")
    ap.add_argument("--repeats", type=int, default=2, help="timed calls per point (median)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "img" / "scaling_w1.png"),
                    help="where the plot is written (default docs/img/scaling_w1.png)")
    ap.add_argument("--from-json", help="redraw the figure from the JSON lines of an earlier run (no measuring)")
    il.add_threads_option(ap)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--T", type=int, default=100, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=32, help=argparse.SUPPRESS)
    ap.add_argument("--width", type=int, default=512, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.T, args.batch, args.width, args.repeats)), flush=True)
        return 0
    if args.from_json:
        rows = [json.loads(line) for line in Path(args.from_json).read_text().splitlines()
                if line.startswith("{") and '"sweep"' in line]
        scaling_figure(rows).savefig(args.out, dpi=90)
        return 0
    il.apply_threads_option(args)
    load_start = il.load_average()
    rows = []
    for axis, values in (QUICK if args.quick else SWEEPS).items():
        for v in values:
            point = {**BASE, axis: v}
            cases = {impl: [impl, "--T", str(point["T"]), "--batch", str(point["batch"]), "--width",
                            str(point["width"]), "--repeats", str(args.repeats)] for impl in ("snnkit", args.peer)}
            rounds = il.Rounds("benchmarks.scaling", "scaling-W1", cases, 1, quiet=True)
            for impl in cases:
                rows.append(il.emit({**rounds.records[impl][0], "sweep": axis, "load_avg": il.load_average()}))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scaling_figure(rows).savefig(out, dpi=90)
    il.emit({"bench": "scaling-W1", "summary": True, "figure": str(out), "load_avg_start": load_start,
             "load_avg_end": il.load_average(), "threads_per_worker": threads()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
