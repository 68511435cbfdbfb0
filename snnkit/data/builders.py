"""Registrations for :func:`snnkit.data.load`: option parsing and file layout for each dataset."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .catalog import missing_files_message
from .core import default_root
from .errors import DatasetNotFoundError
from .events import EventDataset, split_indices
from .heidelberg import CLASSES, HeidelbergFile, write_synthetic_shd
from .mnist import MNISTDataset
from .mnist1d import MNIST1DDataset
from .randman import RandmanDataset
from .registry import register
from .tonic_sources import TonicSource, open_tonic_dataset, tonic_dataset_class
from .transforms import CropSensor, CropTime, PoolChannels, TimeJitter, ToFrames, output_sensor_size

# options every event dataset accepts; times in seconds (converted to tonic's microseconds inside)
_EVENT_OPTIONS = {"dt", "duration", "pool", "crop_time", "crop_sensor", "time_jitter", "seed", "cache",
                  "download", "valid_fraction"}


def _take(options: dict[str, Any], name: str, allowed: set[str]) -> None:
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for dataset {name!r}; allowed: {sorted(allowed)}")


def _event_dataset(name: str, source: Any, options: dict[str, Any], defaults: dict[str, Any], root: Path,
                   indices: np.ndarray | None, num_classes: int) -> EventDataset:
    opts = {**defaults, **options}
    dt, duration = float(opts["dt"]), float(opts["duration"])
    if not dt > 0 or not duration > 0:
        raise ValueError(f"dt={opts['dt']!r} and duration={opts['duration']!r} must be seconds > 0")
    transforms: list[object] = []
    if opts.get("crop_time") is not None:
        start, stop = opts["crop_time"]
        transforms.append(CropTime(start * 1e6, None if stop is None else stop * 1e6))
    if opts.get("crop_sensor") is not None:
        transforms.append(CropSensor(*opts["crop_sensor"]))
    pool = opts.get("pool", 1)
    if pool != 1:
        two_d = source.sensor_size[1] > 1
        transforms.append(PoolChannels(pool, pool if two_d else 1))
    if opts.get("time_jitter"):
        transforms.append(TimeJitter(opts["time_jitter"] * 1e6, seed=opts.get("seed")))
    n_bins = max(1, int(round(duration / dt)))
    frames = ToFrames(output_sensor_size(transforms, source.sensor_size), dt * 1e6, n_bins)
    cache_dir = root / "cache" if opts.get("cache") else None
    return EventDataset(source, transforms, frames, indices=indices, cache_dir=cache_dir, name=name,
                        num_classes=num_classes)


def _carve(split: str, count: int, options: dict[str, Any]) -> np.ndarray | None:
    if split == "test":
        return None
    return split_indices(count, split, float(options.get("valid_fraction", 0.1)), int(options.get("seed", 0) or 0))


# ---------------------------------------------------------------- generated data
@register("randman")
def _randman(split: str, root: object = None, **options: Any) -> RandmanDataset:
    return RandmanDataset(split=split, **options)  # generated in memory; root unused


@register("mnist")
def _mnist(split: str, root: str | os.PathLike | None = None, **options: Any) -> MNISTDataset:
    return MNISTDataset(split=split, root=default_root(root), **options)


@register("mnist1d")
def _mnist1d(split: str, root: str | os.PathLike | None = None, **options: Any) -> MNIST1DDataset:
    return MNIST1DDataset(split=split, root=default_root(root), **options)


# ---------------------------------------------------------------- SHD / SSC
_HEIDELBERG_DEFAULTS = {"dt": 0.01, "duration": 1.0, "pool": 1}


def _heidelberg(kind: str, folder: str, split: str, root: Path, options: dict[str, Any],
                catalog_name: str) -> EventDataset:
    backend = options.pop("backend", "snnkit")
    if backend not in ("snnkit", "tonic"):
        raise ValueError(f"backend={backend!r} is not allowed; allowed: ['snnkit', 'tonic']")
    _take(options, catalog_name, _EVENT_OPTIONS)
    has_valid_file = kind == "ssc"
    file_split = split if (has_valid_file or split == "test") else "train"
    path = root / folder / f"{kind}_{file_split}.h5"
    message = lambda: missing_files_message(catalog_name, root, [path], split)  # noqa: E731
    if backend == "snnkit":
        if not path.is_file():
            if options.get("download"):
                # the real download code path is tonic's; it fetches and checks the archive's md5
                _open_heidelberg_tonic(kind, folder, file_split, root, path, message, True)
            else:
                raise DatasetNotFoundError(message())
        source: Any = HeidelbergFile(path)
    else:
        dataset = _open_heidelberg_tonic(kind, folder, file_split, root, path, message, bool(options.get("download")))
        source = TonicSource(dataset, (700, 1, 1))
    indices = None if has_valid_file else _carve(split, len(source), options)
    return _event_dataset(f"{catalog_name}-{split}", source, options, _HEIDELBERG_DEFAULTS, root, indices,
                          CLASSES[kind])


def _open_heidelberg_tonic(kind: str, folder: str, file_split: str, root: Path, path: Path, message: Any,
                           download: bool) -> object:
    cls = tonic_dataset_class(kind.upper(), lambda location: (location / path.name).is_file(), message, folder)
    if kind == "shd":
        return open_tonic_dataset(cls, root, download, train=(file_split == "train"))
    return open_tonic_dataset(cls, root, download, split=file_split)


@register("shd")
def _shd(split: str, root: str | os.PathLike | None = None, **options: Any) -> EventDataset:
    """SHD: options dt, duration (s), pool (channels per group), crop_time, crop_sensor, time_jitter (s),
    seed, cache, download, valid_fraction, backend ("snnkit" reader or "tonic")."""
    return _heidelberg("shd", "SHD", split, default_root(root), dict(options), "shd")


@register("ssc")
def _ssc(split: str, root: str | os.PathLike | None = None, **options: Any) -> EventDataset:
    return _heidelberg("ssc", "SSC", split, default_root(root), dict(options), "ssc")


@register("synthetic_shd")
def _synthetic_shd(split: str, root: str | os.PathLike | None = None, **options: Any) -> EventDataset:
    """Synthetic SHD-format files under ``<root>/SyntheticSHD``, written on first use (n_train, n_test)."""
    root_path = default_root(root)
    options = dict(options)
    n_train, n_test = int(options.pop("n_train", 256)), int(options.pop("n_test", 64))
    prepare_synthetic_shd(root_path, n_train, n_test)
    return _heidelberg("shd", "SyntheticSHD", split, root_path, options, "synthetic_shd")


def prepare_synthetic_shd(root: Path, n_train: int = 256, n_test: int = 64) -> list[Path]:
    """Write ``<root>/SyntheticSHD/shd_{train,test}.h5`` unless present with the requested sizes."""
    paths = []
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        path = root / "SyntheticSHD" / f"shd_{split}.h5"
        if not path.is_file() or len(HeidelbergFile(path)) != n:
            write_synthetic_shd(path, n=n, seed=seed)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- camera and cochlea data through tonic
def _has_files(pattern: str, sub: str) -> Any:
    return lambda location: any((location / sub).rglob(pattern)) if (location / sub).is_dir() else False


def _tonic_recording(name: str, tonic_name: str, split: str, root: str | os.PathLike | None,
                     options: dict[str, Any], present: Any, needed: Path, sensor: tuple[int, int, int],
                     defaults: dict[str, Any], num_classes: int, **tonic_kwargs: Any) -> EventDataset:
    """Open ``tonic.datasets.<tonic_name>`` under the root (no surprise download) and bin its events."""
    root_path = default_root(root)
    _take(options, name, _EVENT_OPTIONS)
    message = lambda: missing_files_message(name, root_path, [root_path / needed], split)  # noqa: E731
    cls = tonic_dataset_class(tonic_name, present, message)
    dataset = open_tonic_dataset(cls, root_path, bool(options.get("download")), **tonic_kwargs)
    source = TonicSource(dataset, sensor)
    return _event_dataset(f"{name}-{split}", source, options, defaults, root_path,
                          _carve(split, len(source), options), num_classes)


@register("nmnist")
def _nmnist(split: str, root: str | os.PathLike | None = None, **options: Any) -> EventDataset:
    """N-MNIST: ``[T, 2, 34, 34]``; also ``first_saccade_only`` and ``stabilize`` (tonic's options)."""
    options = dict(options)
    extra = {k: options.pop(k) for k in ("first_saccade_only", "stabilize") if k in options}
    folder = "Test" if split == "test" else "Train"
    return _tonic_recording("nmnist", "NMNIST", split, root, options, _has_files("*.bin", folder),
                            Path("NMNIST", folder, "<digit>", "*.bin"), (34, 34, 2), {"dt": 0.01, "duration": 0.3},
                            10, train=(split != "test"), **extra)


@register("dvsgesture")
def _dvsgesture(split: str, root: str | os.PathLike | None = None, **options: Any) -> EventDataset:
    """DVS Gesture (tonic's pre-cut version): ``[T, 2, 32, 32]`` with the default ``pool=4``."""
    folder = "ibmGestureTest" if split == "test" else "ibmGestureTrain"
    return _tonic_recording("dvsgesture", "DVSGesture", split, root, dict(options), _has_files("*.npy", folder),
                            Path("DVSGesture", folder, "userXX_<lighting>", "<label>.npy"), (128, 128, 2),
                            {"dt": 0.05, "duration": 1.5, "pool": 4}, 11, train=(split != "test"))


@register("ntidigits")
def _ntidigits(split: str, root: str | os.PathLike | None = None, **options: Any) -> EventDataset:
    """N-TIDIGITS18 single digits (11 classes: o, 1..9, z): ``[T, 64]``."""
    name = "n-tidigits.hdf5"
    return _tonic_recording("ntidigits", "NTIDIGITS18", split, root, dict(options),
                            lambda location: (location / name).is_file(), Path("NTIDIGITS18", name), (64, 1, 1),
                            {"dt": 0.01, "duration": 1.0}, 11, train=(split != "test"), single_digits=True)
