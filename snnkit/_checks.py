"""Argument checks shared by every layer: each error names the parameter, the value and what is allowed."""
from __future__ import annotations

import math
import os
from typing import Iterable

import torch
from torch import Tensor

# Debug mode: value checks that read tensors back to the host (NaN scans of inputs, range checks of
# tensor-valued parameters on every call). Off by default because each read is a device sync on CUDA
# and breaks torch.compile graphs; parameters set through the neuron layers are checked once, when set.
_debug = os.environ.get("SNNKIT_DEBUG", "").lower() in ("1", "true", "yes")


def set_debug(enabled: bool = True) -> None:
    """Turn the per-call value checks (NaN/inf inputs, tensor parameter ranges) on or off.

    Also enabled by the environment variable ``SNNKIT_DEBUG=1``."""
    global _debug
    _debug = bool(enabled)


def debug_enabled() -> bool:
    return _debug


def readable(x: Tensor) -> bool:
    """Whether ``x``'s values can be read (not a meta/fake tensor, not inside a torch.compile trace)."""
    return x.device.type != "meta" and not torch.compiler.is_compiling()


def positive(name: str, value: float | Tensor) -> None:
    """Raise ``ValueError`` unless ``value`` (number or tensor) is finite and > 0 everywhere."""
    if isinstance(value, Tensor):
        if not readable(value):
            return
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
    if _debug:
        finite(name, x)
    return x


def finite(name: str, x: Tensor) -> None:
    # One cheap reduction; the exact position is only searched for when something is wrong.
    if x.numel() and readable(x) and not bool(torch.isfinite(x.detach().sum())):
        bad = (~torch.isfinite(x.detach())).nonzero()
        if len(bad):
            raise ValueError(f"{name} contains NaN or inf, first at index {tuple(bad[0].tolist())}")


def same_device_dtype(name: str, x: Tensor, ref_name: str, ref: Tensor) -> None:
    if x.device != ref.device:
        raise ValueError(f"{name} is on {x.device} but {ref_name} is on {ref.device}; move both to one device")
    if x.dtype != ref.dtype:
        raise TypeError(f"{name} has dtype {x.dtype} but {ref_name} has {ref.dtype}; use one dtype")


def param_positive(name: str, value: float | Tensor) -> None:
    """:func:`positive` for a parameter: numbers always, tensors only in debug mode (a host read).

    Tensor parameters owned by the neuron layers are checked once, when they are set."""
    if not isinstance(value, Tensor) or _debug:
        positive(name, value.detach() if isinstance(value, Tensor) else value)


def param_finite(name: str, value: float | Tensor) -> None:
    """Raise ``ValueError`` unless ``value`` is finite (numbers always, tensors in debug mode)."""
    if isinstance(value, Tensor):
        if _debug:
            all_finite(name, value)
    elif not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
        raise ValueError(f"{name}={value!r} must be a finite number")


def all_finite(name: str, value: Tensor) -> None:
    """Raise ``ValueError`` unless every element of ``value`` is finite (one host read)."""
    if value.numel() and readable(value) and not bool(torch.isfinite(value.detach()).all()):
        raise ValueError(f"{name} must be finite everywhere; got {value.detach().flatten()[:8].tolist()}")
