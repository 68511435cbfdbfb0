"""Which ``pip install "snnkit[extra]"`` provides an optional dependency, for one-line hints."""
from __future__ import annotations

EXTRA_OF = {"nir": "nir", "tonic": "data", "mnist1d": "data", "scipy": "data", "tensorboard": "logging",
            "snntorch": "peers", "nirtorch": "peers"}


def install_hint(err: ModuleNotFoundError) -> str | None:
    """``needs the optional package 'nir': pip install "snnkit[nir]"``, or None for a module no extra provides."""
    top = (err.name or "").split(".")[0]
    extra = EXTRA_OF.get(top)
    return None if extra is None else f"needs the optional package {top!r}: pip install \"snnkit[{extra}]\""
