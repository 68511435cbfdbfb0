"""Per-layer firing rates during training: :class:`snnkit.analysis.SpikeRecorder` configured to keep the
outputs with their graph (for rate regularisers)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..analysis.activity import SpikeRecorder
from ..analysis.activity import spiking_layers as _all_spiking_layers
from ..neurons import SpikingLayer


def spiking_layers(model: nn.Module) -> dict[str, SpikingLayer]:
    """Named spiking layers of ``model`` (LI readouts output membranes, not spikes: left out);
    sub-layers of a spiking layer (e.g. the LIF inside CubaLIF) are not listed twice."""
    return {path or "model": m for path, m in _all_spiking_layers(model, nested=False).items()}


class FiringRateMonitor(SpikeRecorder):
    """Records each spiking layer's output on every forward call (hooks from construction to :meth:`remove`).

    ``outputs`` keeps the latest tensors (with their graph, for regularisers) until :meth:`clear`;
    ``rates()`` gives the running mean rate per layer since :meth:`reset`. Layers are named as
    :func:`snnkit.analysis.layer_name` names them: the module path, with the class added where the path
    is only indices (``"1:LIF"``, ``"encoder.lif"``). Chunked runs, which call
    ``layer.run`` directly (no hooks fire), report their outputs with :meth:`observe`.
    """

    def __init__(self, model: nn.Module, keep_outputs: bool = True) -> None:
        super().__init__(model, keep_spikes=keep_outputs, nested=False)
        self.outputs: dict[str, Tensor] = {}
        self.start()


    @property
    def keep_outputs(self) -> bool:
        return self.keep_spikes

    def _keep(self, name: str, output: Tensor) -> None:
        prev = self.outputs.get(name)
        self.outputs[name] = output if prev is None else torch.cat([prev, output], 0)

    def clear(self) -> None:
        """Drop the kept outputs (call after each backward)."""
        self.outputs = {}

    def reset(self) -> None:
        self.clear()
        self._sum, self._count = {}, {}

    def remove(self) -> None:
        self.stop()
