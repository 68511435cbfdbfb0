"""``snnkit bench gpu``: exists, documents itself, and on a machine without CUDA says so in JSON and
exits 0 (the measurement itself needs a GPU and is never run in CI)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "snnkit", "bench", "gpu", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_help_names_the_workloads_and_peers():
    proc = _cli("--help")
    assert proc.returncode == 0, proc.stderr
    for word in ("--workloads", "--impls", "--rounds", "spikingjelly", "norse-compile"):
        assert word in proc.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present: the note is for machines without one")
def test_without_cuda_it_says_so_and_exits_zero():
    proc = _cli("--json")
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["skipped"] is True and "no CUDA device" in record["note"]
