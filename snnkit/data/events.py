"""A dataset of event recordings turned into dense time-major frames, with an optional disk cache."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from .._atomic import atomic_path
from .errors import DatasetFileError
from .transforms import SensorSize, ToFrames, output_sensor_size

_CACHE_VERSION = 1


class EventSource(Protocol):
    """What :class:`EventDataset` reads from: our HDF5 reader or a tonic dataset adapter."""

    sensor_size: SensorSize

    def __len__(self) -> int: ...
    def events(self, index: int) -> np.ndarray: ...
    def label(self, index: int) -> int: ...
    def fingerprint(self) -> str: ...


class EventDataset(torch.utils.data.Dataset):
    """Items ``(x, label)``: events of ``source`` passed through ``transforms`` then binned by ``frames``.

    ``x`` is ``[T, F]`` for audio-like sensors and ``[T, P, H, W]`` for cameras. ``indices`` selects
    a subset of the source (used to carve a validation split). With ``cache_dir`` the binned frames
    of every item are computed once, stored sparsely in one ``.npz`` (atomic write) keyed by the
    source file, the transforms and the binning, and read from there afterwards; random transforms
    (time jitter) cannot be cached.
    """

    def __init__(self, source: EventSource, transforms: Sequence[object], frames: ToFrames,
                 indices: Sequence[int] | None = None, cache_dir: str | os.PathLike | None = None,
                 name: str = "events", num_classes: int | None = None) -> None:
        self.source = source
        self.transforms = list(transforms)
        self.frames = frames
        self.indices = np.arange(len(source)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.name = name
        self.num_classes = num_classes
        expected = output_sensor_size(self.transforms, source.sensor_size)
        if tuple(frames.sensor_size) != tuple(expected):
            raise ValueError(f"frames.sensor_size={frames.sensor_size} does not match the sensor after the "
                             f"transforms {expected}")
        self._cache: dict[str, np.ndarray] | None = None
        if cache_dir is not None:
            random_ones = [repr(t) for t in self.transforms if getattr(t, "random", False)]
            if random_ones:
                raise ValueError(f"cache_dir is set but transforms {random_ones} are random; a cache would "
                                 "freeze one draw. Use cache_dir=None with random transforms")
            self._cache = self._load_or_build_cache(Path(cache_dir))

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.frames.shape

    def __len__(self) -> int:
        return int(self.indices.size)

    def _events(self, i: int) -> np.ndarray:
        events = self.source.events(int(self.indices[i]))
        for transform in self.transforms:
            events = transform(events)
        return events

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index={i} is out of range for a dataset of {len(self)} items")
        i = i % len(self)
        if self._cache is not None:
            lo, hi = self._cache["offsets"][i], self._cache["offsets"][i + 1]
            flat = np.zeros(int(np.prod(self.frames.shape)), dtype=np.float32)
            flat[self._cache["positions"][lo:hi]] = self._cache["counts"][lo:hi]
            return torch.from_numpy(flat).reshape(self.frames.shape), int(self._cache["labels"][i])
        return self.frames(self._events(i)), self.source.label(int(self.indices[i]))

    def cache_key(self) -> str:
        description = {"version": _CACHE_VERSION, "name": self.name, "source": self.source.fingerprint(),
                       "transforms": [repr(t) for t in self.transforms], "frames": repr(self.frames),
                       "indices": hashlib.sha256(self.indices.tobytes()).hexdigest()}
        return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]

    def _load_or_build_cache(self, cache_dir: Path) -> dict[str, np.ndarray]:
        path = cache_dir / f"{self.name}-{self.cache_key()}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    return {key: stored[key] for key in ("offsets", "positions", "counts", "labels")}
            except (OSError, ValueError, KeyError) as err:
                raise DatasetFileError(f"cache file {path} is unreadable ({err}); delete it to rebuild") from err
        positions, counts, labels, offsets = [], [], [], [0]
        for i in tqdm(range(len(self)), desc=f"caching {self.name}", leave=False):
            flat = self.frames.flat_index(self._events(i))
            unique, count = np.unique(flat, return_counts=True)
            positions.append(unique.astype(np.int64))
            counts.append(count.astype(np.float32))
            labels.append(self.source.label(int(self.indices[i])))
            offsets.append(offsets[-1] + unique.size)
        cache = {"offsets": np.asarray(offsets, dtype=np.int64),
                 "positions": np.concatenate(positions) if positions else np.zeros(0, np.int64),
                 "counts": np.concatenate(counts) if counts else np.zeros(0, np.float32),
                 "labels": np.asarray(labels, dtype=np.int64)}
        with atomic_path(path, ".npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **cache)
        return cache


def split_indices(count: int, split: str, valid_fraction: float, seed: int = 0) -> np.ndarray:
    """Carve a validation split out of a training file: a seeded ``valid_fraction`` of the items.

    "valid" gets those items and "train" the rest (sorted, so reading stays sequential).
    """
    if not (isinstance(valid_fraction, (int, float)) and 0 <= valid_fraction < 1):
        raise ValueError(f"valid_fraction={valid_fraction!r} must be a number in [0, 1)")
    order = np.random.default_rng([seed, 77]).permutation(count)
    n_valid = int(round(count * valid_fraction))
    if split == "valid" and n_valid == 0:
        raise ValueError(f"split='valid' is carved from the training file but valid_fraction={valid_fraction!r} "
                         f"gives no items of {count}; use a larger valid_fraction")
    chosen = order[:n_valid] if split == "valid" else order[n_valid:]
    return np.sort(chosen)
