"""Rate-based Hebbian rules: Oja (and its subspace / Sanger forms), BCM, SoftHebb.

They read one row per (sample, position): ``x`` the pre-synaptic activity (unfolded patches for a
convolution) and ``y`` the post-synaptic activity, and average over rows, so ``lr`` does not depend on
the batch size. ``step(pre, post)`` takes ``pre [B, in, ...]`` and ``post [B, out, ...]`` (for
SoftHebb ``post`` is the pre-activation ``u = W x``). A modulator scales each sample's contribution.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .. import _checks
from .rule import PlasticityRule, Update
from .synapse_views import SynapseView


class _RowRule(PlasticityRule):
    """Shared: rows of pre/post, per-sample modulator weights."""

    def rows(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None) -> tuple[Tensor, Tensor, Tensor]:
        x, y = self.view.pre_rows(pre), self.view.post_rows(post)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"pre gives {x.shape[0]} rows but post gives {y.shape[0]}; post must be the synapse's "
                             "output for this pre")
        n = x.shape[0]
        if modulator is None:
            r = torch.full((n, 1), 1.0 / n, dtype=x.dtype, device=x.device)
        elif not isinstance(modulator, Tensor) or modulator.dim() == 0:
            r = torch.full((n, 1), float(modulator) / n, dtype=x.dtype, device=x.device)
        else:
            b = pre.shape[0]
            if modulator.numel() != b:
                raise ValueError(f"modulator must be a scalar or one value per sample [B]={b}; got {tuple(modulator.shape)}")
            r = modulator.reshape(b).repeat_interleave(n // b).reshape(n, 1).to(x.dtype) / n
        return x, y, r


class Oja(_RowRule):
    """Oja's rule: ``dW = <y x^T - (y y^T) W>`` (subspace form; one neuron: ``dw = <y (x - y w)>``).

    ``variant="sanger"`` uses the lower triangle of ``y y^T`` (Sanger's generalized Hebbian algorithm),
    whose rows converge to the leading principal components in order; ``"subspace"`` converges to an
    orthonormal basis of the principal subspace.
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, lr: float = 1e-2,
                 variant: Literal["subspace", "sanger"] = "subspace", update: Update = "immediate") -> None:
        super().__init__(synapse, update=update, lr=lr)
        _checks.one_of("variant", variant, ("subspace", "sanger"))
        self.variant = variant

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        x, y, r = self.rows(pre, post, modulator)
        yr = y * r
        yy = yr.t() @ y
        if self.variant == "sanger":  # lower triangle (a mask: torch.tril pays a thread launch per call)
            n = yy.shape[0]
            yy = yy * (torch.arange(n).unsqueeze(1) >= torch.arange(n)).to(yy)
        w = self.view.weight_rows()
        return (yr.t() @ x - yy @ w).reshape(self.weight.shape)


class BCM(_RowRule):
    """BCM (Bienenstock, Cooper & Munro 1982; Intrator & Cooper 1992 sliding threshold)::

        dW = <y (y - theta) x^T>,      theta <- theta + (dt / tau_theta) (<y^2> - theta)

    ``theta`` (one per post neuron) tracks the mean squared output; ``weight_decay`` adds ``-decay W``.
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, lr: float = 1e-3, tau_theta: float = 100.0,
                 theta0: float = 0.0, dt: float = 1.0, weight_decay: float = 0.0, update: Update = "immediate",
                 w_min: float | None = None, w_max: float | None = None) -> None:
        super().__init__(synapse, update=update, lr=lr, w_min=w_min, w_max=w_max)
        _checks.positive("tau_theta", tau_theta)
        self.rate = dt / tau_theta
        self.weight_decay = weight_decay
        self.register_buffer("theta", torch.full((self.weight.shape[0],), float(theta0)))

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        x, y, r = self.rows(pre, post, modulator)
        theta = self.theta.to(y)
        dw = ((y * (y - theta) * r).t() @ x).reshape(self.weight.shape)
        if self.weight_decay:
            dw -= self.weight_decay * self.weight
        self.theta += self.rate * ((y * y).mean(0) - theta)
        return dw


class SoftHebb(_RowRule):
    """SoftHebb (Moraitis et al. 2022): soft winner-take-all Hebbian learning.

    ``post`` is the pre-activation ``u = W x``; ``y = softmax(u / temperature)`` over the output
    neurons; ``dw_k = <y_k (x - u_k w_k)>`` (which drives each ``w_k`` to unit norm).
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, lr: float = 1e-2, temperature: float = 1.0,
                 update: Update = "immediate") -> None:
        super().__init__(synapse, update=update, lr=lr)
        _checks.positive("temperature", temperature)
        self.temperature = temperature

    def activation(self, u: Tensor) -> Tensor:
        """The soft winner-take-all output ``softmax(u / temperature)`` over dim 1."""
        return torch.softmax(u / self.temperature, dim=1)

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        x, u, r = self.rows(pre, post, modulator)
        y = torch.softmax(u / self.temperature, dim=1) * r
        w = self.view.weight_rows()
        return (y.t() @ x - (y * u).sum(0).unsqueeze(1) * w).reshape(self.weight.shape)


__all__ = ["Oja", "BCM", "SoftHebb"]
