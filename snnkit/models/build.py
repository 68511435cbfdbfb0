"""Building zoo models from configurations and checkpoints (what ``snnkit train``, ``evaluate``,
``export`` and ``compare`` share).

A configuration or checkpoint is untrusted: its ``[model]`` table may only name a registered model and
hold plain values (numbers, strings, booleans, short lists), integers capped at ``MAX_MODEL_INT``, so
that a file cannot ask for a 10**6-wide layer or ``T = 0``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Mapping

from ..errors import InvalidFileError
from .registry import create, names

MAX_MODEL_INT = 16384  # cap on every integer in [model] (hidden sizes, steps...): hidden=10**6 is refused
POSITIVE_MODEL_KEYS = ("steps", "hidden", "in_features", "num_classes", "T")


def check_plain_values(section: str, table: Mapping[str, Any], cap: int, positive: tuple[str, ...] = ()) -> None:
    """Plain values only (numbers, strings, booleans, lists of them), integers in [0, cap] (>= 1 for the
    keys in ``positive``), floats finite; a ValueError names ``section.key``, the value and what is allowed."""

    def check(key: str, value: Any, depth: int = 0) -> None:
        if isinstance(value, bool) or isinstance(value, str) or value is None:
            return
        if isinstance(value, int):
            low = 1 if key.split("[")[0] in positive else 0
            if not low <= value <= cap:
                raise ValueError(f"{section}.{key}={value!r} is not allowed; allowed: an integer in [{low}, {cap}]")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{section}.{key}={value!r} is not allowed; allowed: a finite number")
        elif isinstance(value, (list, tuple)) and depth < 2 and len(value) <= 64:
            for i, v in enumerate(value):
                check(f"{key}[{i}]", v, depth + 1)
        elif isinstance(value, Mapping) and depth < 2 and len(value) <= 64:
            for k, v in value.items():
                check(f"{key}.{k}", v, depth + 1)
        else:
            raise ValueError(f"{section}.{key}={value!r} is not allowed; allowed: numbers, strings, booleans "
                             "and short lists of them")

    for key, value in table.items():
        check(str(key), value)


def check_model_name(model: Mapping[str, Any]) -> None:
    """``model.name`` is a registered model and ``model.spiking`` a boolean (ValueError otherwise)."""
    if "name" not in model:
        raise ValueError(f"model.name is missing; allowed: {names()}")
    if model["name"] not in names():
        raise ValueError(f"model.name={model['name']!r} is not allowed; allowed: {names()}")
    if not isinstance(model.get("spiking", True), bool):
        raise ValueError(f"model.spiking={model['spiking']!r} is not allowed; allowed: [true, false]")


def check_model_config(model: Mapping[str, Any]) -> dict[str, Any]:
    """The checks of a ``[model]`` table: :func:`check_model_name`, then :func:`check_plain_values`."""
    check_model_name(model)
    check_plain_values("model", model, MAX_MODEL_INT, POSITIVE_MODEL_KEYS)
    return dict(model)


def build_model(model_cfg: Mapping[str, Any], train_set: Any) -> Any:
    """``snnkit.models.create`` with ``in_features``, ``num_classes`` and ``steps`` filled from the data."""
    cfg = {k: v for k, v in model_cfg.items() if k not in ("name", "spiking")}
    x, _ = train_set[0]
    cfg.setdefault("in_features", int(x.shape[-1]))
    cfg.setdefault("steps", int(x.shape[0]))
    if "num_classes" not in cfg:
        n = getattr(train_set, "num_classes", None)
        if n is None:
            n = 1 + max(int(train_set[i][1]) for i in range(len(train_set)))
        cfg["num_classes"] = int(n)
    return create(model_cfg["name"], spiking=bool(model_cfg.get("spiking", True)), **cfg)


def model_from_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike | None = None) -> Any:
    """Rebuild ``snnkit.models.create(name, spiking, **config)`` and load the stored weights.

    The model name must be a registered one and its config passes the same checks (and caps) as a
    ``[model]`` table of a training config; a mismatched state_dict is an InvalidFileError."""
    info = ckpt.get("model") if isinstance(ckpt.get("model"), dict) else {}
    if not info.get("name"):
        raise InvalidFileError(path, "model.name", info.get("name"),
                               f"a model name from {names()} (the model was not built by "
                               "snnkit.models.create: rebuild it yourself and load ckpt['model']['state_dict'])")
    config = info.get("config") or {}
    if not isinstance(config, dict):
        raise InvalidFileError(path, "model.config", config, "a dict of keyword arguments")
    spiking = True if info.get("spiking") is None else info["spiking"]
    try:
        check_model_config({"name": info["name"], "spiking": spiking, **config})
    except ValueError as err:
        raise InvalidFileError(path, "model", {"name": info["name"], **config}, str(err)) from err
    try:
        model = create(info["name"], spiking=spiking, **config)
    except (TypeError, ValueError) as err:
        raise InvalidFileError(path, "model.config", config, f"arguments of model {info['name']!r} ({err})") from err
    state = info.get("state_dict")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, KeyError, AttributeError) as err:
        short = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        raise InvalidFileError(path, "model.state_dict", f"{len(state) if isinstance(state, dict) else state!r}",
                               f"the weights of model {info['name']!r} with this config ({short})") from err
    return model


__all__ = ["MAX_MODEL_INT", "POSITIVE_MODEL_KEYS", "check_plain_values", "check_model_name", "check_model_config",
           "build_model", "model_from_checkpoint"]
