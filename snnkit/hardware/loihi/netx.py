"""lava-dl netx HDF5 network files ("network.net"): writer and reader.

Format (lava-dl 0.6.0, REFERENCE.md section 2): every value is an HDF5 dataset. ``/layer/<i>`` in
sequence; ``/layer/0`` is ``type=input`` with ``shape``; then ``type=dense`` layers with ``shape``,
``inFeatures``, ``outFeatures``, ``weight`` ``[out, in]``, optional ``bias`` and ``delay``, and a
``neuron`` group (``type=CUBA``, ``iDecay`` = du + 1, ``vDecay`` = dv, ``vThMant`` = vth, ``refDelay``,
``gradedSpike``).

How netx reads it (and so what :func:`read_netx` reproduces): the weight exponent is not stored; netx
re-derives ``weight_exp`` and ``num_weight_bits`` from the integer weights (shifting them left to use all
8 bits), which for representable weights makes the synaptic input exactly ``sum W s``; the sign mode is
left for Lava to infer; biases always get ``bias_exp = 6``; delays above 62 are clamped. So a layer
with ``weight_exp = e`` is written with weights ``W_eff * 2**e`` and refused when those leave the 8-bit
range, and a bias is written as ``bias_mant * 2**(bias_exp - 6)`` and refused when that is not an
integer in the 13-bit range.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from .fixed_point import (BIAS_MANT_MAX, BIAS_MANT_MIN, MAX_DELAY, LoihiLayer, effective_weights,
                          validate_network)

NETX_BIAS_EXP = 6


def _netx_weights(layer: LoihiLayer, index: int) -> np.ndarray:
    w = effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits)
    e = int(layer.weight_exp)
    if e >= 0:
        scaled = w << e
    else:
        if np.any(w % (1 << -e)):
            raise ValueError(f"layer {index}: weight_exp={e} floors sums, which netx (no weight exponent) cannot "
                             "express; use weight_exp >= 0")
        scaled = w >> -e
    mn, mx = int(scaled.min()), int(scaled.max())
    ok = (0 <= mn and mx <= 255) or (-256 <= mn and mx <= 0) or (-256 <= mn and mx <= 254)
    if not ok:
        raise ValueError(f"layer {index}: weights * 2**weight_exp span [{mn}, {mx}]; netx stores no weight exponent, "
                         "so they must fit [0, 255], [-256, 0] or [-256, 254]")
    if not np.any(scaled):
        raise ValueError(f"layer {index}: all weights are zero; lava-dl netx cannot load an all-zero weight matrix")
    return scaled


def write_netx(layers: list[LoihiLayer], path: str | os.PathLike) -> Path:
    """Write a chain of Loihi layers as a lava-dl netx HDF5 file (atomically). Returns the path."""
    validate_network(layers)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=".net", dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            grp = f.create_group("layer")
            inp = grp.create_group("0")
            inp.create_dataset("type", data=np.array([b"input"]))
            inp.create_dataset("shape", data=np.array([layers[0].n_in]))
            for i, layer in enumerate(layers):
                if layer.recurrent_weights is not None:
                    raise ValueError(f"layer {i}: recurrent layers are not written to netx by snnkit")
                g = grp.create_group(str(i + 1))
                g.create_dataset("type", data=np.array([b"dense"]))
                g.create_dataset("shape", data=np.array([layer.n_out]))
                g.create_dataset("inFeatures", data=layer.n_in)
                g.create_dataset("outFeatures", data=layer.n_out)
                g.create_dataset("weight", data=_netx_weights(layer, i).astype(np.float32))
                if layer.bias_mant is not None and np.any(layer.bias_mant):
                    b = np.asarray(layer.bias_mant, np.int64) * (2.0 ** (int(layer.bias_exp) - NETX_BIAS_EXP))
                    if np.any(b != np.round(b)) or b.min() < BIAS_MANT_MIN or b.max() > BIAS_MANT_MAX:
                        raise ValueError(f"layer {i}: netx fixes bias_exp=6; bias_mant * 2**(bias_exp - 6) must be "
                                         f"integers in [{BIAS_MANT_MIN}, {BIAS_MANT_MAX}]")
                    g.create_dataset("bias", data=b.astype(np.float32))
                if layer.delays is not None:
                    g.create_dataset("delay", data=np.asarray(layer.delays, np.float32))
                n = g.create_group("neuron")
                n.create_dataset("type", data=np.array([b"CUBA"]))
                n.create_dataset("iDecay", data=int(layer.du) + 1)
                n.create_dataset("vDecay", data=int(layer.dv))
                n.create_dataset("vThMant", data=int(layer.vth))
                n.create_dataset("refDelay", data=1)
                n.create_dataset("gradedSpike", data=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _netx_optimize(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    """What lava-dl netx does to integer weights before handing them to Lava's Dense: returns
    ``(weights, num_weight_bits, weight_exp)`` (the sign mode is left for Lava to infer)."""
    w = np.asarray(weight).astype(np.int64)
    mx, mn = int(w.max()), int(w.min())
    if (mx > 254 and mn < 0) or (mn < -256 and mx > 0):
        w = np.clip(w, -256, 254)
        mx, mn = int(w.max()), int(w.min())
    if mx < 0:
        scale, signed = -256 / mn, 0
    elif mn >= 0:
        if mx == 0:
            raise ValueError("lava-dl netx cannot load an all-zero weight matrix")
        scale, signed = 255 / mx, 0
    else:
        scale, signed = min(127 / mx, -128 / mn), 1
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    if scale_bits < 0:
        raise ValueError(f"weights in [{mn}, {mx}] need a negative shift that lava-dl netx does not support")
    return w << scale_bits, 8 - scale_bits - n, -scale_bits


def read_netx(path: str | os.PathLike) -> list[LoihiLayer]:
    """Read a netx file written by snnkit or lava-dl (dense CUBA layers) into Loihi layers that
    :func:`~snnkit.hardware.loihi.simulate` runs exactly as ``lava.lib.dl.netx.hdf5.Network`` does."""
    layers: list[LoihiLayer] = []
    with h5py.File(path, "r") as f:
        grp = f["layer"]
        for key in sorted(grp.keys(), key=int):
            g = grp[key]
            kind = g["type"][()]
            kind = (kind[0] if np.ndim(kind) else kind)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "input":
                continue
            if kind != "dense":
                raise ValueError(f"layer {key}: netx layer type {kind!r} is not supported (dense only)")
            weight, nwb, wexp = _netx_optimize(np.asarray(g["weight"][()]).astype(int))
            n = g["neuron"]
            ntype = n["type"][()]
            ntype = (ntype[0] if np.ndim(ntype) else ntype)
            ntype = ntype.decode() if isinstance(ntype, bytes) else str(ntype)
            if ntype not in ("CUBA", "LOIHI"):
                raise ValueError(f"layer {key}: neuron type {ntype!r} is not supported (CUBA only)")
            delays = None
            if "delay" in g:
                delays = np.clip(np.asarray(g["delay"][()]).astype(np.int64), 0, MAX_DELAY)
                delays = np.broadcast_to(delays.reshape(-1, 1) if delays.ndim == 1 and delays.size == weight.shape[0]
                                         else delays, weight.shape).copy()
            bias = np.asarray(g["bias"][()]).astype(np.int64) if "bias" in g else None
            layers.append(LoihiLayer(weights=weight, du=int(n["iDecay"][()]) - 1, dv=int(n["vDecay"][()]),
                                     vth=int(n["vThMant"][()]), bias_mant=bias, bias_exp=NETX_BIAS_EXP,
                                     weight_exp=wexp, num_weight_bits=nwb, sign_mode=None, delays=delays))
    return layers
