"""The recurrent synapse: a neuron population driven by its own spikes of the previous step."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..functional.recurrent import recurrent_multistep
from ..neurons import SpikingLayer


class RecurrentCell(SpikingLayer):
    """A population with a recurrent weight matrix: ``x_t + W_rec s_{t-1}`` drives ``neuron``
    (the loop of :func:`snnkit.functional.recurrent_multistep`).

    ``neuron`` is any module with ``step(x, state) -> (output, state)`` (an snnkit neuron layer);
    ``recurrent`` a module with an ``[N, N]`` ``weight`` that maps N -> N (an ``nn.Linear``).
    The state is ``(s_prev, neuron_state)``."""

    def __init__(self, neuron: nn.Module, recurrent: nn.Module) -> None:
        super().__init__()
        w = getattr(recurrent, "weight", None)
        shape = tuple(w.shape) if isinstance(w, Tensor) else None
        if shape is None or len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"recurrent must map N -> N (a square weight [N, N]); got weight shape {shape}")
        self.neuron, self.recurrent = neuron, recurrent

    def run(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        self._check(x)
        return recurrent_multistep(x, self.neuron.step, self.recurrent, state)

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        out, state = self.run(x.unsqueeze(0), state)
        return out[0], state
