"""A run stopped mid-epoch (SIGKILL after a checkpoint, or Ctrl-C) and resumed ends with exactly the
weights of an uninterrupted run with the same seed. The oracle is the uninterrupted run itself."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from snnkit.training import load_checkpoint, save_checkpoint

CHILD = textwrap.dedent("""
    import sys, time
    import torch
    torch.set_num_threads(1)
    from snnkit import data, models, training

    out, resume, pause_step = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])

    class Noisy(torch.utils.data.Dataset):
        # drops input spikes at random with torch's global RNG, so the RNG state must survive a resume
        def __init__(self, base):
            self.base, self.num_classes = base, base.num_classes
        def __len__(self):
            return len(self.base)
        def __getitem__(self, i):
            x, y = self.base[i]
            return x * (torch.rand(x.shape) > 0.2).float(), y

    base = data.load("randman", "train", classes=4, channels=20, steps=15, samples_per_class=40,
                     eval_samples_per_class=10, seed=1)
    training.seed_everything(5)
    model = models.create("mlp", spiking=True, in_features=20, num_classes=4, hidden=16)

    def callback(event, trainer, info):
        if event == "step":
            print(f"step {info['global_step']}", flush=True)
            if info["global_step"] == pause_step:
                print("PAUSED", flush=True)
                deadline = time.time() + 120
                while not trainer.stop_requested and time.time() < deadline:
                    time.sleep(0.02)
        elif event == "checkpoint":
            print(f"checkpoint {info['global_step']} {info['reason']}", flush=True)

    cfg = {"epochs": 3, "batch_size": 16, "lr": 5e-3, "seed": 5, "checkpoint_every": 3, "progress": False,
           "schedule": "onecycle", "mode": "tbptt", "tbptt_steps": 5, "loss": "ce_max_membrane",
           "rate_reg": {"*": {"upper": 0.05, "weight": 0.5}}, "grad_clip": 1.0}
    trainer = training.Trainer(model, cfg, out_dir=out, callbacks=[callback])
    try:
        trainer.fit(Noisy(base), resume=True if resume else None)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(130)
    torch.save(model.state_dict(), out + "/final.pt")
    torch.save(trainer.history, out + "/history.pt")  # epoch records: must equal the uninterrupted run's
    print("DONE", flush=True)
""")


def _start(script: Path, out: Path, resume: bool, pause_step: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(script), str(out), "1" if resume else "0", str(pause_step)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _wait_for(proc: subprocess.Popen, marker: str) -> list[str]:
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line.rstrip())
        if line.startswith(marker):
            return lines
    raise AssertionError(f"child ended before {marker!r}; output:\n" + "\n".join(lines))


def _finish(proc: subprocess.Popen) -> list[str]:
    out, _ = proc.communicate(timeout=300)
    return out.splitlines()


def _final(out: Path) -> dict[str, torch.Tensor]:
    return {**torch.load(out / "final.pt", weights_only=True),
            "history": torch.load(out / "history.pt", weights_only=True)}


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    folder = tmp_path_factory.mktemp("resume")
    script = folder / "child.py"
    script.write_text(CHILD)
    ref = folder / "reference"
    proc = _start(script, ref, resume=False, pause_step=-1)
    lines = _finish(proc)
    assert proc.returncode == 0, "\n".join(lines)
    return script, _final(ref)


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert a["history"] == b["history"], "epoch records (totals, rates) differ after resume"
    for k in a:
        if k != "history":
            assert torch.equal(a[k], b[k]), f"{k} differs after resume (max diff {(a[k] - b[k]).abs().max()})"


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_identical_weights(child, tmp_path: Path) -> None:
    script, reference = child
    out = tmp_path / "killed"
    proc = _start(script, out, resume=False, pause_step=14)  # 10 steps per epoch: step 14 is mid-epoch 2
    lines = _wait_for(proc, "PAUSED")
    assert "checkpoint 12 every" in lines
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["position"]["epoch"] == 1 and ckpt["position"]["batch_index"] == 2  # mid-epoch
    assert not torch.equal(ckpt["model"]["state_dict"]["0.weight"], reference["0.weight"])
    resumed = _start(script, out, resume=True, pause_step=-1)
    lines = _finish(resumed)
    assert resumed.returncode == 0, "\n".join(lines)
    assert lines[0] == "step 13", lines[:3]  # continued where the checkpoint was taken
    _assert_same(_final(out), reference)


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resume_gives_identical_weights(child, tmp_path: Path) -> None:
    script, reference = child
    out = tmp_path / "interrupted"
    proc = _start(script, out, resume=False, pause_step=17)  # not a checkpoint step (every 3)
    _wait_for(proc, "PAUSED")
    proc.send_signal(signal.SIGINT)
    lines = _finish(proc)
    assert proc.returncode == 130, "\n".join(lines)
    assert "checkpoint 17 interrupt" in lines
    resumed = _start(script, out, resume=True, pause_step=-1)
    lines = _finish(resumed)
    assert resumed.returncode == 0, "\n".join(lines)
    assert lines[0] == "step 18", lines[:3]
    _assert_same(_final(out), reference)


def test_checkpoint_is_atomic_and_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"state_dict": {"w": torch.ones(3)}}})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind
    assert torch.equal(load_checkpoint(path)["model"]["state_dict"]["w"], torch.ones(3))
    path.write_bytes(path.read_bytes()[:40])  # truncated
    with pytest.raises(ValueError, match="container.*zip file written by torch.save"):
        load_checkpoint(path)
    torch.save({"x": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="'format' = None is not allowed; allowed: 'snnkit-checkpoint'"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
