"""Recorded datasets read through tonic (``tonic.datasets``), without surprise downloads.

tonic downloads a dataset whenever its own presence check fails (which also wants the original
archive kept beside the extracted files). Here the check asks only for the extracted files; when
they are missing, ``download=False`` (the default) raises :class:`DatasetNotFoundError` saying which
files to place where, and ``download=True`` runs tonic's real download code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DatasetNotFoundError
from .transforms import SensorSize

_OFFLINE_CLASSES: dict[tuple[str, str], type] = {}


def tonic_dataset_class(tonic_name: str, present: Callable[[Path], bool], message: Callable[[], str],
                        folder: str | None = None) -> type:
    """A subclass of ``tonic.datasets.<tonic_name>`` whose presence check is ``present(location)``.

    ``folder`` renames the class, which is the folder tonic reads under ``save_to``.
    """
    import tonic.datasets

    base = getattr(tonic.datasets, tonic_name)
    folder = folder or base.__name__
    key = (tonic_name, folder)
    if key not in _OFFLINE_CLASSES:
        def _check_exists(self) -> bool:  # noqa: ANN001
            return present(Path(self.location_on_system))

        def download(self) -> None:  # noqa: ANN001
            if not getattr(self, "_snnkit_allow_download", False):
                raise DatasetNotFoundError(self._snnkit_message())
            Path(self.location_on_system).mkdir(parents=True, exist_ok=True)
            base.download(self)

        _OFFLINE_CLASSES[key] = type(folder, (base,), {"_check_exists": _check_exists, "download": download})
    cls = _OFFLINE_CLASSES[key]
    return type(folder, (cls,), {"_snnkit_message": staticmethod(message)})


def open_tonic_dataset(cls: type, root: Path, download: bool, **kwargs: object) -> object:
    """Instantiate ``cls`` under ``root``; downloads only when ``download`` is true."""
    cls._snnkit_allow_download = bool(download)
    return cls(save_to=str(root), **kwargs)


class TonicSource:
    """Adapts a tonic dataset (constructed without transforms) to :class:`~snnkit.data.events.EventSource`."""

    def __init__(self, dataset: object, sensor_size: SensorSize, label_map: dict | None = None) -> None:
        self.dataset = dataset
        self.sensor_size = tuple(int(s) for s in sensor_size)
        self.label_map = label_map
        targets = getattr(dataset, "targets", None)
        self._targets = list(targets) if targets is not None and len(targets) == len(dataset) else None

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def events(self, index: int) -> np.ndarray:
        return self.dataset[index][0]  # type: ignore[index]

    def label(self, index: int) -> int:
        target = self._targets[index] if self._targets is not None else self.dataset[index][1]  # type: ignore[index]
        if self.label_map is not None:
            target = self.label_map[target]
        return int(target)

    def fingerprint(self) -> str:
        location = Path(getattr(self.dataset, "location_on_system", "."))
        files = sorted(p for p in location.rglob("*") if p.is_file())
        stamp = sum(p.stat().st_mtime_ns + p.stat().st_size for p in files)
        return f"tonic:{type(self.dataset).__name__}:{location.resolve()}:{len(files)}:{stamp}:{len(self)}"
