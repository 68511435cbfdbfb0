"""Runs networks in the real Lava runtime. Executed by ``lava_runner.run_lava`` with the Lava
environment's interpreter (``.venv-lava``: numpy<2, lava-nc 0.10.0, lava-dl 0.6.0 without deps).

It must not import snnkit or torch: data comes in and goes out as ``.npz`` files.

    python _lava_script.py IN.npz OUT.npz

IN holds ``n_trials``, ``tag`` ("fixed_pt" or "floating_pt") and per trial ``k``: ``t{k}_x`` input
spikes ``[T, N_in]`` and either ``t{k}_netx`` (path of a lava-dl netx HDF5 file) or
``t{k}_n_layers`` and ``t{k}_l{i}_<field>`` (weights, du, dv, vth, bias_mant, bias_exp, weight_exp,
num_weight_bits, sign_mode, delays, recurrent_weights, recurrent_sign_mode; absent = default).
OUT holds ``t{k}_l{i}_spikes``, ``_u``, ``_v`` (``[T, N]``), ``t{k}_seconds`` (wall time of the run)
and ``t{k}_timed_steps``. With ``warmup`` set, step 1 runs first untimed (compilation, runtime start).
"""
from __future__ import annotations

import os
import sys
import time
import types

import numpy as np


def _stub_slayer() -> None:
    """lava-dl's netx imports ``lava.lib.dl.slayer.neuron.rf.neuron_params`` (only used for resonate-and-
    fire neurons), and the package ``lava.lib.dl.netx`` imports torch-based modules. Importing slayer pulls
    torch and torchvision, so we register a stub slayer and load netx's hdf5 module without its package
    ``__init__`` (which imports the torch-based ``sequential_modules``)."""
    import importlib.util

    def _missing(*_a, **_k):
        raise RuntimeError("resonate-and-fire neurons need lava-dl's slayer, which snnkit does not install")

    for name in ("lava.lib.dl.slayer", "lava.lib.dl.slayer.neuron"):
        mod = types.ModuleType(name)
        mod.__path__ = []  # type: ignore[attr-defined]
        sys.modules.setdefault(name, mod)
    rf = types.ModuleType("lava.lib.dl.slayer.neuron.rf")
    rf.neuron_params = _missing  # type: ignore[attr-defined]
    sys.modules.setdefault("lava.lib.dl.slayer.neuron.rf", rf)
    spec = importlib.util.find_spec("lava.lib.dl")
    netx_dir = os.path.join(list(spec.submodule_search_locations)[0], "netx")
    pkg = types.ModuleType("lava.lib.dl.netx")
    pkg.__path__ = [netx_dir]  # type: ignore[attr-defined]
    sys.modules.setdefault("lava.lib.dl.netx", pkg)
    # Lava's compiler imports every module next to a process class to find its models; netx's
    # sequential_modules imports torch, so it is registered as an empty module.
    seq = types.ModuleType("lava.lib.dl.netx.sequential_modules")
    seq.__file__ = os.path.join(netx_dir, "sequential_modules.py")
    sys.modules.setdefault(seq.__name__, seq)


def _get(data, key, default=None):
    return data[key] if key in data.files else default


def _whc(flat_chw, shape_chw):
    """A ``[..., C*H*W]`` array (snnkit's layout) as ``[W, H, C, ...]`` (Lava's)."""
    c, h, w = (int(v) for v in shape_chw)
    lead = flat_chw.shape[:-1]
    arr = flat_chw.reshape(*lead, c, h, w)
    return np.moveaxis(arr, (-3, -2, -1), (2, 1, 0)) if lead else arr.transpose(2, 1, 0)


def _conv_synapse(data, p, w, fixed, num_message_bits=0):
    """Lava's Conv from snnkit's torch-layout kernel: flip the kernel and reorder to (out, kW, kH, in)."""
    from lava.proc.conv.process import Conv

    c, h, wd = (int(v) for v in data[p + "conv_in_shape"])
    yx = lambda name: tuple(int(v) for v in data[p + name][::-1])  # noqa: E731  (H, W) -> (X, Y)
    kernel = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))
    return Conv(weight=kernel.astype(np.int32) if fixed else kernel.astype(float), input_shape=(wd, h, c),
                stride=yx("conv_stride"), padding=yx("conv_padding"), dilation=yx("conv_dilation"),
                groups=int(data[p + "conv_groups"]), num_message_bits=num_message_bits)


def _build_layers(data, k, src, tag):
    from lava.proc.dense.process import Dense, DelayDense
    from lava.proc.lif.process import LIF
    from lava.utils.weightutils import SignMode

    fixed = tag == "fixed_pt"
    n_layers = int(data[f"t{k}_n_layers"])
    prev_out, prev_spatial, lifs = src.s_out, _get(data, f"t{k}_l0_conv_in_shape") is not None, []
    for i in range(n_layers):
        p = f"t{k}_l{i}_"
        w = data[p + "weights"]
        w = w.astype(np.int32) if fixed else w.astype(float)
        conv = _get(data, p + "conv_in_shape") is not None
        syn_kwargs = {"num_message_bits": int(_get(data, p + "num_message_bits", 0))}
        if fixed and not conv:
            syn_kwargs.update({"weight_exp": int(_get(data, p + "weight_exp", 0)),
                               "num_weight_bits": int(_get(data, p + "num_weight_bits", 8))})
            mode = int(_get(data, p + "sign_mode", 0))
            if mode:
                syn_kwargs["sign_mode"] = SignMode(mode)
        delays = _get(data, p + "delays")
        if conv:
            syn = _conv_synapse(data, p, w, fixed, syn_kwargs["num_message_bits"])
            shape = tuple(int(v) for v in syn.output_shape)               # (W', H', C')
        elif delays is not None:
            syn = DelayDense(weights=w, delays=delays.astype(int), **syn_kwargs)  # Lava checks dtype == int
            shape = (w.shape[0],)
        else:
            syn = Dense(weights=w, **syn_kwargs)
            shape = (w.shape[0],)
        n = int(np.prod(shape))
        bias = _get(data, p + "bias_mant")
        bias = np.zeros(n) if bias is None else bias
        if conv:
            bias = _whc(np.asarray(bias), shape[::-1])
        cast = (lambda a: np.asarray(a).astype(np.int32)) if fixed else (lambda a: np.asarray(a).astype(float))
        scalar = int if fixed else float
        if str(_get(data, p + "neuron", "lif")) == "sigma_delta":
            from lava.proc.sdn.process import ActivationMode, SigmaDelta

            mode = ActivationMode.RELU if str(_get(data, p + "act_mode", "relu")) == "relu" else ActivationMode.UNIT
            lif = SigmaDelta(shape=shape, vth=int(data[p + "vth"]), bias=cast(bias), act_mode=mode,
                             state_exp=int(_get(data, p + "state_exp", 0)),
                             spike_exp=int(_get(data, p + "spike_exp", 0)), name=f"sdn{i}")
        else:
            lif = LIF(shape=shape, du=scalar(data[p + "du"]), dv=scalar(data[p + "dv"]), vth=scalar(data[p + "vth"]),
                      bias_mant=cast(bias), bias_exp=cast(np.full(shape, int(_get(data, p + "bias_exp", 0)))),
                      name=f"lif{i}")
        if prev_spatial and not conv:
            prev_out = prev_out.transpose([2, 1, 0]).flatten()          # (W, H, C) -> C-major flat, as netx
        prev_out.connect(syn.s_in)
        syn.a_out.connect(lif.a_in)
        rec = _get(data, p + "recurrent_weights")
        if rec is not None:
            rec_kwargs = dict(syn_kwargs)
            rec_kwargs.pop("sign_mode", None)
            rmode = int(_get(data, p + "recurrent_sign_mode", 0))
            if fixed and rmode:
                rec_kwargs["sign_mode"] = SignMode(rmode)
            rec_kwargs.pop("num_message_bits", None)
            rsyn = Dense(weights=rec.astype(np.int32) if fixed else rec.astype(float), **rec_kwargs)
            lif.s_out.connect(rsyn.s_in)
            rsyn.a_out.connect(lif.a_in)
        lifs.append(lif)
        prev_out, prev_spatial = lif.s_out, conv
    return lifs


def _build_netx(path, src, input_message_bits=0):
    _stub_slayer()
    from lava.lib.dl.netx import hdf5
    net = hdf5.Network(net_config=str(path), input_message_bits=int(input_message_bits))
    src.s_out.connect(net.inp)
    return [layer.neuron for layer in net.layers]


def main(argv: list[str]) -> int:
    in_path, out_path = argv[0], argv[1]
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor

    data = np.load(in_path, allow_pickle=False)
    tag = str(data["tag"])
    results: dict[str, np.ndarray] = {}
    for k in range(int(data["n_trials"])):
        x = data[f"t{k}_x"]
        steps = x.shape[0]
        in_shape = _get(data, f"t{k}_in_shape")      # (C, H, W) when the first synapse is spatial
        x = _whc(x, in_shape) if in_shape is not None else x.T   # time last: [N, T] or [W, H, C, T]
        src = RingBuffer(data=(x.astype(np.int32) if tag == "fixed_pt" else x.astype(float)))
        netx_path = _get(data, f"t{k}_netx")
        lifs = _build_netx(str(netx_path), src, _get(data, f"t{k}_input_bits", 0)) if netx_path is not None else _build_layers(data, k, src, tag)
        monitors = []  # Lava's Monitor model holds a single probe, so one Monitor per recorded Var
        for lif in lifs:
            states = (lif.sigma, lif.act) if hasattr(lif, "sigma") else (lif.u, lif.v)   # SigmaDelta or LIF
            for target in (lif.s_out, *states):
                mon = Monitor()
                mon.probe(target, steps)
                monitors.append((mon, target))
        cfg = Loihi2SimCfg(select_tag=tag)
        timed_steps = steps
        if bool(_get(data, "warmup", False)) and steps > 1:
            src.run(condition=RunSteps(num_steps=1), run_cfg=cfg)  # compile and start the runtime untimed
            timed_steps = steps - 1
        start = time.perf_counter()
        src.run(condition=RunSteps(num_steps=timed_steps), run_cfg=cfg)
        results[f"t{k}_seconds"] = np.array(time.perf_counter() - start)
        results[f"t{k}_timed_steps"] = np.array(timed_steps)
        try:
            for j, (mon, target) in enumerate(monitors):
                rec = np.asarray(mon.get_data()[target.process.name][target.name]).reshape(steps, *target.shape)
                if rec.ndim == 4:                                  # (T, W, H, C) -> snnkit's (T, C*H*W)
                    rec = rec.transpose(0, 3, 2, 1)
                name = ("spikes", "u", "v")[j % 3]
                results[f"t{k}_l{j // 3}_{name}"] = rec.reshape(steps, -1)
        finally:
            src.stop()
        print(f"lava trial {k}: {steps} steps in {float(results[f't{k}_seconds']):.2f} s", flush=True)
    save_results(out_path, results)
    return 0


def save_results(out_path: str, results: dict) -> None:
    """Write the result arrays atomically (the caller reads the file only once it is complete)."""
    tmp = out_path + ".tmp.npz"
    np.savez(tmp, **results)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
