"""Interleaved rounds: the shared measuring discipline of every ``snnkit bench``.

A benchmark names its cases (implementation, size, ...). Each round runs every case once, in order, each
in a fresh process (A B C A B C ...), so a change in machine load hits all cases of a round alike; the
benchmark then reports per-round ratios and takes their median as the summary. The 1-minute load
average is recorded at the start and the end; above :data:`BUSY_LOAD_PER_CORE` per core the summary
says the machine was too busy to trust. A quiet load average does not make a process's timing steady
(a virtual machine's neighbours, a process's luck with memory placement): a ratio whose rounds span
more than :data:`DISAGREE_SPREAD` of its median is listed under ``rounds_disagree``, its median a weak
summary (read the paired figure, or run more rounds).
"""
from __future__ import annotations

import json
import os
import statistics
from typing import Callable, Iterable

from benchmarks._worker import run_worker, threads

BUSY_LOAD_PER_CORE = 1.5  # a 2-thread worker alone adds about 2 to the load of a 2-core machine
# (max - min) / median of a ratio's rounds: quiet runs of the same code span about 0.1-0.3 here, while
# rounds that met a burst of outside work span 0.6 and more (docs/benchmarks.md, 2026-12-01 15:12)
DISAGREE_SPREAD = 0.4


def add_threads_option(ap) -> None:
    """``--threads N``: threads per worker process (sets ``SNNKIT_BENCH_THREADS`` for the workers)."""
    ap.add_argument("--threads", type=int, default=None, help="threads per worker (default 2)")


def apply_threads_option(args) -> None:
    if getattr(args, "threads", None):
        os.environ["SNNKIT_BENCH_THREADS"] = str(args.threads)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def emit(record: dict) -> dict:
    print(json.dumps(record), flush=True)
    return record


class Rounds:
    """Run ``cases`` (name -> worker arguments) for ``rounds`` rounds, interleaved, one process each.

    ``records[name]`` lists the worker's JSON record of each round (with ``"round"`` added).
    """

    def __init__(self, module: str, bench: str, cases: dict[str, list[str]], rounds: int,
                 quiet: bool = False) -> None:
        if rounds < 1:
            raise ValueError(f"rounds={rounds} must be >= 1")
        self.bench = bench
        self.load_start = load_average()
        self.records: dict[str, list[dict]] = {name: [] for name in cases}
        for r in range(rounds):
            for name, args in cases.items():
                rec = run_worker(module, args, {"bench": bench, "case": name})
                rec = {**rec, "case": name, "round": r}
                self.records[name].append(rec)
                if not quiet:
                    emit(rec)
        self.load_end = load_average()

    def ok(self, name: str) -> bool:
        return bool(self.records.get(name)) and all("error" not in r for r in self.records[name])

    def values(self, name: str, key: str = "median_ms") -> list[float]:
        return [r[key] for r in self.records[name] if r.get(key) is not None]

    def ratios(self, num: str, den: str | Iterable[str], key: str = "median_ms") -> list[float]:
        """Per-round ``num / den`` (``den`` several names: the smallest of them in that round)."""
        dens = [den] if isinstance(den, str) else list(den)
        out = []
        for r, rec in enumerate(self.records[num]):
            below = [self.records[d][r].get(key) for d in dens if r < len(self.records[d])]
            below = [b for b in below if b]
            if rec.get(key) is not None and below:
                out.append(rec[key] / min(below))
        return out

    def load(self) -> dict:
        cores = os.cpu_count() or 1
        busy = max(self.load_start, self.load_end) > BUSY_LOAD_PER_CORE * cores
        return {"load_avg_start": self.load_start, "load_avg_end": self.load_end, "cores": cores,
                "threads_per_worker": threads(), "too_busy_to_trust": busy}


def live_peak_mb(module: str, worker_args: list[str]) -> float | None:
    """``peak_mb`` of one more worker run with ``MALLOC_MMAP_THRESHOLD_=1048576``: large buffers go back
    to the system when freed, so the peak tracks the memory really held (not what glibc's heap keeps)."""
    old = os.environ.get("MALLOC_MMAP_THRESHOLD_")
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "1048576"
    try:
        return run_worker(module, worker_args, {}).get("peak_mb")
    finally:
        if old is None:
            del os.environ["MALLOC_MMAP_THRESHOLD_"]
        else:
            os.environ["MALLOC_MMAP_THRESHOLD_"] = old


def median_ratio(ratios: list[float]) -> float | None:
    return round(statistics.median(ratios), 3) if ratios else None


def summarise(rounds: Rounds, pairs: dict[str, tuple[str, str | Iterable[str]]], key: str = "median_ms",
              extra: dict | None = None) -> dict:
    """The summary record: for each ``label: (num, den)`` the per-round ratios and their median; where
    the records carry ``cpu_ms``, the same ratios of CPU time as ``label + "_cpu"``."""
    summary: dict = {"bench": rounds.bench, "summary": True, **rounds.load(), "rounds_disagree": []}
    for label, (num, den) in pairs.items():
        dens = [den] if isinstance(den, str) else list(den)
        dens = [d for d in dens if rounds.ok(d)]
        if not rounds.ok(num) or not dens:
            summary[label] = None
            continue
        for suffix, k in (("", key), ("_cpu", "cpu_ms")):
            per_round = rounds.ratios(num, dens, k)
            if suffix and not per_round:
                continue
            summary[label + suffix] = median_ratio(per_round)
            summary[label + suffix + "_per_round"] = [round(r, 3) for r in per_round]
            if not suffix and disagree(per_round):
                summary["rounds_disagree"].append(label)
    summary.update(extra or {})
    return summary


def disagree(per_round: list[float]) -> bool:
    """Whether a ratio's rounds span more than :data:`DISAGREE_SPREAD` of their median (three rounds or more)."""
    if len(per_round) < 3:
        return False
    return (max(per_round) - min(per_round)) / statistics.median(per_round) > DISAGREE_SPREAD


def paired_ratios(steps: dict[str, Callable[[], object]], turns: int, baseline: str) -> dict[str, float | None]:
    """Every callable of ``steps`` in ONE process, one call of each in turn, ``turns`` times (after one
    warm-up call each): for every other name, the median of its per-turn wall-time ratio to
    ``baseline``. Noise that lasts longer than a turn (a neighbour on the host, this process's luck
    with memory placement) then hits both sides of a ratio, which separate processes cannot promise."""
    import time

    for fn in steps.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(turns):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: median_ratio([a / b for a, b in zip(times[name], times[baseline])])
            for name in steps if name != baseline}


def timed_median_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` calls after ``warmup`` calls."""
    return timed(fn, repeats, warmup)[0]


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (all its threads) per call of ``fn``, in ms.

    On a crowded machine the wall time mostly measures the wait for a core; the CPU time measures the
    work, so its ratios hold better (it still feels cache and memory-bandwidth contention)."""
    import time

    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return round(statistics.median(walls) * 1000, 3), round(statistics.median(cpus) * 1000, 3)


def peak_rss_above(base_mb: float) -> float:
    """Peak resident memory of this process above ``base_mb`` (MB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base_mb, 1)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
