"""MNIST-1D (Greydanus 2020), generated locally with the ``mnist1d`` package — never downloaded.

``mnist1d.data.get_dataset`` downloads a pickle by default; we call its generator
``make_dataset(get_dataset_args())`` (the package's default arguments: 4000 train + 1000 test
signals of length 40, seed 42) and keep the result in ``<root>/MNIST1D/mnist1d-seed<seed>.npz``
(atomic write, no pickle). The generator reseeds numpy's and Python's global RNGs; we restore them.

How a 40-sample signal becomes SNN input (``encoding``):

* ``"current"`` (default): the standardised signal is a constant input current ``x[t] = signal`` for
  ``steps`` time steps: ``[T=steps, 40]``. The first layer's neurons integrate it like an analog
  input (the usual "direct encoding"), so the SNN sees exactly what the ANN counterpart sees.
* ``"sequence"``: the signal is presented one sample per step on one channel: ``[40, 1]`` (a
  temporal task, harder).
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._atomic import atomic_path
from .core import check_split
from .errors import DatasetFileError
from .events import split_indices

ENCODINGS = ("current", "sequence")


def mnist1d_path(root: Path, seed: int = 42) -> Path:
    return Path(root) / "MNIST1D" / f"mnist1d-seed{seed}.npz"


def generate_mnist1d(root: Path, seed: int = 42) -> Path:
    """Generate MNIST-1D with the package's default arguments (and ``seed``) into the cache file."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    path = mnist1d_path(root, seed)
    with atomic_path(path, ".npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, x=data["x"].astype(np.float32), y=data["y"].astype(np.int64),
                     x_test=data["x_test"].astype(np.float32), y_test=data["y_test"].astype(np.int64))
    return path


def read_mnist1d(root: Path, seed: int = 42) -> dict[str, np.ndarray]:
    """The cached arrays (generated first if missing)."""
    path = mnist1d_path(root, seed)
    if not path.is_file():
        generate_mnist1d(root, seed)
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in ("x", "y", "x_test", "y_test")}
    except (OSError, ValueError, KeyError) as err:
        raise DatasetFileError(f"MNIST-1D cache file {path} is unreadable ({err}); delete it and it will be "
                               "regenerated") from err


class MNIST1DDataset(torch.utils.data.Dataset):
    """One split of MNIST-1D; items ``(x, label)`` with ``x`` as chosen by ``encoding`` (see module doc).

    ``valid`` is a seeded ``valid_fraction`` of the 4000-signal training set; ``train`` the rest.
    """

    num_classes = 10

    def __init__(self, split: str = "train", root: str | Path = ".", encoding: str = "current", steps: int = 20,
                 valid_fraction: float = 0.1, seed: int = 42) -> None:
        check_split(split)
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding={encoding!r} is not allowed; allowed: {list(ENCODINGS)}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps={steps!r} must be an integer >= 1")
        data = read_mnist1d(Path(root), seed)
        if split == "test":
            x, y = data["x_test"], data["y_test"]
        else:
            chosen = split_indices(len(data["y"]), split, valid_fraction, seed)
            x, y = data["x"][chosen], data["y"][chosen]
        self.signals = torch.from_numpy(np.ascontiguousarray(x))
        self.labels = torch.from_numpy(np.ascontiguousarray(y))
        self.encoding, self.steps = encoding, steps

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        signal = self.signals[index]
        x = signal.expand(self.steps, -1).clone() if self.encoding == "current" else signal[:, None].clone()
        return x, int(self.labels[index])
