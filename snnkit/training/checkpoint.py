"""Checkpoints that lose nothing: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts::

    {"format": "snnkit-checkpoint", "version": 1,
     "model": {"name": ..., "config": {...}, "state_dict": {...}},
     "optimizer": ..., "scheduler": ..., "rng": {...},
     "position": {"epoch", "batch_index", "global_step", "seed", "permutation"},
     "trainer": {...history, early-stopping state...},
     "sha256": "..."}

The ``sha256`` content hash (see :mod:`snnkit._torchfile`) is written on save and verified on load:
a damaged or edited checkpoint is refused. Loading first checks the zip container against a cap on
the bytes it may allocate (``max_bytes``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import warnings

import torch

from .._atomic import atomic_path
from .._torchfile import MAX_BYTES, content_hash, load_weights_only, verify_hash
from ..errors import InvalidFileError

FORMAT = "snnkit-checkpoint"
VERSION = 2  # 2: carries a sha256 content hash


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically: a temp file in the same folder, fsync, ``os.replace``.
    A crash at any moment leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    payload["sha256"] = content_hash({k: v for k, v in payload.items() if k != "sha256"})
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())  # on disk before the rename makes it visible
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    max_bytes: int = MAX_BYTES) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code runs).

    Raises :class:`~snnkit.errors.InvalidFileError` for a foreign, truncated or modified file and
    :class:`~snnkit.errors.SizeLimitError` when it holds more than ``max_bytes``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    ckpt = load_weights_only(path, max_bytes, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise InvalidFileError(path, "format", got, f"{FORMAT!r} (a file written by snnkit train / save_checkpoint)")
    if "sha256" in ckpt or ckpt.get("version", 1) >= 2:
        verify_hash(path, ckpt)
    else:
        warnings.warn(f"checkpoint {str(path)!r} has no content hash (written before snnkit checked "
                      "them): its integrity cannot be verified", RuntimeWarning, stacklevel=2)
    return ckpt


def require(path: str | os.PathLike, ckpt: dict[str, Any], dotted: str, kind: type | tuple[type, ...]) -> Any:
    """``ckpt[a][b]...`` for ``dotted="a.b"``, or InvalidFileError naming the missing/wrong field."""
    value: Any = ckpt
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InvalidFileError(path, dotted, value, f"a {names} (this checkpoint misses what snnkit train writes)")
    return value
