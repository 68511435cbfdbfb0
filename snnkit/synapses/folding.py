"""Folding a per-output-channel affine map ``y -> gain * y + shift`` that follows a synapse into the
synapse's own weights and bias (eval-mode BatchNorm after a Linear/Conv, or NIR's Affine/Scale after a
synapse on hardware that has no separate scaling stage). Works on torch tensors and numpy arrays alike."""
from __future__ import annotations

from typing import TypeVar

Array = TypeVar("Array")


def fold_scale_shift(weight: Array, bias: Array, gain: Array, shift: Array | float) -> tuple[Array, Array]:
    """``(weight', bias')`` with ``synapse'(x) = gain * synapse(x) + shift`` for ``synapse(x) = weight x + bias``.

    ``weight`` ``[out, ...]`` (a Linear's ``[out, in]`` or a conv kernel ``[out, in / groups, *k]``),
    ``bias`` and ``gain`` ``[out]`` (``bias`` zeros when the synapse has none), ``shift`` ``[out]`` or a
    scalar. Exact up to float rounding."""
    return weight * gain.reshape(-1, *([1] * (weight.ndim - 1))), bias * gain + shift
