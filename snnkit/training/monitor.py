"""Per-layer firing rates through forward hooks on :class:`snnkit.neurons.SpikingLayer` modules."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..neurons import LI, SpikingLayer


def spiking_layers(model: nn.Module) -> dict[str, SpikingLayer]:
    """Named spiking layers of ``model`` (LI readouts output membranes, not spikes: left out);
    sub-layers of a spiking layer (e.g. the LIF inside CubaLIF) are not listed twice."""
    found: dict[str, SpikingLayer] = {}
    for name, m in model.named_modules():
        if isinstance(m, SpikingLayer) and not isinstance(m, LI):
            if not any(name.startswith(p + ".") for p in found):
                found[name or "model"] = m
    return found


class FiringRateMonitor:
    """Records each spiking layer's output on every forward call.

    ``outputs`` keeps the latest tensors (with their graph, for regularisers) until :meth:`clear`;
    ``rates()`` gives the running mean rate per layer since :meth:`reset`. Chunked runs, which call
    ``layer.run`` directly (no hooks fire), report their outputs with :meth:`observe`.
    """

    def __init__(self, model: nn.Module, keep_outputs: bool = True) -> None:
        self.layers = spiking_layers(model)
        self.names = {id(m): n for n, m in self.layers.items()}
        self.keep_outputs = keep_outputs
        self.enabled = True
        self.outputs: dict[str, Tensor] = {}
        self._sum: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._handles = [m.register_forward_hook(self._hook) for m in self.layers.values()]

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.observe(module, output)

    def observe(self, module: nn.Module, output: Tensor) -> None:
        name = self.names.get(id(module))
        if not self.enabled or name is None or not isinstance(output, Tensor):
            return
        if self.keep_outputs:
            prev = self.outputs.get(name)
            self.outputs[name] = output if prev is None else _cat_time(prev, output)
        self._sum[name] = self._sum.get(name, 0.0) + float(output.detach().sum())
        self._count[name] = self._count.get(name, 0) + output.numel()

    def clear(self) -> None:
        """Drop the kept outputs (call after each backward)."""
        self.outputs = {}

    def reset(self) -> None:
        self.clear()
        self._sum, self._count = {}, {}

    def rates(self) -> dict[str, float]:
        """Mean spikes per neuron per step for each layer since the last :meth:`reset`."""
        return {n: self._sum[n] / max(self._count[n], 1) for n in self._sum}

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def _cat_time(a: Tensor, b: Tensor) -> Tensor:
    return torch.cat([a, b], 0)
