"""Encoders: values -> time-major spikes ``[T, B, ...]``.

Static inputs ``x [B, ...]`` become ``[T, B, ...]``; a time-varying signal ``[T, B, ...]`` becomes
ON/OFF events ``[T, B, 2, ...]`` (send-on-delta). Encoders are not differentiable (they produce
data); random ones take a ``torch.Generator`` for reproducibility.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _checks


def _steps(steps: object) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps={steps!r} must be an integer >= 1")
    return steps


def _tensor(name: str, x: object) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype; got {x.dtype}")
    _checks.finite(name, x)
    return x


def direct_encode(x: Tensor, steps: int) -> Tensor:
    """Direct coding: the analog input at every step, ``[B, ...] -> [T, B, ...]`` (a view; differentiable:
    the first layer integrates a constant current)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    return x.unsqueeze(0).expand(_steps(steps), *x.shape)


def rate_encode(x: Tensor, steps: int, gain: float = 1.0, mode: str = "bernoulli",
                generator: torch.Generator | None = None) -> Tensor:
    """Rate coding: ``[B, ...] -> [T, B, ...]``.

    ``"bernoulli"``: each step spikes with probability ``clamp(gain * x, 0, 1)`` (binary spikes).
    ``"poisson"``: each step holds a Poisson count with mean ``max(gain * x, 0)`` (the number of events of a
    Poisson process of rate ``gain * x`` per step; counts may exceed 1).
    """
    x = _tensor("x", x)
    _steps(steps)
    _checks.one_of("mode", mode, ("bernoulli", "poisson"))
    _checks.positive("gain", gain)
    shape = (steps,) + tuple(x.shape)
    if mode == "bernoulli":
        p = (gain * x).clamp(0.0, 1.0).expand(shape)
        return torch.bernoulli(p, generator=generator)
    lam = (gain * x).clamp(min=0.0).expand(shape).contiguous()
    return torch.poisson(lam, generator=generator)


def latency_times(x: Tensor, steps: int, mode: str = "linear", tau: float = 5.0, threshold: float = 0.01) -> Tensor:
    """Spike step of each value (float, ``inf`` where no spike); see :func:`latency_encode`."""
    x = _tensor("x", x)
    _steps(steps)
    _checks.one_of("mode", mode, ("linear", "log"))
    if mode == "linear":
        times = torch.round((1.0 - x.clamp(0.0, 1.0)) * (steps - 1))
        spikes = x > threshold
    else:
        _checks.positive("tau", tau)
        _checks.positive("threshold", threshold)
        safe = torch.where(x > threshold, x, torch.full_like(x, 2 * threshold))
        times = torch.round(tau * torch.log(safe / (safe - threshold)))
        spikes = (x > threshold) & (times <= steps - 1)
    return torch.where(spikes, times, torch.full_like(x, math.inf))


def latency_encode(x: Tensor, steps: int, mode: str = "linear", tau: float = 5.0, threshold: float = 0.01) -> Tensor:
    """Time-to-first-spike coding: one spike per value, earlier for larger values. ``[B, ...] -> [T, B, ...]``.

    ``"linear"``: ``x in [0, 1]`` (clamped) spikes at step ``round((1 - x) * (T - 1))``; values
    ``<= threshold`` never spike. ``"log"``: the spike time of an RC membrane charged by a constant
    current ``x`` towards a threshold ``threshold``: ``round(tau * ln(x / (x - threshold)))`` steps,
    no spike when ``x <= threshold`` or the time falls after ``T - 1``.
    """
    times = latency_times(x, steps, mode, tau, threshold)
    grid = torch.arange(steps, dtype=x.dtype, device=x.device).view((steps,) + (1,) * x.dim())
    return (grid == times.unsqueeze(0)).to(x.dtype)


def delta_encode(signal: Tensor, threshold: float, initial: Tensor | None = None) -> Tensor:
    """Send-on-delta: ``[T, B, ...] -> [T, B, 2, ...]`` counts of ON (index 0) and OFF (index 1) events.

    A reference level starts at ``initial`` (default: the first sample ``signal[0]``) and moves by
    ``threshold`` per event; at each step as many events are sent as whole thresholds separate the
    signal from the reference, so afterwards ``|signal[t] - reference[t]| < threshold``.
    :func:`~snnkit.encoding.delta_decode` rebuilds the reference from the events.
    """
    signal = _checks.time_major("signal", signal, min_rank=2)
    _checks.positive("threshold", threshold)
    reference = signal[0].clone() if initial is None else initial.to(signal).expand_as(signal[0]).clone()
    out = []
    for sample in signal.unbind(0):  # sequential: the reference has memory (hysteresis)
        steps = torch.trunc((sample - reference) / threshold)
        reference = reference + steps * threshold
        out.append(torch.stack([steps.clamp(min=0), (-steps).clamp(min=0)], dim=1))
    return torch.stack(out)


def population_encode(x: Tensor, neurons: int, low: float, high: float, sigma: float | None = None,
                      steps: int | None = None) -> Tensor:
    """Gaussian receptive fields: each value drives ``neurons`` cells with centres evenly spaced on
    ``[low, high]`` and width ``sigma`` (default: the centre spacing).

    Without ``steps``: activations ``exp(-(x - c_i)^2 / (2 sigma^2))`` of shape ``[B, ..., neurons]``.
    With ``steps``: those activations latency-coded (linear), ``[T, B, ..., neurons]``: the best
    matching cells fire first (Bohte et al. 2002).
    """
    x = _tensor("x", x)
    if isinstance(neurons, bool) or not isinstance(neurons, int) or neurons < 2:
        raise ValueError(f"neurons={neurons!r} must be an integer >= 2")
    if not high > low:
        raise ValueError(f"high={high!r} must be greater than low={low!r}")
    centres = torch.linspace(low, high, neurons, dtype=x.dtype, device=x.device)
    sigma = (high - low) / (neurons - 1) if sigma is None else sigma
    _checks.positive("sigma", sigma)
    activation = torch.exp(-((x.unsqueeze(-1) - centres) ** 2) / (2 * sigma**2))
    if steps is None:
        return activation
    return latency_encode(activation, steps, mode="linear")
