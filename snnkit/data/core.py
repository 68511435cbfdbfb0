"""Pieces shared by every dataset: split names, the data root, time-major batching, seeded loaders."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

SPLITS = ("train", "valid", "test")


def check_split(split: object) -> str:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not allowed; allowed: {list(SPLITS)}")
    return str(split)


def default_root(root: str | os.PathLike | None = None) -> Path:
    """Where datasets live: ``root`` if given, else ``$SNNKIT_DATA``, else ``~/.cache/snnkit/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("SNNKIT_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "snnkit" / "data"


def collate_time_major(batch: Sequence[tuple[Tensor, int | Tensor]]) -> tuple[Tensor, Tensor]:
    """Stack ``(x [T, F...], label)`` items into ``(x [T, B, F...], labels [B])``.

    Items may differ in length T: shorter ones are zero-padded at the end (no spikes) to the
    longest T in the batch.
    """
    if len(batch) == 0:
        raise ValueError("batch is empty; collate_time_major needs at least one (x, label) item")
    xs = [item[0] for item in batch]
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor) or x.dim() < 1:
            raise TypeError(f"batch item {i}: x must be a tensor [T, ...]; got {type(x).__name__}")
        if x.shape[1:] != xs[0].shape[1:]:
            raise ValueError(f"batch item {i}: feature shape {tuple(x.shape[1:])} differs from item 0's "
                             f"{tuple(xs[0].shape[1:])}")
    steps = max(x.shape[0] for x in xs)
    out = xs[0].new_zeros((steps, len(xs)) + tuple(xs[0].shape[1:]))
    for i, x in enumerate(xs):
        out[: x.shape[0], i] = x
    labels = torch.as_tensor([int(item[1]) for item in batch], dtype=torch.long)
    return out, labels


def make_loader(dataset: torch.utils.data.Dataset, batch_size: int, shuffle: bool = False, seed: int = 0,
                num_workers: int = 0, drop_last: bool = False) -> torch.utils.data.DataLoader:
    """A DataLoader yielding time-major ``(x [T, B, ...], y [B])``; the order is fixed by ``seed``."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                       collate_fn=collate_time_major, num_workers=num_workers,
                                       drop_last=drop_last)
