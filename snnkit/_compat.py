"""Renamed keywords keep working for one release, with a DeprecationWarning that names the new one."""
from __future__ import annotations

import warnings
from typing import Any


def renamed_keyword(owner: str, old: str, new: str, old_value: Any, new_value: Any) -> Any:
    """``new_value``, or ``old_value`` (with a DeprecationWarning) when the caller still passed ``old``."""
    if old_value is None:
        return new_value
    warnings.warn(f"{owner}({old}=...) is deprecated and will be removed in the next release; use {new}=...",
                  DeprecationWarning, stacklevel=3)
    return old_value


def renamed_attribute(owner: str, old: str, new: str) -> None:
    """Warn that ``owner.old`` is now ``owner.new``."""
    deprecated_name(f"{owner}.{old}", f"{owner}.{new}", stacklevel=4)


def deprecated_name(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that the public name ``old`` is going and ``new`` replaces it (``stacklevel``: the caller's frame,
    counted from here, so that the warning names the user's line)."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}",
                  DeprecationWarning, stacklevel=stacklevel)
