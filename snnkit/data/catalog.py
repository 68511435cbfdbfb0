"""The dataset catalogue (``datasets/catalog.toml``): sources, licences, checksums, file places."""
from __future__ import annotations

import hashlib
import importlib.resources
import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]


def catalog_path() -> Path:
    """``$SNNKIT_CATALOG`` if set, else ``datasets/catalog.toml`` of the source tree (checkouts, editable
    installs), else the copy shipped inside the package (wheel installs; in the repository
    ``snnkit/data/catalog.toml`` is a symbolic link to ``datasets/catalog.toml``, so there is one source)."""
    env = os.environ.get("SNNKIT_CATALOG")
    if env:
        return Path(env)
    in_tree = Path(__file__).resolve().parents[2] / "datasets" / "catalog.toml"
    if in_tree.is_file():
        return in_tree
    return Path(str(importlib.resources.files(__package__).joinpath("catalog.toml")))


def load_catalog() -> dict[str, dict]:
    """All catalogue entries by dataset name ({} when the catalogue file is not available)."""
    path = catalog_path()
    if not path.is_file():
        return {}
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def entry(name: str) -> dict:
    return load_catalog().get(name, {})


def missing_files_message(name: str, root: Path, needed: list[Path], split: str | None = None) -> str:
    """Which files to place where, with URL and checksum from the catalogue."""
    info = entry(name)
    lines = [f"dataset {name!r} is not available offline: missing " + ", ".join(str(p) for p in needed) + "."]
    files = [f for f in info.get("files", []) if split is None or f.get("split") in (split, "all")]
    exact = [f for f in files if root / f["place"] in set(needed)]
    files = exact or files  # only the missing ones when they are named exactly
    if files:
        lines.append(f"Place these files under the data root {root}:")
        for f in files:
            checksum = f"md5 {f['md5']}" if "md5" in f else f"sha256 {f.get('sha256', 'unknown')}"
            lines.append(f"  {root / f['place']}   <- {f.get('archive', '')} from {f.get('url', 'unknown')} ({checksum})")
    if info.get("prepare"):
        lines.append(f"How: {info['prepare']}.")
    lines.append("Or pass download=True where the internet is reachable. Catalogue: datasets/catalog.toml; "
                 f"check placed files with `snnkit data prepare {name} --root {root}`.")
    return "\n".join(lines)


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
