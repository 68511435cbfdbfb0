"""Run the Linear/Conv layers of any model on simulated crossbars.

:func:`simulate` copies a model and replaces every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d``
(also inside ``snnkit.synapses.TimeDistributed``) by a crossbar layer whose weights are programmed
onto arrays and read at ``t_inference`` seconds after programming. Biases stay digital. Inputs of any
leading shape are flattened to one array read per vector: an SNN's ``[T, B, F]`` spikes give one read
(and one ADC conversion per column) per time step and sample; binary spikes need no DAC levels.

Hardware-aware training: :func:`hardware_aware` gives a trainable copy whose crossbar layers add
weight noise (``weight_noise * max|W|``, fresh every forward) and the periphery's quantisation and
output noise (straight-through gradients) in training mode; ``simulate`` of that copy programs it.
"""
from __future__ import annotations

import copy
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .array import CrossbarArray, CrossbarConfig, as_config, tiled_read

ProfileLike = "str | Mapping[str, Any] | CrossbarConfig"


class _CrossbarLayer(nn.Module):
    """Shared part: reference weight (trainable), digital bias, the programmed array."""

    weight: nn.Parameter
    bias: nn.Parameter | None

    def _init_crossbar(self, weight: Tensor, bias: Tensor | None, config: CrossbarConfig,
                       weight_noise: float = 0.0) -> None:
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.config = config
        self.weight_noise = float(weight_noise)
        self.array = CrossbarArray(self._matrix().detach(), config)

    def _matrix(self) -> Tensor:
        return self.weight.reshape(self.weight.shape[0], -1)

    @torch.no_grad()
    def program(self, generator: torch.Generator | None = None) -> None:
        """(Re)program the arrays from the current reference weights."""
        self.array.target.copy_(self._matrix())
        self.array.program(generator)

    def drift(self, t_inference: float, generator: torch.Generator | None = None) -> None:
        self.array.drift(t_inference, generator)

    def _matmul(self, x2d: Tensor) -> Tensor:
        """``x2d`` ``[N, in]`` -> ``[N, out]`` through the crossbar (no bias)."""
        if self.training and (self.weight_noise > 0 or not self.config.periphery.is_perfect):
            return self._hardware_aware_matmul(x2d)
        if self.training or not self.array.programmed:
            return x2d @ self._matrix().t()  # training without non-idealities, or the digital reference
        return self.array(x2d)

    def _hardware_aware_matmul(self, x2d: Tensor) -> Tensor:
        w = self._matrix()
        w_max = w.detach().abs().max().clamp(min=1e-7)
        if self.weight_noise > 0:
            w = w + self.weight_noise * w_max * torch.randn_like(w)
        ranges = self.array.row_ranges
        scale = w_max.expand(len(ranges), w.shape[0])
        return tiled_read(x2d, w / w_max, ranges, scale, self.config.periphery)


class CrossbarLinear(_CrossbarLayer):
    """``nn.Linear`` on crossbar arrays (weights programmed, bias digital)."""

    def __init__(self, weight: Tensor, bias: Tensor | None, config: CrossbarConfig, weight_noise: float = 0.0) -> None:
        super().__init__()
        self._init_crossbar(weight, bias, config, weight_noise)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]

    @classmethod
    def from_linear(cls, layer: nn.Linear, config: CrossbarConfig, weight_noise: float = 0.0) -> "CrossbarLinear":
        return cls(layer.weight, layer.bias, config, weight_noise)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x has {x.shape[-1]} features in its last dim; this layer takes {self.in_features}")
        if not self.training and self.config.is_ideal:
            return F.linear(x, self.weight, self.bias)
        lead = x.shape[:-1]
        y = self._matmul(x.reshape(-1, self.in_features))
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, profile={self.config.name!r}, "
                f"arrays={self.array.n_arrays}, t_inference={self.array.t_inference}")


class CrossbarConv(_CrossbarLayer):
    """``nn.Conv1d``/``nn.Conv2d`` (``groups=1``, zero padding) as im2col reads of crossbar arrays: every
    output position is one array read of the ``C_in * prod(kernel)`` input patch."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d, config: CrossbarConfig, weight_noise: float = 0.0) -> None:
        super().__init__()
        if conv.groups != 1:
            raise ValueError(f"groups={conv.groups}: only groups=1 convolutions map onto crossbars here")
        if conv.padding_mode != "zeros":
            raise ValueError(f"padding_mode={conv.padding_mode!r}: only 'zeros' is supported")
        self.dims = 1 if isinstance(conv, nn.Conv1d) else 2
        self.kernel_size = tuple(conv.kernel_size)
        self.stride, self.dilation = tuple(conv.stride), tuple(conv.dilation)
        self.padding = conv.padding  # int tuple or "same"/"valid"
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self._init_crossbar(conv.weight, conv.bias, config, weight_noise)

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
        if self.padding == "valid":
            return x, (0,) * self.dims
        if self.padding == "same":
            pads: list[int] = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]
            return F.pad(x, pads), (0,) * self.dims
        return x, tuple(self.padding)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        if not self.training and self.config.is_ideal:
            conv = F.conv1d if self.dims == 1 else F.conv2d
            return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation)
        if x.dim() != self.dims + 2:
            raise ValueError(f"x must be [N, C, {'L' if self.dims == 1 else 'H, W'}] for this conv; "
                             f"got {tuple(x.shape)} (wrap it in snnkit.synapses.TimeDistributed for [T, B, ...])")
        x, padding = self._pad(x)
        if self.dims == 1:
            x4, k, s, d, p = x.unsqueeze(2), (1,) + self.kernel_size, (1,) + self.stride, (1,) + self.dilation, \
                (0,) + padding
        else:
            x4, k, s, d, p = x, self.kernel_size, self.stride, self.dilation, padding
        n = x4.shape[0]
        h_out = (x4.shape[2] + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
        w_out = (x4.shape[3] + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
        cols = F.unfold(x4, k, dilation=d, padding=p, stride=s)  # [N, C*k, L]
        y = self._matmul(cols.transpose(1, 2).reshape(-1, cols.shape[1]))  # [N*L, C_out]
        if self.bias is not None:
            y = y + self.bias
        y = y.reshape(n, h_out * w_out, self.out_channels).transpose(1, 2)
        return y.reshape(n, self.out_channels, w_out) if self.dims == 1 else \
            y.reshape(n, self.out_channels, h_out, w_out)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"profile={self.config.name!r}, arrays={self.array.n_arrays}, t_inference={self.array.t_inference}")


def crossbar_layers(model: nn.Module) -> list[tuple[str, _CrossbarLayer]]:
    """``(qualified name, layer)`` for every crossbar layer of ``model``, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _CrossbarLayer)]


_MAPPABLE = (nn.Linear, nn.Conv1d, nn.Conv2d)


def _check_plain_forward(layer: nn.Module) -> None:
    """Refuse a Linear/Conv subclass whose own forward computes something other than the product with the
    weights it holds (e.g. with fake-quantised weights): a crossbar would program the raw weights. Checked
    on a random probe, so that a subclass that only stores its weight differently still maps."""
    base = next(b for b in _MAPPABLE if isinstance(layer, b))
    if type(layer).forward is base.forward:
        return
    g = torch.Generator().manual_seed(0)
    if isinstance(layer, nn.Linear):
        probe = torch.randn(4, layer.in_features, generator=g)
    else:
        extent = [d * (k - 1) + 1 + s for k, d, s in zip(layer.kernel_size, layer.dilation, layer.stride)]
        probe = torch.randn(2, layer.in_channels, *extent, generator=g)
    probe = probe.to(layer.weight)
    with torch.no_grad():
        got, plain = layer(probe), base.forward(layer, probe)
    if not torch.allclose(got, plain, rtol=1e-5, atol=1e-6 * float(plain.abs().max())):
        raise ValueError(f"{type(layer).__name__}.forward is not {base.__name__}.forward of the weights it holds "
                         "(checked on a random input; e.g. it fake-quantises them), so a crossbar programmed with "
                         "those weights would compute something else")


def _crossbar_copy(child: nn.Module, config: CrossbarConfig, weight_noise: float) -> nn.Module:
    if isinstance(child, CrossbarLinear):
        return CrossbarLinear(child.weight, child.bias, config, weight_noise)
    if isinstance(child, CrossbarConv):
        conv = (nn.Conv1d if child.dims == 1 else nn.Conv2d)(
            child.in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
            child.dilation, bias=child.bias is not None)
        conv.load_state_dict({"weight": child.weight.detach(),
                              **({} if child.bias is None else {"bias": child.bias.detach()})})
        return CrossbarConv(conv, config, weight_noise)
    _check_plain_forward(child)
    if isinstance(child, nn.Linear):
        return CrossbarLinear.from_linear(child, config, weight_noise)
    return CrossbarConv(child, config, weight_noise)  # type: ignore[arg-type]


def _convert(module: nn.Module, config: CrossbarConfig, weight_noise: float, prefix: str = "") -> None:
    for name, child in module.named_children():
        if not isinstance(child, (_CrossbarLayer, *_MAPPABLE)):
            _convert(child, config, weight_noise, f"{prefix}{name}.")
            continue
        try:
            new = _crossbar_copy(child, config, weight_noise)
        except ValueError as err:  # name the module: the layers' own checks do not know where they are
            raise ValueError(f"module '{prefix}{name}' ({type(child).__name__}): {err}") from err
        new.to(device=child.weight.device)
        setattr(module, name, new)


def _require_layers(model: nn.Module) -> None:
    """After conversion: refuse a model none of whose weights went onto crossbars, naming where they are."""
    if crossbar_layers(model):
        return
    held = [f"'{n}' ({type(m).__name__})" for n, m in model.named_modules()
            if any(p.dim() >= 2 for p in m.parameters(recurse=False))]
    raise ValueError("model has no nn.Linear, nn.Conv1d or nn.Conv2d layer to program onto crossbars; "
                     + (f"its weight matrices are in {', '.join(held)}" if held else "it holds no weight matrices"))


def seeded_generator(seed: int | None) -> torch.Generator | None:
    if seed is None:
        return None
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int or None; got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def simulate(model: nn.Module, profile: ProfileLike = "pcm", t_inference: float = 1.0,  # type: ignore[valid-type]
             compensation: bool | None = None, seed: int | None = None,
             overrides: Mapping[str, Any] | None = None) -> nn.Module:
    """A copy of ``model`` whose Linear/Conv layers run on programmed crossbars, read ``t_inference``
    seconds after programming.

    Args:
        model: any ``nn.Module`` (an SNN on ``[T, B, ...]`` or its ANN twin); it is not modified.
        profile: a profile name (``"pcm"``, ``"rram"``, ``"ideal"``), a TOML path, a dict, or a
            :class:`CrossbarConfig`.
        t_inference: seconds since programming ended (drift and accumulated read noise).
        compensation: apply global drift compensation; ``None`` uses the profile's setting.
        seed: seed of the programming and drift draws (``None``: torch's global generator).
        overrides: dotted profile keys to change, e.g. ``{"periphery.adc_bits": 6}``.

    Returns the copy in eval mode. Re-read it at another time with :func:`drift_to` (same programmed
    devices), or reprogram with :func:`program`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    config = as_config(profile, overrides)
    sim = copy.deepcopy(model)
    if isinstance(sim, (nn.Linear, nn.Conv1d, nn.Conv2d, _CrossbarLayer)):
        holder = nn.Sequential(sim)
        _convert(holder, config, 0.0)
        sim = holder[0]
    else:
        _convert(sim, config, 0.0)
    _require_layers(sim)
    gen = seeded_generator(seed)
    program(sim, gen)
    drift_to(sim, t_inference, gen)
    if compensation is not None:
        set_compensation(sim, compensation)
    return sim.eval()


def _layers_or_raise(model: nn.Module) -> list[tuple[str, _CrossbarLayer]]:
    layers = crossbar_layers(model)
    if not layers:
        raise ValueError("model has no crossbar layers; pass a model returned by simulate() or hardware_aware()")
    return layers


def program(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """(Re)program every crossbar layer of ``model`` from its reference weights."""
    for _, layer in _layers_or_raise(model):
        layer.program(generator)
    return model


def drift_to(model: nn.Module, t_inference: float, generator: torch.Generator | None = None) -> nn.Module:
    """Read every crossbar layer at ``t_inference`` seconds after programming (same devices, new 1/f draw)."""
    for _, layer in _layers_or_raise(model):
        layer.drift(t_inference, generator)
    return model


def set_compensation(model: nn.Module, enabled: bool) -> nn.Module:
    """Switch global drift compensation on or off in every crossbar layer."""
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be a bool; got {type(enabled).__name__}")
    for _, layer in _layers_or_raise(model):
        layer.array.use_compensation = enabled
    return model


def hardware_aware(model: nn.Module, profile: ProfileLike = "pcm", weight_noise: float = 0.02,  # type: ignore[valid-type]
                   overrides: Mapping[str, Any] | None = None) -> nn.Module:
    """A trainable copy of ``model`` for hardware-aware training (noise injection): in training mode
    every crossbar layer adds Gaussian weight noise of std ``weight_noise * max|W|`` and runs the
    periphery (DAC/ADC rounding with straight-through gradients, output noise). Train it as usual,
    then call :func:`simulate` on it."""
    if not (isinstance(weight_noise, (int, float)) and weight_noise >= 0):
        raise ValueError(f"weight_noise={weight_noise!r} must be a number >= 0")
    config = as_config(profile, overrides)
    hwa = copy.deepcopy(model)
    _convert(hwa, config, float(weight_noise))
    return hwa.train()


def iter_arrays(model: nn.Module) -> Iterator[CrossbarArray]:
    for _, layer in crossbar_layers(model):
        yield layer.array
