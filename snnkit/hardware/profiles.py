"""Chip and device profiles: TOML files loaded by name or path, validated against a schema per ``kind``.

Where a name is looked up, in order:

1. an existing file path (``load("my/chip.toml")``);
2. every folder in the ``SNNKIT_HARDWARE_PATH`` environment variable (``os.pathsep``-separated);
3. the repository's top-level ``hardware/`` folder (found next to the package: source checkouts and
   editable installs);
4. the copies shipped inside the package, ``snnkit/hardware/crossbar/profiles/`` (wheel installs).
   In the repository those are symbolic links to ``hardware/*.toml``, so there is one source of truth
   and ``pip install .`` / a wheel build copies the real files in.

A profile is a table with ``kind`` and ``name``; kinds with a registered schema (``"crossbar"`` here) are
checked key by key: unknown keys, missing sections, wrong types and values out of range raise
:class:`ProfileError` (a ``ValueError``) naming the file and the dotted key; missing optional keys get
their documented defaults.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import InvalidFileError, SizeLimitError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent.parent / "hardware"
_PACKAGED_DIR = _PACKAGE_DIR / "crossbar" / "profiles"


class ProfileError(InvalidFileError):
    """A profile file is missing, unreadable or does not match its schema (an InvalidFileError)."""


MAX_PROFILE_BYTES = 1 << 20  # a profile is a few kB of TOML; a bigger file is refused unread


@dataclass(frozen=True)
class Key:
    """One schema entry: type(s), default (``REQUIRED`` when none), and an optional value check."""

    types: tuple[type, ...]
    default: Any
    check: Callable[[Any], bool] | None = None
    allowed: str = ""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not allowed here, as the end of a message after the key's name (``None``: allowed)."""
        if isinstance(value, bool) or not isinstance(value, self.types):
            return f"={value!r} has type {type(value).__name__}; expected {'/'.join(t.__name__ for t in self.types)}"
        if self.check is not None and not self.check(value):
            return f"={value!r} is not allowed; expected {self.allowed}"
        return None


REQUIRED = object()


def _num(default: Any = REQUIRED, check: Callable[[Any], bool] | None = None, allowed: str = "") -> Key:
    return Key((int, float), default, check, allowed)


def _int(default: Any = REQUIRED, check: Callable[[Any], bool] | None = None, allowed: str = "") -> Key:
    return Key((int,), default, check, allowed)


def _str(default: Any = REQUIRED, choices: tuple[str, ...] | None = None) -> Key:
    return Key((str,), default, None if choices is None else (lambda v: v in choices),
               "" if choices is None else f"one of {list(choices)}")


_nonneg = (lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_pos = (lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_frac = (lambda v: 0 <= v < 1, "a fraction in [0, 1)")  # NaN fails both comparisons
_bits = (lambda v: 0 <= v <= 24, "an integer in [0, 24] (0 = no quantisation)")

CROSSBAR_SCHEMA: dict[str, dict[str, Key]] = {
    "device": {
        "model": _str(choices=("pcm", "levels", "ideal")),
        "g_max": _num(check=_pos[0], allowed=_pos[1]),
        "g_min": _num(0.0, *_nonneg),
        "prog_coeff": Key((list,), [0.26348, 1.9650, -1.1731],
                          lambda v: 1 <= len(v) <= 16 and all(isinstance(c, (int, float)) and not isinstance(c, bool)
                                                              and math.isfinite(c) for c in v),
                          "a list of 1 to 16 finite numbers"),
        "prog_coeff_g_max_reference": _num(25.0, *_pos),
        "prog_noise_scale": _num(1.0, *_nonneg),
        "read_noise_scale": _num(1.0, *_nonneg),
        "drift_scale": _num(1.0, *_nonneg),
        "prog_noise_std": _num(0.0, *_nonneg),
        "read_noise_std": _num(0.0, *_nonneg),
        "drift_nu_mean": _num(0.0, *_nonneg),
        "drift_nu_std": _num(0.0, *_nonneg),
        "t0": _num(20.0, *_pos),
        "t_read": _num(250e-9, *_pos),
        "levels": _int(0, lambda v: v == 0 or 2 <= v <= 1 << 16, "0 (continuous) or an integer in [2, 65536]"),
        "d2d_variation": _num(0.0, *_nonneg),
        "stuck_off_fraction": _num(0.0, *_frac),
        "stuck_on_fraction": _num(0.0, *_frac),
    },
    "mapping": {
        "scheme": _str("differential", ("differential", "single")),
        "slices": _int(1, lambda v: 1 <= v <= 8, "an integer in [1, 8]"),
        "bits_per_slice": _int(0, lambda v: 0 <= v <= 8, "an integer in [0, 8] (0 = analog, no slicing)"),
    },
    "tile": {
        "rows": _int(512, lambda v: 1 <= v <= 1 << 16, "an integer in [1, 65536]"),
        "cols": _int(512, lambda v: 1 <= v <= 1 << 16, "an integer in [1, 65536]"),
    },
    "periphery": {
        "dac_bits": _int(7, *_bits),
        "inp_bound": _num(1.0, *_nonneg),
        "noise_management": _str("abs_max", ("abs_max", "none")),
        "adc_bits": _int(9, *_bits),
        "out_bound": _num(12.0, *_nonneg),
        "out_noise": _num(0.06, *_nonneg),
        "bound_management": _str("iterative", ("iterative", "none")),
        "ir_drop": _num(0.0, lambda v: 0 <= v < 1, "a number in [0, 1)"),
    },
    "compensation": {
        "drift": _str("global", ("global", "none")),
    },
    "energy": {
        "e_dac_pj": _num(0.1, *_nonneg),
        "e_adc_pj": _num(2.0, *_nonneg),
        "v_read": _num(0.2, *_nonneg),
        "t_integrate_ns": _num(100.0, *_nonneg),
        "t_adc_ns": _num(10.0, *_nonneg),
        "adcs_per_array": _int(64, lambda v: 1 <= v <= 1 << 16, "an integer in [1, 65536]"),
    },
}

_SCHEMAS: dict[str, dict[str, dict[str, Key]]] = {"crossbar": CROSSBAR_SCHEMA}
_TOP_KEYS = {"kind", "name", "description"}


def register_schema(kind: str, schema: dict[str, dict[str, Key]]) -> None:
    """Register a schema (``{section: {key: Key}}``) so that profiles of ``kind`` are validated."""
    _SCHEMAS[kind] = schema


def search_path() -> list[Path]:
    """Folders searched for ``<name>.toml``, in order (see the module docstring)."""
    env = [Path(p) for p in os.environ.get("SNNKIT_HARDWARE_PATH", "").split(os.pathsep) if p]
    return env + [_REPO_DIR, _PACKAGED_DIR]


def available() -> list[str]:
    """Names of all profiles found on the search path."""
    names: set[str] = set()
    for folder in search_path():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.toml"))
    return sorted(names)


def find(name_or_path: str | os.PathLike) -> Path:
    """Return the file of a profile given by name (``"pcm"``) or path."""
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"profile must be a name or a path; got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.parent != Path("."):
        if path.is_file():
            return path
        raise ProfileError(f"profile file {str(path)!r} does not exist")
    for folder in search_path():
        candidate = folder / f"{path.name}.toml"
        if candidate.is_file():
            return candidate
    raise ProfileError(f"profile={str(name_or_path)!r} not found; available: {available()} "
                       f"(searched {[str(p) for p in search_path()]})")


def load(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate a profile; returns a plain dict with defaults filled in."""
    path = find(name_or_path)
    size = path.stat().st_size
    if size > MAX_PROFILE_BYTES:
        raise SizeLimitError(path, "size", f"{size} bytes", f"at most {MAX_PROFILE_BYTES} bytes of TOML")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    return validate(data, source=str(path))


def validate(data: Mapping[str, Any], source: str = "<profile>") -> dict[str, Any]:
    """Check a profile dict against the schema of its ``kind``; returns a copy with defaults filled."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{source}: a profile must be a table; got {type(data).__name__}")
    out = copy.deepcopy(dict(data))
    for key in ("kind", "name"):
        if not isinstance(out.get(key), str):
            raise ProfileError(f"{source}: key {key!r} must be a string; got {out.get(key)!r}")
    schema = _SCHEMAS.get(out["kind"])
    if schema is None:
        return out
    for key in out:
        if key not in _TOP_KEYS and key not in schema:
            raise ProfileError(f"{source}: unknown key {key!r}; allowed: {sorted(_TOP_KEYS | set(schema))}")
    for section, keys in schema.items():
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ProfileError(f"{source}: {section!r} must be a table; got {table!r}")
        for key in table:
            if key not in keys:
                raise ProfileError(f"{source}: unknown key '{section}.{key}'; allowed: {sorted(keys)}")
        for key, spec in keys.items():
            where = f"{source}: '{section}.{key}'"
            if key not in table:
                if spec.default is REQUIRED:
                    raise ProfileError(f"{where} is required")
                table[key] = copy.deepcopy(spec.default)
                continue
            problem = spec.problem(table[key])
            if problem is not None:
                raise ProfileError(where + problem)
    if schema is CROSSBAR_SCHEMA:
        dev = out["device"]
        if dev["g_min"] >= dev["g_max"]:
            raise ProfileError(f"{source}: 'device.g_min'={dev['g_min']} must be below "
                               f"'device.g_max'={dev['g_max']}")
        if dev["stuck_off_fraction"] + dev["stuck_on_fraction"] >= 1:
            raise ProfileError(f"{source}: 'device.stuck_off_fraction' + 'device.stuck_on_fraction' must be < 1")
    return out


__all__ = ["ProfileError", "Key", "REQUIRED", "CROSSBAR_SCHEMA", "register_schema", "search_path",
           "available", "find", "load", "validate"]
