"""The recurrent synapse: a neuron population driven by its own spikes of the previous step."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..neurons import SpikingLayer


class RecurrentCell(SpikingLayer):
    """A spiking population with a recurrent weight matrix: ``x_t + W_rec s_{t-1}`` drives ``neuron``.

    ``neuron`` is any snnkit neuron layer with ``step``; ``recurrent`` an ``nn.Linear`` (N -> N).
    The state is ``(s_prev, neuron_state)``."""

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
