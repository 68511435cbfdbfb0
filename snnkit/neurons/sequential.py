"""A ``nn.Sequential`` that threads neuron state, so a network can run a sequence in chunks
(truncated BPTT, online training, streaming inference) with nothing carried implicitly."""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .layers import SpikingLayer


class Sequential(nn.Sequential):
    """``forward(x)`` runs the whole sequence from rest; ``run(x, state)`` continues from ``state``
    (a list with one entry per layer, ``None`` for stateless layers) and returns ``(out, new_state)``;
    ``step(x_t, state)`` does the same for a single time step ``[B, ...]``."""

    def _state(self, state: list[Any] | None) -> list[Any]:
        """The per-layer state list (all ``None`` at rest), checked against the number of layers."""
        state = [None] * len(self) if state is None else state
        if len(state) != len(self):
            raise ValueError(f"state has {len(state)} entries; this Sequential has {len(self)} layers")
        return state

    def run(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        state = self._state(state)
        new_state: list[Any] = []
        for layer, s in zip(self, state):
            if isinstance(layer, SpikingLayer):
                x, s = layer.run(x, s)
            elif hasattr(layer, "run"):
                x, s = layer.run(x, s)
            else:
                x = layer(x)
            new_state.append(s)
        return x, new_state

    def step(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        """One time step ``[B, ...]``: every layer with a ``step`` method takes its own single-step path
        (streaming: no multi-step engine call per layer and step); other layers see ``[1, B, ...]``."""
        state = self._state(state)
        new_state: list[Any] = []
        for layer, s in zip(self, state):
            if hasattr(layer, "step"):
                x, s = layer.step(x, s)
            elif hasattr(layer, "run"):
                out, s = layer.run(x.unsqueeze(0), s)
                x = out.squeeze(0)
            else:
                x = layer(x.unsqueeze(0)).squeeze(0)
            new_state.append(s)
        return x, new_state


def detach_state(state: Any) -> Any:
    """Detach every tensor in a (nested) state, cutting the gradient path between chunks."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (list, tuple)):
        parts = [detach_state(s) for s in state]
        return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)  # named tuples too
    return state
