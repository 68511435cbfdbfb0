"""The feed-forward delay network of the DCLS paper (Hammouamri, Khalfaoui-Hassani & Masquelier, ICLR
2024): ``[DelayedLinear -> BatchNorm -> LIF -> Dropout] x layers -> Linear -> LI`` readout, every synapse
with a learnable delay (:class:`snnkit.synapses.DelayedLinear`). ANN twin: the same layers with ReLU (a
learned sparse temporal convolution net; identical parameters).

Registered lazily: ``create("delay_net", ...)`` works when :mod:`snnkit.synapses.delays` imports.
Training recipe extras (sigma schedule, position clamping, freezing delays for evaluation) live in the
synapses package; ``model.delay_layers()`` lists the layers they act on.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..analysis import CountedOp, is_event_like
from ..synapses.delays import DelayedLinear
from ._common import SeqBatchNorm, check_input, neuron, readout
from .registry import register


class CountedDelayedLinear(CountedOp):
    """A :class:`DelayedLinear` whose cost is counted as with integer delays (evaluation): one AC per
    synapse per input spike (one MAC per synapse and step for real-valued input)."""

    def __init__(self, layer: DelayedLinear) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        x = inputs[0].detach()
        if is_event_like(x):
            return 0.0, float((x != 0).sum()) * self.layer.out_features
        return float(x.numel()) * self.layer.out_features, 0.0


class DelayNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int, spiking: bool, hidden: int = 64, layers: int = 2,
                 max_delay: int = 9, dropout: float = 0.1, tau_mem: float = 10.05, tau_out: float = 10.0,
                 interpolation: str = "gaussian") -> None:
        super().__init__()
        self.in_features = in_features
        mods: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            dl = DelayedLinear(width, hidden, max_delay, interpolation=interpolation, extra_steps=(max_delay - 1) // 2)
            mods += [CountedDelayedLinear(dl), SeqBatchNorm(hidden), neuron(spiking, tau_mem), nn.Dropout(dropout)]
            width = hidden
        self.features = nn.Sequential(*mods)
        self.head = readout(spiking, hidden, num_classes, tau_out)

    def delay_layers(self) -> list[DelayedLinear]:
        return [m.layer for m in self.features if isinstance(m, CountedDelayedLinear)]

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.head(self.features(x))


@register("delay_net")
def build_delay_net(spiking: bool, in_features: int, num_classes: int, steps: int | None = None,
                    **config: Any) -> nn.Module:
    """``create("delay_net", spiking, in_features, num_classes, hidden=64, layers=2, max_delay=9)``."""
    return DelayNet(in_features, num_classes, spiking, **config)
