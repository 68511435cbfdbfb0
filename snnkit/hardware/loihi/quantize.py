"""Quantise a trained snnkit model to Loihi 2 fixed point (Lava's LIF + Dense/DelayDense).

The model is read through the network graph (:func:`snnkit.ir.to_graph`), so any model the graph layer
understands works: a chain of (Linear | delayed linear | Conv1d | Conv2d) -> (LIF | IF | CubaLIF | LI) blocks,
optionally with recurrent weights; hard reset to 0 (Loihi's LIF resets to 0). Linear maps between a
synapse and its neuron (BatchNorm as Affine/Scale, pooling or BatchNorm written as convolutions,
conv -> conv, conv -> flatten -> Linear) fold into the synapse first (:func:`_fold_following`); a Conv1d
over ``[C, L]`` is the Conv2d over ``[C, L, 1]``.

Mapping of one block with weights ``W``, bias ``b``, decays ``beta`` (membrane) and ``alpha`` (current):

- a float membrane ``v`` becomes ``v_fixed = S v`` with a layer scale ``S = k 2**(6 + weight_exp)``;
  ``W_int = round(k W)`` uses the full 8-bit range of its sign mode (``k = 255 / max|W|`` for one-signed
  weights; mixed signs keep 7 bits + sign: even values up to 254);
- LIF/IF: ``du = 4095`` (Lava's current then holds exactly this step's input), ``dv = round(4096 (1 - beta))``;
  CubaLIF: ``du = round(4096 (1 - alpha)) - 1``; ``decay_input=True`` folds ``1 - beta`` into ``W``;
- ``vth = round(S v_th / 64)``; bias ``S b = bias_mant << bias_exp`` (for CubaLIF ``b / (1 - alpha)``, its
  steady-state value, because Loihi adds the bias to ``v`` and not to the current);
- ``weight_exp`` is the largest value in 0..7 for which the threshold fits 17 bits, the bias fits 13 bits
  with exponent <= 7 and the worst-case membrane ``S (v_th + sum_j |W_ij| + |b|)`` fits the 24-bit state;
  if none fits, :class:`ValueError`;
- LI readouts become LIF neurons with the largest threshold (they never spike; read ``v``);
- a last synapse with no neuron after it (an ANN-to-SNN converted network ends in a plain Linear, whose
  output the prediction averages over time) becomes a non-spiking readout that sums: largest threshold,
  ``du = 4095`` (the current is this step's input), ``dv = 0`` (the membrane keeps the running sum), so
  ``v[t]`` is the sum over steps ``<= t`` of the Linear's output (readout ``"sum"``); its weight exponent
  is 0, leaving the 24-bit state as much room as possible (the report's ``steps_to_saturate`` bounds how
  many worst-case steps fit before ``v`` saturates).

Lava adds one step of latency per layer; :meth:`LoihiNetwork.run` pads and realigns time so outputs
line up with the float model's. The per-layer quantisation error is in :attr:`LoihiNetwork.report`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...functional import decay
from ...ir import to_graph
from ...synapses.folding import fold_scale_shift
from .layer import (BIAS_EXP_MAX, BIAS_MANT_MAX, DECAY_UNITY, MAX_DECAY, MAX_DELAY, MAX_VTH, UV_HALF,
                     SIGN_MODE_NAMES, ConvGeometry, LoihiLayer, effective_weights, sign_mode_of,
                     validate_network)
from .models import simulate
from .netx import NETX_BIAS_EXP, write_netx


def weight_scale(w: np.ndarray | torch.Tensor) -> float:
    """``k`` with ``round(k W)`` using Loihi's 8-bit range for the weights' signs (see module docstring)."""
    w = w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else np.asarray(w)
    mx = float(np.abs(w).max()) if w.size else 0.0
    if mx == 0:
        return 1.0
    mixed = w.min() < 0 < w.max()
    return (254.0 if mixed else 255.0) / mx


def quantize_weights(w: np.ndarray, k: float, even: bool | None = None) -> np.ndarray:
    """Integer weights for scale ``k``: one-signed -> [0, 255] / [-255, 0]; mixed -> even in [-256, 254].

    ``even=True`` forces the even grid (what lava-dl netx needs for an all-<=0 layer holding zeros)."""
    if even or (even is None and w.min() < 0 < w.max()):
        return (2 * np.clip(np.round(w * k / 2), -128, 127)).astype(np.int64)
    return np.clip(np.round(w * k), -255, 255).astype(np.int64)


class LoihiQuantizationWarning(UserWarning):
    """The quantised network loses much of a layer (e.g. one outlier weight zeroes the rest)."""


def _check_weights(w: np.ndarray, where: str) -> None:
    if not np.all(np.isfinite(w)):
        bad = w[~np.isfinite(w)].flat[0]
        raise ValueError(f"{where}: weights must be finite to quantise for Loihi; got {bad!r}")


def _warn_vanished(w: np.ndarray, w_int: np.ndarray, where: str, fraction: float = 0.25) -> None:
    """Warn when quantisation zeroes more than ``fraction`` of a layer's nonzero weights (an outlier)."""
    nonzero = w != 0
    lost = int(np.count_nonzero(nonzero & (w_int == 0)))
    total = int(np.count_nonzero(nonzero))
    if total and lost > fraction * total:
        import warnings

        warnings.warn(f"{where}: quantisation to 8 bits zeroes {lost} of {total} nonzero weights because the "
                      f"largest weight |w|={float(np.abs(w).max()):.3g} is {float(np.abs(w).max()) / max(float(np.median(np.abs(w[nonzero]))), 1e-300):.3g} "
                      "times the median: clip or renormalise outliers before deploying",
                      LoihiQuantizationWarning, stacklevel=3)


@dataclass
class LoihiNetwork:
    """A quantised network: Loihi layers plus what is needed to compare with the float model."""

    layers: list[LoihiLayer]
    scales: list[float]
    readout: str                      # "spikes", "voltage" (LI readout) or "sum" (no neuron: running sum)
    report: list[dict[str, Any]] = field(default_factory=list)
    input_scale: float | None = None  # graded input: x enters as round(x * input_scale); None: binary spikes

    @property
    def latency(self) -> int:
        return len(self.layers)

    def graded_input(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """Real-valued input as the integer payloads of graded spikes: ``round(x * input_scale)``, clipped to
        the first synapse's ``num_message_bits`` (signed)."""
        if self.input_scale is None:
            raise ValueError("this network takes binary spikes (quantised without input_max)")
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
        top = 2 ** (self.layers[0].num_message_bits - 1) - 1
        return np.clip(np.round(x * self.input_scale), -top, top).astype(np.int64)

    def run(self, spikes: np.ndarray | torch.Tensor, record: bool = False) -> dict[str, Any]:
        """Run input ``[T, B, N]`` (or ``[T, N]``) on the bit-exact simulator: binary spikes, or any real
        values when the network was quantised for graded input (``input_max``; see :meth:`graded_input`).

        Returns ``{"spikes": [T, B, N_out] bool, "v": [T, B, N_out] float (v / S)}`` realigned to the float
        model's time steps (Lava's per-layer latency removed). With readout ``"sum"``, ``v[t]`` is the sum
        of the float model's outputs over steps ``0..t`` (compare with ``model(x).cumsum(0)``)."""
        x = spikes.detach().cpu().numpy() if isinstance(spikes, torch.Tensor) else np.asarray(spikes)
        if x.ndim > 3:   # [T, B, C, H, W] images of spikes: neurons are flattened in (C, H, W) order
            x = x.reshape(x.shape[0], x.shape[1], -1)
        if self.input_scale is not None:
            x = self.graded_input(x)
        elif not np.all((x == 0) | (x == 1)):
            raise ValueError("spikes must be binary (0/1): Loihi's unary spikes carry no value; for real-valued "
                             "(current-encoded) input quantise with input_max (graded spikes)")
        else:
            x = x.astype(bool)
        pad = np.zeros((self.latency,) + x.shape[1:], dtype=x.dtype)
        out = simulate(self.layers, np.concatenate([x, pad]), record=True)
        lat = self.latency
        res: dict[str, Any] = {"spikes": out["spikes"][-1][lat:], "v": out["v"][-1][lat:] / self.scales[-1]}
        if record:
            res["all"] = out
        return res

    def write_netx(self, path: str) -> Any:
        """Write the network as a lava-dl netx HDF5 file (see :func:`snnkit.hardware.loihi.write_netx`)."""
        return write_netx(self.layers, path)


@dataclass(frozen=True)
class SumReadout:
    """The neuron-less end of a network (a synapse feeding the graph's output, as in an ANN-to-SNN converted
    network): deployed as Loihi neurons that never fire and whose membrane sums the synapse's output."""

    metadata: dict = field(default_factory=dict)


@dataclass
class _Block:
    """One synapse + neuron population read from the graph, still in floating point."""

    name: str
    neuron: Any                                   # the NIR neuron node
    weight: np.ndarray                            # [out, in], or [C_out, C_in / groups, kH, kW] with conv
    bias: np.ndarray | None = None                # per output neuron (conv: already broadcast)
    delays: np.ndarray | None = None
    recurrent: np.ndarray | None = None
    conv: ConvGeometry | None = None
    out_shape: tuple[int, ...] = ()


def _successors(graph: nir.NIRGraph) -> dict[str, list[str]]:
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    return succ


def _pool_params(node: Any, shape: tuple[int, ...], where: str) -> tuple[int, float]:
    """``(k, gain)`` of a pooling node that folds into the next synapse: square, stride = kernel, no
    padding, and the map divisible by ``k`` (then pooling then synapse is one larger synapse, exactly)."""
    k, s, p = (np.broadcast_to(np.asarray(v).reshape(-1), (2,)) for v in (node.kernel_size, node.stride, node.padding))
    if k[0] != k[1] or not np.array_equal(k, s) or np.any(p) or len(shape) != 3 or shape[1] % k[0] or shape[2] % k[0]:
        raise ValueError(f"{where}: pooling kernel {k.tolist()}, stride {s.tolist()}, padding {p.tolist()} on a map "
                         f"{list(shape)} does not fold into the next Loihi synapse; use square pooling with stride = "
                         "kernel, no padding, on a map divisible by the kernel")
    return int(k[0]), (1.0 / float(k[0] * k[0]) if isinstance(node, nir.AvgPool2d) else 1.0)


def _unpool(w: np.ndarray, k: int, gain: float) -> np.ndarray:
    """Fold a ``k x k`` stride-``k`` sum (gain 1) or average pooling into the kernel slices of ``w``
    ``[..., h, w]``: each tap becomes a ``k x k`` block of ``gain * tap`` (the adjoint of pooling)."""
    return np.kron(w, np.ones((k, k))) * gain


def _conv_params(node: nir.Conv1d | nir.Conv2d, where: str) -> tuple[np.ndarray, dict[str, Any], np.ndarray]:
    """``(kernel [C_out, C_in / groups, kH, kW], geometry keywords, bias [C_out])`` of a NIR convolution;
    a Conv1d over ``[C, L]`` is the Conv2d over ``[C, L, 1]`` with kernel ``[k, 1]`` (the same neurons in the
    same order)."""
    w = np.asarray(node.weight, np.float64)
    one_d = isinstance(node, nir.Conv1d)
    if isinstance(node.padding, str):
        if node.padding != "valid":
            raise ValueError(f"{where}: padding={node.padding!r}; the Loihi backend takes integer padding or 'valid'")
        padding: Any = 0
    else:
        padding = node.padding
    dims = 1 if one_d else 2
    stride, padding, dilation = (tuple(int(v) for v in np.broadcast_to(np.asarray(x).reshape(-1), (dims,)))
                                 for x in (node.stride, padding, node.dilation))
    if one_d:
        w, stride, padding, dilation = w[..., None], stride + (1,), padding + (0,), dilation + (1,)
    bias = np.zeros(w.shape[0]) if node.bias is None else np.broadcast_to(np.asarray(node.bias, np.float64), (w.shape[0],))
    return w, {"stride": stride, "padding": padding, "dilation": dilation, "groups": int(node.groups)}, bias


def _as_map(shape: tuple[int, ...], channels: int, where: str) -> tuple[int, int, int]:
    """A signal's shape as the ``(C, H, W)`` map a convolution reads (1-D signals: ``(C, L, 1)``)."""
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return (shape[0], shape[1], 1)
    n = int(np.prod(shape))
    if channels < 1 or n % channels:
        raise ValueError(f"{where}: a convolution over {channels} channels cannot read a signal of {n} values")
    return (channels, n // channels, 1)


def _conv_geometry(node: nir.Conv1d | nir.Conv2d, in_shape: tuple[int, ...], pool: tuple[int, float] | None,
                   where: str) -> tuple[np.ndarray, ConvGeometry, np.ndarray]:
    w, geo, bias = _conv_params(node, where)
    stride, padding, dilation = geo["stride"], geo["padding"], geo["dilation"]
    if pool is not None:
        if dilation != (1, 1):
            raise ValueError(f"{where}: a dilated conv after pooling does not fold into one Loihi conv")
        k, gain = pool
        w = _unpool(w, k, gain)
        stride, padding = (stride[0] * k, stride[1] * k), (padding[0] * k, padding[1] * k)
    in_shape = _as_map(tuple(in_shape), w.shape[1] * geo["groups"], where)
    return w, ConvGeometry(in_shape=in_shape, stride=stride, padding=padding, dilation=dilation,
                           groups=geo["groups"]), bias


def _conv(x: np.ndarray, w: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """``x`` ``[B, C, H, W]`` through the convolution ``w`` (no bias), float64."""
    return F.conv2d(torch.from_numpy(np.ascontiguousarray(x, np.float64)), torch.from_numpy(np.asarray(w, np.float64)),
                    stride=geo.stride, padding=geo.padding, dilation=geo.dilation, groups=geo.groups).numpy()


def _full_kernel(w: np.ndarray, groups: int) -> np.ndarray:
    """A grouped kernel ``[C_out, C_in / groups, ...]`` as the equal ungrouped (block-diagonal) one."""
    if groups == 1:
        return w
    c_out, c_in_g = w.shape[:2]
    full = np.zeros((c_out, c_in_g * groups) + w.shape[2:])
    step = c_out // groups
    for g in range(groups):
        full[g * step:(g + 1) * step, g * c_in_g:(g + 1) * c_in_g] = w[g * step:(g + 1) * step]
    return full


def _compose_convs(w_a: np.ndarray, geo_a: ConvGeometry, w_b: np.ndarray, geo_b: ConvGeometry
                   ) -> tuple[np.ndarray, ConvGeometry] | None:
    """One convolution equal to ``w_b`` after ``w_a`` (no biases), or ``None`` when there is none (dilation,
    or ``w_b``'s zero padding of ``w_a``'s output differs from padding the input): checked on a probe."""
    if geo_a.dilation != (1, 1) or geo_b.dilation != (1, 1):
        return None
    a, b = _full_kernel(w_a, geo_a.groups), _full_kernel(w_b, geo_b.groups)
    (sy, sx), (kh, kw) = geo_a.stride, a.shape[2:]
    w = np.zeros((b.shape[0], a.shape[1], kh + (b.shape[2] - 1) * sy, kw + (b.shape[3] - 1) * sx))
    for jy in range(b.shape[2]):
        for jx in range(b.shape[3]):
            w[:, :, jy * sy:jy * sy + kh, jx * sx:jx * sx + kw] += np.einsum("om,mihw->oihw", b[:, :, jy, jx], a)
    geo = ConvGeometry(in_shape=geo_a.in_shape, stride=(sy * geo_b.stride[0], sx * geo_b.stride[1]),
                       padding=(geo_a.padding[0] + sy * geo_b.padding[0], geo_a.padding[1] + sx * geo_b.padding[1]))
    probe = np.random.default_rng(0).standard_normal((2,) + tuple(geo_a.in_shape))
    want, got = _conv(_conv(probe, w_a, geo_a), w_b, geo_b), _conv(probe, w, geo)
    if want.shape != got.shape or not np.allclose(want, got, rtol=1e-9, atol=1e-9 * max(1.0, float(np.abs(want).max()))):
        return None
    return w, geo


MAX_DENSE_ELEMENTS = 1 << 24   # a convolution unrolled into a dense matrix (when no conv form is equal)


def _as_dense(block: _Block, where: str) -> None:
    """Turn a conv block into the equal dense block (its matrix, column j = the response to input j)."""
    geo = block.conv
    n_in, n_out = int(np.prod(geo.in_shape)), int(np.prod(block.out_shape))
    if n_in * n_out > MAX_DENSE_ELEMENTS:
        raise ValueError(f"{where}: the convolution would unroll into a {n_out} x {n_in} dense synapse, more than "
                         f"{MAX_DENSE_ELEMENTS} weights")
    basis = np.eye(n_in).reshape((n_in,) + tuple(geo.in_shape))
    block.weight, block.conv = _conv(basis, block.weight, geo).reshape(n_in, n_out).T.copy(), None


def _fold_following(block: _Block, node: Any, where: str) -> None:
    """Fold a linear node that reads only this block's synapse (an Affine/BatchNorm, a Scale, a Linear or a
    convolution between the synapse and its neuron, or pooling written as a convolution) into the synapse,
    exactly in float: the synapse then computes ``node(synapse(x))``."""
    if isinstance(node, nir.Flatten):   # neurons are flattened in (C, H, W) order already
        return
    n = int(np.prod(block.out_shape))
    bias = np.zeros(n) if block.bias is None else block.bias
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        if block.conv is None:
            raise ValueError(f"{where}: a convolution after a dense synapse does not fold into one Loihi synapse")
        w_b, geo_b, bias_b = _conv_params(node, where)
        mid = block.out_shape
        geo_b = ConvGeometry(in_shape=mid, **geo_b)
        out_shape = geo_b.out_shape(w_b.shape)
        block.bias = _conv(bias.reshape((1,) + tuple(mid)), w_b, geo_b).reshape(-1) + np.repeat(bias_b, out_shape[1] * out_shape[2])
        composed = _compose_convs(block.weight, block.conv, w_b, geo_b)
        if composed is None:
            _as_dense(block, where)
            block.weight = _conv(block.weight.T.reshape((-1,) + tuple(mid)), w_b, geo_b).reshape(block.weight.shape[1], -1).T
            block.out_shape = (int(np.prod(out_shape)),)
        else:
            block.weight, block.conv = composed
            block.out_shape = out_shape
        return
    if isinstance(node, nir.Scale):
        m, shift = None, np.zeros(n)
        gain = np.broadcast_to(np.asarray(node.scale, np.float64).reshape(-1), (n,))
    else:
        m = np.asarray(node.weight, np.float64)
        if m.ndim != 2 or m.shape[1] != n:
            raise ValueError(f"{where}: weights of shape {m.shape} cannot read the synapse's {n} outputs")
        shift = np.zeros(m.shape[0]) if not isinstance(node, nir.Affine) else np.asarray(node.bias, np.float64)
        gain = np.diag(m).copy() if m.shape == (n, n) and np.count_nonzero(m - np.diag(np.diag(m))) == 0 else None
    if block.conv is not None:
        per_channel = None if gain is None else gain.reshape(block.out_shape[0], -1)
        if per_channel is not None and np.all(per_channel == per_channel[:, :1]):
            w, _ = fold_scale_shift(block.weight, np.zeros(block.out_shape[0]), per_channel[:, 0], 0.0)
            block.weight, block.bias = w, bias * gain + shift
            return
        _as_dense(block, where)
    if gain is not None:   # a per-neuron scale keeps each synapse (and its delay) where it is
        block.weight, block.bias = fold_scale_shift(block.weight, bias, gain, shift)
        return
    if block.delays is not None:
        raise ValueError(f"{where}: a matrix after a delayed synapse mixes synapses of different delays; only a "
                         "per-neuron scale (e.g. BatchNorm) folds into a Loihi DelayDense")
    block.weight, block.bias, block.out_shape = m @ block.weight, m @ bias + shift, (int(m.shape[0]),)


def _dense_after_pool(w: np.ndarray, pre_shape: tuple[int, ...], pool: tuple[int, float]) -> np.ndarray:
    """A Linear reading a flattened pooled map, as a Linear reading the map before pooling."""
    k, gain = pool
    c, h, wd = pre_shape
    return _unpool(w.reshape(w.shape[0], c, h // k, wd // k), k, gain).reshape(w.shape[0], -1)


_FOLDABLE = (nir.Affine, nir.Linear, nir.Scale, nir.Conv1d, nir.Conv2d, nir.Flatten)


def _blocks(graph: nir.NIRGraph) -> list[_Block]:
    """Walk the chain of the graph into blocks: (pooling, flatten)* then synapse(s), then linear maps that
    read only that synapse, then a neuron (or the graph's output: a :class:`SumReadout`).

    Pooling folds into the next synapse (:func:`_unpool`); Flatten changes nothing (neurons are
    flattened in (C, H, W) order already); parallel Delay -> Linear branches form one DelayDense; linear
    maps after the synapse (BatchNorm as Affine, pooling as a convolution, convolutions and Linear layers
    with no neuron between them) fold into it (:func:`_fold_following`)."""
    succ = _successors(graph)
    pred: dict[str, set[str]] = {k: set() for k in graph.nodes}
    for a, b in graph.edges:
        pred[b].add(a)
    shape = tuple(int(v) for v in np.asarray(graph.nodes["input"].input_type["input"]).reshape(-1))
    blocks: list[_Block] = []
    frontier = succ["input"]
    while frontier and frontier != ["output"]:
        pool: tuple[int, float] | None = None
        pre_shape = shape
        while len(frontier) == 1 and isinstance(graph.nodes[frontier[0]], (nir.AvgPool2d, nir.SumPool2d, nir.Flatten)):
            name = frontier[0]
            node = graph.nodes[name]
            if isinstance(node, nir.Flatten):
                shape = (int(np.prod(shape)),)
            else:
                if pool is not None:
                    raise ValueError(f"graph node {name}: two poolings in a row do not fold into one Loihi synapse")
                pool, pre_shape = _pool_params(node, shape, f"graph node {name}"), shape
                shape = (shape[0], shape[1] // pool[0], shape[2] // pool[0])
            frontier = succ[name]
        block, targets, consumed = _synapse(graph, succ, frontier, pre_shape, pool)
        while len(targets) == 1 and isinstance(graph.nodes[next(iter(targets))], _FOLDABLE) \
                and pred[next(iter(targets))] <= consumed:
            (name,) = targets
            _fold_following(block, graph.nodes[name], f"graph node {name}")
            consumed.add(name)
            targets = set(succ[name])
        if len(targets) != 1:
            raise ValueError(f"graph nodes {frontier}: weights feed {sorted(targets)}; expected one neuron population")
        (neuron_name,) = targets
        neuron = graph.nodes[neuron_name]
        if isinstance(neuron, nir.Output):   # no neuron after the last synapse: a summing readout
            neuron, neuron_name = SumReadout(), frontier[-1]
        elif not isinstance(neuron, (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)):
            raise ValueError(f"graph node {neuron_name}: {type(neuron).__name__} is not a neuron Loihi's LIF can run")
        block.neuron, block.name = neuron, neuron_name
        nxt = succ[neuron_name] if not isinstance(neuron, SumReadout) else []
        rec = [b for b in nxt if neuron_name in succ.get(b, []) and isinstance(graph.nodes[b], (nir.Linear, nir.Affine))]
        block.recurrent = np.asarray(graph.nodes[rec[0]].weight, np.float64) if rec else None
        blocks.append(block)
        shape = block.out_shape
        frontier = [b for b in nxt if b not in rec]
    if not blocks:
        raise ValueError("the model has no (Linear -> neuron) block to map to Loihi")
    return blocks


def _is_max_pool(node: Any) -> bool:
    return isinstance(node, nir.NIRGraph) and (node.metadata or {}).get("snnkit.module") == "SpikeMaxPool"


def _synapse(graph: nir.NIRGraph, succ: dict[str, list[str]], frontier: list[str], pre_shape: tuple[int, ...],
             pool: tuple[int, float] | None) -> tuple[_Block, set[str], set[str]]:
    """The synapse starting at ``frontier`` (Linear/Affine, parallel Delay -> Linear, or Conv1d/Conv2d):
    ``(block, the nodes it feeds, the nodes it is made of)``."""
    block = _Block(name="", neuron=None, weight=np.zeros((0, 0)))
    weight, targets, consumed = None, set(), set(frontier)
    for name in frontier:
        node = graph.nodes[name]
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            block.weight, block.conv, bias = _conv_geometry(node, pre_shape, pool, f"graph node {name}")
            block.out_shape = block.conv.out_shape(block.weight.shape)
            block.bias = np.repeat(bias, block.out_shape[1] * block.out_shape[2])
            targets.update(succ[name])
            continue
        lin_name = name
        if isinstance(node, nir.Delay):
            lin_name = succ[name][0]
            consumed.add(lin_name)
            steps = int(node.metadata.get("snnkit.steps", 0)) if node.metadata else 0
        elif _is_max_pool(node) or (isinstance(node, nir.Scale) and any(_is_max_pool(graph.nodes[b]) for b in succ[name])):
            raise ValueError(f"graph node {name}: max pooling cannot run on Loihi: it is not a linear map, and "
                             "Loihi's synapses only add weighted spikes; use average pooling")
        elif not isinstance(node, (nir.Linear, nir.Affine)):
            raise ValueError(f"graph node {name}: {type(node).__name__} where Linear weights or a Conv2d kernel were expected; "
                             "the Loihi backend maps chains of (pooling | flatten)* -> (Linear | Conv) -> linear maps* -> neuron")
        lin = graph.nodes[lin_name]
        w = np.asarray(lin.weight, np.float64)
        if pool is not None:
            w = _dense_after_pool(w, pre_shape, pool)
        if weight is not None and weight.shape != w.shape:
            raise ValueError(f"graph nodes {frontier}: the signal branches into synapses of different shapes "
                             f"{weight.shape} and {w.shape} (at graph node {lin_name}); the Loihi backend maps chains "
                             "of (pooling | flatten)* -> (Linear | Conv) -> linear maps* -> neuron")
        if isinstance(node, nir.Delay):
            d = np.where(w != 0, steps, 0)
            block.delays = d if block.delays is None else np.where(w != 0, steps, block.delays)
        weight = w if weight is None else weight + w
        if isinstance(lin, nir.Affine):
            block.bias = np.asarray(lin.bias, np.float64)
        targets.update(succ[lin_name])
    if block.conv is None:
        block.weight, block.out_shape = weight, (int(weight.shape[0]),)
    return block, targets, consumed


def _neuron_dynamics(node: Any, n: int, dt: float) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(beta, alpha, r)``: membrane and current decays per step, and the input scaling of the neuron."""
    beta_of = lambda tau: decay(torch.as_tensor(np.asarray(tau, np.float64)), dt, "exp").numpy()  # noqa: E731
    if isinstance(node, SumReadout):   # no leak, no input scaling: v sums the synapse's output
        return np.ones(n), None, np.ones(n)
    if isinstance(node, nir.IF):
        beta, alpha, r = np.ones(n), None, np.asarray(node.r) * dt
    elif isinstance(node, nir.CubaLIF):
        beta, alpha = beta_of(node.tau_mem), beta_of(node.tau_syn)
        r = (1 - beta) * np.asarray(node.r) * (1 - alpha) * np.asarray(node.w_in)
    else:
        beta, alpha = beta_of(node.tau), None
        r = (1 - beta) * np.asarray(node.r)
    return beta, alpha, np.broadcast_to(np.asarray(r, np.float64).reshape(-1), (n,)) if np.size(r) in (1, n) \
        else np.asarray(r, np.float64).reshape(-1)


def _shared(name: str, arr: np.ndarray | None, where: str) -> float | None:
    """The one value a per-layer Loihi register holds (refusing per-neuron values)."""
    if arr is None:
        return None
    flat = np.asarray(arr, np.float64).reshape(-1)
    if not np.allclose(flat, flat[0]):
        raise ValueError(f"{where}: per-neuron {name}s are not supported (Loihi's {name} is shared per layer)")
    return float(flat[0])


def _check_reset(node: Any, where: str) -> None:
    meta = node.metadata or {}
    if meta.get("snnkit.reset", "hard") != "hard" or (getattr(node, "v_reset", None) is not None
                                                      and np.any(np.asarray(node.v_reset) != 0)):
        hint = ("; Lava's LIF cannot reset by subtraction (convert an ANN with reset='zero', v_init=0.0, or "
                "deploy a ReLU MLP as sigma-delta neurons: sigma_delta_network)"
                if meta.get("snnkit.reset") == "subtract" else "")
        raise ValueError(f"{where}: Loihi's LIF resets to 0; use reset='hard', v_reset=0{hint}")
    v_init = float(np.asarray(meta.get("snnkit.v_init", 0.0)))
    if v_init != 0:
        raise ValueError(f"{where}: the membrane starts at v_init={v_init:g} x threshold; the Loihi layers start at "
                         "v = 0 (use v_init=0)")


def _fold_input_scaling(block: _Block, r: np.ndarray, alpha: float | None) -> tuple:
    """The neuron's input scaling folded into the synapse; a CUBA bias enters ``v`` at its steady state."""
    n_out = int(np.prod(block.out_shape))
    bias = np.zeros(n_out) if block.bias is None else block.bias * r
    if block.conv is not None:
        per_channel = r.reshape(block.out_shape[0], -1)
        if not np.allclose(per_channel, per_channel[:, :1]):
            raise ValueError(f"block {block.name}: per-neuron input scaling cannot fold into a conv kernel")
        w = block.weight * per_channel[:, 0][:, None, None, None]
    else:
        w = block.weight * r[:, None]
    rec = None if block.recurrent is None else block.recurrent * r[:, None]
    if alpha is not None:
        bias = bias / (1 - alpha)
    return w, bias, rec


def _row_sum(w: np.ndarray, rec: np.ndarray | None, conv: bool, input_amplitude: float = 1.0) -> float:
    """Largest sum of |weights| x largest |input| into one neuron (a conv neuron sees at most one kernel;
    recurrent inputs are spikes)."""
    rows = np.abs(w).reshape(w.shape[0], -1).sum(axis=1) * input_amplitude
    if rec is not None:
        rows = rows + np.abs(rec).sum(axis=1)
    return float(rows.max())


def _choose_scale(w: np.ndarray, rec: np.ndarray | None, bias: np.ndarray, v_th: float | None, vmax: float,
                  conv: bool, for_netx: bool, where: str, integrate: bool = False) -> tuple[float, int]:
    """``(k, weight_exp)``: the weight scale and the largest exponent for which threshold, bias and the
    worst-case membrane fit Loihi's registers; else a smaller weight scale at exponent 0. ``integrate``:
    the membrane sums without bound (a :class:`SumReadout`), so keep exponent 0 for the most headroom."""
    all_w = w.reshape(w.shape[0], -1) if rec is None else np.concatenate([w, rec], axis=1)
    k = 255.0 / float(np.abs(all_w).max()) if conv and np.abs(all_w).max() > 0 else weight_scale(all_w)
    bias_exp_cap = NETX_BIAS_EXP if for_netx else BIAS_EXP_MAX
    # netx stores no weight exponent; Lava's Conv ignores it
    max_weight_exp = 0 if (for_netx or conv or integrate) else 7
    b_max = float(np.abs(bias).max()) if bias.size else 0.0
    for e in range(max_weight_exp, -1, -1):
        scale = k * 2.0 ** (6 + e)
        fits_bias = b_max * scale / 2 ** bias_exp_cap <= BIAS_MANT_MAX
        fits_vth = v_th is None or round(scale * v_th / 64) <= MAX_VTH
        if scale * vmax < UV_HALF - 1 and fits_bias and fits_vth:
            return k, e
    # Trade weight precision for range: shrink the weight scale until the worst-case membrane fits the
    # 24-bit state and the bias its mantissa (weights then use fewer than 8 bits; the report shows the error).
    k = (UV_HALF - 2) / (64 * vmax)
    if b_max > 0:
        k = min(k, (BIAS_MANT_MAX - 0.5) * 2 ** bias_exp_cap / (64 * b_max))
    if k * np.abs(all_w).max() < 1 or b_max * k * 64 / 2 ** bias_exp_cap > BIAS_MANT_MAX:
        raise ValueError(f"{where}: the membrane range {vmax:.3g} x weight scale does not fit Loihi's 24-bit "
                         "state even with weight_exp=0 and reduced weight precision; rescale the layer "
                         "(smaller threshold/weight ratio)")
    return k, 0


def _quantise_synapse(w: np.ndarray, rec: np.ndarray | None, k: float, conv: bool, for_netx: bool
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    if conv:   # Lava's Conv applies the integers as given: the full signed 8-bit range, odd values too
        return np.clip(np.round(w * k), -255, 255).astype(np.int64), None
    # lava-dl netx loads an all-<=0 matrix holding zeros as mixed sign: it runs right on the even grid
    even = True if for_netx and w.max() <= 0 and np.any(w == 0) and w.min() < 0 else None
    k_w = k * 254 / 255 if even and not (w.min() < 0 < w.max()) else k
    return quantize_weights(w, k_w, even), None if rec is None else quantize_weights(rec, k)


def _quantise_bias(b_scaled: np.ndarray, for_netx: bool, where: str) -> tuple[np.ndarray, int]:
    """``(bias_mant, bias_exp)`` with ``bias_mant << bias_exp`` closest to the scaled bias."""
    bias_exp = NETX_BIAS_EXP if for_netx else 0
    while not for_netx and bias_exp < BIAS_EXP_MAX and np.abs(np.round(b_scaled / 2 ** bias_exp)).max() > BIAS_MANT_MAX:
        bias_exp += 1
    bias_mant = np.round(b_scaled / 2 ** bias_exp).astype(np.int64)
    if bias_mant.size and np.abs(bias_mant).max() > BIAS_MANT_MAX:
        raise ValueError(f"{where}: bias {np.abs(b_scaled).max():.3g} needs more than 13 bits + exponent 7 at this scale")
    return bias_mant, bias_exp


def _quantise_delays(delays: np.ndarray | None, where: str) -> np.ndarray | None:
    if delays is None:
        return None
    delays = delays.astype(np.int64)
    if delays.max() > MAX_DELAY:
        raise ValueError(f"{where}: delay {int(delays.max())} steps exceeds Loihi 2's maximum {MAX_DELAY}")
    return delays if delays.any() else None


def _quantise_block(block: _Block, i: int, dt: float, for_netx: bool, input_scale: float | None = None,
                    input_bits: int = 0) -> tuple[LoihiLayer, float, dict[str, Any]]:
    """One block to one Loihi layer: dynamics, folded scaling, scale choice, then every register.
    ``input_scale``: the block reads graded spikes ``round(x * input_scale)`` of ``input_bits`` bits."""
    node, where = block.neuron, f"layer {i} ({block.name})"
    _check_reset(node, where)
    n_out = int(np.prod(block.out_shape))
    beta, alpha, r = _neuron_dynamics(node, n_out, dt)
    w, bias, rec = _fold_input_scaling(block, r, _shared("current decay", alpha, where))
    amplitude = 1.0
    if input_scale is not None:   # weights per unit of the integer payload; payloads reach 2**(bits-1) - 1
        w, amplitude = w / input_scale, float(2 ** (input_bits - 1) - 1)
    spiking = not isinstance(node, (nir.LI, SumReadout))
    summing = isinstance(node, SumReadout)
    v_th = _shared("threshold", node.v_threshold, where) if spiking else None
    beta_s = _shared("decay", beta, where)
    alpha_s = _shared("current decay", alpha, where)
    _check_weights(w if rec is None else np.concatenate([w.reshape(w.shape[0], -1), rec], axis=1), where)
    conv = block.conv is not None
    row_sum = _row_sum(w, rec, conv, amplitude) + (float(np.abs(bias).max()) if bias.size else 0.0)
    vmax = (v_th + row_sum) if spiking else row_sum if summing else row_sum / max(1 - beta_s, 1e-3)
    k, wexp = _choose_scale(w, rec, bias, v_th, vmax, conv, for_netx, where, integrate=summing)
    w_int, rec_int = _quantise_synapse(w, rec, k, conv, for_netx)
    scale = k * 2.0 ** (6 + wexp)
    dv = int(np.clip(round(DECAY_UNITY * (1 - beta_s)), 0, MAX_DECAY))
    du = MAX_DECAY if alpha_s is None else int(np.clip(round(DECAY_UNITY * (1 - alpha_s)) - 1, 0, MAX_DECAY))
    vth = int(round(scale * v_th / 64)) if spiking else MAX_VTH
    bias_mant, bias_exp = _quantise_bias(bias * scale, for_netx, where)
    delays = _quantise_delays(block.delays, where)
    layer = LoihiLayer(weights=w_int, du=du, dv=dv, vth=vth, bias_mant=bias_mant if bias_mant.any() else None,
                       bias_exp=bias_exp, weight_exp=wexp, num_weight_bits=8, delays=delays,
                       recurrent_weights=rec_int, conv=block.conv, num_message_bits=input_bits)
    layer.validate(i)
    _warn_vanished(w, w_int, where)
    w_eff = (w_int if conv else effective_weights(w_int, None, 8)) / k
    report = {"layer": i, "name": block.name, "kind": "conv" if conv else "dense", "neurons": layer.n_out, "weight_exp": wexp,
              "scale": scale, "sign_mode": "conv" if conv else SIGN_MODE_NAMES[sign_mode_of(w_int)],
              "weight_rel_error": float(np.linalg.norm(w_eff - w) / max(np.linalg.norm(w), 1e-12)),
              "threshold_rel_error": abs(vth * 64 / scale - v_th) / v_th if spiking and v_th else 0.0,
              "decay_abs_error": abs((1 - dv / DECAY_UNITY) - beta_s),
              "bias_abs_error": float(np.abs(bias_mant * 2.0 ** bias_exp / scale - bias).max()) if bias.size else 0.0,
              "max_delay": 0 if delays is None else int(delays.max())}
    if summing:   # worst-case steps before the running sum saturates at 2^23 - 1
        report["steps_to_saturate"] = int((UV_HALF - 1) // max(scale * row_sum, 1.0))
    return layer, scale, report


def quantize_for_loihi(model: nn.Module, input_shape: tuple[int, ...] | None = None,
                       for_netx: bool = False, input_max: float | None = None, input_bits: int = 8) -> LoihiNetwork:
    """Quantise ``model`` to Loihi 2 fixed point; refuses what Loihi cannot hold with a clear error.

    Steps: the model's graph (:func:`snnkit.ir.to_graph`) -> blocks of (pooling/flatten, synapse, neuron)
    (:func:`_blocks`) -> per block :func:`_quantise_block` (neuron dynamics, input scaling folded into the
    weights, scale and weight exponent, weights, decays, threshold, bias, delays, report).
    ``for_netx=True`` restricts to what lava-dl netx files hold: ``weight_exp = 0`` (netx stores no
    weight exponent) and ``bias_exp = 6`` (netx's fixed bias exponent).

    Real-valued (current-encoded, "direct") input: pass ``input_max``, the largest ``|x|`` to represent.
    The input then travels as Loihi 2 graded spikes of ``input_bits`` bits (signed payload
    ``round(x * input_scale)``, ``input_scale = (2**(input_bits-1) - 1) / input_max``; larger values
    clip) into a first synapse with ``num_message_bits = input_bits``; the first layer's threshold, bias
    and state are scaled by ``input_scale`` to match. A netx file of such a network must be loaded with
    lava-dl's ``Network(..., input_message_bits=input_bits)`` (netx files do not store it).
    """
    dt = 1.0
    input_scale = None
    if input_max is not None:
        if not (np.isfinite(input_max) and input_max > 0):
            raise ValueError(f"input_max={input_max!r}: must be a finite number > 0 (the largest |input|)")
        if not (isinstance(input_bits, int) and 2 <= input_bits <= 24):
            raise ValueError(f"input_bits={input_bits!r}: Loihi 2 graded spikes carry 2 to 24 bits")
        input_scale = (2 ** (input_bits - 1) - 1) / float(input_max)
    graph = to_graph(model, dt=dt, method="exp", input_shape=input_shape, extensions=True)  # _check_reset says why
    blocks = _blocks(graph)
    layers, scales, report = [], [], []
    for i, block in enumerate(blocks):
        graded = i == 0 and input_scale is not None
        try:
            layer, scale, rep = _quantise_block(block, i, dt, for_netx, input_scale if graded else None,
                                                input_bits if graded else 0)
        except ValueError as err:
            if not graded or "24-bit" not in str(err):
                raise
            raise ValueError(f"{err}; with graded input, payload x weight must fit the 24-bit state: "
                             f"input_bits={input_bits} is too many, try 8") from err
        if graded:
            rep["input_scale"] = input_scale
        layers.append(layer)
        scales.append(scale)
        report.append(rep)
    validate_network(layers)
    last = blocks[-1].neuron
    readout = "sum" if isinstance(last, SumReadout) else "voltage" if isinstance(last, nir.LI) else "spikes"
    return LoihiNetwork(layers=layers, scales=scales, readout=readout, report=report,
                        input_scale=input_scale)
