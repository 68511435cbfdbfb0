"""Resistive-memory liquid state machine: a fixed random spiking reservoir whose weights ARE the
programming stochasticity of the devices, with a trained linear readout.

Every device of a differential pair is programmed to the same target conductance (mid-range), so each
weight ``(G+ - G-) / (g_max - g_min)`` is a zero-mean random number set by programming noise (and
device-to-device variation, faults, drift at read time) -- no random-number generator or weight
memory is needed on chip. A gain per matrix sets the reservoir regime (the periphery's job). The
reservoir is LIF neurons with recurrent connections; reads go through the array periphery (one read
per time step, binary spikes on the rows). Features are spike counts of each neuron in ``windows``
equal time windows; the readout is ridge regression on one-hot targets (closed form).
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ...functional import LIFParameters, lif_step, recurrent_multistep
from .array import CrossbarConfig, as_config
from .layers import seeded_generator


class ResistiveLSM(nn.Module):
    """Liquid state machine on resistive memory.

    Args:
        n_inputs, n_reservoir: input channels and reservoir neurons.
        profile: crossbar profile (default ``"rram"``) whose device programming noise makes the weights.
        input_gain, recurrent_gain: std of the summed input to a neuron from the input layer / the
            reservoir, relative to the threshold, for inputs at full rate.
        tau_mem: membrane time constant (time steps).
        t_inference: read time after programming (seconds): drift changes the reservoir too.
        windows: time windows whose spike counts form the readout features.
        ridge: L2 penalty of the readout.
        seed: seed of the programming draws (``None``: torch's global generator).
    """

    def __init__(self, n_inputs: int, n_reservoir: int = 400, profile: "str | Mapping[str, Any] | CrossbarConfig" = "rram",
                 input_gain: float = 2.0, recurrent_gain: float = 1.0, tau_mem: float = 20.0,
                 t_inference: float = 1.0, windows: int = 4, ridge: float = 1e-2, seed: int | None = None,
                 overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        for name, v in (("n_inputs", n_inputs), ("n_reservoir", n_reservoir), ("windows", windows)):
            if not (isinstance(v, int) and v >= 1):
                raise ValueError(f"{name}={v!r} must be an integer >= 1")
        self.config = as_config(profile, overrides)
        self.params = LIFParameters(tau_mem=tau_mem, v_th=1.0, reset="subtract")
        self.windows, self.ridge = windows, float(ridge)
        gen = seeded_generator(seed)
        self.register_buffer("w_in", self._random_weights(n_reservoir, n_inputs, t_inference, gen))
        self.register_buffer("w_rec", self._random_weights(n_reservoir, n_reservoir, t_inference, gen))
        self.w_rec.fill_diagonal_(0.0)
        self.input_gain, self.recurrent_gain = float(input_gain), float(recurrent_gain)
        self.register_buffer("readout", torch.zeros(0))

    @torch.no_grad()
    def _random_weights(self, rows: int, cols: int, t_inference: float, gen: torch.Generator | None) -> Tensor:
        dev, m = self.config.device, self.config.mapping
        g_mid = torch.full((rows, cols), 0.5 * (dev.g_min + dev.g_max))
        slices = dev.program([g_mid, g_mid.clone()], gen)
        g_pos, g_neg = dev.read(slices, t_inference, gen)
        return (g_pos - g_neg) / (m.g_max - m.g_min)

    def _matrix(self, w: Tensor, gain: float) -> Tensor:
        # Digital gain: std of a neuron's summed input = gain for all inputs active.
        return w * (gain / (w.std().clamp(min=1e-12) * math.sqrt(w.shape[1])))

    @torch.no_grad()
    def reservoir(self, x: Tensor) -> Tensor:
        """Reservoir spikes ``[T, B, n_reservoir]`` for inputs ``x`` ``[T, B, n_inputs]``."""
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.w_in.shape[1]:
            raise ValueError(f"x must be [T, B, {self.w_in.shape[1]}]; got {getattr(x, 'shape', type(x))}")
        per = self.config.periphery
        w_in = self._matrix(self.w_in, self.input_gain)
        w_rec = self._matrix(self.w_rec, self.recurrent_gain)
        scale_in, scale_rec = w_in.abs().max(), w_rec.abs().max()
        wn_in, wn_rec = w_in / scale_in, w_rec / scale_rec
        spikes, _ = recurrent_multistep(
            x.float(), self._neuron_step, lambda s: per.read(s, wn_rec) * scale_rec,
            drive=lambda x_t: per.read(x_t, wn_in) * scale_in)
        return spikes

    def _neuron_step(self, current: Tensor, v: Tensor | None) -> tuple[Tensor, Tensor]:
        return lif_step(current, torch.zeros_like(current) if v is None else v, self.params)

    def features(self, x: Tensor) -> Tensor:
        """Spike counts per neuron in ``windows`` time windows, plus a constant: ``[B, windows * N + 1]``."""
        spikes = self.reservoir(x)
        chunks = torch.tensor_split(spikes, self.windows, dim=0)
        f = torch.cat([c.sum(0) for c in chunks], dim=1)
        return torch.cat([f, torch.ones_like(f[:, :1])], dim=1)

    @torch.no_grad()
    def fit(self, x: Tensor, y: Tensor, n_classes: int | None = None) -> "ResistiveLSM":
        """Train the readout by ridge regression on one-hot targets."""
        f = self.features(x).double()
        n_classes = int(y.max()) + 1 if n_classes is None else n_classes
        target = torch.nn.functional.one_hot(y.long(), n_classes).double()
        mu, sd = f.mean(0), f.std(0).clamp(min=1e-6)
        mu[-1], sd[-1] = 0.0, 1.0
        z = (f - mu) / sd
        a = z.t() @ z + self.ridge * z.shape[0] * torch.eye(z.shape[1], dtype=z.dtype)
        w = torch.linalg.solve(a, z.t() @ target)
        self.readout = torch.cat([w, mu[:, None].expand(-1, 1), sd[:, None]], dim=1).float()
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Class scores ``[B, n_classes]``."""
        if self.readout.numel() == 0:
            raise RuntimeError("ResistiveLSM.forward before fit(): train the readout first")
        w, mu, sd = self.readout[:, :-2], self.readout[:, -2], self.readout[:, -1]
        return ((self.features(x) - mu) / sd) @ w
