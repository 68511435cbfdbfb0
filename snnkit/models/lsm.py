"""Liquid state machine (Maass, Natschläger & Markram 2002): a fixed random recurrent reservoir of LIF
(or Izhikevich) neurons with a trained linear readout. ANN twin: an echo state network (Jaeger 2001),
a leaky tanh reservoir of the same size and the same readout. Only the readout trains in both forms
(the reservoir weights are buffers, fixed by ``seed``, so ``(name, spiking, config)`` rebuilds it).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import _checks
from ..analysis import CountedOp, is_event_like
from ..functional import IzhikevichParameters, LIFParameters, izhikevich_step, lif_step
from ._common import check_input, readout
from .registry import register


class _ReservoirCost(CountedOp):
    """Identity marker whose cost is the reservoir's: input drive plus recurrent fan-out of each spike
    (LSM), or dense products with the non-zero weights (ESN)."""

    def __init__(self, owner: "LiquidStateMachine") -> None:
        super().__init__()
        self._owner = [owner]  # a list, so the owner is not registered as a child module

    def forward(self, x: Tensor, states: Tensor) -> Tensor:
        return states

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        lsm = self._owner[0]
        x, states = inputs[0].detach(), inputs[1].detach()
        n = lsm.w_rec.shape[0]
        fan_out = (lsm.w_rec != 0).sum(0).to(states.dtype)            # outgoing synapses per neuron
        if lsm.spiking:
            prev = states[:-1]                                          # spikes feeding the next step
            acs = float(((prev != 0).to(states.dtype) * fan_out).sum())
            if is_event_like(x):
                return 0.0, acs + float((x != 0).sum()) * n
            return float(x.numel() * n), acs
        return float(x.numel() * n + states.shape[0] * states.shape[1] * float((lsm.w_rec != 0).sum())), 0.0


class LiquidStateMachine(nn.Module):
    def __init__(self, in_features: int, num_classes: int, spiking: bool, reservoir: int = 200,
                 neuron: str = "lif", connectivity: float = 0.1, spectral_radius: float = 0.9,
                 input_scale: float = 2.0, tau_mem: float = 20.0, leak: float = 0.3, seed: int = 0,
                 tau_out: float = 10.0) -> None:
        super().__init__()
        _checks.one_of("neuron", neuron, ("lif", "izhikevich"))
        self.in_features, self.spiking, self.neuron_kind = in_features, spiking, neuron
        self.leak, self.tau_mem = leak, tau_mem
        g = torch.Generator().manual_seed(seed)
        w_in = torch.randn(reservoir, in_features, generator=g) * input_scale / in_features ** 0.5
        mask = (torch.rand(reservoir, reservoir, generator=g) < connectivity).float()
        w = torch.randn(reservoir, reservoir, generator=g) * mask
        w = w * spectral_radius / torch.linalg.eigvals(w).abs().max().clamp(min=1e-6)
        self.register_buffer("w_in", w_in)
        self.register_buffer("w_rec", w)
        self.head = readout(spiking, reservoir, num_classes, tau_out)
        self.cost = _ReservoirCost(self)

    @torch.no_grad()
    def reservoir_states(self, x: Tensor) -> Tensor:
        """Reservoir activity ``[T, B, N]``: spikes (LSM) or tanh states (ESN). No gradient: it is fixed."""
        drive = x @ self.w_in.T
        outs = []
        if not self.spiking:
            h = torch.zeros_like(drive[0])
            for d in drive.unbind(0):
                h = (1 - self.leak) * h + self.leak * torch.tanh(d + h @ self.w_rec.T)
                outs.append(h)
            return torch.stack(outs)
        s = torch.zeros_like(drive[0])
        if self.neuron_kind == "lif":
            p, v = LIFParameters(tau_mem=self.tau_mem, reset="subtract"), torch.zeros_like(s)
            for d in drive.unbind(0):
                s, v = lif_step(d + s @ self.w_rec.T, v, p)
                outs.append(s)
        else:
            p = IzhikevichParameters.preset("regular_spiking")
            p = IzhikevichParameters(a=p.a, b=p.b, c=p.c, d=p.d, input_scale=10.0, dt=p.dt, surrogate=p.surrogate)
            state = p.initial_state(s)
            for d in drive.unbind(0):
                s, state = izhikevich_step(d + s @ self.w_rec.T, state, p)
                outs.append(s)
        return torch.stack(outs)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.head(self.cost(x, self.reservoir_states(x)))


@register("lsm", twin="the same fixed random reservoir with rate (tanh) units; equal parameters")
def build_lsm(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """``create("lsm", spiking, in_features, num_classes, reservoir=200, neuron="lif"|"izhikevich", seed=0)``."""
    return LiquidStateMachine(in_features, num_classes, spiking, **config)
