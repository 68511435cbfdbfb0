"""Device models: what happens to a target conductance when it is programmed, and how it reads later.

Every model works on one conductance slice at a time (a tensor in microsiemens) and draws its random
numbers in a fixed order, from ``generator`` (``None`` = torch's global generator, so that
``torch.manual_seed`` makes a run reproducible):

``program(g_targets)`` for each slice, in order: programming noise (one normal draw per device), then
drift exponents ``nu`` (one normal draw per device); after all slices: device-to-device gains (normal)
and stuck-at masks (uniform), only when those are enabled. ``read(state, t)`` for each slice: drift
then one normal draw per device for the accumulated 1/f read noise. For :class:`PCMDevice` with the
profile defaults this is exactly the order of aihwkit's ``PCMLikeNoiseModel`` (tested bit for bit).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import Tensor

_ZERO_CLIP = 1e-7


def _randn(like: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)


@dataclass
class ProgrammedSlice:
    """State of one programmed conductance slice: conductances right after programming, drift
    exponents, and the masks of devices stuck at ``g_min`` (off) or ``g_max`` (on)."""

    g_prog: Tensor
    nu: Tensor | None = None
    stuck_off: Tensor | None = None
    stuck_on: Tensor | None = None


@dataclass
class DeviceModel:
    """Base device: exact programming and reading, plus the generic non-idealities every technology has.

    Args:
        g_max, g_min: conductance range in microsiemens.
        levels: number of programmable levels spread evenly over ``[g_min, g_max]`` (0 = continuous);
            targets are rounded to the nearest level before programming noise.
        d2d_variation: relative std of a fixed multiplicative gain per device (device-to-device).
        stuck_off_fraction, stuck_on_fraction: fraction of devices stuck at ``g_min`` / ``g_max``.
        t0: time (s) after programming from which drift is counted.
        t_read: read pulse width (s) of the 1/f noise model.
    """

    g_max: float = 25.0
    g_min: float = 0.0
    levels: int = 0
    d2d_variation: float = 0.0
    stuck_off_fraction: float = 0.0
    stuck_on_fraction: float = 0.0
    t0: float = 20.0
    t_read: float = 250e-9

    @property
    def is_ideal(self) -> bool:
        """True when programming and reading are exact (no noise, drift, variation, faults or levels)."""
        return False

    # --- stages (override in subclasses) -------------------------------------------------------
    def quantize_levels(self, g_target: Tensor) -> Tensor:
        if self.levels < 2:
            return g_target
        step = (self.g_max - self.g_min) / (self.levels - 1)
        return ((g_target - self.g_min) / step).round().clamp(0, self.levels - 1) * step + self.g_min

    def programming_noise(self, g_target: Tensor, generator: torch.Generator | None) -> Tensor:
        return g_target.clone()

    def drift_coefficients(self, g_target: Tensor, generator: torch.Generator | None) -> Tensor | None:
        return None

    def drift_and_read_noise(self, g_prog: Tensor, nu: Tensor | None, t_inference: float,
                             generator: torch.Generator | None) -> Tensor:
        return g_prog.clone()

    # --- the pipeline ------------------------------------------------------------------------------
    @torch.no_grad()
    def program(self, g_targets: Sequence[Tensor], generator: torch.Generator | None = None) -> list[ProgrammedSlice]:
        """Program each target slice; returns the programmed state of every slice."""
        slices = []
        for g in g_targets:
            g = self.quantize_levels(g)
            g_prog = self.programming_noise(g, generator)
            slices.append(ProgrammedSlice(g_prog, self.drift_coefficients(g, generator)))
        if self.d2d_variation > 0:
            for s in slices:
                gain = (1.0 + self.d2d_variation * _randn(s.g_prog, generator)).clamp_(min=0.0)
                s.g_prog = s.g_prog * gain
        if self.stuck_off_fraction > 0 or self.stuck_on_fraction > 0:
            for s in slices:
                u = torch.rand(s.g_prog.shape, generator=generator, dtype=s.g_prog.dtype, device=s.g_prog.device)
                s.stuck_off = u < self.stuck_off_fraction
                s.stuck_on = (u >= self.stuck_off_fraction) & (u < self.stuck_off_fraction + self.stuck_on_fraction)
                s.g_prog = self._apply_stuck(s.g_prog, s)
        return slices

    def _apply_stuck(self, g: Tensor, s: ProgrammedSlice) -> Tensor:
        if s.stuck_off is not None:
            g = torch.where(s.stuck_off, torch.full_like(g, self.g_min), g)
            g = torch.where(s.stuck_on, torch.full_like(g, self.g_max), g)
        return g

    @torch.no_grad()
    def read(self, slices: Sequence[ProgrammedSlice], t_inference: float,
             generator: torch.Generator | None = None) -> list[Tensor]:
        """Conductances of every slice ``t_inference`` seconds after programming ended."""
        if not (isinstance(t_inference, (int, float)) and math.isfinite(t_inference) and t_inference >= 0):
            raise ValueError(f"t_inference={t_inference!r} must be a finite number of seconds >= 0")
        return [self._apply_stuck(self.drift_and_read_noise(s.g_prog, s.nu, float(t_inference), generator), s)
                for s in slices]


@dataclass
class IdealDevice(DeviceModel):
    """Exact devices: programmed and read conductances equal the targets."""

    @property
    def is_ideal(self) -> bool:
        return (self.levels < 2 and self.d2d_variation == 0 and self.stuck_off_fraction == 0
                and self.stuck_on_fraction == 0)


@dataclass
class PCMDevice(DeviceModel):
    """Phase-change memory, IBM's statistical model (Nandakumar et al. 2019; Joshi et al. 2020), the
    same equations and random draws as aihwkit 1.2.0's ``PCMLikeNoiseModel``:

    - programming: ``g_prog = max(0, g_t + s_p * sigma_p(g_t) * N(0, 1))`` with
      ``sigma_p = sum_i c_i (g_t / g_max)^i * g_max / g_ref``;
    - drift exponent: ``nu = |mu_nu + sigma_nu N(0, 1)|``, ``mu_nu = clip(-0.0155 ln g_r + 0.0244, 0.049, 0.1)``,
      ``sigma_nu = clip(-0.0125 ln g_r - 0.0059, 0.008, 0.045)``, ``g_r = max(|g_t| / g_max, 1e-7)``;
    - at time t: ``g_d = g_prog ((t + t0) / t0)^-nu`` plus accumulated 1/f noise
      ``|g_d| Q_s sqrt(ln((t + t0 + t_read) / (2 t_read))) N(0, 1)``,
      ``Q_s = min(0.0088 / max((|g_prog| / g_max)^0.65, 1e-3), 0.2)``; clipped at 0.
    """

    prog_coeff: Sequence[float] = field(default_factory=lambda: [0.26348, 1.9650, -1.1731])
    prog_coeff_g_max_reference: float = 25.0
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0

    def programming_noise(self, g_target: Tensor, generator: torch.Generator | None) -> Tensor:
        x = g_target / self.g_max
        sig = torch.full_like(g_target, float(self.prog_coeff[0]))
        power = torch.ones_like(g_target)
        for c in self.prog_coeff[1:]:
            power = power * x
            sig = sig + power * c
        sig = sig * (self.g_max / self.prog_coeff_g_max_reference)
        return (g_target + self.prog_noise_scale * sig * _randn(g_target, generator)).clamp_(min=0.0)

    def drift_coefficients(self, g_target: Tensor, generator: torch.Generator | None) -> Tensor:
        g_rel = (g_target / self.g_max).abs().clamp(min=_ZERO_CLIP)
        mu = (-0.0155 * g_rel.log() + 0.0244).clamp(min=0.049, max=0.1)
        sig = (-0.0125 * g_rel.log() - 0.0059).clamp(min=0.008, max=0.045)
        return (mu + sig * _randn(g_rel, generator)).abs().clamp(min=0.0) * self.drift_scale

    def drift_and_read_noise(self, g_prog: Tensor, nu: Tensor | None, t_inference: float,
                             generator: torch.Generator | None) -> Tensor:
        t = t_inference + self.t0
        g_drift = g_prog * (t / self.t0) ** (-nu) if (t > self.t0 and nu is not None) else g_prog
        q_s = (0.0088 / ((g_prog.abs() / self.g_max) ** 0.65).clamp(min=1e-3)).clamp(max=0.2)
        sig = q_s * math.sqrt(math.log((t + self.t_read) / (2 * self.t_read)))
        g = g_drift + g_drift.abs() * self.read_noise_scale * sig * _randn(g_prog, generator)
        return g.clamp(min=0.0)


@dataclass
class LevelDevice(DeviceModel):
    """Multi-level device such as HfO2 RRAM: discrete levels, level-independent programming noise
    ``prog_noise_std`` (uS, the residual of write-verify), power-law relaxation with
    ``nu = |N(drift_nu_mean, drift_nu_std)|`` and a relative accumulated read noise ``read_noise_std``
    that grows like the 1/f model, ``sqrt(ln((t + t0 + t_read) / (2 t_read)) / ln((t0 + t_read) / (2 t_read)))``."""

    prog_noise_std: float = 1.0
    read_noise_std: float = 0.0
    drift_nu_mean: float = 0.0
    drift_nu_std: float = 0.0

    def programming_noise(self, g_target: Tensor, generator: torch.Generator | None) -> Tensor:
        if self.prog_noise_std == 0:
            return g_target.clone()
        return (g_target + self.prog_noise_std * _randn(g_target, generator)).clamp_(min=0.0)

    def drift_coefficients(self, g_target: Tensor, generator: torch.Generator | None) -> Tensor | None:
        if self.drift_nu_mean == 0 and self.drift_nu_std == 0:
            return None
        return (self.drift_nu_mean + self.drift_nu_std * _randn(g_target, generator)).abs()

    def drift_and_read_noise(self, g_prog: Tensor, nu: Tensor | None, t_inference: float,
                             generator: torch.Generator | None) -> Tensor:
        t = t_inference + self.t0
        g = g_prog * (t / self.t0) ** (-nu) if (nu is not None and t > self.t0) else g_prog.clone()
        if self.read_noise_std > 0:
            growth = math.sqrt(math.log((t + self.t_read) / (2 * self.t_read))
                               / math.log((self.t0 + self.t_read) / (2 * self.t_read)))
            g = g + g.abs() * self.read_noise_std * growth * _randn(g, generator)
        return g.clamp(min=0.0)


def device_from_profile(section: dict[str, Any]) -> DeviceModel:
    """Build the device model of a validated profile's ``[device]`` table."""
    common = {k: section[k] for k in ("g_max", "g_min", "levels", "d2d_variation", "stuck_off_fraction",
                                      "stuck_on_fraction", "t0", "t_read")}
    model = section["model"]
    if model == "pcm":
        return PCMDevice(**common, prog_coeff=list(section["prog_coeff"]),
                         prog_coeff_g_max_reference=section["prog_coeff_g_max_reference"],
                         prog_noise_scale=section["prog_noise_scale"], read_noise_scale=section["read_noise_scale"],
                         drift_scale=section["drift_scale"])
    if model == "levels":
        return LevelDevice(**common, prog_noise_std=section["prog_noise_std"], read_noise_std=section["read_noise_std"],
                           drift_nu_mean=section["drift_nu_mean"], drift_nu_std=section["drift_nu_std"])
    if model == "ideal":
        return IdealDevice(**common)
    raise ValueError(f"device.model={model!r} is not allowed; allowed: ['pcm', 'levels', 'ideal']")
