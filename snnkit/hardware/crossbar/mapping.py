"""Weight-to-conductance mapping: a weight matrix (one array's worth) becomes a list of conductance
slices in microsiemens, and conductances come back as weights normalised to ``[-1, 1]``.

The weight scale is the array's largest absolute weight, ``w_max`` (as aihwkit's converters do per
tile): ``w = w_max * w_norm``. The analog MVM works on ``w_norm`` and the digital periphery multiplies
the result by ``w_max``.

- :class:`DifferentialMapping`: a pair per weight, ``G+ = g_min + relu(w_norm) (g_max - g_min)``,
  ``G- = g_min + relu(-w_norm) (g_max - g_min)``, ``w_norm = (G+ - G-) / (g_max - g_min)``. Slice order
  ``[G+, G-]`` (aihwkit's ``SinglePairConductanceConverter``).
- :class:`SingleDeviceMapping`: one device per weight, ``G = g_min + (w_norm + 1) / 2 (g_max - g_min)``;
  the periphery subtracts the mid-range current digitally: ``w_norm = 2 (G - g_min) / (g_max - g_min) - 1``.
- bit slicing (``slices = S > 1``, ``bits_per_slice = B``): ``|w_norm|`` is rounded to an integer
  ``q`` of ``S B`` bits; slice ``k`` holds digit ``(q >> B k) & (2^B - 1)`` as a fraction of full range
  (with the sign, in a differential pair or offset single device), recombined with weights ``2^(B k)``.
  Slices are ordered least significant first; the recombination happens before the ADC (one analog
  read of the combined column, as in one-pass MVMs).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

_ZERO_CLIP = 1e-7


@dataclass
class ConductanceMapping:
    """Base mapping; see the module docstring for the equations."""

    g_max: float = 25.0
    g_min: float = 0.0
    slices: int = 1
    bits_per_slice: int = 0

    def __post_init__(self) -> None:
        if not self.g_max > self.g_min >= 0:
            raise ValueError(f"g_max={self.g_max}, g_min={self.g_min}: need g_max > g_min >= 0")
        if self.slices < 1:
            raise ValueError(f"slices={self.slices} must be >= 1")
        if self.slices > 1 and self.bits_per_slice < 1:
            raise ValueError(f"bits_per_slice={self.bits_per_slice} must be >= 1 when slices={self.slices} > 1")

    @property
    def devices_per_weight(self) -> int:
        return self.slices * self._devices_per_slice

    _devices_per_slice = 1

    @staticmethod
    def weight_scale(weight: Tensor) -> Tensor:
        """``w_max``: the largest absolute weight (clipped away from 0)."""
        return weight.detach().abs().max().clamp(min=_ZERO_CLIP)

    def _digits(self, weight: Tensor, w_max: Tensor) -> list[Tensor]:
        """Signed digits of ``weight / w_max`` in conductance-span units (each in ``[-span, span]``),
        least significant first."""
        span = self.g_max - self.g_min
        if self.bits_per_slice == 0:
            return [weight * (span / w_max)]  # aihwkit's scale_ratio, so that targets match it bit for bit
        w_norm = (weight / w_max).clamp(-1.0, 1.0)
        base = 2 ** self.bits_per_slice
        q_max = base ** self.slices - 1
        q = (w_norm.abs() * q_max).round().to(torch.int64)
        sign = torch.sign(w_norm)
        return [sign * ((q >> (self.bits_per_slice * k)) & (base - 1)).to(w_norm.dtype) * (span / (base - 1))
                for k in range(self.slices)]

    def _combine(self, digits: list[Tensor]) -> Tensor:
        if self.bits_per_slice == 0:
            return digits[0]
        base = 2 ** self.bits_per_slice
        q_max = base ** self.slices - 1
        return sum(d * ((base - 1) * base ** k / q_max) for k, d in enumerate(digits))  # type: ignore[return-value]

    def to_conductances(self, weight: Tensor) -> tuple[list[Tensor], Tensor]:
        """``(conductance slices, w_max)`` for a weight matrix."""
        w_max = self.weight_scale(weight)
        return [g for d in self._digits(weight.detach(), w_max) for g in self._encode(d)], w_max

    def to_normalized_weights(self, conductances: list[Tensor]) -> Tensor:
        """Weights in ``[-1, 1]`` units (times ``w_max`` gives the weights) from conductance slices."""
        n = self._devices_per_slice
        if len(conductances) != self.slices * n:
            raise ValueError(f"conductances has {len(conductances)} slices; this mapping needs {self.slices * n}")
        return self._combine([self._decode(conductances[i * n:(i + 1) * n]) for i in range(self.slices)])

    def to_weights(self, conductances: list[Tensor], w_max: Tensor) -> Tensor:
        return self.to_normalized_weights(conductances) * w_max

    def _encode(self, scaled: Tensor) -> list[Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, gs: list[Tensor]) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class DifferentialMapping(ConductanceMapping):
    """A pair of devices per weight (and per slice): ``w ~ G+ - G-``."""

    _devices_per_slice = 2

    def _encode(self, scaled: Tensor) -> list[Tensor]:
        span = self.g_max - self.g_min
        return [scaled.clamp(min=0.0, max=span) + self.g_min, (-scaled).clamp(min=0.0, max=span) + self.g_min]

    def _decode(self, gs: list[Tensor]) -> Tensor:
        return (gs[0] - gs[1]) / (self.g_max - self.g_min)


@dataclass
class SingleDeviceMapping(ConductanceMapping):
    """One device per weight (and per slice), mid-range current subtracted in the periphery."""

    _devices_per_slice = 1

    def _encode(self, scaled: Tensor) -> list[Tensor]:
        span = self.g_max - self.g_min
        return [((scaled + span) * 0.5).clamp(min=0.0, max=span) + self.g_min]

    def _decode(self, gs: list[Tensor]) -> Tensor:
        return 2.0 * (gs[0] - self.g_min) / (self.g_max - self.g_min) - 1.0


def mapping_from_profile(profile: dict) -> ConductanceMapping:
    """Build the mapping of a validated profile (``[mapping]`` with the ``[device]`` conductance range)."""
    m, d = profile["mapping"], profile["device"]
    cls = DifferentialMapping if m["scheme"] == "differential" else SingleDeviceMapping
    return cls(g_max=d["g_max"], g_min=d["g_min"], slices=m["slices"], bits_per_slice=m["bits_per_slice"])
