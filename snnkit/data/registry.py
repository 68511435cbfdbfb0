"""``snnkit.data.load(name, split, root, **options)``: one entry point for every dataset."""
from __future__ import annotations

import os
from typing import Callable

import torch

from .core import check_split

_Builder = Callable[..., torch.utils.data.Dataset]
_BUILDERS: dict[str, _Builder] = {}


def register(name: str) -> Callable[[_Builder], _Builder]:
    def wrap(builder: _Builder) -> _Builder:
        _BUILDERS[name] = builder
        return builder
    return wrap


def available() -> list[str]:
    """Names that :func:`load` accepts."""
    _import_builders()
    return sorted(_BUILDERS)


def load(name: str, split: str = "train", root: str | os.PathLike | None = None,
         **options: object) -> torch.utils.data.Dataset:
    """Dataset ``name``'s ``split`` ("train", "valid" or "test") with items ``(x [T, F...] float, label)``."""
    _import_builders()
    key = str(name).lower().replace("-", "_")
    if key not in _BUILDERS:
        raise ValueError(f"name={name!r} is not a known dataset; allowed: {sorted(_BUILDERS)}")
    check_split(split)
    return _BUILDERS[key](split=split, root=root, **options)


def _import_builders() -> None:
    from . import builders  # noqa: F401  (registers on import)
