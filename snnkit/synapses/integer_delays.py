"""A linear layer with fixed integer per-synapse delays: the form NIR (``Delay -> Linear`` branches) and
Loihi's DelayDense express exactly, and what a trained :class:`~snnkit.synapses.DelayedLinear` becomes
after :func:`~snnkit.synapses.freeze_delays`."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks


class IntegerDelayLinear(nn.Module):
    """``y[t] = sum_j W[i, j] x_j[t - D[i, j]] + b`` with integer delays ``D >= 0`` (in steps).

    Implemented as one masked linear layer per distinct delay value over a shifted input.
    """

    def __init__(self, weight: Tensor, delays: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        if weight.shape != delays.shape:
            raise ValueError(f"delays must have the weight's shape {tuple(weight.shape)}; got {tuple(delays.shape)}")
        if bool((delays < 0).any()) or not torch.equal(delays, delays.round()):
            raise ValueError("delays must be non-negative integers (steps)")
        self.weight = nn.Parameter(weight.detach().clone().float())
        self.register_buffer("delays", delays.detach().clone().long())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone().float())

    def integer_delays(self) -> Tensor:
        return self.delays

    def forward(self, x: Tensor) -> Tensor:
        _checks.time_major("x", x, 3)
        T = x.shape[0]
        y = x.new_zeros(*x.shape[:-1], self.weight.shape[0])
        for d in torch.unique(self.delays).tolist():
            if d >= T:
                continue
            w = torch.where(self.delays == d, self.weight, torch.zeros_like(self.weight))
            shifted = torch.cat([x.new_zeros(d, *x.shape[1:]), x[: T - d]]) if d else x
            y = y + shifted @ w.T
        return y if self.bias is None else y + self.bias
