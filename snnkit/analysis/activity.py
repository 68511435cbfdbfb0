"""Firing rates per layer, recorded with forward hooks on every :class:`snnkit.neurons.SpikingLayer`.

Layers are reported by name: a named submodule keeps its attribute path (``"encoder.lif"``); a layer
known only by its position in a ``Sequential`` gets its type appended (``"1:LIF"``), so reports say
what the layer is, not just where it sits."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

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


class SpikeRecorder:
    """Records the output spikes of every spiking layer (``LI`` readouts are skipped: they do not spike).

    Use as a context manager around forward passes::

        with SpikeRecorder(model) as rec:
            model(x)
        rec.rates()       # {layer name ("1:LIF", "encoder.lif"): mean spikes per neuron per step}
        rec.spikes[name]  # list of recorded output tensors [T, B, ...]
    """

    def __init__(self, model: nn.Module, keep_spikes: bool = True) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        self.model, self.keep_spikes = model, keep_spikes
        self.spikes: dict[str, list[Tensor]] = {}
        self._sum: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):
        def fn(_module: nn.Module, _inp: object, out: object) -> None:
            s = out[0] if isinstance(out, tuple) else out
            if not isinstance(s, Tensor):
                return
            s = s.detach()
            self._sum[name] = self._sum.get(name, 0.0) + float(s.sum())
            self._count[name] = self._count.get(name, 0) + s.numel()
            if self.keep_spikes:
                self.spikes.setdefault(name, []).append(s.cpu())
        return fn

    def __enter__(self) -> "SpikeRecorder":
        for name, mod in self.model.named_modules():
            if isinstance(mod, SpikingLayer) and not isinstance(mod, LI):
                self._handles.append(mod.register_forward_hook(self._hook(layer_name(name, mod))))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

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
