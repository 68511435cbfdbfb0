"""Quantise a trained snnkit model to Loihi 2 fixed point (Lava's LIF + Dense/DelayDense).

The model is read through the network graph (:func:`snnkit.ir.to_graph`), so any model the graph layer
understands works: a chain of (Linear | delayed linear) -> (LIF | IF | CubaLIF | LI) blocks, optionally
with recurrent weights; hard reset to 0 (Loihi's LIF resets to 0).

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
- LI readouts become LIF neurons with the largest threshold (they never spike; read ``v``).

Lava adds one step of latency per layer; :meth:`LoihiNetwork.run` pads and realigns time so outputs
line up with the float model's. The per-layer quantisation error is in :attr:`LoihiNetwork.report`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from ...functional import decay
from ...ir import to_graph
from .layer import (BIAS_EXP_MAX, BIAS_MANT_MAX, DECAY_UNITY, MAX_DECAY, MAX_DELAY, MAX_VTH, UV_HALF,
                     SIGN_MODE_NAMES, LoihiLayer, effective_weights, sign_mode_of, validate_network)
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
    readout: str                      # "spikes" or "voltage" (LI readout)
    report: list[dict[str, Any]] = field(default_factory=list)

    @property
    def latency(self) -> int:
        return len(self.layers)

    def run(self, spikes: np.ndarray | torch.Tensor, record: bool = False) -> dict[str, Any]:
        """Run float/bool input spikes ``[T, B, N]`` (or ``[T, N]``) on the bit-exact simulator.

        Returns ``{"spikes": [T, B, N_out] bool, "v": [T, B, N_out] float (v / S)}`` realigned to the float
        model's time steps (Lava's per-layer latency removed)."""
        x = spikes.detach().cpu().numpy() if isinstance(spikes, torch.Tensor) else np.asarray(spikes)
        if not np.all((x == 0) | (x == 1)):
            raise ValueError("spikes must be binary (0/1); Loihi inputs are spikes")
        pad = np.zeros((self.latency,) + x.shape[1:], dtype=bool)
        out = simulate(self.layers, np.concatenate([x.astype(bool), pad]), record=True)
        lat = self.latency
        res: dict[str, Any] = {"spikes": out["spikes"][-1][lat:], "v": out["v"][-1][lat:] / self.scales[-1]}
        if record:
            res["all"] = out
        return res

    def write_netx(self, path: str) -> Any:
        """Write the network as a lava-dl netx HDF5 file (see :func:`snnkit.hardware.loihi.write_netx`)."""
        return write_netx(self.layers, path)


def _chain(graph: nir.NIRGraph) -> list[dict[str, Any]]:
    """Group the graph into blocks {weights, delays, bias, recurrent, neuron} in order."""
    succ: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
    blocks: list[dict[str, Any]] = []
    frontier = succ["input"]
    while frontier and frontier != ["output"]:
        block: dict[str, Any] = {"weight": None, "delays": None, "bias": None}
        targets = set()
        for name in frontier:
            node = graph.nodes[name]
            if isinstance(node, nir.Delay):
                lin_name = succ[name][0]
                lin = graph.nodes[lin_name]
                steps = int(node.metadata.get("snnkit.steps", 0)) if node.metadata else 0
                w = np.asarray(lin.weight, np.float64)
                block["weight"] = w if block["weight"] is None else block["weight"] + w
                d = np.where(w != 0, steps, 0)
                block["delays"] = d if block["delays"] is None else np.where(w != 0, steps, block["delays"])
                if isinstance(lin, nir.Affine):
                    block["bias"] = np.asarray(lin.bias, np.float64)
                targets.update(succ[lin_name])
            elif isinstance(node, (nir.Linear, nir.Affine)):
                block["weight"] = np.asarray(node.weight, np.float64)
                if isinstance(node, nir.Affine):
                    block["bias"] = np.asarray(node.bias, np.float64)
                targets.update(succ[name])
            else:
                raise ValueError(f"graph node {name}: {type(node).__name__} where Linear weights were expected; the "
                                 "Loihi backend maps chains of (Linear -> neuron) blocks (no conv/pool/flatten)")
        if len(targets) != 1:
            raise ValueError(f"weights feed {sorted(targets)}; expected one neuron population")
        (neuron_name,) = targets
        neuron = graph.nodes[neuron_name]
        if not isinstance(neuron, (nir.LIF, nir.IF, nir.CubaLIF, nir.LI)):
            raise ValueError(f"graph node {neuron_name}: {type(neuron).__name__} is not a neuron Loihi's LIF can run")
        block["neuron"], block["name"] = neuron, neuron_name
        nxt = [b for b in succ[neuron_name]]
        rec = [b for b in nxt if neuron_name in succ.get(b, []) and isinstance(graph.nodes[b], (nir.Linear, nir.Affine))]
        block["recurrent"] = np.asarray(graph.nodes[rec[0]].weight, np.float64) if rec else None
        blocks.append(block)
        frontier = [b for b in nxt if b not in rec]
    if not blocks:
        raise ValueError("the model has no (Linear -> neuron) block to map to Loihi")
    return blocks


def quantize_for_loihi(model: nn.Module, input_shape: tuple[int, ...] | None = None,
                       for_netx: bool = False) -> LoihiNetwork:
    """Quantise ``model`` to Loihi 2 fixed point; refuses what Loihi cannot hold with a clear error.

    ``for_netx=True`` restricts to what lava-dl netx files hold: ``weight_exp = 0`` (netx stores no
    weight exponent) and ``bias_exp = 6`` (netx's fixed bias exponent).
    """
    max_weight_exp = 0 if for_netx else 7
    dt = 1.0
    graph = to_graph(model, dt=dt, method="exp", input_shape=input_shape)
    layers: list[LoihiLayer] = []
    scales: list[float] = []
    report: list[dict[str, Any]] = []
    blocks = _chain(graph)
    for i, blk in enumerate(blocks):
        node = blk["neuron"]
        where = f"layer {i} ({blk['name']})"
        meta = node.metadata or {}
        if meta.get("snnkit.reset", "hard") != "hard" or (getattr(node, "v_reset", None) is not None
                                                          and np.any(np.asarray(node.v_reset) != 0)):
            raise ValueError(f"{where}: Loihi's LIF resets to 0; use reset='hard', v_reset=0")
        beta_of = lambda tau: decay(torch.as_tensor(np.asarray(tau, np.float64)), dt, "exp").numpy()  # noqa: E731
        w = blk["weight"].copy()
        bias = np.zeros(w.shape[0]) if blk["bias"] is None else blk["bias"].copy()
        rec = None if blk["recurrent"] is None else blk["recurrent"].copy()
        if isinstance(node, nir.IF):
            beta, alpha, r = np.ones(w.shape[0]), None, np.asarray(node.r) * dt
        elif isinstance(node, nir.CubaLIF):
            beta, alpha = beta_of(node.tau_mem), beta_of(node.tau_syn)
            r = (1 - beta) * np.asarray(node.r) * (1 - alpha) * np.asarray(node.w_in)
        else:
            beta, alpha = beta_of(node.tau), None
            r = (1 - beta) * np.asarray(node.r)
        r = np.broadcast_to(r, (w.shape[0],))
        w, bias = w * r[:, None], bias * r   # the neuron's input scaling, folded into the synapse
        if rec is not None:
            rec = rec * r[:, None]
        if alpha is not None:
            bias = bias / (1 - alpha)
        spiking = not isinstance(node, nir.LI)
        v_th = np.asarray(node.v_threshold, np.float64).reshape(-1) if spiking else None
        if v_th is not None and not np.allclose(v_th, v_th[0]):
            raise ValueError(f"{where}: per-neuron thresholds are not supported (Loihi's vth is shared per layer)")
        for name, arr in (("decay", beta), ("current decay", alpha)):
            if arr is not None and not np.allclose(arr, np.asarray(arr).reshape(-1)[0]):
                raise ValueError(f"{where}: per-neuron {name}s are not supported (Loihi's du/dv are shared per layer)")
        beta_s = float(np.asarray(beta).reshape(-1)[0])
        all_w = w if rec is None else np.concatenate([w, rec], axis=1)
        _check_weights(all_w, where)
        k = weight_scale(all_w)
        # lava-dl netx loads an all-<=0 matrix holding zeros as mixed sign: it runs right on the even grid
        even = True if for_netx and w.max() <= 0 and np.any(w == 0) and w.min() < 0 else None
        k = k * 254 / 255 if even and not (w.min() < 0 < w.max()) else k
        w_int = quantize_weights(w, k, even)
        rec_int = None if rec is None else quantize_weights(rec, k)
        row_sum = np.abs(all_w).sum(axis=1).max() + np.abs(bias).max()
        vmax = (float(v_th[0]) + row_sum) if spiking else row_sum / max(1 - beta_s, 1e-3)
        wexp = None
        for e in range(max_weight_exp, -1, -1):
            scale = k * 2.0 ** (6 + e)
            fits_bias = np.abs(bias).max() * scale / 2 ** (NETX_BIAS_EXP if for_netx else BIAS_EXP_MAX) <= BIAS_MANT_MAX
            if scale * vmax < UV_HALF - 1 and fits_bias and (not spiking or round(scale * float(v_th[0]) / 64) <= MAX_VTH):
                wexp = e
                break
        if wexp is None:
            # Trade weight precision for range: shrink the weight scale until the worst-case membrane
            # fits the 24-bit state (weights then use fewer than 8 bits; the report shows the error).
            k = (UV_HALF - 2) / (64 * vmax)
            fits_bias = np.abs(bias).max() * k * 64 / 2 ** (NETX_BIAS_EXP if for_netx else BIAS_EXP_MAX) <= BIAS_MANT_MAX
            if k * np.abs(all_w).max() < 1 or not fits_bias:
                raise ValueError(f"{where}: the membrane range {vmax:.3g} x weight scale does not fit Loihi's 24-bit "
                                 "state even with weight_exp=0 and reduced weight precision; rescale the layer "
                                 "(smaller threshold/weight ratio)")
            w_int = quantize_weights(w, k, even)
            rec_int = None if rec is None else quantize_weights(rec, k)
            wexp = 0
        scale = k * 2.0 ** (6 + wexp)
        dv = int(round(DECAY_UNITY * (1 - beta_s)))
        du = MAX_DECAY if alpha is None else int(round(DECAY_UNITY * (1 - float(np.asarray(alpha).reshape(-1)[0])))) - 1
        du, dv = int(np.clip(du, 0, MAX_DECAY)), int(np.clip(dv, 0, MAX_DECAY))
        vth = int(round(scale * float(v_th[0]) / 64)) if spiking else MAX_VTH
        b_scaled = bias * scale
        bias_exp = NETX_BIAS_EXP if for_netx else 0
        while not for_netx and bias_exp < BIAS_EXP_MAX and np.abs(np.round(b_scaled / 2 ** bias_exp)).max() > BIAS_MANT_MAX:
            bias_exp += 1
        bias_mant = np.round(b_scaled / 2 ** bias_exp).astype(np.int64)
        if np.abs(bias_mant).max() > BIAS_MANT_MAX:
            raise ValueError(f"{where}: bias {np.abs(bias).max():.3g} needs more than 13 bits + exponent 7 at this scale")
        delays = None
        if blk["delays"] is not None:
            delays = blk["delays"].astype(np.int64)
            if delays.max() > MAX_DELAY:
                raise ValueError(f"{where}: delay {int(delays.max())} steps exceeds Loihi 2's maximum {MAX_DELAY}")
            if not delays.any():
                delays = None
        layer = LoihiLayer(weights=w_int, du=du, dv=dv, vth=vth, bias_mant=bias_mant if bias_mant.any() else None,
                           bias_exp=bias_exp, weight_exp=wexp, num_weight_bits=8, delays=delays,
                           recurrent_weights=rec_int)
        layer.validate(i)
        _warn_vanished(w, w_int, where)
        w_eff = effective_weights(w_int, None, 8) / k
        err = float(np.linalg.norm(w_eff - w) / max(np.linalg.norm(w), 1e-12))
        beta_q = 1 - dv / DECAY_UNITY
        report.append({"layer": i, "neurons": layer.n_out, "weight_exp": wexp, "scale": scale,
                       "sign_mode": SIGN_MODE_NAMES[sign_mode_of(w_int)],
                       "weight_rel_error": err,
                       "threshold_rel_error": (abs(vth * 64 / scale - float(v_th[0])) / float(v_th[0])) if spiking and v_th[0] else 0.0,
                       "decay_abs_error": abs(beta_q - beta_s),
                       "bias_abs_error": float(np.abs(bias_mant * 2.0 ** bias_exp / scale - bias).max()),
                       "max_delay": 0 if delays is None else int(delays.max())})
        layers.append(layer)
        scales.append(scale)
    validate_network(layers)
    last = blocks[-1]["neuron"]
    return LoihiNetwork(layers=layers, scales=scales, readout="voltage" if isinstance(last, nir.LI) else "spikes",
                        report=report)
