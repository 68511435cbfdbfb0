"""Interruptions never hang, orphan or corrupt: stale temporaries and build locks are cleared, two
trainers cannot share a run folder, a changed config is not silently ignored on resume, DDP workers
die with their launcher, and written files get the user's umask permissions."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from snnkit import models
from snnkit._atomic import atomic_path
from snnkit.training import Trainer, load_checkpoint, save_checkpoint
from snnkit.training.trainer import ConfigChangedError, RunFolderBusyError

ROOT = Path(__file__).resolve().parents[1]


def _data(n=24, T=5, F=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, n, F, generator=g), torch.randint(0, classes, (n,), generator=g)


def _model():
    torch.manual_seed(0)
    return models.create("mlp", spiking=True, in_features=6, num_classes=3, steps=5, hidden=8)


def test_killed_write_leftovers_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "last.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".last.pt.{dead}.abc123.tmp"  # what a SIGKILL during torch.save leaves
    stale.write_bytes(b"\0" * 1000)
    old = tmp_path / ".last.pt.xyz.tmp"  # left by an older snnkit (no pid in the name), an hour ago
    old.write_bytes(b"\0")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    live = tmp_path / f".last.pt.{sleeper.pid}.live99.tmp"  # a write in progress in another process
    live.write_bytes(b"partial")
    try:
        save_checkpoint(target, {"x": torch.ones(2)})
        assert not stale.exists() and not old.exists()
        assert live.exists()  # never pull a file from under a live writer
    finally:
        sleeper.kill()
        sleeper.wait()
    save_checkpoint(target, {"x": torch.ones(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_written_files_get_umask_permissions(tmp_path):
    from snnkit.cli.cmd_train import plot_learning_curve, write_json
    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "c.pt", {"x": torch.ones(1)})
        write_json(tmp_path / "h.json", {"a": 1})
        plot_learning_curve([{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5}], tmp_path / "c.png")
        with atomic_path(tmp_path / "n.net") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    for name in ("c.pt", "h.json", "c.png", "n.net"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def test_two_trainers_cannot_write_one_run_folder(tmp_path):
    X, Y = _data()
    second = Trainer(_model(), {"epochs": 1, "batch_size": 12, "progress": False}, out_dir=tmp_path)
    seen = []

    def start_second(event, trainer, info):
        if event == "step" and not seen:
            with pytest.raises(RunFolderBusyError, match=f"pid {os.getpid()}"):
                second.fit((X, Y))
            seen.append(True)

    first = Trainer(_model(), {"epochs": 1, "batch_size": 12, "progress": False}, out_dir=tmp_path,
                    callbacks=[start_second])
    first.fit((X, Y))
    assert seen == [True]
    second.fit((X, Y))  # the folder is free again once the first run ended


def test_resume_with_changed_config_is_refused_or_applied_and_recorded(tmp_path):
    X, Y = _data()
    cfg = {"epochs": 2, "batch_size": 12, "lr": 1e-2, "schedule": "cosine", "progress": False}
    Trainer(_model(), {**cfg, "epochs": 1}, out_dir=tmp_path).fit((X, Y))
    with pytest.raises(ConfigChangedError, match=r"epochs: 1 -> 2.*lr: 0.01 -> 0.05"):
        Trainer(_model(), {**cfg, "lr": 5e-2}, out_dir=tmp_path).fit((X, Y), resume=True)
    # applied: the new schedule is the one an uninterrupted run with the new config would follow
    resumed = Trainer(_model(), {**cfg, "lr": 5e-2}, out_dir=tmp_path)
    lrs = []
    resumed.callbacks.append(lambda e, t, i: lrs.append(t.optimizer.param_groups[0]["lr"]) if e == "step" else None)
    resumed.fit((X, Y), resume=True, allow_config_change=True)
    oracle = Trainer(_model(), {**cfg, "lr": 5e-2})
    oracle_lrs = []
    oracle.callbacks.append(lambda e, t, i: oracle_lrs.append(t.optimizer.param_groups[0]["lr"]) if e == "step" else None)
    oracle.fit((X, Y))
    assert lrs == pytest.approx(oracle_lrs[len(oracle_lrs) - len(lrs):])
    changes = load_checkpoint(tmp_path / "last.pt")["trainer"]["config_changes"]
    assert changes[0]["changes"]["lr"] == {"was": 1e-2, "now": 5e-2} and changes[0]["epoch"] == 1


def test_stale_cpp_build_lock_is_removed(tmp_path, monkeypatch):
    from snnkit.kernels import lif_cpu
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "lock").write_text("")  # torch's baton, left by a build killed with SIGKILL
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with lif_cpu._builder_lock(folder):
            assert not (folder / "lock").exists()
    assert any("stale build lock" in str(w.message) for w in caught)


def test_build_cache_key_includes_interpreter_and_torch_install(tmp_path, monkeypatch):
    from snnkit.kernels import lif_cpu
    monkeypatch.setenv("SNNKIT_EXTENSIONS_DIR", str(tmp_path))
    here = lif_cpu._build_source().parent.name
    monkeypatch.setattr(sys, "executable", "/elsewhere/venv/bin/python")
    assert lif_cpu._build_source().parent.name != here
    monkeypatch.undo()
    monkeypatch.setenv("SNNKIT_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(torch.version, "git_version", "another-build")
    assert lif_cpu._build_source().parent.name != here


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_ddp_workers_exit_when_the_launcher_is_killed(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nname = "mlp"\nhidden = 8\n[data]\nname = "randman"\nclasses = 2\nchannels = 4\n'
                   'steps = 4\nsamples_per_class = 400\nseed = 1\n[trainer]\nepochs = 100000\nbatch_size = 8\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SNNKIT_DISABLE_CPP": "1"}
    launcher = subprocess.Popen([sys.executable, "-m", "snnkit", "train", str(cfg), "--nproc", "2", "--out",
                                 str(tmp_path / "run"), "--no-progress"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (tmp_path / "run" / "last.pt").exists():
            time.sleep(0.5)  # the workers are training once the first epoch is saved
        workers = _children(launcher.pid)
        assert len(workers) >= 2, "the workers did not start"
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.time() + 30
        while time.time() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "a DDP worker outlived its launcher"
    finally:
        for pid in [launcher.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_resume_from_another_models_checkpoint_is_a_clear_error(tmp_path):
    from snnkit.errors import InvalidFileError
    X, Y = _data()
    cfg = {"epochs": 1, "batch_size": 12, "progress": False}
    Trainer(_model(), cfg, out_dir=tmp_path).fit((X, Y))
    other = models.create("mlp", spiking=True, in_features=6, num_classes=3, steps=5, hidden=9)
    with pytest.raises(InvalidFileError, match=r"last.pt: field 'state'.*size mismatch"):
        Trainer(other, cfg, out_dir=tmp_path).fit((X, Y), resume=True)


def test_lava_timeout_returns_even_when_a_child_escaped_the_group(tmp_path, monkeypatch):
    """A Lava child that left the process group keeps the output pipe open: the runner must not wait
    for it after killing the group (the probe saw timeout=3 return after 25 s)."""
    import threading

    from snnkit.hardware.loihi import lava_runner
    pid_file = tmp_path / "escaped.pid"
    script = tmp_path / "fake_lava.py"
    script.write_text(
        "import subprocess, sys, time, pathlib\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
        f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))\n"
        "time.sleep(120)\n")
    monkeypatch.setattr(lava_runner, "lava_python", lambda: Path(sys.executable))
    monkeypatch.setattr(lava_runner, "SCRIPT", script)
    outcome = []

    def run():
        try:
            lava_runner.run_script({"x": __import__("numpy").zeros(1)}, timeout=2)
        except lava_runner.LavaTimeout as err:
            outcome.append(err)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=90)  # generous: the contract is "returns", not "fast"
    try:
        assert not worker.is_alive(), "the Lava runner hung on a child that escaped its process group"
        assert outcome and "timeout=2" in str(outcome[0])
    finally:
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except OSError:
                pass
