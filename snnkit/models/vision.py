"""Spiking vision transformers on images, each built from the block its paper defines, and their ANN twins.

Input: images ``[B, C, H, W]``. A spiking model presents the image for ``sim_steps`` steps (direct
encoding: the first convolution sees real pixels, every later synapse sees spikes) and returns the
readout ``[S, B, classes]``; the ANN twin returns ``[1, B, classes]`` (reduce both over dim 0 alike).
Activity inside is ``[S, B, C, H, W]`` in the stems and ``[S, B, N, D]`` (tokens) in the blocks.

* **Spikformer** (Zhou et al., ICLR 2023): spiking patch splitting (SPS: Conv-BN-LIF stages with
  max-pooling, then a relative position embedding Conv-BN-LIF added to its input), spiking self-attention
  ``SSA = LIF(Q K^T V * s)`` with spike Q, K, V and **no softmax**; residuals add spikes, so the next
  block's synaptic inputs are small integers (0, 1, 2, ...), not binary.
* **Spikformer V2** (Zhou et al., 2024): the same blocks behind a spiking convolutional stem (SCS:
  Conv-BN-LIF layers with stride 2 before the SPS-style embedding).
* **Spike-driven Transformer V1** (Yao et al., NeurIPS 2023): membrane shortcuts (every branch starts
  with a LIF and the residual stream carries membranes), SDSA ``Q * LIF(sum_tokens(K * V))`` (masks and
  additions only); every synaptic input is binary.
* **Spike-driven Transformer V2 / Meta-SpikeFormer** (Yao et al., ICLR 2024): two conv stages (separable
  conv + channel conv blocks) then SDSA stages with ``Q (K^T V) * s`` attention.
* **QSD-Transformer** (Qiu et al., ICLR 2025): the V1 model with low-bit weights (symmetric per-tensor
  fake quantisation, straight-through gradient), an information-enhanced LIF and distillation from the
  ANN twin (:func:`distillation_loss`). The IE-LIF here is a simplification: a LIF whose input current is
  re-centred per channel so that firing stays informative (no parameters); the paper's
  multi-bit-training/binary-inference re-parameterisation is not implemented.
* **Max-Former** (2025): patch embedding with max-pooling (``embed_pool="max"``; ``"avg"`` is the ablation
  the paper compares with) and depth-wise convolution token mixers in the early stages, SDSA later.

ANN twins (``spiking=False``): the identical network with every LIF replaced by ReLU and the spike
attention core replaced by softmax attention ``softmax(Q K^T s) V`` (the ViT the papers compare with);
equal parameter counts, ``sim_steps = 1``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..analysis import MatMul
from ..synapses import TimeDistributed
from ._common import SeqBatchNorm, check_int, neuron
from .registry import register
from .transformers import SpikeMaskSum

# ---------------------------------------------------------------------------------------------- parts


class _FakeQuantized:
    """Base of a torch layer whose forward uses its weight fake-quantised to ``bits`` (see :func:`quantize_weight`)."""

    def __init__(self, *args: Any, bits: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bits = check_int("bits", bits, minimum=2)


class QuantLinear(_FakeQuantized, nn.Linear):
    """``nn.Linear`` whose weight is fake-quantised to ``bits`` (symmetric, per tensor, straight-through)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, quantize_weight(self.weight, self.bits), self.bias)


class QuantConv2d(_FakeQuantized, nn.Conv2d):
    """``nn.Conv2d`` with ``bits``-bit fake-quantised weights."""

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, quantize_weight(self.weight, self.bits), self.bias)


def quantize_weight(w: Tensor, bits: int) -> Tensor:
    """Round ``w`` to ``2^(bits-1) - 1`` symmetric levels of ``max|w|``; gradient passes straight through."""
    levels = 2 ** (bits - 1) - 1
    scale = w.detach().abs().max().clamp(min=1e-8) / levels
    q = torch.round(w / scale).clamp(-levels, levels) * scale
    return w + (q - w).detach()


class IELIF(nn.Module):
    """Information-enhanced LIF (simplified from QSD-Transformer): per-channel rectification of the input
    current (its mean over batch, time and tokens moved to half the threshold) before a LIF, keeping the firing
    rate away from 0 and 1 where a binary spike carries little information. Channels are the last dim
    of ``[S, B, N, D]`` or dim 2 of ``[S, B, C, H, W]``."""

    def __init__(self, tau_mem: float = 2.0, v_th: float = 1.0) -> None:
        super().__init__()
        self.lif = neuron(True, tau_mem, v_th)
        self.v_th = v_th

    def forward(self, x: Tensor) -> Tensor:
        dims = [d for d in range(x.dim()) if d != (2 if x.dim() == 5 else x.dim() - 1)]
        centred = x - x.mean(dims, keepdim=True).detach()
        return self.lif(centred + 0.5 * self.v_th)  # the channel's mean current sits at half threshold


class _Factory:
    """Makes the layers of one model: spiking or ANN, plain or quantised weights, LIF or IE-LIF."""

    def __init__(self, spiking: bool, tau_mem: float, bits: int | None = None, ie_lif: bool = False) -> None:
        # the twin keeps full-precision weights: it is the distillation teacher of the quantised SNN
        self.spiking, self.tau_mem, self.bits, self.ie_lif = spiking, tau_mem, bits if spiking else None, ie_lif

    def act(self, v_th: float = 1.0) -> nn.Module:
        if not self.spiking:
            return nn.ReLU()
        return IELIF(self.tau_mem, v_th) if self.ie_lif else neuron(True, self.tau_mem, v_th)

    def linear(self, din: int, dout: int, bias: bool = True) -> nn.Linear:
        return QuantLinear(din, dout, bias=bias, bits=self.bits) if self.bits else nn.Linear(din, dout, bias=bias)

    def conv(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, first: bool = False) -> nn.Conv2d:
        cls, kw = (QuantConv2d, {"bits": self.bits}) if self.bits and not first else (nn.Conv2d, {})
        return cls(cin, cout, k, stride, k // 2, groups=groups, bias=False, **kw)


class ConvBN(nn.Module):
    """``Conv2d -> BatchNorm2d`` on ``[S, B, C, H, W]`` (both applied to all steps at once)."""

    def __init__(self, f: _Factory, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
                 first: bool = False) -> None:
        super().__init__()
        self.conv = TimeDistributed(f.conv(cin, cout, k, stride, groups, first))
        self.bn = TimeDistributed(nn.BatchNorm2d(cout))

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class LinearBN(nn.Module):
    """``Linear -> BatchNorm`` over the feature dim of tokens ``[S, B, N, D]`` (a 1x1 conv + BN1d)."""

    def __init__(self, f: _Factory, din: int, dout: int, bias: bool = True) -> None:
        super().__init__()
        self.fc, self.bn = f.linear(din, dout, bias), SeqBatchNorm(dout)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.fc(x))


def _pool(kind: str) -> nn.Module:
    if kind not in ("max", "avg"):
        raise ValueError(f"embed_pool={kind!r} must be 'max' or 'avg'")
    return TimeDistributed(nn.MaxPool2d(2) if kind == "max" else nn.AvgPool2d(2))


def _tokens(x: Tensor) -> Tensor:  # [S, B, C, H, W] -> [S, B, H*W, C]
    return x.flatten(3).transpose(-1, -2)


def _image(x: Tensor, hw: tuple[int, int]) -> Tensor:  # [S, B, N, C] -> [S, B, C, H, W]
    return x.transpose(-1, -2).unflatten(-1, hw)

# ---------------------------------------------------------------------------------------------- stems


class SpikingPatchSplitting(nn.Module):
    """Spikformer's SPS: ``[Conv-BN-LIF(-MaxPool)] x 4`` with widths ``D/8, D/4, D/2, D``, then the
    relative position embedding ``x + LIF(BN(Conv(x)))``. ``pools`` says which stages halve H and W
    (ImageNet: all four, /16; CIFAR and 28x28 digits: the last two, /4).

    ``membrane_shortcut=True`` is the spike-driven Transformer's version: the last stage is not spiked
    (it is the membrane-valued stream ``x_feat``) and the embedding is ``x_feat + BN(Conv(LIF(x_feat)))``.
    ``embed_pool="avg"`` replaces every max-pooling with average pooling (an ablation)."""

    def __init__(self, f: _Factory, in_channels: int, dim: int, pools: Sequence[bool] = (False, False, True, True),
                 membrane_shortcut: bool = False, embed_pool: str = "max") -> None:
        super().__init__()
        widths = [dim // 8, dim // 4, dim // 2, dim]
        self.membrane_shortcut = membrane_shortcut
        self.stages = nn.ModuleList()
        cin = in_channels
        for i, (w, pool) in enumerate(zip(widths, pools)):
            # spike-driven: a stage's LIF comes first in the next stage, so max-pool acts on the membrane
            pre = [f.act()] if membrane_shortcut and i else []
            mods = pre + [ConvBN(f, cin, w, first=i == 0)]
            if not membrane_shortcut:
                mods.append(f.act())
            if pool:
                mods.append(_pool(embed_pool))
            self.stages.append(nn.Sequential(*mods))
            cin = w
        rpe = [f.act(), ConvBN(f, dim, dim)] if membrane_shortcut else [ConvBN(f, dim, dim), f.act()]
        self.rpe = nn.Sequential(*rpe)

    def forward(self, x: Tensor) -> Tensor:
        for stage in self.stages:
            x = stage(x)
        return x + self.rpe(x)


class SpikingConvStem(nn.Module):
    """Spikformer V2's spiking convolutional stem (SCS): ``Conv-BN-LIF`` layers, the 2nd and 3rd with
    stride 2 (/4 overall), widths ``D/4, D/2, D``, then the relative position embedding of SPS."""

    def __init__(self, f: _Factory, in_channels: int, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(ConvBN(f, in_channels, dim // 4, first=True), f.act(),
                                    ConvBN(f, dim // 4, dim // 2, stride=2), f.act(),
                                    ConvBN(f, dim // 2, dim, stride=2), f.act())
        self.rpe = nn.Sequential(ConvBN(f, dim, dim), f.act())

    def forward(self, x: Tensor) -> Tensor:
        x = self.layers(x)
        return x + self.rpe(x)

# ---------------------------------------------------------------------------------------------- attention


class SpikingSelfAttention(nn.Module):
    """Attention on tokens ``[S, B, N, D]``: ``kind`` = ``"ssa"`` (Spikformer, ``LIF(Q K^T V s)``),
    ``"sdsa"`` (spike-driven V1, ``Q * LIF(sum_N K * V)``), ``"sdsa3"`` (V2, ``LIF(Q (K^T V) s)``), or
    ``"softmax"`` (the ANN twin of all three). ``shortcut="membrane"`` spikes the input first."""

    def __init__(self, f: _Factory, dim: int, heads: int, kind: str, shortcut: str) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.kind, self.heads, self.scale = kind, heads, 0.125 if kind == "ssa" else (dim // heads) ** -0.5
        self.pre = f.act() if shortcut == "membrane" else nn.Identity()
        self.q, self.k, self.v = (LinearBN(f, dim, dim, bias=False) for _ in range(3))
        self.q_act, self.k_act, self.v_act = f.act(), f.act(), f.act()
        self.attn_act = f.act(v_th=0.5)
        self.proj = LinearBN(f, dim, dim, bias=False)
        self.proj_act = f.act() if shortcut == "spike" else nn.Identity()
        self.qk, self.av = MatMul(), MatMul()
        self.kv_sum = SpikeMaskSum()

    def _split(self, x: Tensor) -> Tensor:  # [..., N, D] -> [..., H, N, D/H]
        return x.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def forward(self, x: Tensor) -> Tensor:
        s = self.pre(x)
        q, k, v = self.q_act(self.q(s)), self.k_act(self.k(s)), self.v_act(self.v(s))
        if self.kind == "sdsa":
            y = q * self.attn_act(self.kv_sum(k, v))                         # masks and additions only
        else:
            q, k, v = self._split(q), self._split(k), self._split(v)
            if self.kind == "softmax":
                y = self.av(torch.softmax(self.qk(q, k.transpose(-1, -2)) * self.scale, -1), v)
            elif self.kind == "ssa":
                y = self.attn_act(self.av(self.qk(q, k.transpose(-1, -2)), v) * self.scale)
            else:  # sdsa3: K^T V first (linear in N)
                y = self.attn_act(self.av(q, self.qk(k.transpose(-1, -2), v)) * self.scale)
            y = y.transpose(-3, -2).flatten(-2)
        return self.proj_act(self.proj(y))


class TokenMLP(nn.Module):
    """``Linear-BN-act-Linear-BN(-act)`` on tokens; membrane shortcut: a LIF first, no LIF at the end."""

    def __init__(self, f: _Factory, dim: int, ratio: int, shortcut: str) -> None:
        super().__init__()
        self.pre = f.act() if shortcut == "membrane" else nn.Identity()
        self.fc1, self.act1 = LinearBN(f, dim, dim * ratio), f.act()
        self.fc2 = LinearBN(f, dim * ratio, dim)
        self.act2 = f.act() if shortcut == "spike" else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act2(self.fc2(self.act1(self.fc1(self.pre(x)))))


class TransformerBlock(nn.Module):
    def __init__(self, f: _Factory, dim: int, heads: int, ratio: int, kind: str, shortcut: str) -> None:
        super().__init__()
        self.attn = SpikingSelfAttention(f, dim, heads, kind, shortcut)
        self.mlp = TokenMLP(f, dim, ratio, shortcut)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)

# ---------------------------------------------------------------------------------------------- conv blocks (V2, Max-Former)


class SepConvMixer(nn.Module):
    """Meta-SpikeFormer's separable conv: ``LIF-pw(2C)-BN-LIF-dw7x7-BN-LIF-pw(C)-BN`` on ``[S, B, C, H, W]``."""

    def __init__(self, f: _Factory, c: int, kernel: int = 7) -> None:
        super().__init__()
        self.net = nn.Sequential(f.act(), ConvBN(f, c, 2 * c, 1), f.act(), ConvBN(f, 2 * c, 2 * c, kernel, groups=2 * c),
                                 f.act(), ConvBN(f, 2 * c, c, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class DepthwiseMixer(nn.Module):
    """Max-Former's early-stage token mixer: ``LIF -> depth-wise 3x3 conv -> BN``."""

    def __init__(self, f: _Factory, c: int, kernel: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(f.act(), ConvBN(f, c, c, kernel, groups=c))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvBlock(nn.Module):
    """``x + mixer(x)`` then ``x + ChannelConv(x)`` (``LIF-Conv3x3(rC)-BN-LIF-Conv3x3(C)-BN``), membranes."""

    def __init__(self, f: _Factory, c: int, mixer: str, ratio: int = 4) -> None:
        super().__init__()
        self.mixer = SepConvMixer(f, c) if mixer == "sepconv" else DepthwiseMixer(f, c)
        self.channel = nn.Sequential(f.act(), ConvBN(f, c, ratio * c), f.act(), ConvBN(f, ratio * c, c))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(x)
        return x + self.channel(x)

# ---------------------------------------------------------------------------------------------- models


class _Classifier(nn.Module):
    """Shared edges: image check, direct encoding over ``sim_steps``, head on the token mean."""

    def _setup(self, f: _Factory, in_channels: int, dim: int, num_classes: int, sim_steps: int,
               head_spike: bool) -> None:
        self.spiking, self.in_channels = f.spiking, in_channels
        self.sim_steps = check_int("sim_steps", sim_steps) if f.spiking else 1
        self.head_act = f.act() if head_spike else nn.Identity()
        self.head = f.linear(dim, num_classes)

    def _encode(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be images [B, {self.in_channels}, H, W]; got shape {tuple(x.shape)}")
        return x.unsqueeze(0).expand(self.sim_steps, *x.shape).contiguous()

    def _head(self, tokens: Tensor) -> Tensor:  # [S, B, N, D] -> [S, B, classes]
        return self.head(self.head_act(tokens.mean(-2)))


class SpikingViT(_Classifier):
    """Spikformer / Spikformer V2 / spike-driven Transformer V1 / QSD-Transformer: a stem, then ``depth``
    transformer blocks on its ``H/4 x W/4`` (or ``/16``) patches, then a linear head on the token mean."""

    def __init__(self, in_channels: int, num_classes: int, spiking: bool, dim: int = 384, depth: int = 8,
                 heads: int = 8, mlp_ratio: int = 4, attention: str = "ssa", stem: str = "sps",
                 pools: Sequence[bool] = (False, False, True, True), sim_steps: int = 4, tau_mem: float = 2.0,
                 bits: int | None = None, ie_lif: bool = False, embed_pool: str = "max") -> None:
        super().__init__()
        if attention not in ("ssa", "sdsa"):
            raise ValueError(f"attention={attention!r} must be 'ssa' (Spikformer) or 'sdsa' (spike-driven)")
        if stem not in ("sps", "scs"):
            raise ValueError(f"stem={stem!r} must be 'sps' (Spikformer) or 'scs' (Spikformer V2)")
        f = _Factory(spiking, tau_mem, bits, ie_lif)
        shortcut = "membrane" if attention == "sdsa" else "spike"
        if stem == "scs":
            self.stem: nn.Module = SpikingConvStem(f, in_channels, dim)
        else:
            self.stem = SpikingPatchSplitting(f, in_channels, dim, pools, shortcut == "membrane", embed_pool)
        kind = attention if spiking else "softmax"
        self.blocks = nn.Sequential(*(TransformerBlock(f, dim, heads, mlp_ratio, kind, shortcut) for _ in range(depth)))
        self._setup(f, in_channels, dim, num_classes, sim_steps, head_spike=shortcut == "membrane")

    def forward(self, x: Tensor) -> Tensor:
        return self._head(self.blocks(_tokens(self.stem(self._encode(x)))))


class MetaSpikeFormer(_Classifier):
    """Spike-driven Transformer V2 (``mixer="sepconv"``) and Max-Former (``mixer="dwconv"`` with max-pool
    embedding): conv stages at widths ``widths[:2]`` then SDSA stages at ``widths[2:]``; every stage
    starts with a downsampling ``[LIF] Conv-BN`` (stride 2, or stride 1 + 2x2 pooling for Max-Former)."""

    def __init__(self, in_channels: int, num_classes: int, spiking: bool, widths: Sequence[int] = (32, 64, 128),
                 depths: Sequence[int] = (1, 1, 2), heads: int = 4, mlp_ratio: int = 4, mixer: str = "sepconv",
                 embed_pool: str | None = None, sim_steps: int = 4, tau_mem: float = 2.0) -> None:
        super().__init__()
        if len(widths) != len(depths) or len(widths) < 3:
            raise ValueError(f"widths={tuple(widths)} and depths={tuple(depths)} must have the same length >= 3")
        if mixer not in ("sepconv", "dwconv"):
            raise ValueError(f"mixer={mixer!r} must be 'sepconv' (Meta-SpikeFormer) or 'dwconv' (Max-Former)")
        f = _Factory(spiking, tau_mem)
        self.stages = nn.ModuleList()
        cin = in_channels
        strides = (2, 2) + (1,) * (len(widths) - 2)           # /4 overall: 28x28 digits -> 7x7 tokens
        for i, (w, d, s) in enumerate(zip(widths, depths, strides)):
            pre = [f.act()] if i else []
            if embed_pool is not None and s == 2:
                down = pre + [ConvBN(f, cin, w, 3, 1, first=i == 0), _pool(embed_pool)]
            else:
                down = pre + [ConvBN(f, cin, w, 3, s, first=i == 0)]
            blocks: list[nn.Module] = []
            for _ in range(d):
                if i < 2:
                    blocks.append(ConvBlock(f, w, mixer))
                else:
                    blocks.append(_TokenStage(TransformerBlock(f, w, heads, mlp_ratio, "sdsa3" if spiking else "softmax",
                                                               "membrane")))
            self.stages.append(nn.Sequential(*down, *blocks))
            cin = w
        self._setup(f, in_channels, widths[-1], num_classes, sim_steps, head_spike=True)

    def forward(self, x: Tensor) -> Tensor:
        x = self._encode(x)
        for stage in self.stages:
            x = stage(x)
        return self._head(_tokens(x))


class _TokenStage(nn.Module):
    """Runs a token block on an image-shaped stream ``[S, B, C, H, W]``."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return _image(self.block(_tokens(x)), x.shape[-2:])


def distillation_loss(student: Tensor, teacher: Tensor, labels: Tensor, alpha: float = 0.5,
                      temperature: float = 2.0) -> Tensor:
    """QSD-Transformer's training objective at the logit level: ``(1-alpha) CE(student, labels) +
    alpha T^2 KL(softmax(teacher/T) || softmax(student/T))``; ``student``/``teacher`` are ``[.., B, C]``
    outputs reduced over their first dim by the mean (spiking) or taken as they are."""
    s = student.mean(0) if student.dim() == 3 else student
    t = (teacher.mean(0) if teacher.dim() == 3 else teacher).detach()
    kl = F.kl_div(F.log_softmax(s / temperature, -1), F.softmax(t / temperature, -1), reduction="batchmean")
    return (1 - alpha) * F.cross_entropy(s, labels) + alpha * temperature ** 2 * kl

# ---------------------------------------------------------------------------------------------- registry

_TWIN = ("the same network with each LIF replaced by ReLU and the spike attention by softmax attention (the "
         "ViT the papers compare with); equal parameters")


def _image_builder(cls, **fixed: Any):
    def build(spiking: bool, in_channels: int = 1, num_classes: int = 10, **config: Any) -> nn.Module:
        return cls(in_channels, num_classes, spiking, **{**fixed, **config})
    build.__doc__ = f"``create(..., in_channels, num_classes, **config)``: {cls.__name__} with {fixed}."
    return build


register("spikformer_image", twin=_TWIN)(_image_builder(SpikingViT, attention="ssa", stem="sps"))
register("spikformer_v2_image", twin=_TWIN)(_image_builder(SpikingViT, attention="ssa", stem="scs"))
register("sdt_v1_image", twin=_TWIN)(_image_builder(SpikingViT, attention="sdsa", stem="sps"))
register("qsd_transformer_image", twin=_TWIN + "; the spiking form has 4-bit weights and IE-LIFs")(
    _image_builder(SpikingViT, attention="sdsa", stem="sps", bits=4, ie_lif=True))
register("meta_spikeformer_image", twin=_TWIN)(_image_builder(MetaSpikeFormer, mixer="sepconv"))
register("max_former_image", twin=_TWIN)(_image_builder(MetaSpikeFormer, mixer="dwconv", embed_pool="max"))
