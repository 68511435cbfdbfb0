"""Argument checks shared by every layer: each error names the parameter, the value and what is allowed."""
from __future__ import annotations

import math
from typing import Iterable

import torch
from torch import Tensor


def positive(name: str, value: float | Tensor) -> None:
    """Raise ``ValueError`` unless ``value`` (number or tensor) is finite and > 0 everywhere."""
    if isinstance(value, Tensor):
        bad = ~torch.isfinite(value) | (value <= 0)
        if bool(bad.any()):
            raise ValueError(f"{name} must be finite and > 0 everywhere; got {value.detach().flatten()[:8].tolist()}")
    elif not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0")


def one_of(name: str, value: object, allowed: Iterable[object]) -> None:
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: {allowed}")


def time_major(name: str, x: object, min_rank: int = 2) -> Tensor:
    """Check that ``x`` is a floating tensor of rank >= ``min_rank`` ([T, B, ...]) without NaN/inf."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, ...]; got {type(x).__name__}")
    if x.dim() < min_rank:
        raise ValueError(
            f"{name} must be time-major with rank >= {min_rank} ([T, B, ...]); got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype; got {x.dtype} (convert spikes with .float())")
    finite(name, x)
    return x


def finite(name: str, x: Tensor) -> None:
    # One cheap reduction; the exact position is only searched for when something is wrong.
    if x.numel() and not bool(torch.isfinite(x.detach().sum())):
        bad = (~torch.isfinite(x.detach())).nonzero()
        if len(bad):
            raise ValueError(f"{name} contains NaN or inf, first at index {tuple(bad[0].tolist())}")


def same_device_dtype(name: str, x: Tensor, ref_name: str, ref: Tensor) -> None:
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; move both to one device")
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {ref_name} has {ref.dtype}; use one dtype")
