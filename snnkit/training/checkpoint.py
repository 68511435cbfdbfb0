"""Checkpoints that lose nothing: written atomically, read with ``torch.load(weights_only=True)``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts::

    {"format": "snnkit-checkpoint", "version": 1,
     "model": {"name": ..., "config": {...}, "state_dict": {...}},
     "optimizer": ..., "scheduler": ..., "rng": {...},
     "position": {"epoch", "batch_index", "global_step", "seed", "permutation"},
     "trainer": {...history, early-stopping state...}}
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_path

FORMAT = "snnkit-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically: a temp file in the same folder, fsync, ``os.replace``.
    A crash at any moment leaves either the old file or the new one, never a torn one."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())  # on disk before the rename makes it visible
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated or foreign file
        raise ValueError(f"checkpoint {str(path)!r} is not a readable snnkit checkpoint: {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"checkpoint {str(path)!r} is not an snnkit checkpoint (format={FORMAT!r} missing)")
    return ckpt
