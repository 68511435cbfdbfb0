"""Spike-timing-dependent plasticity: pair STDP (additive or weight-dependent) and triplet STDP.

Pair STDP with a pre trace ``x_pre`` and a post trace ``x_post`` (see :mod:`.traces`), per step::

    dw = A+(w) * (post (x) x_pre) - A-(w) * (x_post (x) pre)       summed over the batch

With ``order="trace_first"`` the traces include this step's spikes before ``dw`` is computed (both
spikingjelly and norse do this; a simultaneous pre/post pair counts both ways); with
``order="weight_first"`` ``dw`` uses the traces of the previous step, then the traces advance.
With exp decay and increment 1, one pre spike followed by one post spike ``dt`` later changes the
weight by ``A+ exp(-dt/tau_post_window)``: the analytic STDP window.

Reproducing the peers (see ``tests/test_plasticity_stdp.py``):

- spikingjelly ``STDPLearner`` (``on_grad=True``, optimiser lr ``eta``): ``method="euler"``,
  ``increment="one"``, ``a_plus=f_post``, ``a_minus=f_pre`` (callables of ``w`` or numbers),
  ``update="grad"``;
- norse ``stdp_step_linear``: ``method="euler"``, ``increment="dt_over_tau"``,
  ``trace_scale_pre=a_pre``, ``a_plus=eta_plus``, ``a_minus=eta_minus``,
  ``weight_dependence="additive"`` or ``"multiplicative"`` (``mu``), ``w_min``/``w_max`` (hard bounds),
  ``update="immediate"``.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor, nn

from .. import _checks
from .rule import PlasticityRule, Update
from .synapse_views import DelayedDenseView, SynapseView
from .traces import DecayMethod, Increment, TraceParameters, trace_step

Order = Literal["trace_first", "weight_first"]
WeightDependence = Literal["additive", "multiplicative"]
Amplitude = float | Callable[[Tensor], Tensor]


class PairSTDP(PlasticityRule):
    """Pair-based STDP on any synapse (dense, convolutional, delayed), batched.

    Args:
        synapse: the synapse whose ``weight`` learns (``nn.Linear``, ``nn.Conv1d/2d``, a delayed layer,
            a weight tensor).
        tau_pre, tau_post: time constants of the pre and post traces (unit of ``dt``); ``tau_pre`` sets
            the width of the potentiation side of the window, ``tau_post`` the depression side.
        a_plus, a_minus: amplitudes (numbers, or callables of the weight for custom weight dependence).
        weight_dependence: ``"additive"`` or ``"multiplicative"``: ``A+ = a_plus (w_max - w)^mu``,
            ``A- = a_minus (w - w_min)^mu`` (soft bounds; van Rossum 2000, Guetig 2003).
        method, increment, trace_scale_pre, trace_scale_post: trace conventions (:class:`TraceParameters`).
        order: ``"trace_first"`` or ``"weight_first"`` (see the module docstring).
        update, lr, w_min, w_max: delivery of ``dw`` (see :class:`PlasticityRule`); bounds clamp.
        pre_offset: ``x_tar`` of Diehl & Cook (2015): potentiation uses ``x_pre - pre_offset``, so a post
            spike also depresses synapses whose inputs were silent (their rule with ``a_minus=0``).
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, tau_pre: float = 20.0,
                 tau_post: float = 20.0, a_plus: Amplitude = 0.01, a_minus: Amplitude = 0.0105,
                 weight_dependence: WeightDependence = "additive", mu: float = 1.0, dt: float = 1.0,
                 method: DecayMethod = "exp", increment: Increment = "one", trace_scale_pre: float = 1.0,
                 trace_scale_post: float = 1.0, order: Order = "trace_first", update: Update = "immediate",
                 lr: float = 1.0, w_min: float | None = None, w_max: float | None = None,
                 pre_offset: float = 0.0) -> None:
        super().__init__(synapse, update=update, lr=lr, w_min=w_min, w_max=w_max)
        _checks.one_of("order", order, ("trace_first", "weight_first"))
        if not (isinstance(pre_offset, (int, float)) and pre_offset >= 0):
            raise ValueError(f"pre_offset={pre_offset!r} must be a number >= 0")
        self.pre_offset = float(pre_offset)
        _checks.one_of("weight_dependence", weight_dependence, ("additive", "multiplicative"))
        if weight_dependence == "multiplicative" and (w_min is None or w_max is None):
            raise ValueError("weight_dependence='multiplicative' needs both w_min and w_max; got "
                             f"w_min={w_min}, w_max={w_max}")
        self.pre_trace = TraceParameters(tau_pre, dt, method, increment, trace_scale_pre)
        self.post_trace = TraceParameters(tau_post, dt, method, increment, trace_scale_post)
        self.a_plus, self.a_minus, self.weight_dependence, self.mu = a_plus, a_minus, weight_dependence, mu
        self.order = order
        self.x_pre: Tensor | None = None
        self.x_post: Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.x_pre = self.x_post = None

    def amplitudes(self, w: Tensor) -> tuple[Tensor | float, Tensor | float]:
        """``(A+(w), A-(w))`` at the current weight."""
        ap = self.a_plus(w) if callable(self.a_plus) else self.a_plus
        am = self.a_minus(w) if callable(self.a_minus) else self.a_minus
        if self.weight_dependence == "multiplicative":
            up = (self.w_max - w).clamp_min(0)
            down = (w - self.w_min).clamp_min(0)
            if self.mu != 1.0:
                up, down = up.pow(self.mu), down.pow(self.mu)
            ap, am = ap * up, am * down
        return ap, am

    def advance_traces(self, pre: Tensor, post: Tensor) -> tuple[Tensor, Tensor]:
        """Advance the pre and post traces by one step of spikes; returns ``(x_pre, x_post)`` (used by
        rules built on this one, e.g. the eligibility of three-factor STDP)."""
        self.x_pre = trace_step(self.x_pre, pre, self.pre_trace)
        self.x_post = trace_step(self.x_post, post, self.post_trace)
        return self.x_pre, self.x_post

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        if self.order == "trace_first":
            x_pre, x_post = self.advance_traces(pre, post)
        else:
            x_pre = torch.zeros_like(pre) if self.x_pre is None else self.x_pre
            x_post = torch.zeros_like(post) if self.x_post is None else self.x_post
            self.advance_traces(pre, post)
        v = self.view
        if self.pre_offset:
            x_pre = x_pre - self.pre_offset
        ltp = v.correlate(self.modulate_post(post, modulator), v.prepare_pre("x_pre", x_pre))
        ltd = v.correlate(self.modulate_post(x_post, modulator), v.prepare_pre("pre", pre))
        ap, am = self.amplitudes(self.weight)
        return _combine(ap, ltp, am, ltd)

    def run(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        """Multi-step: with fixed weights (``update`` other than ``"immediate"``) the sum over time is
        two matrix products over all ``T*B`` rows at once; otherwise it steps."""
        fixed = self.update != "immediate" and not isinstance(self.view, DelayedDenseView) and not self.pre_offset
        if not fixed or (isinstance(modulator, Tensor) and modulator.dim() > 0):
            return super().run(pre, post, modulator)
        with torch.no_grad():
            pre, post = pre.detach(), post.detach()
            xs_pre = self._trace_sequence(pre, "x_pre", self.pre_trace)
            xs_post = self._trace_sequence(post, "x_post", self.post_trace)
            v, flat = self.view, (lambda x: x.flatten(0, 1))
            post_rows = v.post_rows(flat(post))
            ltp = (post_rows.t() @ v.pre_rows(flat(xs_pre))).reshape(self.weight.shape)
            ltd = (v.post_rows(flat(xs_post)).t() @ v.pre_rows(flat(pre))).reshape(self.weight.shape)
            if modulator is not None:
                ltp, ltd = ltp * modulator, ltd * modulator
            ap, am = self.amplitudes(self.weight)
            dw = _combine(ap, ltp, am, ltd)
            self.deliver(dw)
        return dw

    def _trace_sequence(self, spikes: Tensor, name: str, p: TraceParameters) -> Tensor:
        """The traces each step's ``dw`` reads (this step's for trace_first, the previous for weight_first)."""
        trace = getattr(self, name)
        out = torch.empty_like(spikes)
        for t, s in enumerate(spikes.unbind(0)):
            if self.order == "weight_first":
                out[t] = 0 if trace is None else trace
            trace = trace_step(trace, s, p)
            if self.order == "trace_first":
                out[t] = trace
        setattr(self, name, trace)
        return out


def _combine(ap: Tensor | float, ltp: Tensor, am: Tensor | float, ltd: Tensor) -> Tensor:
    if isinstance(ap, (int, float)) and isinstance(am, (int, float)):
        return ltp.mul_(ap).sub_(ltd, alpha=am) if ap != 1.0 else ltp.sub_(ltd, alpha=am)
    return ap * ltp - am * ltd


class TripletSTDP(PlasticityRule):
    """Triplet STDP (Pfister & Gerstner 2006, all-to-all interaction).

    Pre traces ``r1`` (``tau_plus``), ``r2`` (``tau_x``); post traces ``o1`` (``tau_minus``),
    ``o2`` (``tau_y``); all decay exponentially and add 1 per spike. Per step::

        dw = post * r1 * (A2+ + A3+ * o2_before) - pre * o1 * (A2- + A3- * r2_before)

    where ``r1``/``o1`` already include this step's spikes and ``r2``/``o2`` are read before this step's
    spikes are added (the ``t - epsilon`` of the paper). Visual-cortex parameters (all-to-all, minimal):
    ``tau_plus=16.8, tau_minus=33.7, tau_x=101, tau_y=125, A2+=5e-10, A3+=6.2e-3, A2-=7e-3, A3-=2.3e-4``.
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, tau_plus: float = 16.8,
                 tau_minus: float = 33.7, tau_x: float = 101.0, tau_y: float = 125.0, a2_plus: float = 5e-10,
                 a3_plus: float = 6.2e-3, a2_minus: float = 7e-3, a3_minus: float = 2.3e-4, dt: float = 1.0,
                 update: Update = "immediate", lr: float = 1.0, w_min: float | None = None,
                 w_max: float | None = None) -> None:
        super().__init__(synapse, update=update, lr=lr, w_min=w_min, w_max=w_max)
        self.p = {name: TraceParameters(tau, dt) for name, tau in
                  (("r1", tau_plus), ("r2", tau_x), ("o1", tau_minus), ("o2", tau_y))}
        self.a2_plus, self.a3_plus, self.a2_minus, self.a3_minus = a2_plus, a3_plus, a2_minus, a3_minus
        self.traces: dict[str, Tensor | None] = dict.fromkeys(self.p)

    def reset(self) -> None:
        super().reset()
        self.traces = dict.fromkeys(self.p)

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        tr = self.traces
        decayed = {k: (torch.zeros_like(pre if k[0] == "r" else post) if tr[k] is None else tr[k] * self.p[k].decay)
                   for k in tr}
        r1, o1 = decayed["r1"] + pre, decayed["o1"] + post
        r2_before, o2_before = decayed["r2"], decayed["o2"]
        tr.update(r1=r1, o1=o1, r2=r2_before + pre, o2=o2_before + post)
        v = self.view
        ltp_post = self.modulate_post(post * (self.a2_plus + self.a3_plus * o2_before), modulator)
        ltd_post = self.modulate_post(o1, modulator)
        ltp = v.correlate(ltp_post, v.prepare_pre("r1", r1))
        ltd = v.correlate(ltd_post, v.prepare_pre("pre_r2", pre * (self.a2_minus + self.a3_minus * r2_before)))
        return ltp - ltd


__all__ = ["PairSTDP", "TripletSTDP", "Order", "WeightDependence"]
