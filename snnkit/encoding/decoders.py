"""Decoders: time-major spikes or membranes ``[T, B, ...]`` -> values ``[B, ...]``."""
from __future__ import annotations

import torch
from torch import Tensor

from .. import _checks


def rate_decode(spikes: Tensor) -> Tensor:
    """Mean spikes per step over time: ``[T, B, ...] -> [B, ...]`` (differentiable)."""
    return _checks.time_major("spikes", spikes).mean(0)


def spike_count(spikes: Tensor) -> Tensor:
    """Total spikes over time: ``[T, B, ...] -> [B, ...]`` (differentiable)."""
    return _checks.time_major("spikes", spikes).sum(0)


def first_spike_decode(spikes: Tensor, no_spike: float | None = None) -> Tensor:
    """Step of the first spike of each unit, ``[T, B, ...] -> [B, ...]``; ``no_spike`` (default ``T``)
    where a unit never fires. The smallest value wins a time-to-first-spike classification."""
    spikes = _checks.time_major("spikes", spikes)
    steps = spikes.shape[0]
    fired = spikes > 0
    first = torch.argmax(fired.to(torch.uint8), dim=0).to(spikes.dtype)
    fill = float(steps if no_spike is None else no_spike)
    return torch.where(fired.any(0), first, torch.full_like(first, fill))


def latency_decode(spikes: Tensor) -> Tensor:
    """Invert linear :func:`~snnkit.encoding.latency_encode`: ``x = 1 - t / (T - 1)``, 0 without a spike."""
    spikes = _checks.time_major("spikes", spikes)
    steps = spikes.shape[0]
    times = first_spike_decode(spikes, no_spike=float("inf"))
    return torch.where(torch.isinf(times), torch.zeros_like(times), 1.0 - times / max(steps - 1, 1))


def membrane_decode(membrane: Tensor, mode: str = "max") -> Tensor:
    """Read out a (non-spiking) membrane trace ``[T, B, ...]``: ``"max"``, ``"mean"`` or ``"last"`` over time."""
    membrane = _checks.time_major("membrane", membrane)
    _checks.one_of("mode", mode, ("max", "mean", "last"))
    if mode == "max":
        return membrane.max(0).values
    if mode == "mean":
        return membrane.mean(0)
    return membrane[-1]


def delta_decode(events: Tensor, threshold: float, initial: Tensor) -> Tensor:
    """Rebuild the send-on-delta reference ``[T, B, ...]`` from ON/OFF events ``[T, B, 2, ...]``."""
    events = _checks.time_major("events", events, min_rank=3)
    if events.shape[2] != 2:
        raise ValueError(f"events must have ON/OFF at dim 2 ([T, B, 2, ...]); got shape {tuple(events.shape)}")
    _checks.positive("threshold", threshold)
    net = events[:, :, 0] - events[:, :, 1]
    return initial.to(events) + threshold * torch.cumsum(net, dim=0)


def population_decode(activity: Tensor, low: float, high: float) -> Tensor:
    """Centre-of-mass estimate from population activity ``[..., neurons]`` (rates or activations)."""
    if not isinstance(activity, Tensor) or not activity.is_floating_point():
        raise TypeError(f"activity must be a floating torch.Tensor [..., neurons]; got {type(activity).__name__}")
    neurons = activity.shape[-1]
    centres = torch.linspace(low, high, neurons, dtype=activity.dtype, device=activity.device)
    total = activity.sum(-1)
    return (activity * centres).sum(-1) / total.clamp(min=torch.finfo(activity.dtype).tiny)
