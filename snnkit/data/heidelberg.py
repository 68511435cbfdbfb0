"""The Heidelberg spiking datasets (SHD, SSC) in their real HDF5 layout: a reader and a synthetic writer.

File layout (one file per split, as published by Cramer et al. 2020)::

    spikes/times   ragged float array, spike times in seconds (float16 in the published files)
    spikes/units   ragged integer array, channel ids 0..699 of the same spikes
    labels         integer class per sample (20 classes for SHD, 35 for SSC)
    extra/keys     class names;  extra/speaker  speaker id per sample;  extra/meta_info/...

The reader is our own (h5py); :mod:`snnkit.data.tonic_sources` reads the same files through tonic.
:func:`write_synthetic_shd` writes small files in exactly this layout for tests, demos and smoke runs.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from .._atomic import atomic_path
from .errors import DatasetFileError, DatasetSizeError

CHANNELS = 700
MAX_SAMPLES = 1_000_000  # caps on what a file may declare (SSC train has 75 466 samples); overridable
MAX_EVENTS = 5_000_000  # per sample (SHD samples hold at most a few 10^4 spikes)
_HINT = (". The file is truncated, corrupt or not a Heidelberg spike file; delete it and place a complete "
         "copy (see datasets/catalog.toml, and `snnkit data prepare NAME` to verify it)")
CLASSES = {"shd": 20, "ssc": 35}
EVENT_DTYPE = np.dtype([("t", np.float64), ("x", np.int64), ("p", np.int64)])  # t in microseconds
_REQUIRED = ("spikes/times", "spikes/units", "labels")
_H5_ERRORS = (OSError, KeyError, ValueError, RuntimeError, TypeError, IndexError)


def _hdf5_error(path: Path, what: str, err: BaseException | None = None) -> DatasetFileError:
    size = path.stat().st_size if path.exists() else 0
    reason = f" ({err})" if err is not None else ""
    return DatasetFileError(
        f"dataset file {path} ({size} bytes): {what}{reason}. The file is truncated, corrupt or not a "
        f"Heidelberg spike file; delete it and place a complete copy (see datasets/catalog.toml for the "
        f"source and checksum, and `snnkit data prepare NAME` to verify it)."
    )


class HeidelbergFile:
    """Random access to one SHD/SSC split file. Items: events (``EVENT_DTYPE``, t in µs) and label.

    The file is checked on opening (readable HDF5, required datasets, equal lengths) and each
    sample on reading (equal numbers of times and units, channels in range, finite times >= 0);
    any problem raises :class:`DatasetFileError` naming the file and what is wrong.
    """

    def __init__(self, path: str | os.PathLike, channels: int = CHANNELS, max_samples: int = MAX_SAMPLES,
                 max_events: int = MAX_EVENTS) -> None:
        self.path = Path(path)
        self.channels = int(channels)
        self.max_samples, self.max_events = int(max_samples), int(max_events)
        self.sensor_size = (self.channels, 1, 1)
        self._file: h5py.File | None = None
        handle = self._open()
        try:
            self._check_declared(handle)
            self.labels = np.asarray(handle["labels"][()], dtype=np.int64)
        except DatasetFileError:
            raise
        except _H5_ERRORS as err:  # damaged HDF5 structures surface as any of these from h5py
            raise _hdf5_error(self.path, "cannot read 'labels'", err) from err
        if self.labels.ndim != 1:
            raise _hdf5_error(self.path, f"'labels' must be one-dimensional, found shape {self.labels.shape}")
        for key in ("spikes/times", "spikes/units"):
            if handle[key].shape[0] != len(self.labels):
                raise _hdf5_error(self.path, f"'{key}' has {len(handle[key])} samples but 'labels' has "
                                             f"{len(self.labels)}")
        if len(self.labels) and self.labels.min() < 0:
            raise _hdf5_error(self.path, f"'labels' contains a negative class {int(self.labels.min())}")

    def _check_declared(self, handle: h5py.File) -> None:
        """Shapes and dtypes as the file declares them, checked before any array is read."""
        kinds = {"labels": "iu", "spikes/times": "f", "spikes/units": "iu"}
        for key, kind in kinds.items():
            ds = handle[key]
            if not isinstance(ds, h5py.Dataset):
                raise DatasetFileError(self.path, key, type(ds).__name__, "an HDF5 dataset", _HINT)
            base = h5py.check_vlen_dtype(ds.dtype) or ds.dtype
            if base.kind not in kind or not (ds.ndim == 1 or (ds.ndim == 2 and key != "labels")):
                raise DatasetFileError(self.path, key, f"dtype {ds.dtype}, shape {ds.shape}",
                                       f"{'integer' if kind != 'f' else 'float'} values, one-dimensional "
                                       f"{'' if key == 'labels' else '(ragged) '}array", _HINT)
            if ds.shape[0] > self.max_samples:
                raise DatasetSizeError(self.path, f"{key}.shape", ds.shape,
                                       f"at most max_samples={self.max_samples} samples", _HINT)
            if ds.ndim == 2 and ds.shape[1] > self.max_events:
                raise DatasetSizeError(self.path, f"{key}.shape", ds.shape,
                                       f"at most max_events={self.max_events} events per sample", _HINT)

    def _open(self) -> h5py.File:
        if self._file is None:
            if not self.path.is_file():
                raise FileNotFoundError(f"dataset file {self.path} does not exist")
            try:
                handle = h5py.File(self.path, "r")
            except _H5_ERRORS as err:
                raise _hdf5_error(self.path, "cannot be opened as HDF5", err) from err
            try:
                missing = [key for key in _REQUIRED if key not in handle]
            except _H5_ERRORS as err:
                handle.close()
                raise _hdf5_error(self.path, "has a damaged group structure", err) from err
            if missing:
                found = sorted(handle.keys())
                handle.close()
                raise _hdf5_error(self.path, f"missing dataset(s) {missing}; top-level keys found: {found}")
            self._file = handle
        return self._file

    def __len__(self) -> int:
        return int(self.labels.size)

    def times_units(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Spike times (seconds, float64) and channel ids (int64) of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index={index} is out of range for {self.path} with {len(self)} samples")
        handle = self._open()
        try:
            times = np.asarray(handle["spikes/times"][index], dtype=np.float64)
            units = np.asarray(handle["spikes/units"][index], dtype=np.int64)
        except _H5_ERRORS as err:
            raise _hdf5_error(self.path, f"cannot read sample {index}", err) from err
        if times.size > self.max_events:
            raise DatasetSizeError(self.path, f"spikes/times[{index}].size", times.size,
                                   f"at most max_events={self.max_events} events per sample", _HINT)
        if times.shape != units.shape or times.ndim != 1:
            raise _hdf5_error(self.path, f"sample {index} has {times.shape} times but {units.shape} units")
        if times.size:
            if not np.isfinite(times).all() or times.min() < 0:
                raise _hdf5_error(self.path, f"sample {index} has negative or non-finite spike times")
            if units.min() < 0 or units.max() >= self.channels:
                raise _hdf5_error(self.path, f"sample {index} has channel ids in [{units.min()}, {units.max()}], "
                                             f"outside 0..{self.channels - 1}")
        return times, units

    def events(self, index: int) -> np.ndarray:
        """Sample ``index`` as a structured event array (fields t [µs], x [channel], p = 0)."""
        times, units = self.times_units(index)
        events = np.zeros(times.size, dtype=EVENT_DTYPE)
        events["t"] = times * 1e6
        events["x"] = units
        return events

    def label(self, index: int) -> int:
        return int(self.labels[index])

    def fingerprint(self) -> str:
        stat = self.path.stat()
        return f"{self.path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None  # each DataLoader worker opens its own handle
        return state


def write_synthetic_shd(path: str | os.PathLike, n: int = 64, classes: int | None = None, kind: str = "shd",
                        channels: int = CHANNELS, duration: float = 1.0, events_per_sample: int = 300,
                        seed: int = 0, template_seed: int = 0) -> Path:
    """Write ``n`` synthetic samples to ``path`` in the real SHD/SSC HDF5 layout; returns the path.

    Each class is a few sweeping frequency bands (a band is a channel trajectory over a time window),
    so the task is learnable; samples vary by time warp, channel shift and background spikes. Times
    are float16 seconds, units uint16, as in the published files. ``kind`` ("shd" or "ssc") sets the
    default number of classes (20 or 35). Class patterns depend only on ``template_seed``, ``classes``
    and ``channels``, so a train file and a test file written with different ``seed`` s share classes.
    The write is atomic.
    """
    if kind not in CLASSES:
        raise ValueError(f"kind={kind!r} is not allowed; allowed: {sorted(CLASSES)}")
    classes = CLASSES[kind] if classes is None else classes
    for name, value in (("n", n), ("classes", classes), ("channels", channels), ("events_per_sample", events_per_sample)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be an integer >= 1")
    if not (isinstance(duration, (int, float)) and 0 < duration <= 60):
        raise ValueError(f"duration={duration!r} must be a number of seconds in (0, 60]")
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng([template_seed, classes, channels])
    bands = 3
    # per class and band: start channel, channel slope over the window, window start and length (fractions)
    start = templates.uniform(0.05, 0.95, (classes, bands)) * channels
    slope = templates.uniform(-0.3, 0.3, (classes, bands)) * channels
    t_start = templates.uniform(0.0, 0.5, (classes, bands)) * duration
    t_len = templates.uniform(0.2, 0.45, (classes, bands)) * duration
    labels = rng.permutation(np.arange(n) % classes)
    all_times, all_units = [], []
    for label in labels:
        warp = rng.uniform(0.85, 1.15)
        shift = rng.normal(0.0, 0.02 * channels)
        signal = int(0.8 * events_per_sample)
        band = rng.integers(0, bands, signal)
        phase = rng.uniform(0.0, 1.0, signal)
        times = (t_start[label, band] + phase * t_len[label, band]) * warp
        units = start[label, band] + slope[label, band] * phase + shift + rng.normal(0.0, 0.01 * channels, signal)
        noise = events_per_sample - signal
        times = np.concatenate([times, rng.uniform(0.0, duration, noise)])
        units = np.concatenate([units, rng.uniform(0, channels, noise)])
        times = np.clip(times, 0.0, duration)
        units = np.clip(np.rint(units), 0, channels - 1)
        order = np.argsort(times, kind="stable")
        all_times.append(times[order].astype(np.float16))
        all_units.append(units[order].astype(np.uint16))
    with atomic_path(path, ".h5") as tmp:
        with h5py.File(tmp, "w") as handle:
            spikes = handle.create_group("spikes")
            times_ds = spikes.create_dataset("times", (n,), dtype=h5py.vlen_dtype(np.float16))
            units_ds = spikes.create_dataset("units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(n):
                times_ds[i] = all_times[i]
                units_ds[i] = all_units[i]
            handle.create_dataset("labels", data=labels.astype(np.uint16))
            extra = handle.create_group("extra")
            extra.create_dataset("keys", data=np.array([f"class-{c}".encode() for c in range(classes)]))
            extra.create_dataset("speaker", data=rng.integers(0, 12, n).astype(np.uint16))
            meta = extra.create_group("meta_info")
            meta.create_dataset("gender", data=np.array([b"female", b"male"] * 6))
            meta.create_dataset("age", data=rng.integers(20, 60, 12).astype(np.uint16))
            meta.create_dataset("body_height", data=rng.uniform(150, 195, 12).astype(np.float32))
            handle.attrs["snnkit_synthetic"] = f"kind={kind} seed={seed} (not real speech data)"
    return Path(path)
