"""snnkit's documented error types.

Every reader of a file a user gives snnkit (checkpoint, converted model, NIR, netx, dataset, TOML
config, hardware profile) raises :class:`InvalidFileError` (a ``ValueError``) when the file is
malformed, and :class:`SizeLimitError` when it declares more than a cap allows. The message names the
file, the field, the value and what is allowed, so a user can act on it without a traceback.
"""
from __future__ import annotations

import os


class SnnkitError(Exception):
    """Base of the errors snnkit raises on purpose (besides plain ``ValueError``/``TypeError``)."""


class InvalidFileError(SnnkitError, ValueError):
    """A file's content is not acceptable: wrong type, shape, range, or it names code or paths."""

    def __init__(self, path: str | os.PathLike | None, field: str | None = None, value: object = None,
                 allowed: str | None = None):
        if field is None:  # one ready message (a reader with no single field to name)
            ValueError.__init__(self, str(path))
            self.path = self.field = self.value = self.allowed = None
            return
        self.path = None if path is None else os.fspath(path)
        self.field, self.value, self.allowed = field, value, allowed
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        where = f"{self.path}: " if self.path else ""
        super().__init__(f"{where}field {field!r} = {shown} is not allowed; allowed: {allowed}")


class SizeLimitError(InvalidFileError):
    """A file declares an array or count above a cap (raise the cap explicitly if the file is trusted)."""


__all__ = ["SnnkitError", "InvalidFileError", "SizeLimitError"]
