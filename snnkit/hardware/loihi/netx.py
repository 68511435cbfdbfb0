"""lava-dl netx HDF5 network files ("network.net"): writer and reader.

Format (lava-dl 0.6.0, REFERENCE.md section 2): every value is an HDF5 dataset. ``/layer/<i>`` in
sequence; ``/layer/0`` is ``type=input`` with ``shape``; then ``type=dense`` layers with ``shape``,
``inFeatures``, ``outFeatures``, ``weight`` ``[out, in]``, optional ``bias`` and ``delay``, and a
``neuron`` group (``type=CUBA``, ``iDecay`` = du + 1, ``vDecay`` = dv, ``vThMant`` = vth, ``refDelay``,
``gradedSpike``).

How netx reads a dense layer (and so what :func:`read_netx` reproduces): the weight exponent is not
stored; netx re-derives ``weight_exp`` and ``num_weight_bits`` from the integer weights
(:func:`netx_weight_bits`, lava-dl's ``optimize_weight_bits``) and does NOT pass its sign mode on:
Lava's ``Dense`` infers the sign mode again from the shifted weights and clips and truncates with it.
The two disagree on a matrix whose weights are all <= 0 and include a 0 (netx: mixed sign, Lava:
inhibitory) and on one whose smallest weight, shifted, reaches -256 (Lava's inhibitory range ends at
-255). So the writer checks, weight by weight, that what Lava will apply after netx's treatment equals
what snnkit simulates, and refuses the layer (naming the cause) when it does not; it then reads the
written file back and compares every field. Biases always get ``bias_exp = 6``; a layer with
``weight_exp = e`` is written with weights ``W_eff * 2**e``.

The reader treats the file as untrusted: declared sizes are checked against caps from the datasets'
shapes before anything is read, and every value must be finite, integral and in Loihi's range
(:class:`~snnkit.errors.InvalidFileError`, :class:`~snnkit.errors.SizeLimitError`). lava-dl itself
would truncate ``vThMant=12.7``, clip negative delays and run NaN delays into a hang.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..._atomic import atomic_path
from ...errors import InvalidFileError, SizeLimitError
from .layer import (BIAS_MANT_MAX, BIAS_MANT_MIN, MAX_DECAY, MAX_DELAY, MAX_VTH, ConvGeometry, LoihiLayer,
                          effective_weights, sign_mode_of, validate_network)

NETX_BIAS_EXP = 6
MAX_LAYERS = 1024            # caps of the reader (overridable per call)
MAX_ELEMENTS = 1 << 26       # weights (or neurons) of one layer


class NetxIncompatible(ValueError):
    """A layer that lava-dl netx would load differently from how snnkit simulates it."""


def netx_weight_bits(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    """What lava-dl 0.6.0's ``netx.utils.optimize_weight_bits`` does to integer weights before handing
    them to Lava's Dense: returns ``(shifted weights, num_weight_bits, weight_exp)``. Lava then infers
    the sign mode from the shifted weights itself. Raises :class:`NetxIncompatible` where lava-dl would
    produce garbage (all-zero matrix: infinite scale; a negative shift)."""
    w = np.asarray(weight).astype(np.int64)
    mx, mn = int(w.max()), int(w.min())
    if (mx > 254 and mn < 0) or (mn < -256 and mx > 0):
        w = np.clip(w, -256, 254)          # lava-dl clips (printing a warning) and goes on
        mx, mn = int(w.max()), int(w.min())
    if mx < 0:
        scale, signed = -256 / mn, 0
    elif mn >= 0:
        if mx == 0:
            raise NetxIncompatible("all weights are zero: lava-dl netx computes an infinite weight scale")
        scale, signed = 255 / mx, 0
    else:  # mixed for lava-dl, also when the largest weight is 0 (its positive scale is then infinite)
        scale, signed = min(127 / mx if mx > 0 else np.inf, -128 / mn), 1
    scale_bits = int(np.floor(np.log2(scale))) + signed
    n = 8
    while n > 0 and np.any(w % (1 << n)):
        n -= 1
    n -= signed
    if scale_bits < 0:
        raise NetxIncompatible(f"weights in [{mn}, {mx}] make lava-dl netx shift them by {scale_bits} bits "
                               "(a negative shift: every weight becomes 0)")
    return w << scale_bits, 8 - scale_bits - n, -scale_bits


def netx_applied_weights(weight: np.ndarray) -> tuple[np.ndarray, int]:
    """``(W_applied, shift)``: Lava computes ``(sum_j W_applied[i, j] s_j) >> shift`` for a netx dense layer
    with integer ``weight`` (netx's bit optimisation, then Lava's own sign-mode inference, clip, truncate)."""
    shifted, nwb, wexp = netx_weight_bits(weight)
    return effective_weights(shifted, None, nwb), -wexp


def _intended_weights(layer: LoihiLayer, index: int) -> np.ndarray:
    """The per-synapse integer contributions snnkit simulates, ``W_eff * 2**weight_exp``."""
    w = effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits)
    e = int(layer.weight_exp)
    if e >= 0:
        return w << e
    if np.any(w % (1 << -e)):
        raise NetxIncompatible(f"layer {index}: weight_exp={e} floors sums, which netx (no weight exponent) "
                               "cannot express; use weight_exp >= 0")
    return w >> -e


def netx_dense_weights(layer: LoihiLayer, index: int = 0) -> np.ndarray:
    """The weights to store for ``layer`` so that real netx + Lava apply exactly what snnkit simulates;
    raises :class:`NetxIncompatible` with the reason when no such file exists."""
    scaled = _intended_weights(layer, index)
    mn, mx = int(scaled.min()), int(scaled.max())
    if not ((0 <= mn and mx <= 255) or (-256 <= mn and mx <= 254)):
        raise NetxIncompatible(f"layer {index}: weights * 2**weight_exp span [{mn}, {mx}]; netx stores no weight "
                               "exponent, so they must fit [0, 255] or [-256, 254]")
    if not np.any(scaled):
        raise NetxIncompatible(f"layer {index}: all weights are zero; lava-dl netx cannot load an all-zero "
                               "weight matrix")
    applied, shift = netx_applied_weights(scaled)
    bad = applied != (scaled << shift)
    if np.any(bad):
        i, j = (int(a[0]) for a in np.nonzero(bad))
        cause = ("its weights are all <= 0 and include a 0: lava-dl classifies them as mixed sign while Lava's "
                 "Dense re-infers inhibitory sign and truncates with netx's bit count"
                 if mx == 0 and mn < 0 else
                 "lava-dl's rescaling reaches a weight outside the range of the sign mode Lava infers")
        raise NetxIncompatible(
            f"layer {index}: real netx would apply weight {int(applied[i, j]) / (1 << shift):g} at [{i}, {j}] "
            f"where snnkit simulates {int(scaled[i, j])}, because {cause}. Quantise this layer with even "
            f"weights and a largest magnitude of 254 (quantize_for_loihi(..., for_netx=True) does), or avoid "
            f"zero weights in an all-negative layer")
    return scaled


def _netx_bias(layer: LoihiLayer, index: int) -> np.ndarray | None:
    if layer.bias_mant is None or not np.any(layer.bias_mant):
        return None
    b = np.asarray(layer.bias_mant, np.int64) * (2.0 ** (int(layer.bias_exp) - NETX_BIAS_EXP))
    if np.any(b != np.round(b)) or b.min() < BIAS_MANT_MIN or b.max() > BIAS_MANT_MAX:
        raise NetxIncompatible(f"layer {index}: netx fixes bias_exp=6; bias_mant * 2**(bias_exp - 6) must be "
                               f"integers in [{BIAS_MANT_MIN}, {BIAS_MANT_MAX}]")
    return b


def write_netx(layers: list[LoihiLayer], path: str | os.PathLike) -> Path:
    """Write a chain of Loihi layers as a lava-dl netx HDF5 file (atomically) and read it back.

    Raises :class:`NetxIncompatible` (a ``ValueError``) naming the layer and the reason when real netx
    would run a layer differently from :func:`~snnkit.hardware.loihi.simulate`. Returns the path."""
    validate_network(layers)
    path = Path(path)
    with atomic_path(path) as tmp:
        _write(layers, tmp)
        _check_read_back(layers, read_netx(tmp), path)
    return path


def _write(layers: list[LoihiLayer], tmp: str | os.PathLike, check: bool = True) -> None:
    """``check=False`` writes the weights unchecked (only to demonstrate, in tests, what netx does)."""
    with h5py.File(tmp, "w") as f:
        grp = f.create_group("layer")
        inp = grp.create_group("0")
        inp.create_dataset("type", data=np.array([b"input"]))
        inp.create_dataset("shape", data=np.array(layers[0].in_shape))
        index = 1
        for i, layer in enumerate(layers):
            if layer.recurrent_weights is not None:
                raise NetxIncompatible(f"layer {i}: recurrent layers are not written to netx by snnkit")
            if i and layer.conv is None and layers[i - 1].conv is not None:
                grp.create_group(str(index)).create_dataset("type", data=np.array([b"flatten"]))
                index += 1
            g = grp.create_group(str(index))
            index += 1
            bias = _netx_bias(layer, i)
            if layer.conv is not None:
                _write_conv(g, layer, i, bias)
            else:
                weights = netx_dense_weights(layer, i) if check else _intended_weights(layer, i)
                g.create_dataset("type", data=np.array([b"dense"]))
                g.create_dataset("shape", data=np.array([layer.n_out]))
                g.create_dataset("inFeatures", data=layer.n_in)
                g.create_dataset("outFeatures", data=layer.n_out)
                g.create_dataset("weight", data=weights.astype(np.float32))
                if bias is not None:
                    g.create_dataset("bias", data=bias.astype(np.float32))
                if layer.delays is not None:
                    g.create_dataset("delay", data=np.asarray(layer.delays, np.float32))
            _write_neuron(g, layer)


def _write_conv(g: h5py.Group, layer: LoihiLayer, index: int, bias: np.ndarray | None) -> None:
    """A netx conv layer: torch's kernel layout (netx flips and transposes it into Lava's), ``(H, W)`` pairs
    (netx reverses them into Lava's ``(X, Y)``), shape ``(C, H, W)``; pooling is written this way too
    (a grouped conv), because lava-dl 0.6.0's netx cannot load ``pool`` layers."""
    geo = layer.conv
    g.create_dataset("type", data=np.array([b"conv"]))
    g.create_dataset("shape", data=np.array(layer.out_shape))
    g.create_dataset("weight", data=np.asarray(layer.weights, np.float32))
    for name in ("stride", "padding", "dilation"):
        g.create_dataset(name, data=np.array(getattr(geo, name)))
    g.create_dataset("groups", data=int(geo.groups))
    if bias is not None:
        c, h, w = layer.out_shape
        per_channel = bias.reshape(c, h * w)
        if np.all(per_channel == per_channel[:, :1]):
            g.create_dataset("bias", data=per_channel[:, 0].astype(np.float32))
        else:  # one value per neuron, in netx's (W, H, C) layout
            g.create_dataset("bias", data=bias.reshape(c, h, w).transpose(2, 1, 0).astype(np.float32))


def _write_neuron(g: h5py.Group, layer: LoihiLayer) -> None:
    n = g.create_group("neuron")
    n.create_dataset("type", data=np.array([b"CUBA"]))
    n.create_dataset("iDecay", data=int(layer.du) + 1)
    n.create_dataset("vDecay", data=int(layer.dv))
    n.create_dataset("vThMant", data=int(layer.vth))
    n.create_dataset("refDelay", data=1)
    n.create_dataset("gradedSpike", data=False)


def _check_read_back(layers: list[LoihiLayer], back: list[LoihiLayer], path: Path) -> None:
    """The file, read as netx reads it, must hold the network snnkit simulates (else: a writer bug)."""
    if len(back) != len(layers):
        raise RuntimeError(f"{path}: wrote {len(layers)} layers but read back {len(back)}")
    for i, (a, b) in enumerate(zip(layers, back)):
        if a.conv is not None:
            applied, got = np.asarray(a.weights, np.int64), np.asarray(b.weights, np.int64)
        else:
            applied = _intended_weights(a, i)
            got = effective_weights(b.weights, b.sign_mode, b.num_weight_bits)
            got = got << b.weight_exp if b.weight_exp >= 0 else got >> -b.weight_exp
        same = (a.conv == b.conv and np.array_equal(applied, got) and (a.du, a.dv, a.vth) == (b.du, b.dv, b.vth)
                and np.array_equal(_bias_value(a), _bias_value(b))
                and np.array_equal(_delays(a), _delays(b)))
        if not same:
            raise RuntimeError(f"{path}: layer {i} read back differently from what was written")


def _bias_value(layer: LoihiLayer) -> np.ndarray:
    return layer.bias() << int(layer.bias_exp)


def _delays(layer: LoihiLayer) -> np.ndarray:
    return np.zeros(layer.weights.shape, np.int64) if layer.delays is None else np.asarray(layer.delays, np.int64)


# ----------------------------------------------------------------------------------------------- reader


class _Reader:
    """Validating access to one netx file: every field is checked before it is used."""

    def __init__(self, path: str | os.PathLike, max_elements: int) -> None:
        self.path, self.max_elements = os.fspath(path), int(max_elements)

    def fail(self, field: str, value: Any, allowed: str) -> InvalidFileError:
        return InvalidFileError(self.path, field, value, allowed)

    def dataset(self, g: h5py.Group, name: str, where: str) -> h5py.Dataset:
        if name not in g:
            raise self.fail(f"{where}/{name}", None, "a dataset (missing)")
        d = g[name]
        if not isinstance(d, h5py.Dataset):
            raise self.fail(f"{where}/{name}", type(d).__name__, "an HDF5 dataset")
        return d

    def array(self, g: h5py.Group, name: str, where: str, max_elements: int | None = None) -> np.ndarray:
        """A numeric dataset, its declared size checked against the cap before it is read."""
        d = self.dataset(g, name, where)
        cap = self.max_elements if max_elements is None else max_elements
        size = int(np.prod(d.shape, dtype=np.float64)) if d.shape is not None else 0
        if size > cap:
            raise SizeLimitError(self.path, f"{where}/{name}", f"shape {d.shape}", f"at most {cap} elements "
                                 "(pass a larger max_elements if the file is trusted)")
        if d.dtype.kind not in "iufb":
            raise self.fail(f"{where}/{name}", str(d.dtype), "a numeric dataset")
        return np.asarray(d[()])

    def integers(self, g: h5py.Group, name: str, where: str, lo: int, hi: int,
                 max_elements: int | None = None) -> np.ndarray:
        a = self.array(g, name, where, max_elements)
        field = f"{where}/{name}"
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if np.any(bad):
                raise self.fail(field, float(a[bad].flat[0]), f"finite integers in [{lo}, {hi}]")
            frac = a != np.round(a)
            if np.any(frac):
                raise self.fail(field, float(a[frac].flat[0]), f"integers in [{lo}, {hi}] (no fractional part)")
        out = (a < lo) | (a > hi)        # compared before the cast, so 1e30 cannot wrap into range
        if np.any(out):
            raise self.fail(field, a[out].flat[0].item(), f"integers in [{lo}, {hi}]")
        return a.astype(np.int64)

    def scalar(self, g: h5py.Group, name: str, where: str, lo: int, hi: int) -> int:
        a = self.integers(g, name, where, lo, hi, max_elements=1)
        if a.size != 1:
            raise self.fail(f"{where}/{name}", f"shape {a.shape}", "a single value")
        return int(a.reshape(-1)[0])

    def text(self, g: h5py.Group, name: str, where: str, allowed: tuple[str, ...]) -> str:
        d = self.dataset(g, name, where)
        if d.shape is not None and int(np.prod(d.shape)) > 1 or d.dtype.kind not in "SOU":
            raise self.fail(f"{where}/{name}", f"{d.dtype} {d.shape}", "one string")
        v = d[()]
        v = v.reshape(-1)[0] if isinstance(v, np.ndarray) else v
        v = v.decode("ascii", "replace") if isinstance(v, bytes) else str(v)
        if v not in allowed:
            raise self.fail(f"{where}/{name}", v, f"one of {list(allowed)}")
        return v


def read_netx(path: str | os.PathLike, max_layers: int = MAX_LAYERS,
              max_elements: int = MAX_ELEMENTS) -> list[LoihiLayer]:
    """Read a netx file written by snnkit or lava-dl (dense CUBA layers) into Loihi layers that
    :func:`~snnkit.hardware.loihi.simulate` runs exactly as ``lava.lib.dl.netx.hdf5.Network`` does.

    The file is untrusted: malformed or out-of-range fields raise
    :class:`~snnkit.errors.InvalidFileError` naming the file, the field, the value and what is allowed;
    layer counts above ``max_layers`` and arrays above ``max_elements`` raise
    :class:`~snnkit.errors.SizeLimitError` before they are read."""
    try:
        return _read_netx(path, max_layers, max_elements)
    except (OSError, RuntimeError, KeyError) as exc:  # h5py's errors on a damaged container
        raise InvalidFileError(path, "file", f"{type(exc).__name__}: {exc}",
                               "an undamaged HDF5 file (lava-dl netx format)") from None


def _read_netx(path: str | os.PathLike, max_layers: int, max_elements: int) -> list[LoihiLayer]:
    r = _Reader(path, max_elements)
    f = h5py.File(path, "r")
    layers: list[LoihiLayer] = []
    with f:
        if not isinstance(f.get("layer"), h5py.Group):
            raise r.fail("layer", None, "a group /layer holding /layer/0, /layer/1, ...")
        grp = f["layer"]
        keys = list(grp.keys())
        if len(keys) > max_layers:
            raise SizeLimitError(r.path, "layer", f"{len(keys)} layers", f"at most {max_layers} layers")
        if sorted(keys) != sorted(str(i) for i in range(len(keys))):
            raise r.fail("layer", sorted(keys)[:5], "groups named 0, 1, ..., n-1")
        prev_shape: tuple[int, ...] | None = None
        for i in range(len(keys)):
            where = f"layer/{i}"
            g = grp[str(i)]
            if not isinstance(g, h5py.Group):
                raise r.fail(where, type(g).__name__, "a group")
            if r.text(g, "type", where, _LAYER_TYPES) == "flatten":
                prev_shape = None if prev_shape is None else (int(np.prod(prev_shape)),)
                continue
            kind = r.text(g, "type", where, _LAYER_TYPES)
            shape = r.integers(g, "shape", where, 1, max_elements, max_elements=4)
            if int(np.prod(shape, dtype=np.float64)) > max_elements:
                raise SizeLimitError(r.path, f"{where}/shape", shape.tolist(), f"at most {max_elements} neurons")
            shape_t = tuple(int(v) for v in shape.reshape(-1))
            if kind == "input":
                if i:
                    raise r.fail(f"{where}/type", kind, "'input' only as layer 0")
            elif kind == "conv":
                layers.append(_read_conv(r, g, where, shape_t, prev_shape))
            else:
                n_in = None if prev_shape is None else int(np.prod(prev_shape))
                if prev_shape is not None and len(prev_shape) > 1:
                    raise r.fail(f"{where}/type", kind, "a dense layer after a 'flatten' layer when the previous "
                                 "layer is spatial")
                layers.append(_read_dense(r, g, where, int(np.prod(shape_t)), n_in))
            prev_shape = shape_t
    if not layers:
        raise r.fail("layer", len(keys), "at least one dense layer")
    return layers


_LAYER_TYPES = ("input", "dense", "conv", "flatten")


def _pair(r: _Reader, g: h5py.Group, name: str, where: str, lo: int, default: int) -> tuple[int, int]:
    """netx's ``expand``: a scalar means both axes; a pair is stored ``(H, W)``."""
    if name not in g:
        return default, default
    a = r.integers(g, name, where, lo, 127, max_elements=2).reshape(-1)
    if a.size == 1:
        return int(a[0]), int(a[0])
    return int(a[0]), int(a[1])


def _read_conv(r: _Reader, g: h5py.Group, where: str, shape: tuple[int, ...],
               prev_shape: tuple[int, ...] | None) -> LoihiLayer:
    if prev_shape is None or len(prev_shape) != 3:
        raise r.fail(f"{where}/type", "conv", "a conv layer after an input or conv layer of shape (C, H, W)")
    if len(shape) != 3:
        raise r.fail(f"{where}/shape", list(shape), "(C, H, W)")
    weight = r.integers(g, "weight", where, -256, 255)
    groups = r.scalar(g, "groups", where, 1, prev_shape[0]) if "groups" in g else 1
    if weight.ndim != 4 or weight.shape[0] != shape[0] or weight.shape[1] * groups != prev_shape[0]:
        raise r.fail(f"{where}/weight", f"shape {weight.shape}",
                     f"[{shape[0]}, {prev_shape[0]} / groups, kH, kW] (out, in / groups, kH, kW)")
    geo = ConvGeometry(in_shape=prev_shape, stride=_pair(r, g, "stride", where, 1, 1),
                       padding=_pair(r, g, "padding", where, 0, 0), dilation=_pair(r, g, "dilation", where, 1, 1),
                       groups=groups)
    if geo.out_shape(weight.shape) != shape:
        raise r.fail(f"{where}/shape", list(shape), f"the conv output {list(geo.out_shape(weight.shape))}")
    c, h, w = shape
    bias = None
    if "bias" in g:
        b = r.integers(g, "bias", where, BIAS_MANT_MIN, BIAS_MANT_MAX)
        if b.shape == (c,):
            bias = np.repeat(b, h * w)
        elif b.shape == (w, h, c):
            bias = b.transpose(2, 1, 0).reshape(-1)
        else:
            raise r.fail(f"{where}/bias", f"shape {b.shape}", f"({c},) per channel or ({w}, {h}, {c}) per neuron")
    layer = LoihiLayer(weights=weight, bias_mant=bias, bias_exp=NETX_BIAS_EXP, conv=geo,
                       **_read_neuron(r, g, where))
    try:
        layer.validate()
    except ValueError as exc:
        raise r.fail(where, "conv layer", str(exc)) from None
    return layer


def _read_neuron(r: _Reader, g: h5py.Group, where: str) -> dict[str, int]:
    nw = f"{where}/neuron"
    if not isinstance(g.get("neuron"), h5py.Group):
        raise r.fail(nw, None, "a neuron group (snnkit reads CUBA neurons only)")
    n = g["neuron"]
    r.text(n, "type", nw, ("CUBA", "LOIHI"))
    if "gradedSpike" in n and r.scalar(n, "gradedSpike", nw, 0, 1):
        raise r.fail(f"{nw}/gradedSpike", True, "False (graded spikes are not supported)")
    return {"du": r.scalar(n, "iDecay", nw, 1, MAX_DECAY + 1) - 1, "dv": r.scalar(n, "vDecay", nw, 0, MAX_DECAY),
            "vth": r.scalar(n, "vThMant", nw, 0, MAX_VTH)}


def _read_dense(r: _Reader, g: h5py.Group, where: str, n_out: int, n_in: int | None) -> LoihiLayer:
    weight = r.integers(g, "weight", where, -256, 255)
    if weight.ndim != 2 or weight.shape[0] != n_out or (n_in is not None and weight.shape[1] != n_in):
        raise r.fail(f"{where}/weight", f"shape {weight.shape}",
                     f"[{n_out}, {n_in if n_in is not None else 'inputs'}] (out, in)")
    try:
        shifted, nwb, wexp = netx_weight_bits(weight)
    except NetxIncompatible as exc:
        raise r.fail(f"{where}/weight", f"values in [{int(weight.min())}, {int(weight.max())}]",
                     f"weights lava-dl netx can load ({exc})") from None
    # Lava's Dense clips to the 8-bit range of the sign mode it infers (-256 -> -255 when inhibitory);
    # we store the clipped weights so that the layer validates and simulates identically.
    lo, hi = {1: (-256, 255), 2: (0, 255), 3: (-255, 0)}[sign_mode_of(shifted)]
    shifted = np.clip(shifted, lo, hi)
    delays = None
    if "delay" in g:
        d = r.integers(g, "delay", where, 0, MAX_DELAY)
        if d.shape == weight.shape:
            delays = d
        elif d.ndim == 1 and d.size in (weight.shape[0], weight.shape[1]):
            # netx's rule: one delay per output neuron (axonal) when the size matches, else per input
            delays = np.repeat(d.reshape(-1, 1), weight.shape[1], 1) if d.size == weight.shape[0] else \
                np.repeat(d.reshape(1, -1), weight.shape[0], 0)
        elif d.size == 1:
            delays = np.full(weight.shape, int(d.reshape(-1)[0]), np.int64)
        else:
            raise r.fail(f"{where}/delay", f"shape {d.shape}", f"{weight.shape}, ({weight.shape[0]},), "
                         f"({weight.shape[1]},) or a single value")
    bias = None
    if "bias" in g:
        bias = r.integers(g, "bias", where, BIAS_MANT_MIN, BIAS_MANT_MAX)
        if bias.size == 1:
            bias = np.full(n_out, int(bias.reshape(-1)[0]), np.int64)
        elif bias.shape != (n_out,):
            raise r.fail(f"{where}/bias", f"shape {bias.shape}", f"({n_out},) or a single value")
    return LoihiLayer(weights=shifted, bias_mant=bias, bias_exp=NETX_BIAS_EXP, weight_exp=wexp,
                      num_weight_bits=nwb, sign_mode=None, delays=delays, **_read_neuron(r, g, where))
