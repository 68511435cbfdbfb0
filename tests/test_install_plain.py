"""A plain install works: the wheel built from this tree, installed into a clean virtual environment that
has only torch and the core dependencies, answers the README's commands, or says in one line which
extra to install. The oracle is the wheel itself: package data (the dataset catalogue, hardware
profiles, the C++ source) must be inside it, since the clean environment cannot see the source tree."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ["numpy", "tqdm", "matplotlib", "h5py"]


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SNNKIT_CATALOG", "SNNKIT_HARDWARE_PATH")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp),
                  str(ROOT)], tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    return next(tmp.glob("snnkit-*.whl"))


@pytest.fixture(scope="module")
def plain_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a clean venv (no system site-packages) with torch, the core deps and the wheel."""
    tmp = tmp_path_factory.mktemp("plain")
    venv = tmp / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp).returncode == 0
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    torch = _run(pip + ["torch==2.13.0"], tmp, timeout=900)
    if torch.returncode != 0:
        pytest.skip(f"no package index reachable to install torch==2.13.0 into a clean venv: {torch.stderr[-500:]}")
    deps = _run(pip + CORE, tmp)
    assert deps.returncode == 0, deps.stderr[-3000:]
    inst = _run(pip + ["--no-deps", str(wheel)], tmp)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return venv / "bin"


def test_wheel_ships_package_data_and_licence(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("snnkit/data/catalog.toml", "snnkit/hardware/crossbar/profiles/pcm.toml",
                   "snnkit/hardware/loihi/profiles/loihi2.toml", "snnkit/kernels/csrc/lif_cpu.cpp"):
        assert needed in names, needed
    assert any(n.endswith("licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Programming Language :: Python :: 3.11" in meta and "Provides-Extra: nir" in meta


@pytest.mark.slow
def test_readme_commands_in_a_plain_install(plain_env: Path, tmp_path: Path) -> None:
    bin_dir = plain_env
    snnkit = str(bin_dir / "snnkit")
    helped = _run([snnkit, "--help"], tmp_path)
    assert helped.returncode == 0 and "data" in helped.stdout
    listed = _run([snnkit, "data", "list", "--root", str(tmp_path / "data")], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "randman" in listed.stdout and "mnist" in listed.stdout       # the catalogue came with the wheel
    # commands that need an optional dependency answer with exactly one line naming the extra
    for cmd, extra in ([["data", "prepare", "mnist1d", "--root", str(tmp_path / "data")], "data"],
                       [["compare", "lmu", "--data", "randman"], "data"]):
        res = _run([snnkit, *cmd], tmp_path)
        assert res.returncode == 2, res.stdout + res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and f'pip install "snnkit[{extra}]"' in lines[0], res.stderr
    # the README's ten-line example needs only the core
    code = ("import torch, snnkit\nfrom snnkit.neurons import LIF, LI, Sequential\n"
            "net = Sequential(torch.nn.Linear(700, 64), LIF(tau_mem=10.0), torch.nn.Linear(64, 20), LI(tau_mem=10.0))\n"
            "v = net((torch.rand(20, 4, 700) < 0.05).float()); v.max(0).values.sum().backward(); print(tuple(v.shape))")
    ran = _run([str(bin_dir / "python"), "-c", code], tmp_path)
    assert ran.returncode == 0 and "(20, 4, 20)" in ran.stdout, ran.stderr[-2000:]
