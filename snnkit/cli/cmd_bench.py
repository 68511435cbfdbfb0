"""``snnkit bench NAME [options]``: run a benchmark module from the repository's ``benchmarks/`` folder."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _benchmarks_root() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "benchmarks" / "__init__.py").exists():
        raise FileNotFoundError(f"benchmarks/ not found next to the snnkit package ({root}); "
                                "run from a source checkout (pip install -e .)")
    return root


def names() -> list[str]:
    folder = _benchmarks_root() / "benchmarks"
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def _run(args: argparse.Namespace) -> int:
    root = _benchmarks_root()
    available = names()
    if args.name not in available:
        raise ValueError(f"benchmark name={args.name!r} is unknown; allowed: {available}")
    sys.path.insert(0, str(root))
    module = importlib.import_module(f"benchmarks.{args.name}")
    return int(module.main(list(args.rest)) or 0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="run a benchmark against peer libraries (JSON lines)",
                       description="Run benchmarks/NAME.py (every module there is a command; add one by "
                                   "adding a file); options after NAME go to the benchmark (e.g. snnkit bench "
                                   "core --json). Benchmarks run their cases in interleaved rounds, one process "
                                   "each, and report median per-round ratios with the load average.")
    try:
        listed = ", ".join(names())
    except FileNotFoundError:
        listed = "core, conv, online, delays, ..."
    p.add_argument("name", help=f"benchmark name (a module of benchmarks/): {listed}")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="options for the benchmark")
    p.set_defaults(func=_run)
