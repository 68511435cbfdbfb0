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

Layers: the kernel math is defined in :mod:`snnkit.functional.delays`, the fast engines (Gaussian
kernel, spectral and direct convolutions) are in :mod:`snnkit.kernels.delays`; this module holds the
layers and re-exports the functions under their old names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from .. import _checks
from ..analysis.cost import count_parameters as _count_parameters
from ..functional.delays import Interpolation, dcls_position, one_hot_kernel, shift_reference
from .._compat import deprecated_name, renamed_attribute, renamed_keyword
from ..kernels.delays import ALGORITHMS, delay_kernel, delayed_linear

DelayMode = Literal["learned", "random", "none"]

#: Smallest effective sigma the DCLS recipe decays to (``SIG = 0.23`` plus the ``0.27`` offset).
SIGMA_FINAL = 0.5


@dataclass(frozen=True)
class DelayRangeReport:
    """Result of checking integer delays against a hardware range ``0..max_allowed``."""

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


def check_delay_range(integer_delays: Tensor, max_allowed: int, strict: bool = False) -> DelayRangeReport:
    """Count synapses whose integer delay lies outside ``0..max_allowed`` (a chip's limit: Loihi 2's comes
    from its profile, :func:`snnkit.hardware.loihi.check_delay_range`); with ``strict`` raise
    ``ValueError`` instead of returning a failing report."""
    if isinstance(max_allowed, bool) or not isinstance(max_allowed, int) or max_allowed < 0:
        raise ValueError(f"max_allowed={max_allowed!r}; allowed: an integer >= 0 (the largest delay in steps)")
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
        algorithm: convolution algorithm, see :func:`delayed_linear` (``method`` before: deprecated).
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int, mode: DelayMode = "learned",
                 interpolation: Interpolation = "gaussian", sigma: float | None = None,
                 extra_steps: int = 0, bias: bool = False, init_delays: str = "uniform",
                 algorithm: str = "auto", *, method: str | None = None) -> None:
        super().__init__()
        algorithm = renamed_keyword("DelayedLinear", "method", "algorithm", method, algorithm)
        for name, v in (("in_features", in_features), ("out_features", out_features), ("max_delay", max_delay)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}={v!r} must be an int >= 1")
        _checks.one_of("mode", mode, ("learned", "random", "none"))
        _checks.one_of("interpolation", interpolation, ("gaussian", "triangle"))
        _checks.one_of("init_delays", init_delays, ("uniform", "zero"))
        _checks.one_of("algorithm", algorithm, ALGORITHMS)
        self.algorithm = algorithm
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

    def check_delay_range(self, max_allowed: int, strict: bool = False) -> DelayRangeReport:
        """Check :meth:`integer_delays` against a hardware range ``0..max_allowed`` (for Loihi 2:
        :func:`snnkit.hardware.loihi.check_delay_range`, which reads the chip profile)."""
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
        return delayed_linear(x, self.kernel(), self.extra_steps, self.bias, self.algorithm)

    @property
    def method(self) -> str:
        """Deprecated name of :attr:`algorithm`."""
        renamed_attribute("DelayedLinear", "method", "algorithm")
        return self.algorithm

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
                 init_delays: str = "uniform", algorithm: str = "auto", *, method: str | None = None) -> None:
        super().__init__()
        algorithm = renamed_keyword("DelayedConv1d", "method", "algorithm", method, algorithm)
        for name, v, low in (("in_channels", in_channels, 1), ("kernel_size", kernel_size, 1),
                             ("stride", stride, 1), ("padding", padding, 0)):
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"{name}={v!r} must be an int >= {low}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.synapses = DelayedLinear(in_channels * kernel_size, out_channels, max_delay, mode, interpolation,
                                      sigma, extra_steps, bias, init_delays, algorithm)

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


def _deprecated_loihi2_max_delay(owner: str) -> int:
    """The value of the deprecated ``<owner>.LOIHI2_MAX_DELAY``: Loihi 2's limit, now read from its chip profile
    by the Loihi backend (synapses take the limit as an argument)."""
    deprecated_name(f"{owner}.LOIHI2_MAX_DELAY", "snnkit.hardware.loihi.MAX_DELAY (from hardware/loihi2.toml)",
                    stacklevel=4)
    from ..hardware.loihi.layer import MAX_DELAY  # an upward import, lazy, only in this shim (gone next release)
    return MAX_DELAY


def __getattr__(name: str) -> int:
    if name == "LOIHI2_MAX_DELAY":
        return _deprecated_loihi2_max_delay(__name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (delays included when learned): :func:`snnkit.analysis.count_parameters`
    with ``trainable_only=True``."""
    return _count_parameters(model, trainable_only=True)


__all__ = ["DelayedLinear", "DelayedConv1d", "delay_kernel", "one_hot_kernel", "delayed_linear", "shift_reference",
           "dcls_position", "check_delay_range", "DelayRangeReport", "delayed_layers", "freeze_delays",
           "count_parameters", "SIGMA_FINAL", "Interpolation", "DelayMode"]
