"""A weight matrix programmed onto crossbar arrays: tiling, programming, drift, compensation, reads.

The matrix ``W`` ``[out, in]`` is cut into arrays of at most ``tile_rows`` inputs by ``tile_cols``
outputs. Each array has its own weight scale (its ``max |w|``), its own programmed devices and its own
global drift-compensation factor; partial outputs of the arrays that share outputs are summed digitally.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from ..._compat import renamed_attribute
from .. import profiles as _profiles
from .devices import DeviceModel, ProgrammedSlice, device_from_profile
from .energy import EnergyModel, energy_from_profile
from .mapping import ConductanceMapping, mapping_from_profile
from .periphery import Periphery, periphery_from_profile


@dataclass
class CrossbarConfig:
    """The swappable stages of a crossbar simulation; build one from a profile with :meth:`from_profile`
    and replace any stage with ``dataclasses.replace`` (or your own subclass of a stage)."""

    device: DeviceModel
    mapping: ConductanceMapping
    periphery: Periphery
    tile_rows: int = 512
    tile_cols: int = 512
    drift_compensation: str = "global"
    energy: EnergyModel = field(default_factory=EnergyModel)
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.drift_compensation not in ("global", "none"):
            raise ValueError(f"drift_compensation={self.drift_compensation!r} is not allowed; allowed: ['global', 'none']")
        for key in ("tile_rows", "tile_cols"):
            if not (isinstance(getattr(self, key), int) and getattr(self, key) >= 1):
                raise ValueError(f"{key}={getattr(self, key)!r} must be an integer >= 1")

    @property
    def is_ideal(self) -> bool:
        """Ideal devices and perfect periphery: a layer is then computed as exactly ``F.linear``."""
        return self.device.is_ideal and self.periphery.is_perfect

    @classmethod
    def from_profile(cls, profile: str | Mapping[str, Any] = "pcm",
                     overrides: Mapping[str, Any] | None = None) -> "CrossbarConfig":
        """Build from a profile name, path or dict; ``overrides`` maps dotted keys to values, e.g.
        ``{"periphery.out_noise": 0.0, "tile.rows": 256}`` (validated like the file itself)."""
        data = dict(profile) if isinstance(profile, Mapping) else _load_raw(profile)
        data = copy.deepcopy(data)
        for dotted, value in (overrides or {}).items():
            if not isinstance(dotted, str) or dotted.count(".") != 1:
                raise ValueError(f"override key {dotted!r} must look like 'section.key' (e.g. 'periphery.out_noise')")
            section, key = dotted.split(".")
            data.setdefault(section, {})[key] = value
        p = _profiles.validate(data, source=str(data.get("name", "<profile>")))
        if p["kind"] != "crossbar":
            raise ValueError(f"profile {p['name']!r} has kind={p['kind']!r}; a crossbar profile needs kind='crossbar'")
        return cls(device=device_from_profile(p["device"]), mapping=mapping_from_profile(p),
                   periphery=periphery_from_profile(p), tile_rows=p["tile"]["rows"], tile_cols=p["tile"]["cols"],
                   drift_compensation=p["compensation"]["drift"], energy=energy_from_profile(p), name=p["name"])


def _load_raw(name_or_path: str) -> dict[str, Any]:
    return _profiles.load(name_or_path)


def as_config(profile: "str | Mapping[str, Any] | CrossbarConfig", overrides: Mapping[str, Any] | None = None
              ) -> CrossbarConfig:
    """A :class:`CrossbarConfig` from a config, a profile name/path or a profile dict."""
    if isinstance(profile, CrossbarConfig):
        if overrides:
            raise ValueError("overrides apply to profiles; change a CrossbarConfig with dataclasses.replace")
        return profile
    if not isinstance(profile, (str, Mapping)) and not hasattr(profile, "__fspath__"):
        raise TypeError(f"profile must be a name, a path, a dict or a CrossbarConfig; got {type(profile).__name__}")
    return CrossbarConfig.from_profile(profile, overrides)  # type: ignore[arg-type]


def _ranges(n: int, size: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + size, n)) for lo in range(0, n, size)]


def _rename_alpha(state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    # state dicts written before the rename call the drift-compensation gain "alpha"
    if prefix + "alpha" in state_dict and prefix + "drift_gain" not in state_dict:
        state_dict[prefix + "drift_gain"] = state_dict.pop(prefix + "alpha")


class CrossbarArray(nn.Module):
    """``W`` programmed onto tiled arrays. ``program()`` then ``drift(t)``; ``forward(x)`` reads
    ``x`` ``[N, in]`` -> ``[N, out]`` through the periphery (one array read per input vector and array).

    Buffers: ``w_read`` ``[out, in]`` (normalised weights as read at the current time), ``scale``
    ``[row_tiles, out]`` (each array's ``max |w|``), ``drift_gain`` ``[row_tiles, out]`` (drift compensation).
    """

    def __init__(self, weight: Tensor, config: CrossbarConfig) -> None:
        super().__init__()
        if not isinstance(weight, Tensor) or weight.dim() != 2:
            raise ValueError(f"weight must be a 2-D tensor [out, in]; got {getattr(weight, 'shape', type(weight))}")
        self.config = config
        out_f, in_f = weight.shape
        self.row_ranges = _ranges(in_f, config.tile_rows)
        self.col_ranges = _ranges(out_f, config.tile_cols)
        self.register_buffer("target", weight.detach().clone())
        self.register_buffer("w_read", weight.detach().clone())
        self.register_buffer("scale", torch.ones(len(self.row_ranges), out_f, dtype=weight.dtype))
        self.register_buffer("drift_gain", torch.ones(len(self.row_ranges), out_f, dtype=weight.dtype))
        self._register_load_state_dict_pre_hook(_rename_alpha)
        self.register_buffer("g_row_sum", torch.zeros(in_f, dtype=weight.dtype))
        self.use_compensation = config.drift_compensation == "global"
        self.t_inference: float | None = None
        self._slices: dict[tuple[int, int], list[ProgrammedSlice]] = {}
        self._reference: dict[tuple[int, int], Tensor] = {}
        self.stats = {"reads": 0.0, "active_rows": 0.0, "cell_energy_pj": 0.0, "array_reads": 0.0}
        self.count_energy = False

    @property
    def alpha(self) -> Tensor:
        """Deprecated name of :attr:`drift_gain` (``alpha`` means surrogate sharpness elsewhere)."""
        renamed_attribute("CrossbarArray", "alpha", "drift_gain")
        return self.drift_gain

    @property
    def n_arrays(self) -> int:
        return len(self.row_ranges) * len(self.col_ranges)

    def _tiles(self):
        for r, (rlo, rhi) in enumerate(self.row_ranges):
            for c, (clo, chi) in enumerate(self.col_ranges):
                yield r, c, slice(rlo, rhi), slice(clo, chi)

    @torch.no_grad()
    def program(self, generator: torch.Generator | None = None) -> "CrossbarArray":
        """Program every array (programming noise, drift exponents, variation, faults); reads at t = 0."""
        cfg = self.config
        self.g_row_sum.zero_()
        for r, c, rows, cols in self._tiles():
            g_targets, w_max = cfg.mapping.to_conductances(self.target[cols, rows])
            slices = cfg.device.program(g_targets, generator)
            self._slices[(r, c)] = slices
            self.scale[r, cols] = w_max
            self.g_row_sum[rows] += sum(s.g_prog for s in slices).sum(0)
            w_prog = cfg.mapping.to_normalized_weights([s.g_prog for s in slices])
            self.w_read[cols, rows] = w_prog
            if cfg.drift_compensation == "global":
                self._reference[(r, c)] = self._readout(w_prog, generator)
        self.drift_gain.fill_(1.0)
        self.t_inference = None
        return self

    def _readout(self, w: Tensor, generator: torch.Generator | None) -> Tensor:
        """Global drift-compensation read-out: mean |output| for one-hot inputs through the periphery."""
        eye = torch.eye(w.shape[1], dtype=w.dtype, device=w.device)
        return self.config.periphery.read(eye, w, generator).abs().mean().clamp(min=1e-4)

    @property
    def programmed(self) -> bool:
        """Whether :meth:`program` has written the devices (reads go through the arrays only then)."""
        return bool(self._slices)

    @torch.no_grad()
    def drift(self, t_inference: float, generator: torch.Generator | None = None) -> "CrossbarArray":
        """Read every device ``t_inference`` seconds after programming (drift, accumulated 1/f noise) and
        compute the compensation factors ``drift_gain = reference / current`` of every array."""
        if not self._slices:
            self.program(generator)
        cfg = self.config
        for r, c, rows, cols in self._tiles():
            gs = cfg.device.read(self._slices[(r, c)], t_inference, generator)
            w = cfg.mapping.to_normalized_weights(gs)
            self.w_read[cols, rows] = w
            if cfg.drift_compensation == "global":
                self.drift_gain[r, cols] = self._reference[(r, c)] / self._readout(w, generator)
        self.t_inference = float(t_inference)
        return self

    def effective_weight(self, compensated: bool | None = None) -> Tensor:
        """The weights the arrays hold now (``w_read * scale``, times ``drift_gain`` when compensated),
        as one ``[out, in]`` matrix; the reads themselves add periphery effects on top."""
        comp = self.use_compensation if compensated is None else compensated
        w = self.w_read.clone()
        for r, (lo, hi) in enumerate(self.row_ranges):
            factor = self.scale[r] * (self.drift_gain[r] if comp else 1.0)
            w[:, lo:hi] *= factor[:, None]
        return w

    def forward(self, x: Tensor) -> Tensor:
        if self.config.is_ideal:
            return x @ self.target.t()
        if self.t_inference is None and not self._slices:
            raise RuntimeError("CrossbarArray.forward before program(); call program() and drift(t) first")
        return tiled_read(x, self.w_read, self.row_ranges, self.scale * self.drift_gain if self.use_compensation
                          else self.scale, self.config.periphery, self if self.count_energy else None)


def tiled_read(x: Tensor, w_norm: Tensor, row_ranges: list[tuple[int, int]], out_scale: Tensor,
               periphery: Periphery, counter: CrossbarArray | None = None) -> Tensor:
    """Sum over row tiles of ``periphery.read(x[:, tile], w_norm[:, tile]) * out_scale[tile]``."""
    y: Tensor | None = None
    for r, (lo, hi) in enumerate(row_ranges):
        xr = x[:, lo:hi] if len(row_ranges) > 1 else x
        wr = w_norm[:, lo:hi] if len(row_ranges) > 1 else w_norm
        yr = periphery.read(xr, wr, out_scale=out_scale[r])
        y = yr if y is None else (y.add_(yr) if not torch.is_grad_enabled() else y + yr)
        if counter is not None:
            _count(counter, xr.detach(), lo, hi)
    assert y is not None
    return y


@torch.no_grad()
def _count(arr: CrossbarArray, xr: Tensor, lo: int, hi: int) -> None:
    e = arr.config.energy
    n_col_tiles = len(arr.col_ranges)
    s = arr.stats
    s["reads"] += xr.shape[0]
    s["array_reads"] += xr.shape[0] * n_col_tiles
    s["active_rows"] += float((xr != 0).sum()) * n_col_tiles
    # V^2 * G * t: (V)^2 * (uS) * (ns) = 1e-15 J = 1e-3 pJ per unit.
    drive = xr.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12)
    s["cell_energy_pj"] += float(((xr.abs() / drive).sum(0) * arr.g_row_sum[lo:hi]).sum()) \
        * e.v_read ** 2 * e.t_integrate_ns * 1e-3


__all__ = ["CrossbarConfig", "CrossbarArray", "as_config", "tiled_read"]
