"""Run networks in the real Lava runtime, in a subprocess of a separate Python environment.

Lava 0.10.0 needs numpy<2 and forces the ``fork`` start method, and killing its parent can leave its
child processes running (REFERENCE.md section 2). So snnkit never imports Lava: it writes the network
and the input spikes to an ``.npz`` file, runs ``_lava_script.py`` with the Lava environment's
interpreter in a NEW SESSION (its own process group), waits with a timeout, and on timeout or exit
kills the whole group. The Lava environment is ``$SNNKIT_LAVA_PYTHON`` if set, else
``<repo>/.venv-lava/bin/python`` (made by ``.ci/install_lava.sh``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from .layer import LoihiLayer, validate_network

SCRIPT = Path(__file__).with_name("_lava_script.py")
_REPO = Path(__file__).resolve().parents[3]
_FIELDS = ("weights", "du", "dv", "vth", "bias_mant", "bias_exp", "weight_exp", "num_weight_bits",
           "sign_mode", "delays", "recurrent_weights", "recurrent_sign_mode", "neuron", "num_message_bits",
           "state_exp", "spike_exp", "act_mode")


class LavaUnavailable(RuntimeError):
    """The Lava environment is missing: run ``bash .ci/install_lava.sh``."""


class LavaTimeout(RuntimeError):
    """Lava did not finish within the timeout; its whole process group was killed."""


def lava_python() -> Path:
    """Path of the Lava environment's interpreter, or raise :class:`LavaUnavailable`."""
    env = os.environ.get("SNNKIT_LAVA_PYTHON")
    path = Path(env) if env else _REPO / ".venv-lava" / "bin" / "python"
    if not path.exists():
        raise LavaUnavailable(f"no Lava interpreter at {path}; run `bash .ci/install_lava.sh` from the repository "
                              "root or set SNNKIT_LAVA_PYTHON")
    return path


def lava_available() -> bool:
    try:
        lava_python()
        return True
    except LavaUnavailable:
        return False


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _drain(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Reap ``proc`` after its group was killed, without waiting on pipes that an escaped grandchild may
    hold open forever: give up on the output after ``grace`` seconds and close our ends."""
    try:
        proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass


def run_script(payload: dict[str, np.ndarray], timeout: float, script: Path | None = None) -> dict[str, np.ndarray]:
    """Run a Lava-side ``script`` (default :data:`SCRIPT`; it never imports snnkit or torch) on ``payload``
    in the Lava environment; returns the arrays it wrote. ``timeout`` seconds, then the process is stopped."""
    script = SCRIPT if script is None else script   # read at call time (tests substitute SCRIPT)
    py = lava_python()
    with tempfile.TemporaryDirectory(prefix="snnkit-lava-") as tmp:
        in_path, out_path = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(in_path, **payload)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        proc = subprocess.Popen([str(py), str(script), in_path, out_path], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=tmp, text=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            _drain(proc)
            raise LavaTimeout(f"Lava run exceeded timeout={timeout} s; its process group was killed") from None
        finally:
            _kill_group(proc.pid)  # Lava's runtime children outlive a finished parent otherwise
        if proc.returncode != 0 or not os.path.exists(out_path):
            raise RuntimeError(f"Lava run failed (exit {proc.returncode}):\n{log[-4000:]}")
        with np.load(out_path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}


def _unpack(out: dict[str, np.ndarray], k: int, n_layers: int) -> dict:
    res: dict = {key: [out[f"t{k}_l{i}_{key}"] for i in range(n_layers)] for key in ("spikes", "u", "v")}
    # unary spikes as bool; graded spikes (sigma-delta layers) stay integers
    res["spikes"] = [s.astype(bool) if np.all((s == 0) | (s == 1)) else s for s in res["spikes"]]
    res["seconds"] = float(out[f"t{k}_seconds"])
    res["timed_steps"] = int(out[f"t{k}_timed_steps"])
    return res


def run_lava(trials: Sequence[tuple[list[LoihiLayer], np.ndarray]], mode: str = "fixed",
             timeout: float = 300.0, warmup: bool = False) -> list[dict]:
    """Run several networks (each ``(layers, spikes [T, N_in])``) in ONE Lava subprocess.

    ``mode`` "fixed" uses ``Loihi2SimCfg(select_tag="fixed_pt")`` (bit-accurate models), "float" the
    ``floating_pt`` ones. Returns per trial ``{"spikes": [..], "u": [..], "v": [..], "seconds": s}`` with one
    ``[T, N]`` array per layer, comparable to :func:`snnkit.hardware.loihi.simulate`. With ``warmup``
    the first step runs untimed, so ``seconds`` covers ``timed_steps = T - 1`` steps of execution only.
    """
    if mode not in ("fixed", "float"):
        raise ValueError(f"mode={mode!r}; allowed: 'fixed', 'float'")
    payload: dict[str, np.ndarray] = {"n_trials": np.array(len(trials)),
                                      "tag": np.array("fixed_pt" if mode == "fixed" else "floating_pt"),
                                      "warmup": np.array(bool(warmup))}
    for k, (layers, x) in enumerate(trials):
        if mode == "fixed":
            validate_network(layers)
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != layers[0].n_in:
            raise ValueError(f"trial {k}: spikes must be [T, {layers[0].n_in}]; got {x.shape}")
        if mode == "fixed" and not layers[0].num_message_bits and not np.all((x == 0) | (x == 1)):
            raise ValueError(f"trial {k}: spikes must be 0 or 1 (set num_message_bits for graded input)")
        payload[f"t{k}_x"] = x.astype(np.int32 if mode == "fixed" else np.float64)
        payload[f"t{k}_n_layers"] = np.array(len(layers))
        for i, layer in enumerate(layers):
            for name in _FIELDS:
                value = getattr(layer, name)
                if value is not None:
                    payload[f"t{k}_l{i}_{name}"] = np.asarray(value)
            if layer.conv is not None:
                for name in ("in_shape", "stride", "padding", "dilation", "groups"):
                    payload[f"t{k}_l{i}_conv_{name}"] = np.asarray(getattr(layer.conv, name))
        if layers[0].conv is not None:
            payload[f"t{k}_in_shape"] = np.asarray(layers[0].conv.in_shape)
    out = run_script(payload, timeout)
    return [_unpack(out, k, len(layers)) for k, (layers, _) in enumerate(trials)]


def run_netx(path: str | os.PathLike, spikes: Sequence[np.ndarray], n_layers: int,
             timeout: float = 300.0, input_message_bits: int = 0) -> list[dict]:
    """Load a lava-dl netx file with the real ``lava.lib.dl.netx.hdf5.Network`` and run each input
    ``[T, N_in]`` through it (fixed point). Returns per input the same dict as :func:`run_lava`.
    ``input_message_bits > 0``: the inputs are graded spikes (integer payloads), as netx's argument."""
    return run_netx_files([(path, x, n_layers) for x in spikes], timeout=timeout,
                          input_message_bits=input_message_bits)


def run_netx_files(trials: Sequence[tuple[str | os.PathLike, np.ndarray, int]], timeout: float = 300.0,
                   input_message_bits: int = 0) -> list[dict]:
    """Several ``(netx path, spikes [T, N_in], n_layers)`` runs in ONE Lava subprocess (see :func:`run_netx`)."""
    payload: dict[str, np.ndarray] = {"n_trials": np.array(len(trials)), "tag": np.array("fixed_pt")}
    from .netx import read_netx

    for k, (path, x, _) in enumerate(trials):
        payload[f"t{k}_x"] = np.asarray(x).astype(np.int32)
        payload[f"t{k}_input_bits"] = np.array(int(input_message_bits))
        payload[f"t{k}_netx"] = np.array(str(Path(path).resolve()))
        first = read_netx(path)[0]
        if first.conv is not None:
            payload[f"t{k}_in_shape"] = np.asarray(first.conv.in_shape)
    out = run_script(payload, timeout)
    return [_unpack(out, k, n_layers) for k, (_, _, n_layers) in enumerate(trials)]
