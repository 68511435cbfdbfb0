"""Registrations for :func:`snnkit.data.load`."""
from __future__ import annotations

from .randman import RandmanDataset
from .registry import register


@register("randman")
def _randman(split: str, root: object = None, **options: object) -> RandmanDataset:
    return RandmanDataset(split=split, **options)  # generated in memory; root unused
