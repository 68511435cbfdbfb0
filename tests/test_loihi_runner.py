"""The Lava subprocess runner: a timeout kills the WHOLE process group (Lava's runtime children too),
and a missing Lava environment is a clear error. Uses a stand-in interpreter, so it needs no Lava."""
from __future__ import annotations

import os
import stat
import time

import numpy as np
import pytest

from snnkit.hardware.loihi import LavaTimeout, LavaUnavailable, LoihiLayer, run_lava


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead for our purpose
        return f.read().split()[2] != "Z"


def test_timeout_kills_the_process_group(tmp_path, monkeypatch):
    pid_file = tmp_path / "child.pid"
    fake = tmp_path / "fake_python"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nsleep 300\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("SNNKIT_LAVA_PYTHON", str(fake))
    layer = LoihiLayer(weights=np.ones((2, 3), np.int64), du=0, dv=0, vth=1)
    start = time.monotonic()
    with pytest.raises(LavaTimeout, match="process group was killed"):
        run_lava([([layer], np.zeros((5, 3), bool))], timeout=2)
    assert time.monotonic() - start < 30
    child = int(pid_file.read_text())
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "a grandchild of the runner survived the timeout"


def test_missing_lava_environment_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNKIT_LAVA_PYTHON", str(tmp_path / "nope" / "python"))
    layer = LoihiLayer(weights=np.ones((2, 3), np.int64), du=0, dv=0, vth=1)
    with pytest.raises(LavaUnavailable, match="install_lava.sh"):
        run_lava([([layer], np.zeros((5, 3), bool))])
