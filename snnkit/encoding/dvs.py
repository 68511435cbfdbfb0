"""Event streams from frames, as a dynamic vision sensor (DVS) would record them.

A DVS pixel sends an ON (OFF) event each time its log intensity rises (falls) by a contrast threshold
since its last event (Lichtsteiner et al. 2008): :func:`dvs_encode` is :func:`delta_encode` applied to
``log(intensity + eps)``. :func:`saccade_frames` moves a still image along the three-saccade triangle
that N-MNIST's camera followed (Orchard et al. 2015), so a still digit becomes a changing scene.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _checks
from .encoders import delta_encode


def dvs_encode(frames: Tensor, threshold: float = 0.2, eps: float = 0.05) -> Tensor:
    """Frames ``[T, B, H, W]`` of intensity in [0, 1] -> event counts ``[T, B, 2, H, W]`` (ON, OFF).

    ``threshold`` is the log-contrast step per event; ``eps`` keeps dark pixels finite (it is the
    sensor's dark current in units of full intensity). The first frame sets the reference (no events).
    """
    frames = _checks.time_major("frames", frames, min_rank=3)
    _checks.positive("eps", eps)
    if float(frames.min()) < 0:
        raise ValueError(f"frames must be intensities >= 0; got a minimum of {float(frames.min())}")
    return delta_encode(torch.log(frames + eps), threshold)


def saccade_frames(images: Tensor, steps: int, amplitude: float = 2.0) -> Tensor:
    """Images ``[B, H, W]`` -> frames ``[steps, B, H, W]`` moving along a triangle of three saccades
    (right-down, left-down... back to the start) of ``amplitude`` pixels, bilinearly interpolated."""
    if not isinstance(images, Tensor) or images.dim() != 3:
        raise ValueError(f"images must be a tensor [B, H, W]; got {getattr(images, 'shape', type(images))}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps={steps!r} must be an integer >= 2")
    corners = [(0.0, 0.0), (amplitude, amplitude), (-amplitude, amplitude), (0.0, 0.0)]
    b, h, w = images.shape
    frames = []
    for t in range(steps):
        phase = 3 * t / (steps - 1)
        k = min(int(phase), 2)
        f = phase - k
        dx = corners[k][0] + f * (corners[k + 1][0] - corners[k][0])
        dy = corners[k][1] + f * (corners[k + 1][1] - corners[k][1])
        theta = torch.tensor([[1.0, 0.0, -2 * dx / w], [0.0, 1.0, -2 * dy / h]], dtype=images.dtype)
        grid = torch.nn.functional.affine_grid(theta.expand(b, 2, 3), (b, 1, h, w), align_corners=False)
        frames.append(torch.nn.functional.grid_sample(images[:, None], grid, align_corners=False)[:, 0])
    return torch.stack(frames)


__all__ = ["dvs_encode", "saccade_frames"]
