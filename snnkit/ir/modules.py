"""Small modules the graph layer needs to express NIR graphs as snnkit models: an input scale (NIR's
``r``/``w_in`` when it is not absorbed by the neuron), a recurrent cell, a linear layer with integer
per-synapse delays, and sum pooling. All take time-major ``[T, B, ...]``."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from ..neurons import SpikingLayer


class InputScale(nn.Module):
    """Multiply the input by a fixed per-feature factor (a NIR neuron's input resistance)."""

    def __init__(self, scale: Tensor | float) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).clone())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class SumPool2d(nn.Module):
    """Sum pooling over ``[N, C, H, W]`` (NIR's SumPool2d): average pooling times the window size."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = nn.modules.utils._pair(kernel_size)
        self.stride = nn.modules.utils._pair(self.kernel_size if stride is None else stride)
        self.padding = nn.modules.utils._pair(padding)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size[0] * self.kernel_size[1]
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, count_include_pad=True) * k


class IntegerDelayLinear(nn.Module):
    """``y[t] = sum_j W[i, j] x_j[t - D[i, j]] + b`` with integer delays ``D >= 0`` (in steps).

    Implemented as one masked linear layer per distinct delay value over a shifted input; this is the
    form NIR expresses exactly (Delay -> Linear branches summed at the target) and Loihi's DelayDense runs.
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


class RecurrentCell(SpikingLayer):
    """A spiking population with a recurrent weight matrix: ``x_t + W_rec s_{t-1}`` drives ``neuron``.

    ``neuron`` is any snnkit neuron layer with ``step``; ``recurrent`` an ``nn.Linear`` (N -> N)."""

    def __init__(self, neuron: SpikingLayer, recurrent: nn.Linear) -> None:
        super().__init__()
        if recurrent.in_features != recurrent.out_features:
            raise ValueError(f"recurrent must map N -> N; got {recurrent.in_features} -> {recurrent.out_features}")
        self.neuron, self.recurrent = neuron, recurrent

    def run(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        self._check(x)
        s_prev, neuron_state = (torch.zeros_like(x[0]), None) if state is None else state
        out = []
        for x_t in x.unbind(0):
            s_prev, neuron_state = self.neuron.step(x_t + self.recurrent(s_prev), neuron_state)
            out.append(s_prev)
        return torch.stack(out), (s_prev, neuron_state)

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        out, state = self.run(x.unsqueeze(0), state)
        return out[0], state
