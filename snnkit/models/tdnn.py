"""A small ECAPA-like TDNN (Desplanques et al., Interspeech 2020) for speech features ``[T, B, F]``:
a dilated Conv1d front, SE-Res blocks (dilated conv, BatchNorm, squeeze-excitation, residual), a
multi-layer feature aggregation (concatenate block outputs, 1x1 conv), then the readout.

Spiking form: LIF populations in place of ReLU (time of the SNN = the sequence's time); the SE gate stays
a real-valued sigmoid. Both forms use mean pooling over time in place of ECAPA's attentive statistics
pooling (so the readouts have equal parameters).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ._common import check_input, neuron, readout
from .registry import register


class _TimeConv(nn.Module):
    """Conv1d + BatchNorm + activation on ``[T, B, C]`` (the conv runs along T, 'same' padding)."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, spiking: bool, tau_mem: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
        self.bn = nn.BatchNorm1d(cout)
        self.act = neuron(spiking, tau_mem)

    def forward(self, x: Tensor) -> Tensor:
        y = self.bn(self.conv(x.permute(1, 2, 0))).permute(2, 0, 1)
        return self.act(y.contiguous())


class _SERes(nn.Module):
    def __init__(self, channels: int, dilation: int, spiking: bool, tau_mem: float, se_ratio: int = 4) -> None:
        super().__init__()
        self.conv1 = _TimeConv(channels, channels, 1, 1, spiking, tau_mem)
        self.conv2 = _TimeConv(channels, channels, 3, dilation, spiking, tau_mem)
        self.se1 = nn.Linear(channels, max(channels // se_ratio, 1))
        self.se2 = nn.Linear(max(channels // se_ratio, 1), channels)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))
        gate = torch.sigmoid(self.se2(torch.relu(self.se1(y.mean(0)))))   # squeeze over time
        return x + y * gate


class TDNN(nn.Module):
    def __init__(self, in_features: int, num_classes: int, spiking: bool, channels: int = 32, blocks: int = 2,
                 embed: int = 64, tau_mem: float = 2.0, tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.front = _TimeConv(in_features, channels, 5, 1, spiking, tau_mem)
        self.blocks = nn.ModuleList(_SERes(channels, 2 + i, spiking, tau_mem) for i in range(blocks))
        self.aggregate = _TimeConv(channels * blocks, embed, 1, 1, spiking, tau_mem)
        self.head = readout(spiking, embed, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        z, outs = self.front(x), []
        for b in self.blocks:
            z = b(z)
            outs.append(z)
        return self.head(self.aggregate(torch.cat(outs, -1)))


@register("tdnn", twin="the same ECAPA-style TDNN with ReLU for each LIF; equal parameters")
def build_tdnn(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """``create("tdnn", spiking, in_features, num_classes, channels=32, blocks=2, embed=64)``."""
    return TDNN(in_features, num_classes, spiking, **config)
