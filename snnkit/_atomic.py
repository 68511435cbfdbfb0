"""Atomic file writes: a temporary file in the target folder, then ``os.replace``.

While a write is in progress its temporary file ``.<name>.<random><suffix>.tmp`` is held under an
exclusive ``flock``; a later write to the same target removes the temporaries nobody holds (left by
a process that was killed mid-write), so killed writes do not pile up. The final file gets the
permissions the user's umask gives (``mkstemp`` would leave 0600).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale files are recognised by age only
    fcntl = None  # type: ignore[assignment]

STALE_AFTER_S = 3600.0  # without flock (Windows), a temporary file this old is taken as abandoned


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` with the process umask applied (what ``open()`` would give a new file)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete ``.<target name>.*.tmp`` files beside ``target`` that no live writer holds."""
    removed = []
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            fd = os.open(tmp, os.O_RDWR)
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a writer holds it: in progress
            elif time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
                removed.append(tmp)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.

    Readers never see a half-written file: either the old file, or the complete new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".tmp", dir=target.parent)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # "in progress" for remove_stale_temporaries of other writers
        yield Path(tmp)
        os.chmod(tmp, umask_mode())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
