"""Reading and writing the ``.pt`` files snnkit exchanges with users, as untrusted input.

* ``torch.load(weights_only=True)`` only: unpickling cannot run code.
* The zip container is inspected BEFORE loading: a file whose records declare more bytes than
  ``max_bytes``, or many times more than the file's own size (``torch.save`` stores records
  uncompressed, so only a crafted file inflates), is refused before anything is allocated.
* :func:`content_hash` is a SHA-256 over the payload's structure and tensor bytes; writers store it,
  readers recompute it, so a bit-flipped file is refused instead of silently used.
"""
from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import InvalidFileError, SizeLimitError

MAX_BYTES = 4 * 2**30  # default cap on the tensor bytes one file may hold (raise it for trusted files)
_INFLATION = 2.0  # records may hold at most this many times the file's size (plus 1 MiB of slack)


def check_container(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> None:
    """Refuse a torch zip file that would inflate past ``max_bytes`` (or past its own size) on load."""
    size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise InvalidFileError(path, "container", type(err).__name__,
                               f"a zip file written by torch.save ({err})") from err
    total = sum(i.file_size for i in infos)
    limit = min(max_bytes, int(size * _INFLATION) + 2**20)
    if total > limit:
        raise SizeLimitError(path, "records", f"{total} bytes in {len(infos)} records (file is {size} bytes)",
                             f"at most {limit} bytes (max_bytes={max_bytes}; records may not inflate "
                             f"beyond {_INFLATION}x the file size)")


def load_weights_only(path: str | os.PathLike, max_bytes: int = MAX_BYTES,
                      map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` after :func:`check_container`; errors are InvalidFileError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    check_container(path, max_bytes)
    try:
        with warnings.catch_warnings():
            # a damaged file's protocol byte makes torch ask its user to file an issue with torch; the
            # file is refused or checked here instead (the error below, the callers' content hashes)
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # foreign pickle, truncated data, unknown globals: all refused alike
        raise InvalidFileError(path, "content", type(err).__name__,
                               f"a weights-only torch file (tensors, numbers, strings, lists, dicts): "
                               f"{str(err).strip().splitlines()[0] if str(err).strip() else err!r}") from err


def content_hash(obj: Any) -> str:
    """SHA-256 of a payload of dicts/lists/tuples/scalars/tensors (keys, types, shapes and bytes)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"S{type(obj).__name__}:{obj!r};".encode())


def verify_hash(path: str | os.PathLike, payload: dict[str, Any], key: str = "sha256") -> None:
    """Check ``payload[key]`` against :func:`content_hash` of the rest; raise InvalidFileError if it differs."""
    stored = payload.get(key)
    rest = {k: v for k, v in payload.items() if k != key}
    actual = content_hash(rest)
    if stored != actual:
        raise InvalidFileError(path, key, stored, f"the content hash {actual[:16]}... of the file's data "
                               "(the file was modified or damaged after it was written)")
