"""VGG- and ResNet-style 1-D conv nets in the plain form the ANN->SNN converter expects
(``Conv1d / BatchNorm1d / ReLU / AvgPool1d / Flatten / Linear``, residual adds), and their spiking form.

The sequence ``[T, B, F]`` is read as a static 1-D image with ``F`` channels and length ``T``.
:func:`vgg_ann` / :func:`resnet_ann` return the plain network on ``[B, F, T]`` (give it to the converter);
the registered ANN form wraps it as ``model.net`` with the time-major adapter. The spiking form is the same
layers with LIF in place of ReLU, the image presented for ``sim_steps`` steps (direct encoding).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ..neurons import LIF
from ..synapses import TimeDistributed
from ._common import RepeatSteps, SpikingReadout, check_input, check_int
from .registry import register


class ResidualBlock1d(nn.Module):
    """``ReLU(x + BN(Conv(ReLU(BN(Conv(x))))))`` with a 1x1 conv shortcut when channels change."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm1d(cout)
        self.relu1 = nn.ReLU()
        self.conv2, self.bn2 = nn.Conv1d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm1d(cout)
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(nn.Conv1d(cin, cout, 1, bias=False),
                                                                        nn.BatchNorm1d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu2(self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x))))) + self.shortcut(x))


def _head(widths: Sequence[int], length: int, num_classes: int) -> list[nn.Module]:
    pooled = length // 2 ** len(widths)
    if pooled < 1:
        raise ValueError(f"steps={length} is too short for {len(widths)} pooling stages; need >= {2 ** len(widths)}")
    return [nn.AvgPool1d(pooled), nn.Flatten(), nn.Linear(widths[-1], num_classes)]


def vgg_ann(in_channels: int, num_classes: int, length: int, widths: Sequence[int] = (32, 64)) -> nn.Sequential:
    """Plain VGG: per stage ``Conv1d(3) -> BN -> ReLU -> AvgPool1d(2)``, then global AvgPool, Flatten, Linear."""
    mods: list[nn.Module] = []
    c = in_channels
    for w in widths:
        mods += [nn.Conv1d(c, w, 3, padding=1, bias=False), nn.BatchNorm1d(w), nn.ReLU(), nn.AvgPool1d(2)]
        c = w
    return nn.Sequential(*mods, *_head(widths, length, num_classes))


def resnet_ann(in_channels: int, num_classes: int, length: int, widths: Sequence[int] = (32, 64)) -> nn.Sequential:
    """Plain ResNet: per stage a :class:`ResidualBlock1d` then ``AvgPool1d(2)``; global AvgPool, Flatten, Linear."""
    mods: list[nn.Module] = []
    c = in_channels
    for w in widths:
        mods += [ResidualBlock1d(c, w), nn.AvgPool1d(2)]
        c = w
    return nn.Sequential(*mods, *_head(widths, length, num_classes))


class SequenceAsImage(nn.Module):
    """ANN form: ``[T, B, F] -> net([B, F, T]) -> logits [1, B, C]``; ``self.net`` is the plain network."""

    def __init__(self, net: nn.Module, in_features: int, steps: int) -> None:
        super().__init__()
        self.net, self.in_features, self.steps = net, in_features, steps

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        if x.shape[0] != self.steps:
            raise ValueError(f"x has {x.shape[0]} time steps; this network was built for steps={self.steps}")
        return self.net(x.permute(1, 2, 0)).unsqueeze(0)


class _SpikingResidual(nn.Module):
    def __init__(self, block: ResidualBlock1d, tau_mem: float, pool: nn.Module | None = None) -> None:
        super().__init__()
        self.pool = TimeDistributed(pool) if pool is not None else nn.Identity()
        self.conv1, self.bn1 = TimeDistributed(block.conv1), TimeDistributed(block.bn1)
        self.conv2, self.bn2 = TimeDistributed(block.conv2), TimeDistributed(block.bn2)
        self.shortcut = TimeDistributed(block.shortcut)
        self.lif1 = LIF(tau_mem=tau_mem, reset="subtract", detach_reset=True)
        self.lif2 = LIF(tau_mem=tau_mem, reset="subtract", detach_reset=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.lif2(self.pool(self.bn2(self.conv2(self.lif1(self.bn1(self.conv1(x))))) + self.shortcut(x)))


def spiking_from_plain(net: nn.Sequential, tau_mem: float = 2.0) -> nn.Sequential:
    """The spiking twin of a plain :func:`vgg_ann` / :func:`resnet_ann`: same modules (shared weights),
    each applied over time, ReLU -> LIF, the final Linear kept for the readout.

    A stage's ``AvgPool1d`` moves in front of its LIF (pooling is linear, so it pools the input current
    instead of the spikes): the next convolution then receives binary spikes, as on event-driven hardware.
    """
    plain = list(net)[:-1]
    mods: list[nn.Module] = []
    i = 0
    while i < len(plain):
        m = plain[i]
        nxt = plain[i + 1] if i + 1 < len(plain) else None
        pool = nxt if isinstance(nxt, nn.AvgPool1d) and isinstance(m, (nn.ReLU, ResidualBlock1d)) else None
        if isinstance(m, nn.ReLU):
            if pool is not None:
                mods.append(TimeDistributed(pool))
            mods.append(LIF(tau_mem=tau_mem, reset="subtract", detach_reset=True))
        elif isinstance(m, ResidualBlock1d):
            mods.append(_SpikingResidual(m, tau_mem, pool))
        else:
            mods.append(TimeDistributed(m))
        i += 2 if pool is not None else 1
    return nn.Sequential(*mods)


class SpikingConvNet(nn.Module):
    def __init__(self, plain: nn.Sequential, in_features: int, steps: int, sim_steps: int, tau_mem: float,
                 tau_out: float) -> None:
        super().__init__()
        self.in_features, self.steps = in_features, steps
        self.repeat = RepeatSteps(sim_steps)
        self.features = spiking_from_plain(plain, tau_mem)
        last: nn.Linear = plain[-1]
        self.head = SpikingReadout(last.in_features, last.out_features, tau_out)
        self.head.fc = last

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        if x.shape[0] != self.steps:
            raise ValueError(f"x has {x.shape[0]} time steps; this network was built for steps={self.steps}")
        return self.head(self.features(self.repeat(x.permute(1, 2, 0))))


def _conv_builder(make):
    def build(spiking: bool, in_features: int, num_classes: int, steps: int = 0, widths: Sequence[int] = (32, 64),
              sim_steps: int = 4, tau_mem: float = 2.0, tau_out: float = 10.0) -> nn.Module:
        if not steps:
            raise ValueError(f"steps={steps!r}: this conv net pools to a fixed length; pass steps=T")
        check_int("steps", steps)
        plain = make(in_features, num_classes, steps, tuple(widths))
        if spiking:
            return SpikingConvNet(plain, in_features, steps, sim_steps, tau_mem, tau_out)
        return SequenceAsImage(plain, in_features, steps)
    build.__doc__ = f"``create(..., steps=T, widths=(32, 64), sim_steps=4)`` built on :func:`{make.__name__}`."
    return build


register("vgg", twin="the plain VGG whose modules the SNN shares; LIF -> ReLU, equal parameters")(_conv_builder(vgg_ann))
register("resnet", twin="the plain ResNet whose modules the SNN shares; LIF -> ReLU, equal parameters")(_conv_builder(resnet_ann))
_ = (torch, Any)
