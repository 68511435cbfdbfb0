"""Triton kernels of the neuron dynamics: one program per block of neurons runs the whole sequence
(forward), or its adjoint in reverse (backward), keeping the state in registers in float32.

Inputs are flat ``[T, N]`` (N = batch x features), per-neuron parameters flat ``[N]`` float32. Storage
may be float16/bfloat16 (mixed precision); arithmetic is float32. Every formula is the one of
:mod:`snnkit.functional`, in the same order of operations, so float32 runs are bit-identical to the
reference where the compiler does not contract a multiply-add (the interpreter never does).

Imported only by :mod:`snnkit.kernels.triton_engine`, after ``TRITON_INTERPRET`` has been read:
Triton decides at decoration time whether ``@triton.jit`` kernels are compiled or interpreted.
"""
from __future__ import annotations

import triton
import triton.language as tl

HARD, SUBTRACT, NONE = 0, 1, 2


@triton.jit
def surrogate_derivative(z, alpha, KIND: tl.constexpr):
    """The derivatives of :mod:`snnkit.surrogate`, ids as in ``triton_engine.SURROGATE_IDS``."""
    if KIND == 0:    # atan
        w = 1.5707963267948966 * alpha * z
        d = (alpha / 2) / (1 + w * w)
    elif KIND == 1:  # sigmoid
        sig = 1 / (1 + tl.exp(-(alpha * z)))
        d = alpha * sig * (1 - sig)
    elif KIND == 2:  # fast_sigmoid
        q = 1 + alpha * tl.abs(z)
        d = 1 / (q * q)
    elif KIND == 3:  # triangle
        d = alpha * tl.maximum(1 - alpha * tl.abs(z), 0.0)
    elif KIND == 4:  # rectangular
        d = tl.where(tl.abs(z) < 0.5 / alpha, alpha, 0.0)
    elif KIND == 5:  # gaussian
        az = alpha * z
        d = alpha * 0.5641895835477563 * tl.exp(-(az * az))
    elif KIND == 6:  # piecewise_quadratic
        d = tl.maximum(alpha - alpha * alpha * tl.abs(z), 0.0)
    else:            # periodic
        d = tl.where(tl.abs(z) < 1.5707963267948966 / alpha, (2 * alpha / 3.141592653589793) * tl.cos(alpha * z), 0.0)
    return d


@triton.jit
def _integrate(x, v, beta, DECAY_INPUT: tl.constexpr):
    if DECAY_INPUT:
        h = beta * v + (1 - beta) * x
    else:
        h = beta * v + x
    return h


@triton.jit
def _reset(h, spike, th, v_reset, RESET: tl.constexpr):
    if RESET == 0:
        v = tl.where(spike, v_reset, h)
    elif RESET == 1:
        v = tl.where(spike, h - th, h)
    else:
        v = h
    return v


# ------------------------------------------------------------------ LIF / IF (and ALIF)


@triton.jit
def lif_forward(x_ptr, v0_ptr, beta_ptr, th_ptr, a0_ptr, rho_ptr, ba_ptr, s_ptr, h_ptr, aprev_ptr, v_ptr, a_ptr,
                T, N, v_reset, RESET: tl.constexpr, DECAY_INPUT: tl.constexpr, ADAPT: tl.constexpr,
                BLOCK: tl.constexpr):
    """LIF over T steps; with ADAPT, ALIF (threshold ``th + ba * a[t-1]``, ``a = rho a + s``)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=0.0)
    if ADAPT:
        a = tl.load(a0_ptr + offs, mask=mask, other=0.0)
        rho = tl.load(rho_ptr + offs, mask=mask, other=0.0)
        ba = tl.load(ba_ptr + offs, mask=mask, other=0.0)
    for t in range(T):
        x = tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
        h = _integrate(x, v, beta, DECAY_INPUT)
        if ADAPT:
            tl.store(aprev_ptr + t * N + offs, a, mask=mask)
            th_t = th + ba * a
        else:
            th_t = th
        spike = h > th_t
        v = _reset(h, spike, th_t, v_reset, RESET)
        if ADAPT:
            a = rho * a + spike.to(tl.float32)
        tl.store(s_ptr + t * N + offs, spike.to(tl.float32).to(s_ptr.dtype.element_ty), mask=mask)
        tl.store(h_ptr + t * N + offs, h, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)
    if ADAPT:
        tl.store(a_ptr + offs, a, mask=mask)


@triton.jit
def lif_backward(gs_ptr, gv_last_ptr, ga_last_ptr, h_ptr, aprev_ptr, x_ptr, v0_ptr, beta_ptr, th_ptr, rho_ptr, ba_ptr,
                 gx_ptr, gv0_ptr, ga0_ptr, gbeta_ptr, gth_ptr, grho_ptr, T, N, v_reset, alpha,
                 RESET: tl.constexpr, DECAY_INPUT: tl.constexpr, DETACH: tl.constexpr, SURROGATE: tl.constexpr,
                 ADAPT: tl.constexpr, HAS_GS: tl.constexpr, HAS_GV: tl.constexpr, HAS_GA: tl.constexpr,
                 NEED_BETA: tl.constexpr, BLOCK: tl.constexpr):
    """Adjoint of :func:`lif_forward`: gradients into x, the initial state and the per-neuron
    parameters (summed over time; the caller sums them over the batch)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    beta = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    th = tl.load(th_ptr + offs, mask=mask, other=0.0)
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    zero = tl.zeros([BLOCK], dtype=tl.float32)
    gv = zero
    if HAS_GV:
        gv = tl.load(gv_last_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    ga = zero
    if ADAPT:
        rho = tl.load(rho_ptr + offs, mask=mask, other=0.0)
        ba = tl.load(ba_ptr + offs, mask=mask, other=0.0)
        if HAS_GA:
            ga = tl.load(ga_last_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g_beta = zero
    g_th = zero
    g_rho = zero
    for i in range(T):
        t = T - 1 - i
        h = tl.load(h_ptr + t * N + offs, mask=mask, other=0.0)
        th_t = th
        if ADAPT:
            a_prev = tl.load(aprev_ptr + t * N + offs, mask=mask, other=0.0)
            th_t = th + ba * a_prev
        spike = h > th_t
        s = spike.to(tl.float32)
        sg = surrogate_derivative(h - th_t, alpha, SURROGATE)
        g_s = zero
        if HAS_GS:
            g_s = tl.load(gs_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
        if ADAPT:
            g_s = g_s + ga
        if not DETACH:
            if RESET == 0:
                g_s = g_s + gv * (v_reset - h)
            elif RESET == 1:
                g_s = g_s - gv * th_t
        g_s = g_s * sg
        if RESET == 0:
            g_h = g_s + gv * (1 - s)
        else:
            g_h = g_s + gv
        g_tht = -g_s
        if RESET == 1:
            g_tht = g_tht - gv * s
        g_th += g_tht
        if ADAPT:
            g_rho += ga * a_prev
            ga = rho * ga + ba * g_tht
        if DECAY_INPUT:
            gx = g_h * (1 - beta)
        else:
            gx = g_h
        if NEED_BETA:   # d h[t] / d beta = v[t-1] (- x[t] with decay_input)
            tp = tl.maximum(t, 1) - 1   # step t-1, or 0 at t=0 (loaded, then replaced by v0)
            h_p = tl.load(h_ptr + tp * N + offs, mask=mask, other=0.0)
            th_p = th
            if ADAPT:
                th_p = th + ba * tl.load(aprev_ptr + tp * N + offs, mask=mask, other=0.0)
            v_prev = tl.where(t == 0, v0, _reset(h_p, h_p > th_p, th_p, v_reset, RESET))
            if DECAY_INPUT:
                v_prev = v_prev - tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
            g_beta += g_h * v_prev
        tl.store(gx_ptr + t * N + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        gv = beta * g_h
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gth_ptr + offs, g_th, mask=mask)
    if NEED_BETA:
        tl.store(gbeta_ptr + offs, g_beta, mask=mask)
    if ADAPT:
        tl.store(ga0_ptr + offs, ga, mask=mask)
        tl.store(grho_ptr + offs, g_rho, mask=mask)


# ------------------------------------------------------------------ LI (and the CUBA current)


@triton.jit
def li_forward(x_ptr, v0_ptr, beta_ptr, out_ptr, T, N, DECAY_INPUT: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    beta = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    for t in range(T):
        x = tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
        v = _integrate(x, v, beta, DECAY_INPUT)
        tl.store(out_ptr + t * N + offs, v.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def li_backward(g_ptr, out_ptr, x_ptr, v0_ptr, beta_ptr, gx_ptr, gv0_ptr, gbeta_ptr, T, N,
                DECAY_INPUT: tl.constexpr, NEED_BETA: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    beta = tl.load(beta_ptr + offs, mask=mask, other=0.0)
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    g_h = tl.zeros([BLOCK], dtype=tl.float32)
    g_beta = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(T):
        t = T - 1 - i
        g_h = tl.load(g_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32) + g_h * beta
        if DECAY_INPUT:
            gx = g_h * (1 - beta)
        else:
            gx = g_h
        if NEED_BETA:
            tp = tl.maximum(t, 1) - 1
            v_prev = tl.where(t == 0, v0, tl.load(out_ptr + tp * N + offs, mask=mask, other=0.0).to(tl.float32))
            if DECAY_INPUT:
                v_prev = v_prev - tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
            g_beta += g_h * v_prev
        tl.store(gx_ptr + t * N + offs, gx.to(gx_ptr.dtype.element_ty), mask=mask)
    tl.store(gv0_ptr + offs, g_h * beta, mask=mask)
    if NEED_BETA:
        tl.store(gbeta_ptr + offs, g_beta, mask=mask)


# ------------------------------------------------------------------ Izhikevich


@triton.jit
def _izhikevich_parameters(dta_ptr, b_ptr, c_ptr, d_ptr, offs, mask):
    """The per-neuron parameters ``(dt * a, b, c, d)`` of one block, read by the forward and the backward."""
    return (tl.load(dta_ptr + offs, mask=mask, other=0.0), tl.load(b_ptr + offs, mask=mask, other=0.0),
            tl.load(c_ptr + offs, mask=mask, other=0.0), tl.load(d_ptr + offs, mask=mask, other=0.0))


@triton.jit
def izhikevich_forward(x_ptr, v0_ptr, u0_ptr, dta_ptr, b_ptr, c_ptr, d_ptr, s_ptr, w_ptr, v_ptr, u_ptr,
                       T, N, dt, input_scale, v_peak, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    u = tl.load(u0_ptr + offs, mask=mask, other=0.0)
    dta, b, c, d = _izhikevich_parameters(dta_ptr, b_ptr, c_ptr, d_ptr, offs, mask)
    for t in range(T):
        x = tl.load(x_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
        w = v + dt * (0.04 * v * v + 5 * v + 140 - u + input_scale * x)
        u_new = u + dta * (b * v - u)
        s = (w > v_peak).to(tl.float32)
        v = w * (1 - s) + c * s
        u = u_new + d * s
        tl.store(s_ptr + t * N + offs, s.to(s_ptr.dtype.element_ty), mask=mask)
        tl.store(w_ptr + t * N + offs, w, mask=mask)
    tl.store(v_ptr + offs, v, mask=mask)
    tl.store(u_ptr + offs, u, mask=mask)


@triton.jit
def izhikevich_backward(gs_ptr, gv_last_ptr, gu_last_ptr, w_ptr, v0_ptr, dta_ptr, b_ptr, c_ptr, d_ptr,
                        gx_ptr, gv0_ptr, gu0_ptr, T, N, dt, input_scale, v_peak, alpha,
                        DETACH: tl.constexpr, SURROGATE: tl.constexpr, HAS_GS: tl.constexpr,
                        HAS_GV: tl.constexpr, HAS_GU: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v0 = tl.load(v0_ptr + offs, mask=mask, other=0.0)
    dta, b, c, d = _izhikevich_parameters(dta_ptr, b_ptr, c_ptr, d_ptr, offs, mask)
    zero = tl.zeros([BLOCK], dtype=tl.float32)
    gv = zero
    gu = zero
    if HAS_GV:
        gv = tl.load(gv_last_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    if HAS_GU:
        gu = tl.load(gu_last_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    for i in range(T):
        t = T - 1 - i
        w = tl.load(w_ptr + t * N + offs, mask=mask, other=0.0)
        s = (w > v_peak).to(tl.float32)
        sg = surrogate_derivative(w - v_peak, alpha, SURROGATE)
        tp = tl.maximum(t, 1) - 1
        w_p = tl.load(w_ptr + tp * N + offs, mask=mask, other=0.0)
        s_p = (w_p > v_peak).to(tl.float32)
        v_prev = tl.where(t == 0, v0, w_p * (1 - s_p) + c * s_p)
        g_s = zero
        if HAS_GS:
            g_s = tl.load(gs_ptr + t * N + offs, mask=mask, other=0.0).to(tl.float32)
        if not DETACH:
            g_s = g_s + gv * (c - w) + gu * d
        g_w = gv * (1 - s) + g_s * sg
        tl.store(gx_ptr + t * N + offs, (g_w * (dt * input_scale)).to(gx_ptr.dtype.element_ty), mask=mask)
        gv_new = g_w * (1 + dt * (0.08 * v_prev + 5)) + gu * (dta * b)
        gu = gu * (1 - dta) - dt * g_w
        gv = gv_new
    tl.store(gv0_ptr + offs, gv, mask=mask)
    tl.store(gu0_ptr + offs, gu, mask=mask)
