"""Three-factor rules: a pair-STDP term feeds an eligibility trace; a modulator turns it into change.

Per step (Fremaux & Gerstner 2016; Izhikevich 2007; Florian 2007)::

    zeta[t] = A+ post (x) x_pre - A- x_post (x) pre          (the STDP term of :class:`PairSTDP`)
    e[t]    = decay_e * e[t-1] + gain_e * zeta[t]             (eligibility; e = zeta without one)
    dw[t]   = M[t] * e[t]                                     (M: reward, error, dopamine ...)

Florian's MSTDP is ``e = zeta`` (:func:`mstdp`); MSTDPET filters with ``tau_e`` and gain
``1/tau_e`` (:func:`mstdpet`); Izhikevich's distal-reward rule uses gain 1. The modulator is the
``modulator`` argument of :meth:`step`: a scalar or one value per post-synaptic neuron (batch-summed
eligibility), or, with ``per_sample=True`` (dense synapses), one value per sample ``[B]`` or per sample
and neuron ``[B, out]``. Without a modulator the eligibility advances and ``dw`` is zero.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .rule import PlasticityRule, Update
from .stdp import PairSTDP
from .synapse_views import DenseView, SynapseView
from .traces import Increment, TraceParameters


class RewardModulatedSTDP(PlasticityRule):
    """Reward-modulated (three-factor) STDP with an optional eligibility trace.

    Args:
        tau_pre, tau_post, a_plus, a_minus, dt: the STDP term (exp-decaying traces, increment 1).
        tau_eligibility: ``None`` for no eligibility filter (MSTDP), else its time constant.
        eligibility_increment: ``"dt_over_tau"`` (Florian's MSTDPET) or ``"one"`` (Izhikevich 2007).
        per_sample: keep one eligibility per sample so the modulator can differ per sample.
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, tau_pre: float = 20.0,
                 tau_post: float = 20.0, a_plus: float = 1.0, a_minus: float = 1.0,
                 tau_eligibility: float | None = None, eligibility_increment: Increment = "dt_over_tau",
                 per_sample: bool = False, dt: float = 1.0, update: Update = "immediate", lr: float = 1.0,
                 w_min: float | None = None, w_max: float | None = None) -> None:
        super().__init__(synapse, update=update, lr=lr, w_min=w_min, w_max=w_max)
        self.stdp = PairSTDP(self.view, tau_pre=tau_pre, tau_post=tau_post, a_plus=a_plus, a_minus=a_minus,
                             dt=dt, update="accumulate")
        self.eligibility_trace = (None if tau_eligibility is None else
                                  TraceParameters(tau_eligibility, dt, "exp", eligibility_increment))
        if per_sample and not isinstance(self.view, DenseView):
            raise ValueError(f"per_sample=True needs a dense synapse; got {type(self.view).__name__}")
        self.per_sample = per_sample
        self.eligibility: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.stdp.reset()
        self.eligibility = None

    def stdp_term(self, pre: Tensor, post: Tensor) -> Tensor:
        """This step's STDP term ``zeta`` (``[B, out, in]`` with ``per_sample``, else weight-shaped)."""
        if not self.per_sample:
            return self.stdp.delta(pre, post)
        x_pre, x_post = self.stdp.advance_traces(pre, post)
        v = self.view
        b = pre.shape[0]
        post2, x_post2 = post.reshape(b, -1), x_post.reshape(b, -1)
        return (self.stdp.a_plus * torch.einsum("bo,bi->boi", post2, x_pre.reshape(b, -1))
                - self.stdp.a_minus * torch.einsum("bo,bi->boi", x_post2, pre.reshape(b, -1))).reshape(
                    b, *v.weight.shape)

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        zeta = self.stdp_term(pre, post)
        p = self.eligibility_trace
        if p is None:
            self.eligibility = zeta
        elif self.eligibility is None:
            self.eligibility = zeta * p.gain
        else:
            self.eligibility = self.eligibility.mul_(p.decay).add_(zeta, alpha=p.gain)
        if modulator is None:
            return torch.zeros_like(self.weight)
        return self._modulated(self.eligibility, modulator)

    def _modulated(self, e: Tensor, m: Tensor | float) -> Tensor:
        if not isinstance(m, Tensor) or m.dim() == 0:
            return (e.sum(0) if self.per_sample else e) * m
        if self.per_sample:  # e: [B, out, in]; m: [B] or [B, out]
            m2 = m.reshape(e.shape[0], -1)
            return torch.einsum("bo,boi->oi", m2.expand(-1, e.shape[1]), e)
        if m.shape == e.shape:
            return e * m
        if m.dim() == 1 and m.shape[0] == e.shape[0]:  # one value per post neuron
            return e * m.reshape(-1, *([1] * (e.dim() - 1)))
        raise ValueError(f"modulator shape {tuple(m.shape)} is not allowed without per_sample; allowed: scalar, "
                         f"[out]={e.shape[0]} or the weight shape {tuple(e.shape)}")


def mstdp(synapse: nn.Module | Tensor | SynapseView, *, tau_plus: float = 20.0, tau_minus: float = 20.0,
          a_plus: float = 1.0, a_minus: float = 1.0, **kwargs) -> RewardModulatedSTDP:
    """Florian (2007) MSTDP: ``dw = gamma * r(t) * zeta(t)`` (no eligibility filter); ``lr`` is gamma."""
    return RewardModulatedSTDP(synapse, tau_pre=tau_plus, tau_post=tau_minus, a_plus=a_plus, a_minus=a_minus,
                               tau_eligibility=None, **kwargs)


def mstdpet(synapse: nn.Module | Tensor | SynapseView, *, tau_plus: float = 20.0, tau_minus: float = 20.0,
            tau_z: float = 25.0, a_plus: float = 1.0, a_minus: float = 1.0, **kwargs) -> RewardModulatedSTDP:
    """Florian (2007) MSTDPET: ``z <- z exp(-dt/tau_z) + zeta * dt/tau_z``, ``dw = gamma * r(t) * z(t)``."""
    return RewardModulatedSTDP(synapse, tau_pre=tau_plus, tau_post=tau_minus, a_plus=a_plus, a_minus=a_minus,
                               tau_eligibility=tau_z, eligibility_increment="dt_over_tau", **kwargs)


__all__ = ["RewardModulatedSTDP", "mstdp", "mstdpet"]
