"""Quantisation-aware training for Loihi 2: fake-quantise the synaptic weights in the forward pass
(the same 8-bit grid as :func:`quantize_for_loihi`), straight-through gradient in the backward pass.

    enable_qat(model)      # every Linear / delayed-linear weight now trains on its Loihi grid
    ... fine-tune ...
    disable_qat(model)     # back to plain (float) weights, keeping the trained values
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize


def fake_quantize_weights(w: Tensor) -> Tensor:
    """Round ``w`` to Loihi's 8-bit grid for its sign mode (values stay in float); gradient passes through."""
    wd = w.detach()
    mx = wd.abs().max().clamp_min(1e-12)
    # both sign modes computed and one selected on the device: no host read (sync) per forward
    k_mixed, k_single = 254.0 / mx, 255.0 / mx
    q_mixed = 2 * torch.clamp(torch.round(wd * k_mixed / 2), -128, 127) / k_mixed
    q_single = torch.clamp(torch.round(wd * k_single), -255, 255) / k_single
    q = torch.where((wd.min() < 0) & (wd.max() > 0), q_mixed, q_single)
    return w + (q - wd)


class LoihiWeightFakeQuant(nn.Module):
    """A ``torch.nn.utils.parametrize`` parametrisation applying :func:`fake_quantize_weights`."""

    def forward(self, w: Tensor) -> Tensor:
        return fake_quantize_weights(w)


def _targets(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules()
            if isinstance(m, nn.Linear) or (callable(getattr(m, "integer_delays", None))
                                            and isinstance(getattr(m, "weight", None), nn.Parameter))]


def enable_qat(model: nn.Module) -> nn.Module:
    """Register Loihi weight fake-quantisation on every Linear (and delayed linear) weight of ``model``."""
    for m in _targets(model):
        if not parametrize.is_parametrized(m, "weight"):
            parametrize.register_parametrization(m, "weight", LoihiWeightFakeQuant())
    return model


def disable_qat(model: nn.Module) -> nn.Module:
    """Remove the fake quantisation, keeping the trained float weights (not their rounded values)."""
    for m in model.modules():
        if parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    return model
