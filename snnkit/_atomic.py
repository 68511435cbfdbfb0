"""Atomic file writes: a temporary file in the target folder, then ``os.replace``.

The temporary file is ``.<name>.<pid>.<random><suffix>.tmp``. A later write to the same target
removes the temporaries whose writer process is gone (left by a process killed mid-write), so killed
writes do not pile up; a temporary of a live process is never touched (names without a pid, from
older versions, count as abandoned after ``STALE_AFTER_S``). No lock is held on the temporary
itself: HDF5 writers lock their files and would refuse a file someone else locked. The final file
gets the permissions the user's umask gives (``mkstemp`` would leave 0600).
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Iterator

STALE_AFTER_S = 600.0  # a temporary without a recognisable live writer this old is abandoned


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` with the process umask applied (what ``open()`` would give a new file)."""
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete ``.<target name>.*.tmp`` files beside ``target`` whose writer is gone."""
    removed = []
    prefix = f".{target.name}."
    for tmp in target.parent.glob(f"{prefix}*.tmp"):
        writer = tmp.name[len(prefix):].split(".", 1)[0]
        try:
            if writer.isdigit():
                if int(writer) == os.getpid() or _alive(int(writer)):
                    continue
            elif time.time() - tmp.stat().st_mtime < STALE_AFTER_S:
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:  # gone already, or not ours to remove
            continue
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` in one step.

    Readers never see a half-written file: either the old file, or the complete new one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=suffix + ".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode())  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
