"""Deploy a ReLU ANN on Loihi 2 as a sigma-delta network (Lava ``Dense`` + ``SigmaDelta``, graded spikes).

A sigma-delta neuron integrates its graded input (sigma), applies ReLU, and sends only the change of its
activation (delta) when it exceeds ``vth``; the next layer's sigma integrates the changes back. With a
constant input the network settles, after one step per layer, on the ANN's forward pass in fixed point.

Mapping of ``Linear(W, b) -> ReLU`` with integer activations ``A = S a`` at the layer's input:

- ``W_int = round(k W)`` on Loihi's 8-bit grid (:func:`~snnkit.hardware.loihi.quantize.quantize_weights`);
  the pre-activation is ``W_int A = k S (W a)``, so the activation scale becomes ``k S``;
- the bias ``k S b`` is stored as ``bias_mant << state_exp`` (Lava scales the bias by ``2**state_exp``);
- messages are ``delta >> state_exp``, the smallest shift keeping the calibrated largest activation in 16
  bits, so the next layer reads activations at scale ``k S / 2**state_exp``;
- the last Linear gets a unit activation (logits); read its ``act`` (``v`` in :func:`simulate`'s output).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .layer import LoihiLayer, validate_network
from .models import simulate
from .quantize import quantize_weights, weight_scale

MESSAGE_BITS = 16
SIGMA_BITS = 24


@dataclass
class SigmaDeltaNetwork:
    """A quantised sigma-delta network and the scales to read it back in the ANN's units."""

    layers: list[LoihiLayer]
    input_scale: float
    output_scale: float

    def encode(self, x: np.ndarray | Tensor) -> np.ndarray:
        """Integer graded input ``round(x * input_scale)`` of float inputs ``[B, N]``."""
        x = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
        return np.round(x.reshape(x.shape[0], -1) * self.input_scale).astype(np.int64)

    def run(self, x: np.ndarray | Tensor, steps: int | None = None) -> np.ndarray:
        """Present ``x`` ``[B, N]`` as a constant input for ``steps`` steps (default: one per layer + 1);
        returns the last layer's activation at the last step in the ANN's units ``[B, N_out]``."""
        steps = len(self.layers) + 1 if steps is None else steps
        xi = self.encode(x)
        # sigma-delta input: the first step sends the value, later steps send no change
        seq = np.zeros((steps,) + xi.shape, np.int64)
        seq[0] = xi
        out = simulate(self.layers, seq)
        return out["v"][-1][-1] / self.output_scale


def _linear_layers(ann: nn.Module) -> list[nn.Linear]:
    mods = [m for m in ann.modules() if not isinstance(m, nn.Sequential)]
    linears = [m for m in mods if isinstance(m, nn.Linear)]
    allowed = (nn.Linear, nn.ReLU, nn.Flatten, nn.Identity, nn.Dropout)
    bad = [type(m).__name__ for m in mods if not isinstance(m, allowed)]
    if bad or not linears:
        raise ValueError(f"ann must be a chain of Linear -> ReLU ... -> Linear (Flatten, Dropout allowed); got {bad}")
    relus = sum(isinstance(m, nn.ReLU) for m in mods)
    if relus != len(linears) - 1:
        raise ValueError(f"ann must have a ReLU after every Linear but the last; got {len(linears)} Linear and "
                         f"{relus} ReLU")
    return linears


def sigma_delta_network(ann: nn.Module, calibration: Tensor, vth: float = 0.0) -> SigmaDeltaNetwork:
    """Quantise a ReLU MLP to Loihi sigma-delta neurons, with scales from ``calibration`` inputs ``[B, ...]``.

    ``vth`` is the delta threshold in the ANN's activation units (0: every change is sent)."""
    linears = _linear_layers(ann)
    x = calibration.detach().reshape(calibration.shape[0], -1).double()
    if not bool(torch.isfinite(x).all()):
        raise ValueError("calibration must be finite")
    x_max = float(x.abs().max())
    if x_max == 0:
        raise ValueError("calibration inputs are all zero; cannot choose an input scale")
    in_scale = (2 ** 8 - 1) / x_max
    # calibration pass: float activations and weight scales per layer
    ws, bs, ks, a_max, a = [], [], [], [], x
    for i, lin in enumerate(linears):
        w = lin.weight.detach().double().numpy()
        b = np.zeros(w.shape[0]) if lin.bias is None else lin.bias.detach().double().numpy()
        pre = a @ torch.from_numpy(w).T + torch.from_numpy(b)
        a = pre if i == len(linears) - 1 else pre.clamp_min(0)
        ws.append(w)
        bs.append(b)
        ks.append(weight_scale(w))
        a_max.append(max(float(a.abs().max()), 1e-12))
    sigma_cap = 2.0 ** (SIGMA_BITS - 2)          # headroom below the 24-bit sigma for unseen inputs
    scale, layers = in_scale, []
    for i, (w, b) in enumerate(zip(ws, bs)):
        last = i == len(ws) - 1
        ks[i] = min(ks[i], sigma_cap / (a_max[i] * scale))       # fewer weight bits if the sum would overflow
        act_scale = ks[i] * scale
        b_max = float(np.abs(b).max()) * act_scale

        def too_big(e: int) -> bool:   # bias in 16 bits; messages in 16 bits and the next sigma in range
            return b_max / 2 ** e >= 2 ** 15 or not last and (
                a_max[i] * act_scale / 2 ** e >= 2 ** (MESSAGE_BITS - 1)
                or a_max[i + 1] * ks[i + 1] * act_scale / 2 ** e >= sigma_cap)

        state_exp = 0
        while state_exp < 7 and too_big(state_exp):
            state_exp += 1
        if ks[i] * np.abs(w).max() < 1:
            raise ValueError(f"layer {i}: activations up to {a_max[i]:.3g} leave no weight bits in a 24-bit sigma")
        bias_mant = np.round(b * act_scale / 2 ** state_exp).astype(np.int64)
        layers.append(LoihiLayer(weights=quantize_weights(w, ks[i]), du=0, dv=0, neuron="sigma_delta",
                                 vth=int(round(vth * act_scale / 2 ** state_exp)), act_mode="unit" if last else "relu",
                                 bias_mant=bias_mant if bias_mant.any() else None, state_exp=state_exp,
                                 num_message_bits=MESSAGE_BITS))
        scale = act_scale / 2 ** state_exp
    validate_network(layers)
    return SigmaDeltaNetwork(layers=layers, input_scale=in_scale, output_scale=scale * 2 ** layers[-1].state_exp)


__all__ = ["SigmaDeltaNetwork", "sigma_delta_network"]
