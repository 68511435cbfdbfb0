"""Periphery of one array read: input scaling, DAC, analog MVM, output noise, IR drop, ADC.

For an input block ``x`` ``[N, rows]`` and normalised weights ``w`` ``[cols, rows]`` (``|w| <= 1``):

1. noise management ``"abs_max"``: ``s = max_i |x_i|`` per input vector (1 where the vector is all 0),
   ``x <- x / s``; ``"none"``: ``s = 1``.
2. DAC: ``x <- clip(round(x / d) d, -inp_bound, inp_bound)``, ``d = 2 inp_bound / (2^dac_bits - 2)``
   (aihwkit's ``inp_res = 1 / (2^bits - 2)``); ``dac_bits = 0`` skips rounding, ``inp_bound = 0``
   skips clipping.
3. ``y = x w^T``; IR drop (first order, lumped line): ``y_j <- y_j (1 - ir_drop * L_j)`` with the
   column load ``L_j = sum_i |x_i| |w_ij| / rows`` (1 when every row is driven at full scale through
   full-scale devices), so ``ir_drop`` is the relative signal lost by a fully loaded column.
4. output noise ``y <- y + out_noise N(0, 1)``, ADC ``y <- clip(round(y / a) a, -out_bound, out_bound)``,
   ``a = 2 out_bound / (2^adc_bits - 2)``.
5. bound management ``"iterative"``: when any output of the block clipped, the input is divided by 2
   (then 4, 8, ...) and the read repeated; it stops once the factor exceeds 1000 or ``max_bm_res`` over
   the DAC step (aihwkit's ``max_bm_factor`` / ``max_bm_res``). The result is multiplied back by ``s`` and the
   reduction factor.

Deterministic steps (2, 4 without noise) are plain formulas; :func:`quantize` is the rounding used.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def quantize(x: Tensor, bits: int, bound: float) -> Tensor:
    """Round ``x`` to the grid ``k * 2 bound / (2^bits - 2)`` (no clipping; ``bits = 0``: unchanged).

    Gradients pass straight through (straight-through estimator), so it can sit in training graphs."""
    if bits == 0 or bound == 0:
        return x
    step = 2.0 * bound / (2 ** bits - 2)
    q = torch.round(x / step) * step
    return x + (q - x).detach() if x.requires_grad else q


@dataclass
class Periphery:
    """DAC/ADC resolution and range, output noise, IR drop and input/bound management; see module doc."""

    dac_bits: int = 7
    inp_bound: float = 1.0
    noise_management: str = "abs_max"
    adc_bits: int = 9
    out_bound: float = 12.0
    out_noise: float = 0.06
    bound_management: str = "iterative"
    ir_drop: float = 0.0
    max_bm_factor: float = 1000.0
    max_bm_res: float = 0.25

    def __post_init__(self) -> None:
        if self.noise_management not in ("abs_max", "none"):
            raise ValueError(f"noise_management={self.noise_management!r} is not allowed; allowed: ['abs_max', 'none']")
        if self.bound_management not in ("iterative", "none"):
            raise ValueError(f"bound_management={self.bound_management!r} is not allowed; allowed: ['iterative', 'none']")

    @property
    def is_perfect(self) -> bool:
        """No quantisation, clipping, noise or IR drop: the read is an exact matrix product."""
        return (self.dac_bits == 0 and self.adc_bits == 0 and self.out_noise == 0 and self.ir_drop == 0
                and self.inp_bound == 0 and self.out_bound == 0)

    def prepare_input(self, x: Tensor, scale: Tensor | float) -> Tensor:
        """Steps 1-2 after the division by ``scale``: DAC rounding and clipping."""
        x = x / scale
        x = quantize(x, self.dac_bits, self.inp_bound)
        if self.inp_bound > 0:
            x = x.clamp(-self.inp_bound, self.inp_bound)
        return x

    def finalize_output(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Step 4 without the clip: output noise and ADC rounding."""
        if self.out_noise > 0:
            noise = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
            y = y + self.out_noise * noise if y.requires_grad else y.add_(noise.mul_(self.out_noise))
        return quantize(y, self.adc_bits, self.out_bound)

    def read(self, x: Tensor, w: Tensor, generator: torch.Generator | None = None,
             out_scale: Tensor | None = None) -> Tensor:
        """One periphery-managed analog read of ``x`` ``[N, rows]`` through ``w`` ``[cols, rows]``,
        times ``out_scale`` (``[cols]``, the digital weight scale) when given.

        Without gradients this runs a fused in-place version of :meth:`read_reference` (same random
        draws, same result up to float rounding)."""
        if self.ir_drop > 0 or (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)):
            y = self.read_reference(x, w, generator)
            return y if out_scale is None else y * out_scale
        with torch.no_grad():
            return self._read_fast(x, w, generator, out_scale)

    def _input_scale(self, x: Tensor) -> Tensor | None:
        if self.noise_management != "abs_max":
            return None
        s = x.detach().abs().amax(dim=-1, keepdim=True)
        return s.masked_fill_(s == 0, 1.0)

    def _stop(self, clipped: bool, reduction: float, dac_step: float) -> bool:
        return (not clipped or reduction > self.max_bm_factor
                or (dac_step > 0 and reduction > self.max_bm_res / dac_step))

    def read_reference(self, x: Tensor, w: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The documented read, step by step (differentiable: straight-through rounding)."""
        s = self._input_scale(x)
        s = torch.ones((), dtype=x.dtype, device=x.device) if s is None else s
        reduction = 1.0
        dac_step = 2.0 * self.inp_bound / (2 ** self.dac_bits - 2) if self.dac_bits else 0.0
        while True:
            xq = self.prepare_input(x, s * reduction)
            y = xq @ w.t()
            if self.ir_drop > 0:
                load = (xq.detach().abs() @ w.detach().abs().t()) / w.shape[1]
                y = y * (1.0 - self.ir_drop * load)
            y = self.finalize_output(y, generator)
            if self.out_bound <= 0:
                return y * (s * reduction)
            clipped = self.bound_management == "iterative" and bool((y.detach().abs() > self.out_bound).any())
            if self._stop(clipped, reduction, dac_step):
                return y.clamp(-self.out_bound, self.out_bound) * (s * reduction)
            reduction *= 2.0

    def _read_fast(self, x: Tensor, w: Tensor, generator: torch.Generator | None, out_scale: Tensor | None) -> Tensor:
        # Work in integer units: inputs in DAC steps d, outputs in ADC steps a, so each rounding is one
        # in-place round_() and the scalings fold into the few multiplications that remain.
        s = self._input_scale(x)
        d = 2.0 * self.inp_bound / (2 ** self.dac_bits - 2) if (self.dac_bits and self.inp_bound) else 0.0
        a = 2.0 * self.out_bound / (2 ** self.adc_bits - 2) if (self.adc_bits and self.out_bound) else 0.0
        d_unit, a_unit = d or 1.0, a or 1.0
        reduction = 1.0
        while True:
            xs = x / (s * (reduction * d_unit)) if s is not None else x * (1.0 / (reduction * d_unit))
            if d:
                xs.round_()
            if self.inp_bound > 0:
                xs.clamp_(-self.inp_bound / d_unit, self.inp_bound / d_unit)
            y = xs @ w.t()
            if d_unit != a_unit:
                y.mul_(d_unit / a_unit)
            if self.out_noise > 0:
                y.add_(torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device),
                       alpha=self.out_noise / a_unit)
            if a:
                y.round_()
            if self.out_bound <= 0:
                break
            bound = self.out_bound / a_unit
            clipped = False
            if self.bound_management == "iterative":
                lo, hi = torch.aminmax(y)
                clipped = bool(hi > bound) or bool(lo < -bound)
            if self._stop(clipped, reduction, d):
                y.clamp_(-bound, bound)
                break
            reduction *= 2.0
        y.mul_(s * (a_unit * reduction) if s is not None else a_unit * reduction)
        if out_scale is not None:
            y.mul_(out_scale)
        return y


def periphery_from_profile(profile: dict) -> Periphery:
    return Periphery(**profile["periphery"])
