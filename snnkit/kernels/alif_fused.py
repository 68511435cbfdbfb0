"""Fused multi-step adaptive LIF (ALIF): one autograd node for the whole sequence.

Forward keeps two floats per neuron and step: the pre-reset membrane ``h[t]`` and the adaptation
``a[t-1]`` that set the threshold ``th[t] = v_th + beta_adapt * a[t-1]``. Backward recomputes spikes,
thresholds and surrogate derivatives for all steps at once; only the coupled adjoint recurrence stays
sequential::

    g_s    = g_out[t] + g_a[t] (+ g_v[t] * dv/ds unless detach_reset)
    g_h    = g_v[t] * dv/dh + g_s * sg[t]           g_v[t-1] = beta * g_h
    g_th   = g_v[t] * dv/dth - g_s * sg[t]          g_a[t-1] = rho * g_a[t] + beta_adapt * g_th
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..functional.alif import ALIFParameters
from ..functional.discretize import decay
from ..functional.lif import LIFParameters, reset_membrane
from .lif_fused import reduce_to, integrate_into


class _FusedALIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, a0: Tensor, beta: Tensor, th: Tensor, rho: Tensor,  # type: ignore[override]
                beta_adapt: float | Tensor, p: LIFParameters):
        h_all = torch.empty_like(xs)
        a_prev = torch.empty_like(xs)
        v, a = v0, a0
        for t, x in enumerate(xs.unbind(0)):
            a_prev[t] = a
            th_t = th + beta_adapt * a
            h = integrate_into(h_all[t], x, v, beta, p.decay_input)
            s = (h > th_t).to(h.dtype)
            v = reset_membrane(h, s, th_t, p)
            a = rho * a + s
        spikes = (h_all > th + beta_adapt * a_prev).to(xs.dtype)
        ctx.p, ctx.beta_adapt = p, beta_adapt
        ctx.save_for_backward(h_all, a_prev, v0, beta, th, rho,
                              xs if p.decay_input and ctx.needs_input_grad[3] else None)
        return spikes, v, a

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vlast: Tensor, g_alast: Tensor):  # type: ignore[override]
        h_all, a_prev, v0, beta, th, rho, xs = ctx.saved_tensors
        p: LIFParameters = ctx.p
        ba = ctx.beta_adapt
        th_all = th + ba * a_prev
        s = (h_all > th_all).to(h_all.dtype)
        sg = p.surrogate.derivative(h_all - th_all)
        # dv/dh, dv/ds (None: no gradient through the reset) and dv/dth at every step
        dv_dh = 1 - s if p.reset == "hard" else None
        dv_ds = None
        if not p.detach_reset and p.reset == "hard":
            dv_ds = p.v_reset - h_all
        elif not p.detach_reset and p.reset == "subtract":
            dv_ds = -th_all
        dv_dth = -s if p.reset == "subtract" else None
        zeros = torch.zeros_like(h_all[0])
        g_v = zeros if g_vlast is None else g_vlast
        g_a = zeros if g_alast is None else g_alast
        g_out = torch.zeros_like(h_all) if g_spikes is None else g_spikes
        g_h, g_th, g_a_all = torch.empty_like(h_all), torch.empty_like(h_all), torch.empty_like(h_all)
        for t in range(h_all.shape[0] - 1, -1, -1):
            g_a_all[t] = g_a
            g_s = g_out[t] + g_a
            if dv_ds is not None:
                g_s = g_s + g_v * dv_ds[t]
            g_s = g_s * sg[t]
            torch.add(g_s, g_v if dv_dh is None else g_v * dv_dh[t], out=g_h[t])
            torch.neg(g_s, out=g_th[t])
            if dv_dth is not None:
                g_th[t].addcmul_(g_v, dv_dth[t])
            g_a = rho * g_a + ba * g_th[t]
            g_v = beta * g_h[t]
        g_x = g_h * (1 - beta) if p.decay_input else g_h
        need = ctx.needs_input_grad
        g_v0 = reduce_to(g_v, v0.shape) if need[1] else None
        g_a0 = reduce_to(g_a, v0.shape) if need[2] else None
        g_beta = g_th_param = g_rho = None
        if need[3]:
            v_post = reset_membrane(h_all[:-1], s[:-1], th_all[:-1], p)
            v_prev = torch.cat([v0.expand_as(h_all[:1]), v_post])
            g_beta = reduce_to(g_h * (v_prev - xs if p.decay_input else v_prev), beta.shape)
        if need[4]:
            g_th_param = reduce_to(g_th, th.shape)
        if need[5]:
            g_rho = reduce_to(g_a_all * a_prev, rho.shape)
        return g_x, g_v0, g_a0, g_beta, g_th_param, g_rho, None, None


def supports(p: ALIFParameters) -> bool:
    """The fused engine differentiates ``x``, the state, ``tau_mem``, ``v_th`` and ``tau_adapt``;
    a learnable ``beta_adapt`` takes the reference path."""
    return not (isinstance(p.beta_adapt, Tensor) and p.beta_adapt.requires_grad)


def alif_multistep_fused(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: ALIFParameters
                         ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Fused equivalent of :func:`snnkit.functional.alif_multistep`: ``(spikes, (v, a))``."""
    v0, a0 = (torch.zeros_like(xs[0]), torch.zeros_like(xs[0])) if state is None else state
    rho = decay(p.tau_adapt, p.lif.dt, p.lif.method, "tau_adapt").to(xs.device, xs.dtype)
    ba = p.beta_adapt.to(xs.device, xs.dtype) if isinstance(p.beta_adapt, Tensor) else p.beta_adapt
    spikes, v, a = _FusedALIF.apply(xs, v0, a0, p.lif.beta(xs), p.lif.threshold(xs), rho, ba, p.lif)
    return spikes, (v, a)
