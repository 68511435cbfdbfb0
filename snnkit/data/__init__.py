"""Datasets as time-major spike tensors.

    ds = snnkit.data.load("randman", split="train")       # items: (x [T, F] float, label)
    loader = snnkit.data.make_loader(ds, batch_size=64, shuffle=True, seed=0)
    for x, y in loader:                                   # x: [T, B, F], y: [B]
        ...

``load`` knows the offline generators (``randman``, ``mnist1d``, ``synthetic_shd``) and the
recorded datasets (``shd``, ``ssc``, ``nmnist``, ``dvsgesture``, ``ntidigits``); the latter read
files placed under ``root`` (see ``datasets/catalog.toml``) and say which files to place where when
they are missing.
"""
from .core import SPLITS, collate_time_major, default_root, make_loader
from .randman import RandmanConfig, RandmanDataset, generate_randman
from .registry import available, load

__all__ = ["SPLITS", "collate_time_major", "default_root", "make_loader", "RandmanConfig", "RandmanDataset",
           "generate_randman", "available", "load"]
