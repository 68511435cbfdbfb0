"""The ``snnkit`` command line, run as a user runs it (a subprocess): every expected failure is one line
on stderr with exit code 2 (the traceback only with ``--debug``), ``--help`` answers without importing
torch, every option has help text, and ``train`` writes what its help promises."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnkit.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
MINE = ("bench", "compare", "demo", "convert", "data", "evaluate", "export", "info", "train")  # the commands this suite vouches for
TINY = """
[model]
name = "mlp"
hidden = 8
[data]
name = "randman"
classes = 3
channels = 6
steps = 6
samples_per_class = 12
eval_samples_per_class = 4
seed = 1
[trainer]
epochs = {epochs}
batch_size = 12
lr = 1e-2
"""


def snnkit(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SNNKIT_DISABLE_CPP": "1"}
    return subprocess.run([sys.executable, "-m", "snnkit", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def _one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_help_answers_without_importing_torch():
    code = ("import sys; from snnkit.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip().endswith("NO-TORCH"), out.stdout + out.stderr
    for name in COMMANDS:
        assert name in out.stdout


def test_command_table_matches_the_modules_help():
    parser = build_parser()  # imports every command module
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == COMMANDS


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, path + (name,))


@pytest.mark.parametrize("command", MINE)
def test_every_option_has_help_and_no_raw_markup(command):
    parser = build_parser(command)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for path, p in _walk(sub.choices[command], (command,)):
        for action in p._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"snnkit {' '.join(path)} {action.option_strings or action.dest} has no help"
        text = p.format_help()
        for markup in ("``", ":func:", ":class:", ":mod:", "::\n"):
            assert markup not in text, f"snnkit {' '.join(path)} --help shows raw markup {markup!r}"


def test_eval_T_accepts_separate_values():
    parser = build_parser("convert")
    args = parser.parse_args(["convert", "m.pt", "--calib", "d.pt", "--out", "o.pt", "--eval-T", "8", "16,32"])
    assert [t for g in args.eval_T for t in g] == [8, 16, 32]


def in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """The same ``main`` in this process (cheaper than a subprocess for the many error cases)."""
    from snnkit.cli import main
    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def test_expected_failures_are_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "garbage.pt").write_bytes(os.urandom(300))
    _one_error_line(snnkit("evaluate", str(tmp_path / "garbage.pt")), "garbage.pt", "container")
    debug = snnkit("evaluate", str(tmp_path / "garbage.pt"), "--debug")
    assert debug.returncode != 0 and "Traceback" in debug.stderr
    _one_error_line(in_process(capsys, "evaluate", str(tmp_path / "missing.pt")), "does not exist")
    _one_error_line(in_process(capsys, "train", str(tmp_path / "none.toml")), "does not exist")
    (tmp_path / "bad.toml").write_text(TINY.format(epochs=0))
    _one_error_line(in_process(capsys, "train", str(tmp_path / "bad.toml")), "trainer.epochs=0")
    (tmp_path / "dev.toml").write_text(TINY.format(epochs=1) + 'device = "cuda:7"\n')
    _one_error_line(in_process(capsys, "train", str(tmp_path / "dev.toml")), "trainer.device='cuda:7'")


def test_mismatched_state_dict_is_one_line(tmp_path, capsys):
    from snnkit import models
    from snnkit.training import TrainerConfig, save_checkpoint
    model = models.create("mlp", spiking=True, in_features=6, num_classes=3, steps=6, hidden=8)
    state = model.state_dict()
    state["0.weight"] = torch.zeros(3, 3)  # wrong shape
    save_checkpoint(tmp_path / "c.pt", {"model": {**models.spec(model), "state_dict": state},
                                        "data": {"name": "randman", "classes": 3, "channels": 6, "steps": 6},
                                        "position": {"epoch": 1}, "trainer": {"config": TrainerConfig().to_dict()}})
    _one_error_line(in_process(capsys, "evaluate", str(tmp_path / "c.pt")), "model.state_dict")


def test_unwritable_output_folder_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.format(epochs=1))
    (tmp_path / "a-file").write_text("not a folder")  # an OSError even for root (unlike a read-only folder)
    _one_error_line(in_process(capsys, "train", str(cfg), "--out", str(tmp_path / "a-file" / "run")), "a-file")


def test_train_writes_what_its_help_promises_and_prints_epochs_without_bars(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.format(epochs=2))
    out = tmp_path / "run"
    proc = snnkit("train", str(cfg), "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr[-3000:]
    epochs = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [e.split(":")[0] for e in epochs] == ["epoch 1", "epoch 2"]
    assert "\r" not in proc.stderr and "it/s" not in proc.stderr  # no progress bar on a pipe
    help_text = snnkit("train", "--help").stdout
    for name in ("last.pt", "history.json", "config.toml", "learning_curve.png"):
        assert name in " ".join(help_text.split()), name
        assert (out / name).is_file(), name
    assert (out / "config.toml").read_text() == cfg.read_text()
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_ctrl_c_ends_with_one_line_naming_the_last_checkpoint(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.format(epochs=100000).replace("samples_per_class = 12", "samples_per_class = 60"))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SNNKIT_DISABLE_CPP": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "snnkit", "train", str(cfg), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        while not (out / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert (out / "last.pt").exists(), proc.communicate(timeout=30)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-3000:]
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err[-3000:]
    assert f"last checkpoint: {out / 'last.pt'}" in lines[0] and "--resume" in lines[0]
