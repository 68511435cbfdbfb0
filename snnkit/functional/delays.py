"""Delayed synapses, the definition: per-synapse temporal kernels and the causal convolution they
define on time-major ``[T, B, F]`` (DCLS; Hammouamri, Khalfaoui-Hassani, Masquelier, ICLR 2024).

Each synapse ``(o, i)`` owns a weight ``w[o, i]`` and a delay ``d[o, i]`` in ``[0, D - 1]`` steps. The
delay is spread over the integer taps by a normalised interpolation kernel ``g`` (a Gaussian of width
``sigma`` or a triangle) so that the loss is differentiable in ``d``::

    y[t, b, o] = sum_i sum_k  w[o, i] * g(k; d[o, i], sigma) * x[t - k, b, i]

With integer delays the kernel is one-hot and every synapse shifts its input (:func:`shift_reference`).
The fast engines (the Gaussian kernel with a hand-written backward, the spectral and direct
convolutions) are in :mod:`snnkit.kernels.delays` and equal these definitions.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Interpolation = Literal["gaussian", "triangle"]

NORM_EPS = 1e-7  # as in DCLS: keeps the normalisation finite when all taps underflow


def gaussian_kernel(weight: Tensor, delays: Tensor, max_delay: int, sigma: float) -> Tensor:
    """Kernel ``[out, in, max_delay]``: ``w * e / (sum_k e + eps)``, ``e = exp(-(k - d)^2 / (2 sigma^2))``."""
    taps = torch.arange(max_delay, device=delays.device, dtype=weight.dtype)
    e = torch.exp(-(taps - delays.to(weight.dtype).unsqueeze(-1)).square() / (2 * sigma ** 2))
    return weight.unsqueeze(-1) * e / (e.sum(-1, keepdim=True) + NORM_EPS)


def triangle_kernel(weight: Tensor, delays: Tensor, max_delay: int) -> Tensor:
    """Kernel ``[out, in, max_delay]``: linear interpolation between the two integer taps around ``d``
    (``max(0, 1 - |k - d|)``, normalised)."""
    taps = torch.arange(max_delay, device=delays.device, dtype=delays.dtype)
    g = torch.relu(1.0 - (taps - delays.unsqueeze(-1)).abs())
    g = g / (g.sum(-1, keepdim=True) + NORM_EPS)
    return weight.unsqueeze(-1) * g


def one_hot_kernel(weight: Tensor, integer_delays: Tensor, max_delay: int) -> Tensor:
    """Kernel ``[out, in, max_delay]`` with the whole weight on tap ``integer_delays[o, i]``."""
    hot = torch.nn.functional.one_hot(integer_delays.long(), max_delay).to(weight.dtype)
    return weight.unsqueeze(-1) * hot


def dcls_position(delays: Tensor, max_delay: int) -> Tensor:
    """DCLS kernel position ``P`` for a delay (``Dcls1d`` fed with ``max_delay - 1`` steps of left
    padding): ``P = (max_delay - 1) - floor(max_delay / 2) - d``. The map is its own inverse."""
    return (max_delay - 1) - max_delay // 2 - delays


def shift_reference(x: Tensor, weight: Tensor, integer_delays: Tensor, extra_steps: int = 0) -> Tensor:
    """Slow, obvious reference: every synapse shifts its input by its integer delay. Used by tests and
    as documentation of what the fast path computes."""
    T, B, I = x.shape
    O = weight.shape[0]
    y = x.new_zeros(T + extra_steps, B, O)
    for o in range(O):
        for i in range(I):
            d = int(integer_delays[o, i])
            if d < T + extra_steps:
                n = min(T, T + extra_steps - d)
                y[d:d + n, :, o] += weight[o, i] * x[:n, :, i]
    return y


__all__ = ["Interpolation", "NORM_EPS", "gaussian_kernel", "triangle_kernel", "one_hot_kernel", "dcls_position",
           "shift_reference"]
