"""Membrane-potential batch normalisation (MPBN; Guo et al., ICCV 2023).

A LIF layer whose membrane is batch-normalised just before the threshold comparison::

    h[t] = beta * v[t-1] + x[t]                         (raw membrane, as in snnkit.functional.lif)
    s[t] = Heaviside(gamma * (h[t] - mu) / sigma + b - v_th)
    v[t] = h[t] * (1 - s[t])                            (hard reset of the raw membrane)

In training ``mu, sigma`` are the batch statistics of each step (the running statistics are updated
every step); in evaluation they are the running statistics, so the normalisation is a fixed affine map
per channel and folds away exactly (:func:`fold_mpbn`): with ``c = gamma / sigma`` the weights and bias
of the layer feeding the neurons are multiplied by ``c`` (the membrane becomes ``c h``, which leaks and
resets to 0 exactly like ``h``) and the per-channel threshold becomes ``v_th - b + c mu``. This holds for
any sign of ``gamma`` (a negative ``c`` flips the membrane, and the comparison stays ``c h >= ...``).
The folded network is a plain :class:`snnkit.neurons.LIF` with a per-channel threshold: no extra
operation at inference.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from ..functional.lif import LIFParameters, integrate, reset_membrane
from ..neurons import LIF, SpikingLayer
from ..synapses import TimeDistributed

__all__ = ["MPBNLIF", "fold_mpbn"]


class MPBNLIF(SpikingLayer):
    """LIF neurons with batch normalisation of the membrane before firing (hard reset to 0).

    Args:
        num_features: channels (dim 1 of each step ``[B, C, ...]``).
        tau_mem, dt, v_th, surrogate, alpha: as for :class:`snnkit.neurons.LIF`.
        momentum, eps: of the running statistics (as ``torch.nn.BatchNorm``).
    """

    def __init__(self, num_features: int, tau_mem: float | None = 2.0, dt: float = 1.0, v_th: float = 1.0,
                 surrogate: str = "atan", alpha: float | None = None, momentum: float = 0.1,
                 eps: float = 1e-5) -> None:
        super().__init__()
        if not (isinstance(num_features, int) and num_features >= 1):
            raise ValueError(f"num_features={num_features!r} must be an int >= 1")
        self.lif = LIF(tau_mem, dt=dt, v_th=v_th, reset="hard", surrogate=surrogate, alpha=alpha)
        self.bn = nn.BatchNorm1d(num_features, eps=eps, momentum=momentum)

    def _normalise(self, h: Tensor) -> Tensor:
        flat = h.reshape(h.shape[0], h.shape[1], -1)  # BatchNorm1d takes [B, C, L]
        return self.bn(flat).reshape(h.shape)

    def _step(self, x: Tensor, v: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor]:
        h = integrate(x, v, p.beta(x), p.decay_input)
        th = p.threshold(x)
        s = p.surrogate(self._normalise(h) - th)
        return s, reset_membrane(h, s, th, p)

    def run(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x)
        _checks.time_major("x", x, min_rank=3)
        p = self.lif.params()
        v = torch.zeros_like(x[0]) if state is None else state
        spikes = []
        for x_t in x.unbind(0):
            s, v = self._step(x_t, v, p)
            spikes.append(s)
        return torch.stack(spikes), v

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._step(x, torch.zeros_like(x) if state is None else state, self.lif.params())

    def folded_affine(self) -> tuple[Tensor, Tensor]:
        """``(c, threshold)`` per channel: the scale for the feeding layer and the folded threshold."""
        bn = self.bn
        sigma = torch.sqrt(bn.running_var + bn.eps)
        c = bn.weight / sigma
        threshold = self.lif.v_th - bn.bias + c * bn.running_mean
        return c.detach(), threshold.detach()


def _scale_weight_layer(layer: nn.Module, c: Tensor) -> None:
    shape = (-1,) + (1,) * (layer.weight.dim() - 1)
    with torch.no_grad():
        layer.weight.mul_(c.reshape(shape).to(layer.weight))
        if layer.bias is not None:
            layer.bias.mul_(c.to(layer.bias))


def _folded_lif(m: MPBNLIF, threshold: Tensor, spatial_dims: int) -> LIF:
    src = m.lif
    tau = src.tau_mem
    lif = LIF(None if tau is None else float(tau), dt=src.dt, v_th=1.0, reset="hard",
              surrogate=src.surrogate.name, alpha=src.surrogate.alpha,
              shape=(threshold.numel(),) + (1,) * spatial_dims)
    with torch.no_grad():
        lif.v_th.copy_(threshold.reshape(lif.v_th.shape))
    return lif.to(threshold.device)


def fold_mpbn(model: nn.Module) -> nn.Module:
    """Replace (in place) every :class:`MPBNLIF` that directly follows a weight layer (``nn.Linear``,
    ``nn.Conv1d/2d``, optionally inside :class:`TimeDistributed`) in an ``nn.Sequential`` by a plain
    LIF with per-channel thresholds, scaling that weight layer's weights and bias. Returns ``model``.

    Raises ``ValueError`` for an MPBNLIF not preceded by a weight layer (nothing to fold into)."""
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for i, name in enumerate(names):
            m = parent._modules[name]
            if not isinstance(m, MPBNLIF):
                continue
            prev = parent._modules[names[i - 1]] if i > 0 else None
            layer = prev.module if isinstance(prev, TimeDistributed) else prev
            if not isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                raise ValueError(f"fold_mpbn: MPBNLIF {name!r} must directly follow a Linear/Conv layer "
                                 f"(possibly TimeDistributed); got {type(prev).__name__}")
            c, threshold = m.folded_affine()
            _scale_weight_layer(layer, c)
            dims = {nn.Linear: 0, nn.Conv1d: 1, nn.Conv2d: 2}[type(layer)]
            parent._modules[name] = _folded_lif(m, threshold, dims)
    if any(isinstance(m, MPBNLIF) for m in model.modules()):
        raise ValueError("fold_mpbn: some MPBNLIF layers are not inside an nn.Sequential; fold them by hand "
                         "with MPBNLIF.folded_affine()")
    return model
