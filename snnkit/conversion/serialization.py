"""Safe files for ANNs to convert and for converted SNNs.

A pickled ``nn.Module`` can only be loaded with ``torch.load(weights_only=False)``, which runs
arbitrary code from the file; snnkit never does that. A file here is a plain dict (strings, numbers,
lists, tensors) read with ``weights_only=True``: the architecture is named (a registered builder, see
:func:`snnkit.conversion.architectures.register_architecture`, or ``"package.module:function"`` the
user chooses to import), with its keyword config and a ``state_dict``::

    {"format": "snnkit.ann/1", "architecture": "mlp", "config": {...}, "state_dict": {...}}

A converted SNN is stored the same way plus the conversion options and the input shape; loading
rebuilds the structure by converting the named ANN, then loads the SNN's own state_dict.
"""
from __future__ import annotations

import os
from typing import Any

import torch

from .._atomic import atomic_path
from torch import nn

from .architectures import build_architecture

ANN_FORMAT = "snnkit.ann/1"
SNN_FORMAT = "snnkit.converted/1"


def _atomic_save(obj: Any, path: str) -> str:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def _load(path: str, expected: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{path!r} is not a weights-only file snnkit can read safely ({err}); save the "
                         "model with snnkit.conversion.save_ann(model, path, architecture, config)") from err
    if not isinstance(blob, dict) or blob.get("format") != expected:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path!r} has format {got!r}; expected {expected!r} "
                         "(write it with snnkit.conversion.save_ann / save_converted)")
    return blob


def _load_weights(model: nn.Module, state: dict[str, Any], architecture: str) -> nn.Module:
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"the weights do not fit architecture={architecture!r}: {err}") from err
    return model


def save_ann(model: nn.Module, path: str, architecture: str, config: dict[str, Any] | None = None) -> str:
    """Write ``model``'s weights with the architecture name and config that rebuild it (atomic)."""
    config = dict(config or {})
    _load_weights(build_architecture(architecture, config), model.state_dict(), architecture)  # fail now
    return _atomic_save({"format": ANN_FORMAT, "architecture": architecture, "config": config,
                         "state_dict": model.state_dict()}, path)


def load_ann(path: str) -> nn.Module:
    """Rebuild an ANN written by :func:`save_ann` (eval mode)."""
    blob = _load(path, ANN_FORMAT)
    model = build_architecture(blob["architecture"], blob["config"])
    return _load_weights(model, blob["state_dict"], blob["architecture"]).eval()


def save_converted(conversion: Any, path: str, architecture: str, config: dict[str, Any],
                   input_shape: tuple[int, ...]) -> str:
    """Write a :class:`~snnkit.conversion.Conversion` of a named architecture (atomic)."""
    return _atomic_save({"format": SNN_FORMAT, "architecture": architecture, "config": dict(config),
                         "options": dict(conversion.options), "input_shape": list(input_shape),
                         "state_dict": conversion.snn.state_dict()}, path)


def load_converted(path: str) -> nn.Module:
    """Rebuild a converted SNN written by :func:`save_converted`."""
    from .convert import convert_detailed

    blob = _load(path, SNN_FORMAT)
    ann = build_architecture(blob["architecture"], blob["config"])
    options = dict(blob["options"])
    T = options.pop("T")
    dummy = torch.zeros(2, *blob["input_shape"])
    snn = convert_detailed(ann, dummy, T, structure_only=True, **options).snn
    return _load_weights(snn, blob["state_dict"], blob["architecture"]).eval()
