"""Learnable synaptic delays: one weight and one (continuous) delay per synapse.

Method: dilated convolution with learnable spacings (DCLS; Hammouamri, Khalfaoui-Hassani, Masquelier,
ICLR 2024). Each synapse ``(o, i)`` owns a weight ``w[o, i]`` and a delay ``d[o, i]`` in
``[0, max_delay - 1]`` time steps. During training the delay is spread over the integer taps by a
normalised interpolation kernel (a Gaussian of width ``sigma`` or a triangle), so the loss is
differentiable in ``d``; the layer is the causal temporal convolution

    y[t, b, o] = sum_i sum_k  w[o, i] * g(k; d[o, i], sigma) * x[t - k, b, i]

on time-major tensors ``[T, B, F]``. At evaluation the delays are rounded and the kernel becomes
one-hot (:meth:`DelayedLinear.freeze_delays`): every synapse then delays its input by an integer
number of steps, which is what graph exporters (NIR ``Delay``, Lava ``DelayDense``) consume through
:meth:`DelayedLinear.integer_delays`.

Parametrisation: snnkit stores the delay itself. The DCLS papers store a kernel position
``P = floor(D / 2) - d`` (odd ``D``) and ``SIG`` with ``sigma = |SIG| + 0.27``; :func:`dcls_position`
maps between the two.

Speed: the convolution runs in the frequency domain as real GEMMs (:class:`_SpectralDelayConv`):
zero-padded DFTs (cached matrices) turn the T x D tap products into ~2 (T + D) small channel-mixing
GEMMs, about 10x fewer flops than the dense convolution DCLS runs, for any sigma. The direct form
(:class:`_DelayConv`: tap GEMMs over time chunks of a strided unfolded view, hand-written backward)
is kept for very long sequences and as a second implementation for tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .. import _checks

DelayMode = Literal["learned", "random", "none"]
Interpolation = Literal["gaussian", "triangle"]

#: Loihi 2 synaptic delays are 6-bit; lava-dl's netx reader clamps them to 0..62.
LOIHI2_MAX_DELAY = 62
#: Smallest effective sigma the DCLS recipe decays to (``SIG = 0.23`` plus the ``0.27`` offset).
SIGMA_FINAL = 0.5
_NORM_EPS = 1e-7  # as in DCLS: keeps the normalisation finite when all taps underflow
_CHUNK_ELEMENTS = 1 << 22  # unfolded elements per chunk (16 MB in float32)


# --------------------------------------------------------------------------------------------------
# kernel construction
# --------------------------------------------------------------------------------------------------

class _GaussianKernel(torch.autograd.Function):
    """Normalised Gaussian kernel ``w * e / (sum_k e + eps)``, ``e = exp(-(k - d)^2 / (2 sigma^2))``, built
    tap-major (memory ``[D, in, out]``, returned as an ``[out, in, D]`` view, the layout the spectral
    path reads without a copy) with a hand-written backward that keeps two kernel-sized tensors
    instead of the dozen intermediates autograd would:
    ``dL/dw = A / S``, ``dL/dd = w / (S sigma^2) * (B - A C / S)`` with ``A = sum G e``,
    ``B = sum G e (k - d)``, ``C = sum e (k - d)``, ``S = sum e + eps``."""

    @staticmethod
    def forward(ctx, weight: Tensor, delays: Tensor, D: int, sigma: float) -> Tensor:  # type: ignore[override]
        taps = torch.arange(D, device=delays.device, dtype=delays.dtype).view(D, 1, 1)
        dist = taps - delays.t().contiguous().unsqueeze(0)  # [D, in, out], contiguous (fast tap sums)
        e = dist.square().mul_(-0.5 / sigma ** 2).exp_()
        s = e.sum(0).add_(_NORM_EPS)
        c = dist.mul_(e).sum(0)  # dist is recomputed in backward: keeps one kernel-sized tensor saved
        # Few, large elementwise passes: on a busy machine each costs a thread wake-up.
        ctx.save_for_backward(weight, delays, e, s, c)
        ctx.sigma = sigma
        return (e * (weight.t() / s).unsqueeze(0)).permute(2, 1, 0)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        weight, delays, e, s, c = ctx.saved_tensors
        ge = grad.permute(2, 1, 0) * e
        a = ge.sum(0)
        grad_w = (a / s).t() if ctx.needs_input_grad[0] else None
        grad_d = None
        if ctx.needs_input_grad[1]:
            taps = torch.arange(e.shape[0], device=e.device, dtype=e.dtype).view(-1, 1, 1)
            b = ge.mul_(taps - delays.t().contiguous().unsqueeze(0)).sum(0)
            grad_d = (weight.t() / (s * ctx.sigma ** 2) * (b - a * c / s)).t()
        return grad_w, grad_d, None, None


def delay_kernel(weight: Tensor, delays: Tensor, max_delay: int, sigma: float | Tensor,
                 interpolation: Interpolation = "gaussian") -> Tensor:
    """Per-synapse temporal kernel ``[out, in, max_delay]``; tap ``k`` multiplies ``x[t - k]``.

    ``gaussian``: ``exp(-(k - d)^2 / (2 sigma^2))`` normalised over the taps; ``triangle``: linear
    interpolation between the two integer taps around ``d`` (``max(0, 1 - |k - d|)``, normalised).
    """
    _checks.one_of("interpolation", interpolation, ("gaussian", "triangle"))
    if interpolation == "gaussian":
        sigma_f = float(sigma)
        _checks.positive("sigma", sigma_f)
        return _GaussianKernel.apply(weight, delays.to(weight.dtype), max_delay, sigma_f)
    taps = torch.arange(max_delay, device=delays.device, dtype=delays.dtype)
    g = torch.relu(1.0 - (taps - delays.unsqueeze(-1)).abs())
    g = g / (g.sum(-1, keepdim=True) + _NORM_EPS)
    return weight.unsqueeze(-1) * g


def one_hot_kernel(weight: Tensor, integer_delays: Tensor, max_delay: int) -> Tensor:
    """Kernel ``[out, in, max_delay]`` with the whole weight on tap ``integer_delays[o, i]``."""
    hot = torch.nn.functional.one_hot(integer_delays.long(), max_delay).to(weight.dtype)
    return weight.unsqueeze(-1) * hot


def dcls_position(delays: Tensor, max_delay: int) -> Tensor:
    """DCLS kernel position ``P`` for a delay (``Dcls1d`` fed with ``max_delay - 1`` steps of left
    padding): ``P = (max_delay - 1) - floor(max_delay / 2) - d``. The map is its own inverse."""
    return (max_delay - 1) - max_delay // 2 - delays


# --------------------------------------------------------------------------------------------------
# the causal temporal convolution on [T, B, F]
# --------------------------------------------------------------------------------------------------

def _unfolded_rows(x_pad: Tensor, t0: int, t1: int, taps: int) -> Tensor:
    """Rows ``[(t1 - t0) * B, taps * I]`` with row ``(t, b)`` = ``x_pad[t0 + t + j, b, :]`` for
    ``j = 0..taps-1``: a strided view of the contiguous padded input, copied once by ``reshape``."""
    _, B, I = x_pad.shape
    view = x_pad.as_strided((t1 - t0, B, taps, I), (B * I, I, B * I, 1), x_pad.storage_offset() + t0 * B * I)
    return view.reshape((t1 - t0) * B, taps * I)


def _chunk_len(B: int, I: int, taps: int, steps: int) -> int:
    return max(1, min(steps, _CHUNK_ELEMENTS // max(1, B * I * taps)))


class _DelayConv(torch.autograd.Function):
    """``y[t] = sum_k x[t - k] @ kernel[:, :, k].T`` for ``t < T + extra``; x is zero outside ``[0, T)``."""

    @staticmethod
    def forward(ctx, x: Tensor, kernel: Tensor, extra: int) -> Tensor:  # type: ignore[override]
        T, B, I = x.shape
        O, _, D = kernel.shape
        T_out = T + extra
        # Row (j, i) of the stacked weight is tap k = D - 1 - j: unfolded window j = 0 is x[t - (D-1)].
        w_stack = kernel.flip(-1).permute(2, 1, 0).reshape(D * I, O).contiguous()
        x_pad = torch.nn.functional.pad(x, (0, 0, 0, 0, D - 1, extra)).contiguous()
        y = x.new_empty(T_out, B, O)
        step = _chunk_len(B, I, D, T_out)
        y_rows = y.view(T_out * B, O)
        for t0 in range(0, T_out, step):
            t1 = min(T_out, t0 + step)
            torch.mm(_unfolded_rows(x_pad, t0, t1, D), w_stack, out=y_rows[t0 * B:t1 * B])
        ctx.save_for_backward(x_pad, w_stack)
        ctx.shape = (T, B, I, O, D, extra)
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x_pad, w_stack = ctx.saved_tensors
        T, B, I, O, D, extra = ctx.shape
        T_out = T + extra
        g_rows = grad_y.contiguous().view(T_out * B, O)
        grad_x = grad_k = None
        step = _chunk_len(B, I, D, T_out)
        if ctx.needs_input_grad[1]:
            g_stack = torch.zeros_like(w_stack)
            for t0 in range(0, T_out, step):
                t1 = min(T_out, t0 + step)
                g_stack.addmm_(_unfolded_rows(x_pad, t0, t1, D).t(), g_rows[t0 * B:t1 * B])
            grad_k = g_stack.view(D, I, O).permute(2, 1, 0).flip(-1)
        if ctx.needs_input_grad[0]:
            # grad of x_pad[s] = sum_j grad_y[s - j] @ w_j.T: one GEMM per tap straight into a
            # contiguous time slice of the padded gradient (no unfolded gradient buffer).
            gx_pad = torch.zeros_like(x_pad)
            gx_rows = gx_pad.view(-1, I)
            for j in range(D):
                w_j = w_stack[j * I:(j + 1) * I]  # [I, O]
                gx_rows[j * B:(j + T_out) * B].addmm_(g_rows, w_j.t())
            grad_x = gx_pad[D - 1:D - 1 + T]
        return grad_x, grad_k, None


_DFT_CACHE: dict[tuple, tuple[Tensor, ...]] = {}


def _dft_matrices(T: int, D: int, T_out: int, N: int, dtype: torch.dtype, device: torch.device):
    """Real DFT matrices of length ``N``: forward for x (``[2F, T]``, rows (f, re/im) interleaved) and
    for the kernel (``[2F, D]``: all real rows, then all imaginary rows), and the two inverse maps that
    turn the products back into ``y [T_out]``."""
    key = (T, D, T_out, N, dtype, device)
    hit = _DFT_CACHE.get(key)
    if hit is not None:
        return hit
    F = N // 2 + 1
    f = torch.arange(F, dtype=torch.float64)

    def forward_rows(L: int) -> Tensor:  # rows (f, re) = cos, (f, im) = -sin, interleaved
        ang = 2 * math.pi * torch.outer(f, torch.arange(L, dtype=torch.float64)) / N
        return torch.stack([ang.cos(), -ang.sin()], 1).reshape(2 * F, L)

    ck = forward_rows(D).view(F, 2, D)
    ang = 2 * math.pi * torch.outer(torch.arange(T_out, dtype=torch.float64), f) / N
    scale = torch.full((F,), 2.0 / N, dtype=torch.float64)
    scale[0] = 1.0 / N
    if N % 2 == 0:
        scale[-1] = 1.0 / N
    cr, ci = scale * ang.cos(), -scale * ang.sin()
    mats = (forward_rows(T), torch.cat([ck[:, 0], ck[:, 1]]),
            torch.stack([cr, ci], -1).reshape(T_out, 2 * F), torch.stack([ci, -cr], -1).reshape(T_out, 2 * F))
    out = tuple(m.to(dtype=dtype, device=device).contiguous() for m in mats)
    if len(_DFT_CACHE) > 32:
        _DFT_CACHE.clear()
    _DFT_CACHE[key] = out
    return out


class _SpectralDelayConv(torch.autograd.Function):
    """The same causal convolution in the frequency domain, all as real GEMMs.

    Zero-padding time to ``N = max(T + D - 1, T_out)`` makes the circular convolution equal the linear
    one on the first ``T_out`` steps. Per frequency the channel mixing is a complex ``[B, in] x
    [in, out]`` product done as two real batched GEMMs (real and imaginary rows of x stacked), so the
    work is ~2N small GEMMs instead of T * D for the direct convolution (about 10x fewer flops on the
    SHD shape); the DFTs are matmuls with cached matrices. Only ``x`` and the tap-major kernel are
    saved; the backward recomputes the spectra and handles one half (real/imaginary kernel part) at a
    time, so peak memory stays near that of the input and output.
    """

    @staticmethod
    def forward(ctx, x: Tensor, k_taps: Tensor, extra: int) -> Tensor:  # type: ignore[override]
        T, B, I = x.shape
        D = k_taps.shape[0]
        O = k_taps.shape[1] // I
        T_out = T + extra
        N = max(T + D - 1, T_out)
        F = N // 2 + 1
        cx, ck, inv_p, inv_q = _dft_matrices(T, D, T_out, N, x.dtype, x.device)
        xs = (cx @ x.reshape(T, B * I)).view(F, 2 * B, I)  # [F, (re | im) x B, I]
        k_spec = (ck @ k_taps).view(2, F, I, O)  # real and imaginary kernel spectra, one GEMM
        y = x.new_zeros(T_out, B * O)
        for f0, f1 in _freq_chunks(F, B * O):
            for half, inv in enumerate((inv_p, inv_q)):
                part = torch.bmm(xs[f0:f1], k_spec[half, f0:f1])
                y.addmm_(inv[:, 2 * f0:2 * f1], part.view(2 * (f1 - f0), B * O))
                del part  # free before the next product is allocated
        ctx.save_for_backward(x, k_taps)
        ctx.dims = (T, B, I, O, D, T_out, N)
        return y.view(T_out, B, O)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x, k_taps = ctx.saved_tensors
        T, B, I, O, D, T_out, N = ctx.dims
        F = N // 2 + 1
        cx, ck, inv_p, inv_q = _dft_matrices(T, D, T_out, N, x.dtype, x.device)
        need_x, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g = grad_y.reshape(T_out, B * O)
        g_taps = grad_x = None
        # Kernel gradient first, then input gradient: the x spectrum and the input-gradient spectrum are
        # never alive together (one extra inverse-DFT GEMM per half buys ~20 % lower peak memory).
        if need_k:
            xs = (cx @ x.reshape(T, B * I)).view(F, 2 * B, I)
            g_taps = k_taps.new_zeros(D, I * O)
            for half, inv in enumerate((inv_p, inv_q)):
                ck_half = ck[half * F:(half + 1) * F]
                g_half = k_taps.new_empty(F, I, O)
                for f0, f1 in _freq_chunks(F, B * O):
                    g_part = (inv[:, 2 * f0:2 * f1].t() @ g).view(f1 - f0, 2 * B, O)
                    torch.bmm(xs[f0:f1].transpose(1, 2), g_part, out=g_half[f0:f1])
                    del g_part
                g_taps.addmm_(ck_half.t(), g_half.view(F, I * O))
                del g_half
            del xs
        if need_x:
            g_xs = x.new_empty(F, 2 * B, I)
            for half, inv in enumerate((inv_p, inv_q)):
                k_half = (ck[half * F:(half + 1) * F] @ k_taps).view(F, I, O)
                for f0, f1 in _freq_chunks(F, B * O):
                    g_part = (inv[:, 2 * f0:2 * f1].t() @ g).view(f1 - f0, 2 * B, O)
                    k_part = k_half[f0:f1].transpose(1, 2)
                    if half == 0:
                        torch.bmm(g_part, k_part, out=g_xs[f0:f1])
                    else:
                        g_xs[f0:f1].baddbmm_(g_part, k_part)
                    del g_part
                del k_half
            grad_x = (cx.t() @ g_xs.view(2 * F, B * I)).view(T, B, I)
        return grad_x, g_taps, None


def _freq_chunks(F: int, cols: int) -> list[tuple[int, int]]:
    """Frequency blocks small enough that one ``[2 * block, cols]`` product stays under ~32 MB (float32):
    one block on the DCLS shapes (blocking costs time: the per-block GEMMs are much slower), bounded
    buffers for very wide layers."""
    step = max(1, min(F, (1 << 23) // max(1, 2 * cols)))
    return [(f0, min(F, f0 + step)) for f0 in range(0, F, step)]


def _spectral_delay_conv(x: Tensor, kernel: Tensor, extra: int) -> Tensor:
    O, I, D = kernel.shape
    # [D, in, out] memory: a view for kernels built tap-major (the Gaussian), one small copy otherwise.
    k_taps = kernel.permute(2, 1, 0).reshape(D, I * O)
    return _SpectralDelayConv.apply(x, k_taps, extra)


def _pick_method(T: int, D: int, method: str) -> str:
    if method != "auto":
        return method
    # Spectral: ~2N GEMMs plus O(T^2) DFT matmuls; direct: T * D tap GEMMs.
    return "spectral" if D >= 4 and T <= 4096 else "direct"


def delayed_linear(x: Tensor, kernel: Tensor, extra_steps: int = 0, bias: Tensor | None = None,
                   method: str = "auto") -> Tensor:
    """Causal temporal convolution of time-major ``x [T, B, in]`` with ``kernel [out, in, D]``
    (tap ``k`` = delay ``k`` steps). Returns ``[T + extra_steps, B, out]``.

    ``method``: ``"spectral"`` (frequency domain, fastest for the DCLS shapes), ``"direct"`` (tap
    GEMMs over time chunks; exact in float32 summation order) or ``"auto"``.
    """
    _checks.one_of("method", method, ("auto", "spectral", "direct"))
    _checks.time_major("x", x, min_rank=3)
    if x.dim() != 3:
        raise ValueError(f"x must be [T, B, features]; got shape {tuple(x.shape)}")
    if kernel.dim() != 3 or kernel.shape[1] != x.shape[2]:
        raise ValueError(f"kernel must be [out, in={x.shape[2]}, D]; got shape {tuple(kernel.shape)}")
    if not isinstance(extra_steps, int) or extra_steps < 0:
        raise ValueError(f"extra_steps={extra_steps!r} must be an int >= 0")
    kernel = kernel.to(x.dtype)
    if _pick_method(x.shape[0], kernel.shape[2], method) == "spectral":
        y = _spectral_delay_conv(x, kernel, extra_steps)
    else:
        y = _DelayConv.apply(x, kernel, extra_steps)
    return y if bias is None else y + bias


def shift_reference(x: Tensor, weight: Tensor, integer_delays: Tensor, extra_steps: int = 0) -> Tensor:
    """Slow, obvious reference: every synapse shifts its input by its integer delay. Used by tests and
    as documentation of what the fast path computes."""
    T, B, I = x.shape
    O = weight.shape[0]
    y = x.new_zeros(T + extra_steps, B, O)
    for o in range(O):
        for i in range(I):
            d = int(integer_delays[o, i])
            if d < T + extra_steps:
                n = min(T, T + extra_steps - d)
                y[d:d + n, :, o] += weight[o, i] * x[:n, :, i]
    return y


# --------------------------------------------------------------------------------------------------
# the module
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DelayRangeReport:
    """Result of checking integer delays against a hardware range (Loihi 2: 0..62)."""

    max_allowed: int
    max_delay: int
    n_synapses: int
    n_out_of_range: int

    @property
    def ok(self) -> bool:
        return self.n_out_of_range == 0

    def __str__(self) -> str:
        state = "ok" if self.ok else f"{self.n_out_of_range} of {self.n_synapses} synapses exceed it"
        return f"largest delay {self.max_delay} steps, allowed 0..{self.max_allowed}: {state}"


def check_delay_range(integer_delays: Tensor, max_allowed: int = LOIHI2_MAX_DELAY,
                      strict: bool = False) -> DelayRangeReport:
    """Count synapses whose integer delay exceeds ``max_allowed`` (Loihi 2's 6-bit range by default);
    with ``strict`` raise ``ValueError`` instead of returning a failing report."""
    d = integer_delays.detach()
    rep = DelayRangeReport(int(max_allowed), int(d.max()) if d.numel() else 0, d.numel(),
                           int((d > max_allowed).sum()) + int((d < 0).sum()))
    if strict and not rep.ok:
        raise ValueError(f"integer delays out of range: {rep}")
    return rep


class DelayedLinear(nn.Module):
    """Fully connected synapses with one weight and one delay each, on time-major ``[T, B, in]``.

    Args:
        in_features, out_features: sizes.
        max_delay: ``D``, the number of taps; delays lie in ``[0, D - 1]`` steps.
        mode: ``"learned"`` (delays are trained), ``"random"`` (fixed random integer delays, the
            control of the DCLS paper) or ``"none"`` (all delays 0: an ordinary linear layer).
        interpolation: ``"gaussian"`` (DCLS) or ``"triangle"`` (linear interpolation between taps).
        sigma: initial Gaussian width in steps (default ``D / 2``, as the recipe starts);
            :class:`snnkit.synapses.delay_training.SigmaSchedule` lowers it during training.
        extra_steps: output steps appended after the input ends, so that spikes delayed past the last
            input step still reach the next layer (the DCLS code uses ``(D - 1) // 2``).
        bias: add a learnable bias per output.
        init_delays: ``"uniform"`` over ``[0, D - 1]`` (recipe) or ``"zero"``.
        method: convolution algorithm, see :func:`delayed_linear`.
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, mode: DelayMode = "learned",
                 interpolation: Interpolation = "gaussian", sigma: float | None = None,
                 extra_steps: int = 0, bias: bool = False, init_delays: str = "uniform",
                 method: str = "auto") -> None:
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features), ("max_delay", max_delay)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}={v!r} must be an int >= 1")
        _checks.one_of("mode", mode, ("learned", "random", "none"))
        _checks.one_of("interpolation", interpolation, ("gaussian", "triangle"))
        _checks.one_of("init_delays", init_delays, ("uniform", "zero"))
        _checks.one_of("method", method, ("auto", "spectral", "direct"))
        self.method = method
        if not isinstance(extra_steps, int) or extra_steps < 0:
            raise ValueError(f"extra_steps={extra_steps!r} must be an int >= 0")
        self.in_features, self.out_features, self.max_delay = in_features, out_features, max_delay
        self.mode, self.interpolation, self.extra_steps = mode, interpolation, extra_steps
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        sigma = max_delay / 2 if sigma is None else sigma
        _checks.positive("sigma", sigma)
        self.register_buffer("sigma", torch.tensor(float(sigma)))
        d = torch.zeros(out_features, in_features)
        if mode == "learned":
            self.delays = nn.Parameter(d)
        else:
            self.register_buffer("delays", d)
        # Frozen = integer delays with one-hot kernels (evaluation in the paper; random/none modes).
        self.register_buffer("frozen", torch.tensor(mode != "learned"))
        self._init_delays = init_delays
        #: Straight-through rounding (see :meth:`kernel`); switch on for the last phase of training.
        self.straight_through = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu")
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        with torch.no_grad():
            if self.mode == "learned" and self._init_delays == "uniform":
                self.delays.uniform_(0, self.max_delay - 1)
            elif self.mode == "random":
                self.delays.copy_(torch.randint(0, self.max_delay, self.delays.shape).to(self.delays))
            else:
                self.delays.zero_()

    # ---- delays ------------------------------------------------------------------------------
    @property
    def is_frozen(self) -> bool:
        # a meta tensor has no value to read: shape-only runs take the (shape-identical) learned path
        return self.frozen.device.type != "meta" and bool(self.frozen)

    def clamp_delays(self) -> None:
        """Keep delays inside ``[0, D - 1]``; call after every optimiser step (see ``delay_training``)."""
        with torch.no_grad():
            self.delays.clamp_(0, self.max_delay - 1)

    def freeze_delays(self) -> None:
        """Round delays to integers and switch to one-hot kernels (stops their gradient)."""
        self.clamp_delays()
        with torch.no_grad():
            self.delays.round_()
        self.frozen.fill_(True)
        if isinstance(self.delays, nn.Parameter):
            self.delays.requires_grad_(False)

    def unfreeze_delays(self) -> None:
        """Back to interpolated (trainable) delays; only for ``mode="learned"``."""
        if self.mode != "learned":
            raise ValueError(f"unfreeze_delays needs mode='learned'; this layer has mode={self.mode!r}")
        self.frozen.fill_(False)
        self.delays.requires_grad_(True)

    def integer_delays(self) -> Tensor:
        """Integer delay per synapse ``[out, in]`` (int64): the rounded, clamped delays the frozen
        layer applies. This is the export hook for NIR ``Delay`` and Lava ``DelayDense``."""
        d = self.delays.detach().clamp(0, self.max_delay - 1).round()
        return d.long()

    def weights_by_delay(self) -> dict[int, Tensor]:
        """``{d: W_d}`` with ``W_d [out, in]`` holding the weights of the synapses whose integer delay is
        ``d`` (zeros elsewhere). NIR's ``Delay`` node delays whole channels, so a per-synapse delay
        layer exports as parallel branches ``Linear(W_d) -> Delay(d)`` summed at the output; Lava's
        ``DelayDense`` takes ``weight`` and :meth:`integer_delays` directly."""
        d = self.integer_delays()
        w = self.weight.detach()
        return {int(v): torch.where(d == v, w, torch.zeros_like(w)) for v in torch.unique(d).tolist()}

    def check_delay_range(self, max_allowed: int = LOIHI2_MAX_DELAY, strict: bool = False) -> DelayRangeReport:
        """Check :meth:`integer_delays` against a hardware range (Loihi 2: 0..62 by default)."""
        return check_delay_range(self.integer_delays(), max_allowed, strict)

    def kernel(self) -> Tensor:
        """The temporal kernel ``[out, in, D]`` this layer applies (tap ``k`` = delay ``k``)."""
        if self.mode == "none":
            return one_hot_kernel(self.weight, torch.zeros_like(self.weight, dtype=torch.long), self.max_delay)
        if self.is_frozen:
            return one_hot_kernel(self.weight, self.integer_delays(), self.max_delay)
        if self.straight_through:
            # Forward with integer delays (exactly what freezing will give), gradient for the delays
            # from the interpolated kernel: the weights adapt to the rounded delays while they still move.
            soft = delay_kernel(self.weight.detach(), self.delays, self.max_delay,
                                self.sigma.to(self.weight.dtype), self.interpolation)
            return one_hot_kernel(self.weight, self.integer_delays(), self.max_delay) + (soft - soft.detach())
        return delay_kernel(self.weight, self.delays, self.max_delay, self.sigma.to(self.weight.dtype),
                            self.interpolation)

    def forward(self, x: Tensor) -> Tensor:
        _checks.time_major("x", x, min_rank=3)
        if x.dim() != 3 or x.shape[2] != self.in_features:
            raise ValueError(f"x must be [T, B, {self.in_features}]; got shape {tuple(x.shape)}")
        if self.mode == "none":  # no delays: one GEMM, then the zero tail for extra steps
            y = torch.nn.functional.linear(x, self.weight)
            if self.extra_steps:
                y = torch.nn.functional.pad(y, (0, 0, 0, 0, 0, self.extra_steps))
            return y if self.bias is None else y + self.bias
        return delayed_linear(x, self.kernel(), self.extra_steps, self.bias, self.method)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, mode={self.mode!r}, "
                f"interpolation={self.interpolation!r}, sigma={float(self.sigma):.3g}, "
                f"extra_steps={self.extra_steps}, frozen={self.is_frozen}")


class DelayedConv1d(nn.Module):
    """A 1-D convolution over a feature axis whose every synapse (output channel ``o``, input channel
    ``i``, kernel tap ``k``) also has its own learnable delay, on time-major ``[T, B, C_in, L]``::

        y[t, b, o, l] = sum_{i, k} w[o, i, k] * x[t - d[o, i, k], b, i, l * stride + k - padding]

    (DCLS with learnable positions along time and a dense kernel along the feature axis, e.g. the
    frequency channels of audio). It is a :class:`DelayedLinear` from the ``C_in * kernel_size`` values of
    each receptive field to ``C_out`` (shared over positions), so every delay tool (sigma schedule,
    clamping, freezing, straight-through rounding, ``integer_delays``) applies to ``self.synapses``;
    ``weight`` and ``delays`` are views ``[C_out, C_in, kernel_size]``. Output ``[T + extra_steps, B,
    C_out, L_out]``. Remaining arguments as for :class:`DelayedLinear`.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, max_delay: int, stride: int = 1,
                 padding: int = 0, mode: DelayMode = "learned", interpolation: Interpolation = "gaussian",
                 sigma: float | None = None, extra_steps: int = 0, bias: bool = False,
                 init_delays: str = "uniform", method: str = "auto") -> None:
        super().__init__()
        for name, v, low in (("in_channels", in_channels, 1), ("kernel_size", kernel_size, 1),
                             ("stride", stride, 1), ("padding", padding, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name}={v!r} must be an int >= {low}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.synapses = DelayedLinear(in_channels * kernel_size, out_channels, max_delay, mode, interpolation,
                                      sigma, extra_steps, bias, init_delays, method)

    @property
    def weight(self) -> Tensor:
        return self.synapses.weight.view(self.out_channels, self.in_channels, self.kernel_size)

    @property
    def delays(self) -> Tensor:
        return self.synapses.delays.view(self.out_channels, self.in_channels, self.kernel_size)

    def integer_delays(self) -> Tensor:
        """Integer delay per synapse ``[C_out, C_in, kernel_size]``."""
        return self.synapses.integer_delays().view(self.out_channels, self.in_channels, self.kernel_size)

    def freeze_delays(self) -> None:
        self.synapses.freeze_delays()

    def forward(self, x: Tensor) -> Tensor:
        _checks.time_major("x", x, min_rank=4)
        if x.dim() != 4 or x.shape[2] != self.in_channels:
            raise ValueError(f"x must be [T, B, {self.in_channels}, L]; got shape {tuple(x.shape)}")
        T, B = x.shape[:2]
        if self.padding:
            x = torch.nn.functional.pad(x, (self.padding, self.padding))
        if x.shape[3] < self.kernel_size:
            raise ValueError(f"x has {x.shape[3] - 2 * self.padding} positions; kernel_size={self.kernel_size} "
                             f"with padding={self.padding} needs at least {self.kernel_size - 2 * self.padding}")
        fields = x.unfold(3, self.kernel_size, self.stride)  # [T, B, C, L_out, K]
        L_out = fields.shape[3]
        rows = fields.permute(0, 1, 3, 2, 4).reshape(T, B * L_out, self.in_channels * self.kernel_size)
        y = self.synapses(rows)  # [T', B * L_out, C_out]
        return y.reshape(y.shape[0], B, L_out, self.out_channels).permute(0, 1, 3, 2)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, " \
               f"padding={self.padding}"


def delayed_layers(model: nn.Module) -> list[DelayedLinear]:
    """All :class:`DelayedLinear` modules inside ``model`` (in module order)."""
    return [m for m in model.modules() if isinstance(m, DelayedLinear)]


def freeze_delays(model: nn.Module) -> int:
    """Freeze (round, one-hot) every delayed layer of ``model``; returns how many were frozen."""
    layers = delayed_layers(model)
    for m in layers:
        m.freeze_delays()
    return len(layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (delays included when learned)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["DelayedLinear", "DelayedConv1d", "delay_kernel", "one_hot_kernel", "delayed_linear", "shift_reference",
           "dcls_position", "check_delay_range", "DelayRangeReport", "delayed_layers", "freeze_delays",
           "count_parameters", "LOIHI2_MAX_DELAY", "SIGMA_FINAL"]

