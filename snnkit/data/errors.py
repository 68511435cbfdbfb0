"""Errors that say what is wrong with a dataset on disk and how to fix it."""
from __future__ import annotations


class DatasetNotFoundError(FileNotFoundError):
    """Files of a recorded dataset are missing; the message lists which files to place where."""


class DatasetFileError(ValueError):
    """A dataset file exists but is unreadable, truncated or not in the expected format."""
