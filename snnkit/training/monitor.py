"""Per-layer firing rates during training: :class:`snnkit.analysis.SpikeRecorder` configured to keep the
outputs with their graph (for rate regularisers)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..analysis.activity import SpikeRecorder
from ..analysis.activity import spiking_layers as _all_spiking_layers
from ..neurons import Sequential, SpikingLayer


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

    On a :class:`snnkit.neurons.Sequential` whose spiking layers are all its own children the monitor
    registers as the Sequential's observer instead of hooking the layers: a hook would turn off the
    engine's fused Linear + LIF pass (and event-driven synapses) for every step the Trainer takes.
    """

    def __init__(self, model: nn.Module, keep_outputs: bool = True) -> None:
        super().__init__(model, keep_spikes=keep_outputs, nested=False)
        self.outputs: dict[str, Tensor] = {}
        self._observed: Sequential | None = None
        self.start()

    def start(self) -> "FiringRateMonitor":
        children = {id(m) for m in self.model.children()}
        if isinstance(self.model, Sequential) and all(id(m) in children for m in self.layers.values()):
            if self._observed is None:
                self.model.add_observer(self.observe)
                self._observed = self.model
            return self
        super().start()
        return self

    def stop(self) -> None:
        if self._observed is not None:
            self._observed.remove_observer(self.observe)
            self._observed = None
        super().stop()


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
