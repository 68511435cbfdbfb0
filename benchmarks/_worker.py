"""Run one benchmark implementation in a process of its own, so its time and peak memory are its own."""
from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def threads() -> int:
    """Threads per worker: 2, or ``SNNKIT_BENCH_THREADS`` (1 keeps a crowded machine from stalling
    every parallel region on a descheduled thread)."""
    return int(os.environ.get("SNNKIT_BENCH_THREADS", "2"))


def run_worker(module: str, worker_args: list[str], error_record: dict, timeout: float = 1800) -> dict:
    """``python -m MODULE --worker *worker_args`` on :func:`threads` threads; returns the last JSON line it
    printed, or ``error_record`` plus the last line of its stderr when it failed."""
    n = str(threads())
    env = dict(os.environ, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", module, "--worker", *worker_args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**error_record, "error": err[:300]}
    return json.loads(lines[-1])
