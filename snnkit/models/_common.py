"""Parts shared by the architectures: neuron-or-activation switch, readouts, sequence BatchNorm."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import _checks
from ..neurons import LI, LIF


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    return value


def neuron(spiking: bool, tau_mem: float = 2.0, v_th: float = 1.0, activation: str = "relu") -> nn.Module:
    """A LIF population (spiking) or its ANN stand-in (``relu`` / ``gelu``).

    The LIF uses soft reset and a detached reset path, the usual choice for deep surrogate-gradient nets.
    """
    if spiking:
        return LIF(tau_mem=tau_mem, v_th=v_th, reset="subtract", detach_reset=True)
    _checks.one_of("activation", activation, ("relu", "gelu", "tanh"))
    return {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]()


class RateUnit(nn.Module):
    """The non-spiking twin of a LIF: the same leaky membrane ``v[t] = a v[t-1] + x[t]`` (no reset),
    read out as a rate ``ReLU(v)`` instead of threshold-and-spike. ``[T, B, ...] -> [T, B, ...]``."""

    def __init__(self, tau_mem: float = 10.0) -> None:
        super().__init__()
        self.membrane = LI(tau_mem=tau_mem)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.membrane(x))


class SeqBatchNorm(nn.Module):
    """BatchNorm over the last (feature) dim of any ``[..., C]`` tensor (statistics over all other dims)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class SpikingReadout(nn.Module):
    """``Linear`` then a non-firing leaky integrator: ``[T, B, H] -> membrane [T, B, C]``."""

    def __init__(self, hidden: int, num_classes: int, tau_mem: float = 10.0) -> None:
        super().__init__()
        self.fc = nn.Linear(hidden, num_classes)
        self.li = LI(tau_mem=tau_mem)

    def forward(self, x: Tensor) -> Tensor:
        return self.li(self.fc(x))


class PooledReadout(nn.Module):
    """ANN head: mean over time (dim 0), then ``Linear``: ``[T, B, H] -> logits [1, B, C]``.

    Same parameter count as :class:`SpikingReadout` (the LI has no trainable parameters)."""

    def __init__(self, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(0)).unsqueeze(0)


def readout(spiking: bool, hidden: int, num_classes: int, tau_out: float = 10.0) -> nn.Module:
    return SpikingReadout(hidden, num_classes, tau_out) if spiking else PooledReadout(hidden, num_classes)


class RepeatSteps(nn.Module):
    """Present a static tensor ``[B, ...]`` for ``steps`` time steps: ``[steps, B, ...]`` (direct encoding)."""

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = check_int("steps", steps)

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(0).expand(self.steps, *x.shape).contiguous()


def check_input(x: Tensor, in_features: int) -> None:
    _checks.time_major("x", x, min_rank=3)
    if x.shape[-1] != in_features:
        raise ValueError(f"x has {x.shape[-1]} features (shape {tuple(x.shape)}); the model expects "
                         f"in_features={in_features} as [T, B, {in_features}]")
