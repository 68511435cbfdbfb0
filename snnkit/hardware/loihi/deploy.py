"""Deploy a trained model: quantise to Loihi 2, run the bit-exact simulator, report the accuracy."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .quantize import LoihiNetwork, quantize_for_loihi


def _predict(out: np.ndarray | Tensor, readout: str, decode: str = "mean") -> np.ndarray:
    o = out.detach().cpu().numpy() if isinstance(out, Tensor) else np.asarray(out)
    o = o.astype(np.float64)
    if readout == "spikes":
        return o.sum(0).argmax(-1)
    if readout == "sum":   # running sums (the float model's output summed over time): the last step
        return o[-1].argmax(-1)
    # membrane readouts: the fixed-point v is the float membrane times a positive scale, so max and mean
    # pick the same class in both
    return (o.max(0) if decode == "max" else o.mean(0)).argmax(-1)


def deploy(model: nn.Module, test_x: Tensor, test_y: Tensor, input_shape: tuple[int, ...] | None = None,
           netx_path: str | None = None, batch_size: int = 256, membrane_decode: str = "mean",
           input_bits: int = 8) -> dict[str, Any]:
    """Quantise ``model`` for Loihi 2 and measure it on ``(test_x [T, B, N], test_y [B])``.

    Binary ``test_x`` enters as spikes. Real-valued ``test_x`` (current-encoded input) enters as graded
    spikes of ``input_bits`` bits, scaled so that the largest ``|test_x|`` is the largest payload (see
    :func:`quantize_for_loihi`'s ``input_max``; the result's ``input_max`` says what was used).

    Prediction: the output neuron with the most spikes (spiking output) or the largest mean membrane
    (LI readout), or the largest sum over time (a network ending in a Linear, as converted networks do),
    for the float model and for the fixed-point simulator alike. Returns
    ``{"accuracy", "float_accuracy", "accuracy_drop", "report", "network", "netx"}`` (``netx``: the path
    written when ``netx_path`` is given). ``membrane_decode`` (``"mean"`` or ``"max"`` over time) must
    match how the model was trained to be read (e.g. ``"max"`` for the ``ce_max_membrane`` loss).
    """
    if membrane_decode not in ("mean", "max"):
        raise ValueError(f"membrane_decode={membrane_decode!r} is not allowed; allowed: ['mean', 'max']")
    if test_x.dim() < 3:
        raise ValueError(f"test_x must be time-major [T, B, N]; got shape {tuple(test_x.shape)}")
    if test_y.shape[0] != test_x.shape[1]:
        raise ValueError(f"test_y has {test_y.shape[0]} labels for {test_x.shape[1]} samples")
    binary = bool(((test_x == 0) | (test_x == 1)).all())
    input_max = None if binary else float(test_x.abs().max())
    net: LoihiNetwork = quantize_for_loihi(model, input_shape, for_netx=netx_path is not None,
                                           input_max=input_max, input_bits=input_bits)
    y = test_y.cpu().numpy()
    was_training = model.training
    model.eval()
    fixed_pred, float_pred = [], []
    with torch.no_grad():
        for start in range(0, test_x.shape[1], batch_size):
            xb = test_x[:, start:start + batch_size]
            ref = model(xb)
            float_pred.append(_predict(ref.cumsum(0) if net.readout == "sum" else ref, net.readout, membrane_decode))
            res = net.run(xb)
            fixed_pred.append(_predict(res["spikes"] if net.readout == "spikes" else res["v"], net.readout,
                                       membrane_decode))
    model.train(was_training)
    acc = float((np.concatenate(fixed_pred) == y).mean())
    facc = float((np.concatenate(float_pred) == y).mean())
    out: dict[str, Any] = {"accuracy": acc, "float_accuracy": facc, "accuracy_drop": facc - acc,
                           "report": net.report, "network": net, "netx": None, "input_max": input_max}
    if netx_path is not None:
        out["netx"] = str(net.write_netx(netx_path))
    return out
