"""Errors that say what is wrong with a dataset on disk and how to fix it."""
from __future__ import annotations

import os

from ..errors import InvalidFileError, SizeLimitError


class DatasetNotFoundError(FileNotFoundError):
    """Files of a recorded dataset are missing; the message lists which files to place where."""


class DatasetFileError(InvalidFileError):
    """A dataset file exists but is unreadable, truncated or not in the expected format.

    Built like :class:`~snnkit.errors.InvalidFileError`: ``(path, field, value, allowed, hint)`` or one
    ready message."""

    def __init__(self, path: str | os.PathLike | None, field: str | None = None, value: object = None,
                 allowed: str | None = None, hint: str = ""):
        super().__init__(path, field, value, None if field is None else str(allowed) + hint)


class DatasetSizeError(DatasetFileError, SizeLimitError):
    """A dataset file declares more samples or events than the reader's cap allows."""
