"""Safe files for ANNs to convert and for converted SNNs.

A pickled ``nn.Module`` can only be loaded with ``torch.load(weights_only=False)``, which runs
arbitrary code from the file; snnkit never does that. A file here is a plain dict (strings, numbers,
lists, tensors) read with ``weights_only=True``: the architecture is a NAME looked up in the registry
(:func:`snnkit.conversion.architectures.register_architecture`), with its keyword config and a
``state_dict``::

    {"format": "snnkit.ann/1", "architecture": "mlp", "config": {...}, "state_dict": {...},
     "sha256": "..."}

A file never names code to import: a model of your own is rebuilt by the ``builder`` the caller passes
(a callable or ``"package.module:function"``; ``--architecture-builder`` on the command line). The
``sha256`` content hash is verified on load (a damaged file is refused), and the file's records are
capped before anything is allocated (``max_bytes``).

A converted SNN is stored the same way plus the conversion options and the input shape; loading
rebuilds the structure by converting the named ANN, then loads the SNN's own state_dict.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from .._atomic import atomic_path
from .._torchfile import MAX_BYTES, content_hash, load_weights_only, verify_hash
from ..errors import InvalidFileError, SizeLimitError
from .architectures import MAX_PARAMETERS, build_architecture

ANN_FORMAT = "snnkit.ann/1"
SNN_FORMAT = "snnkit.converted/1"
MAX_INPUT_ELEMENTS = 10_000_000  # cap on prod(input_shape) of a converted model (one dummy batch of 2)


def _atomic_save(obj: dict[str, Any], path: str) -> str:
    obj = {**obj, "sha256": content_hash(obj)}
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def read_model_file(path: str, expected: str, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    try:
        blob = load_weights_only(path, max_bytes)
    except SizeLimitError:
        raise
    except InvalidFileError as err:
        raise InvalidFileError(path, err.field, err.value, f"{err.allowed}; a weights-only file snnkit can read "
                               "safely: save the model with snnkit.conversion.save_ann(model, path, "
                               "architecture, config)") from err
    if not isinstance(blob, dict) or blob.get("format") != expected:
        got = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        raise InvalidFileError(path, "format", got, f"{expected!r} (write it with snnkit.conversion.save_ann / "
                               "save_converted)")
    if "sha256" in blob:
        verify_hash(path, blob)
    for key, kind in (("architecture", str), ("config", dict), ("state_dict", dict)):
        if not isinstance(blob.get(key), kind):
            raise InvalidFileError(path, key, blob.get(key), f"a {kind.__name__}")
    return blob


def _load_weights(model: nn.Module, state: dict[str, Any], architecture: str, path: str | None = None) -> nn.Module:
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError, AttributeError) as err:
        raise InvalidFileError(path, "state_dict", f"{len(state)} entries",
                               f"tensors matching the model (the weights do not fit architecture={architecture!r}: {err})") from err
    return model


def save_ann(model: nn.Module, path: str, architecture: str, config: dict[str, Any] | None = None,
             builder: Any = None) -> str:
    """Write ``model``'s weights with the architecture name and config that rebuild it (atomic).

    ``architecture`` is a registered name; for a model of your own give ``builder`` (a callable or
    ``"package.module:function"``) and any name: loading then needs the same ``builder``."""
    config = dict(config or {})
    _load_weights(build_architecture(architecture, config, builder), model.state_dict(), architecture)  # fail now
    return _atomic_save({"format": ANN_FORMAT, "architecture": architecture, "config": config,
                         "state_dict": model.state_dict()}, path)


def load_ann(path: str, builder: Any = None, max_bytes: int = MAX_BYTES,
             max_parameters: int = MAX_PARAMETERS) -> nn.Module:
    """Rebuild an ANN written by :func:`save_ann` (eval mode). ``builder``: the caller's own architecture
    builder (a file only names registered architectures, never code to import)."""
    blob = read_model_file(path, ANN_FORMAT, max_bytes)
    model = build_architecture(blob["architecture"], blob["config"], builder, path, max_parameters)
    return _load_weights(model, blob["state_dict"], blob["architecture"], path).eval()


def save_converted(conversion: Any, path: str, architecture: str, config: dict[str, Any],
                   input_shape: tuple[int, ...]) -> str:
    """Write a :class:`~snnkit.conversion.Conversion` of a named architecture (atomic)."""
    return _atomic_save({"format": SNN_FORMAT, "architecture": architecture, "config": dict(config),
                         "options": dict(conversion.options), "input_shape": list(input_shape),
                         "state_dict": conversion.snn.state_dict()}, path)


def load_converted(path: str, builder: Any = None, max_bytes: int = MAX_BYTES,
                   max_parameters: int = MAX_PARAMETERS) -> nn.Module:
    """Rebuild a converted SNN written by :func:`save_converted` (``builder`` as in :func:`load_ann`)."""
    import inspect

    from .convert import convert_detailed

    blob = read_model_file(path, SNN_FORMAT, max_bytes)
    shape, options = blob.get("input_shape"), blob.get("options")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 4
            and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)):
        raise InvalidFileError(path, "input_shape", shape, "a list of 1 to 4 integers >= 1")
    elements = 1
    for d in shape:
        elements *= d
    if elements > MAX_INPUT_ELEMENTS:
        raise SizeLimitError(path, "input_shape", shape, f"at most {MAX_INPUT_ELEMENTS} elements per sample")
    allowed = set(inspect.signature(convert_detailed).parameters) - {"ann", "calibration_data", "structure_only"}
    if not isinstance(options, dict) or not all(k in allowed for k in options) \
            or not all(isinstance(v, (bool, int, float, str, type(None))) for v in options.values()):
        raise InvalidFileError(path, "options", options, f"a dict of scalar conversion options from {sorted(allowed)}")
    options = dict(options)
    T = options.pop("T", None)
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise InvalidFileError(path, "options.T", T, "an integer >= 1")
    ann = build_architecture(blob["architecture"], blob["config"], builder, path, max_parameters)
    dummy = torch.zeros(2, *shape)
    try:
        snn = convert_detailed(ann, dummy, T, structure_only=True, **options).snn
    except (TypeError, ValueError) as err:
        raise InvalidFileError(path, "options", blob["options"], f"options convert() accepts ({err})") from err
    return _load_weights(snn, blob["state_dict"], blob["architecture"], path).eval()
