"""Activity of spiking layers, recorded with forward hooks on every :class:`snnkit.neurons.SpikingLayer`.

:class:`SpikeRecorder` is the one recorder: it counts spikes per layer (firing rates) and can keep the
outputs. :class:`snnkit.training.FiringRateMonitor` is the same recorder configured for training (it
keeps the outputs with their graph for rate regularisers).

Layers are reported by name: a named submodule keeps its attribute path (``"encoder.lif"``); a layer
known only by its position in a ``Sequential`` gets its type appended (``"1:LIF"``), so reports say
what the layer is, not just where it sits."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from ..neurons import LI, SpikingLayer


def layer_name(path: str, module: nn.Module) -> str:
    """A readable name for ``module`` found at ``path`` in ``model.named_modules()``."""
    if not path:
        return type(module).__name__
    if all(part.isdigit() for part in path.split(".")):
        return f"{path}:{type(module).__name__}"
    return path


def spiking_layers(model: nn.Module, nested: bool = True) -> dict[str, SpikingLayer]:
    """``{path in model.named_modules(): layer}`` for every spiking layer of ``model`` (LI readouts output
    membranes, not spikes: left out). ``nested=False`` leaves out spiking layers inside another one
    (e.g. the LIF inside a CubaLIF). The model itself, when it is a spiking layer, has path ``""``."""
    found: dict[str, SpikingLayer] = {}
    for path, m in model.named_modules():
        if isinstance(m, SpikingLayer) and not isinstance(m, LI):
            if nested or not any(path.startswith(p + ".") for p in found if p):
                found[path] = m
    return found


class SpikeRecorder:
    """Records the output spikes of every spiking layer (``LI`` readouts are skipped: they do not spike).

    Use as a context manager around forward passes::

        with SpikeRecorder(model) as rec:
            model(x)
        rec.rates()       # {layer name ("1:LIF", "encoder.lif"): mean spikes per neuron per step}
        rec.spikes[name]  # list of recorded output tensors [T, B, ...]

    :meth:`start` / :meth:`stop` do what entering and leaving the block do; :meth:`observe` reports an
    output that no hook saw (a chunked run that calls ``layer.run`` directly).
    """

    def __init__(self, model: nn.Module, keep_spikes: bool = True, nested: bool = True) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        self.model, self.keep_spikes = model, keep_spikes
        self.layers = {self._name(path, m): m for path, m in spiking_layers(model, nested).items()}
        self.names = {id(m): n for n, m in self.layers.items()}
        self.enabled = True
        self.spikes: dict[str, list[Tensor]] = {}
        self._sum: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _name(self, path: str, module: nn.Module) -> str:
        return layer_name(path, module)

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.observe(module, output[0] if isinstance(output, tuple) else output)

    def observe(self, module: nn.Module, output: Any) -> None:
        """Count (and keep) ``output`` as the output of ``module``, one of the recorded layers."""
        name = self.names.get(id(module))
        if not self.enabled or name is None or not isinstance(output, Tensor):
            return
        self._sum[name] = self._sum.get(name, 0.0) + float(output.detach().sum())
        self._count[name] = self._count.get(name, 0) + output.numel()
        if self.keep_spikes:
            self._keep(name, output)

    def _keep(self, name: str, output: Tensor) -> None:
        self.spikes.setdefault(name, []).append(output.detach().cpu())

    def counts(self) -> dict[str, dict[str, float]]:
        """The running totals ``{"sum": {layer: spikes}, "count": {layer: values}}`` (for checkpoints)."""
        return {"sum": dict(self._sum), "count": dict(self._count)}

    def load_counts(self, counts: dict[str, dict[str, float]]) -> None:
        """Continue from totals saved by :meth:`counts`."""
        self._sum, self._count = dict(counts["sum"]), dict(counts["count"])

    def start(self) -> "SpikeRecorder":
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook) for m in self.layers.values()]
        return self

    def stop(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> "SpikeRecorder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rates(self) -> dict[str, float]:
        """Mean spikes per neuron per time step for every layer seen so far."""
        return {k: self._sum[k] / max(self._count[k], 1) for k in self._sum}


@torch.no_grad()
def firing_rates(model: nn.Module, x: Tensor) -> dict[str, float]:
    """Run ``model(x)`` once and return ``{layer name: firing rate}`` (spikes per neuron per step)."""
    with SpikeRecorder(model, keep_spikes=False) as rec:
        model(x)
    return rec.rates()


@contextmanager
def recording(model: nn.Module) -> Iterator[SpikeRecorder]:
    """``with recording(model) as rec: ...`` — shorthand for :class:`SpikeRecorder`."""
    with SpikeRecorder(model) as rec:
        yield rec
