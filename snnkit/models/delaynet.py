"""The feed-forward delay network of the DCLS paper (Hammouamri, Khalfaoui-Hassani & Masquelier, ICLR
2024): ``[DelayedLinear -> BatchNorm -> LIF -> Dropout] x layers -> DelayedLinear -> LI`` readout, every
synapse with a learnable delay (:class:`snnkit.synapses.DelayedLinear`), the output layer's included, and
LIF neurons with hard reset to 0 (the paper's spikingjelly neurons: ``v_reset=0``, reset detached), as
published. ``output_delays=False`` gives a plain ``Linear`` readout, ``reset="subtract"`` soft reset,
``delay_mode="random"`` / ``"none"`` the paper's controls (fixed random integer delays / no delays). ANN
twin: the same layers with ReLU and the readout averaged over time (identical parameters).

Registered lazily: ``create("delay_net", ...)`` works when :mod:`snnkit.synapses.delays` imports.
Training recipe extras (sigma schedule, position clamping, freezing delays for evaluation) live in the
synapses package; ``model.delay_layers()`` lists the layers they act on.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from .. import _checks
from ..analysis import CountedOp, is_event_like
from ..neurons import LI, LIF
from ..synapses.delays import DelayedLinear
from ._common import SeqBatchNorm, check_input, readout
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


class DelayedReadout(nn.Module):
    """Output synapses with learnable delays, then a leaky integrator (spiking: membrane ``[T', B, C]``)
    or the mean over time (ANN twin: logits ``[1, B, C]``)."""

    def __init__(self, layer: DelayedLinear, spiking: bool, tau_out: float) -> None:
        super().__init__()
        self.synapses = CountedDelayedLinear(layer)
        self.li = LI(tau_mem=tau_out) if spiking else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.synapses(x)
        return self.li(y) if self.li is not None else y.mean(0, keepdim=True)


class DelayNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int, spiking: bool, hidden: int = 64, layers: int = 2,
                 max_delay: int = 9, dropout: float = 0.1, tau_mem: float = 10.05, tau_out: float = 10.0,
                 interpolation: str = "gaussian", output_delays: bool = True, reset: str = "hard",
                 delay_mode: str = "learned") -> None:
        super().__init__()
        _checks.one_of("reset", reset, ("hard", "subtract"))
        self.in_features = in_features
        mods: list[nn.Module] = []
        width = in_features
        extra = (max_delay - 1) // 2
        for _ in range(layers):
            dl = DelayedLinear(width, hidden, max_delay, delay_mode, interpolation, extra_steps=extra)  # type: ignore[arg-type]
            act = LIF(tau_mem=tau_mem, reset=reset, detach_reset=True) if spiking else nn.ReLU()
            mods += [CountedDelayedLinear(dl), SeqBatchNorm(hidden), act, nn.Dropout(dropout)]
            width = hidden
        self.features = nn.Sequential(*mods)
        if output_delays:
            out = DelayedLinear(hidden, num_classes, max_delay, delay_mode, interpolation,  # type: ignore[arg-type]
                                extra_steps=extra, bias=True)
            self.head: nn.Module = DelayedReadout(out, spiking, tau_out)
        else:
            self.head = readout(spiking, hidden, num_classes, tau_out)

    def delay_layers(self) -> list[DelayedLinear]:
        return [m.layer for m in self.modules() if isinstance(m, CountedDelayedLinear)]

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.head(self.features(x))


@register("delay_net")
def build_delay_net(spiking: bool, in_features: int, num_classes: int, steps: int | None = None,
                    **config: Any) -> nn.Module:
    """``create("delay_net", spiking, in_features, num_classes, hidden=64, layers=2, max_delay=9,
    output_delays=True, reset="hard")``."""
    return DelayNet(in_features, num_classes, spiking, **config)
