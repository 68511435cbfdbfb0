"""ANN counterparts that spiking papers name as their baselines (ANN-only; time-major ``[T, B, F]`` in,
logits ``[1, B, C]`` out, like every ANN twin in the registry).

* :func:`ptd_init`: S4D/S5 eigenvalues by perturb-then-diagonalise (Yu et al., ICLR 2024): the HiPPO-LegS
  matrix is non-normal (its eigenvector matrix is ill-conditioned), so it is perturbed by a small random
  matrix before the eigen-decomposition; the eigenvalues (and ``V^-1 B``) seed the diagonal SSM.
* :class:`S5Layer` (Smith et al., ICLR 2023): one MIMO diagonal SSM of ``state`` complex modes shared by
  all channels, ZOH-discretised; ``forward`` convolves each mode with its kernel ``Lbar^j`` (FFT),
  ``step`` runs the recurrence ``x = Lbar x + Bbar u``, ``y = Re(C x) + D u``.
* :class:`TCN` (Bai et al., 2018): residual blocks of causal dilated convolutions (dilation ``2^i``).
* :class:`TSMixer` (Chen et al., 2023): MLPs alternating across time and across features.
* :class:`KANLinear` (Liu et al., 2024): every edge a learnable cubic B-spline plus a SiLU base.
* :func:`biper_sign` / :class:`BiPerLinear` (Vargas et al., CVPR 2024): weights binarised by a square wave
  ``sign(sin(omega w))``, trained through the sine of the same period (gradient ``omega cos(omega w)``).
  (snnkit's ``periodic`` surrogate is a different function: a periodic surrogate of a threshold.)

* :class:`ECAPATDNN` (Desplanques et al., Interspeech 2020): SE-Res2 blocks of dilated 1-D convolutions,
  multi-layer feature aggregation, channel- and context-dependent attentive statistics pooling.
* :class:`CAMPlusPlus` (Wang et al., Interspeech 2023): a 2-D convolutional front, a densely connected TDNN
  whose layers are gated by context-aware masking (global + segment mean pooling).

These two are the speech baselines of the spiking ``tdnn`` (:mod:`snnkit.models.tdnn`, an ECAPA-like
network with LIFs and mean pooling), whose own twin is the same simplified network with ReLUs.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ._common import check_input, check_int
from .registry import register


def hippo_legs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """HiPPO-LegS ``(A [n, n], B [n])`` (Gu et al., 2020): ``A_nk = -sqrt(2n+1) sqrt(2k+1)`` below the
    diagonal, ``-(n+1)`` on it, 0 above; ``B_n = sqrt(2n+1)``."""
    q = np.sqrt(2 * np.arange(n) + 1.0)
    A = -np.tril(np.outer(q, q), -1) - np.diag(np.arange(n) + 1.0)
    return A, q.copy()


def ptd_init(state: int, eps: float = 0.01, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Perturb-then-diagonalise: eigen-decompose ``A + E`` (``A`` HiPPO-LegS of size ``2*state``, ``E``
    Gaussian with spectral norm ``eps * ||A||``). Returns the ``state`` eigenvalues with the largest
    imaginary parts (one of each conjugate pair), ``V^-1 B`` for them, and the full ``(A + E)``.

    ``eps = 0.01`` keeps every eigenvalue stable (negative real part) with an eigenvector condition
    number near 10^2 (the unperturbed matrix's is beyond 10^4 at 16 states, and grows exponentially)."""
    check_int("state", state)
    A, B = hippo_legs(2 * state)
    rng = np.random.default_rng(seed)
    E = rng.standard_normal(A.shape)
    E *= eps * np.linalg.norm(A, 2) / np.linalg.norm(E, 2)
    lam, V = np.linalg.eig(A + E)
    keep = np.argsort(-lam.imag)[:state]
    return lam[keep], np.linalg.solve(V, B.astype(complex))[keep], A + E


def causal_mode_conv(bu: Tensor, lam_bar: Tensor) -> Tensor:
    """``x[t] = sum_{j<=t} lam_bar^j bu[t-j]`` per mode, by FFT: ``bu [T, B, P]`` complex -> ``[T, B, P]``."""
    T = bu.shape[0]
    kernel = torch.exp(torch.log(lam_bar)[None] * torch.arange(T, device=bu.device)[:, None])   # [T, P]
    n = 2 * T
    return torch.fft.ifft(torch.fft.fft(bu, n=n, dim=0) * torch.fft.fft(kernel, n=n, dim=0)[:, None], dim=0)[:T]


class S5Layer(nn.Module):
    """MIMO diagonal SSM ``[T, B, H] -> [T, B, H]`` with ``state`` complex modes (``init="ptd"`` or ``"lin"``)."""

    def __init__(self, channels: int, state: int = 16, init: str = "ptd", dt_min: float = 1e-3,
                 dt_max: float = 1e-1) -> None:
        super().__init__()
        if init == "ptd":
            lam, vb, _ = ptd_init(state)
            lam = torch.from_numpy(lam).to(torch.complex64)
            vb = torch.from_numpy(vb).to(torch.complex64)
        elif init == "lin":
            lam = torch.complex(torch.full((state,), -0.5), math.pi * torch.arange(state).float())
            vb = torch.ones(state, dtype=torch.complex64)
        else:
            raise ValueError(f"init={init!r} must be 'ptd' or 'lin'")
        self.log_neg_real = nn.Parameter(torch.log(-lam.real.clamp(max=-1e-4)))
        self.imag = nn.Parameter(lam.imag.clone())
        B = torch.randn(state, channels, dtype=torch.complex64) / math.sqrt(channels) * vb[:, None]
        self.B = nn.Parameter(torch.view_as_real(B).contiguous())
        self.C = nn.Parameter(torch.view_as_real(torch.randn(channels, state, dtype=torch.complex64)
                                                 / math.sqrt(state)).contiguous())
        self.D = nn.Parameter(torch.randn(channels))
        self.log_dt = nn.Parameter(torch.rand(state) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))

    def discrete(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(Lbar [P], Bbar [P, H], C [H, P])``: zero-order hold with one step size per mode."""
        lam = torch.complex(-self.log_neg_real.exp(), self.imag)
        lam_bar = torch.exp(lam * self.log_dt.exp())
        B = torch.view_as_complex(self.B)
        return lam_bar, ((lam_bar - 1) / lam)[:, None] * B, torch.view_as_complex(self.C)

    def forward(self, u: Tensor) -> Tensor:
        lam_bar, B_bar, C = self.discrete()
        x = causal_mode_conv(u.to(B_bar.dtype) @ B_bar.T, lam_bar)
        return (x @ C.T).real + u * self.D

    def step(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lam_bar, B_bar, C = self.discrete()
        bu = u.to(B_bar.dtype) @ B_bar.T
        x = bu if state is None else lam_bar * state + bu
        return (x @ C.T).real + u * self.D, x


class S5Net(nn.Module):
    """``Linear -> [x + GELU(S5(LayerNorm(x)))] x layers -> mean over time -> Linear``."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 32, layers: int = 2, state: int = 16,
                 init: str = "ptd") -> None:
        super().__init__()
        self.in_features = in_features
        self.encoder = nn.Linear(in_features, hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.ssms = nn.ModuleList(S5Layer(hidden, state, init) for _ in range(layers))
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        z = self.encoder(x)
        for norm, ssm in zip(self.norms, self.ssms):
            z = z + F.gelu(ssm(norm(z)))
        return self.head(z.mean(0)).unsqueeze(0)


class TCN(nn.Module):
    """Residual blocks ``[causal dilated Conv1d -> ReLU] x 2`` with dilation ``2^level``; readout of the
    last step. :meth:`features` gives ``[T, B, channels]`` (causal: step t sees inputs up to t only)."""

    def __init__(self, in_features: int, num_classes: int, channels: int = 32, levels: int = 3, kernel: int = 3) -> None:
        super().__init__()
        self.in_features, self.kernel = in_features, check_int("kernel", kernel, minimum=2)
        self.blocks = nn.ModuleList()
        cin = in_features
        for i in range(check_int("levels", levels)):
            self.blocks.append(nn.ModuleDict({
                "conv1": nn.Conv1d(cin, channels, kernel, dilation=2 ** i),
                "conv2": nn.Conv1d(channels, channels, kernel, dilation=2 ** i),
                "skip": nn.Conv1d(cin, channels, 1) if cin != channels else nn.Identity()}))
            cin = channels
        self.head = nn.Linear(channels, num_classes)

    def _causal(self, conv: nn.Conv1d, x: Tensor) -> Tensor:
        return conv(F.pad(x, ((self.kernel - 1) * conv.dilation[0], 0)))

    def features(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        z = x.permute(1, 2, 0)                                                  # [B, F, T]
        for b in self.blocks:
            y = F.relu(self._causal(b["conv2"], F.relu(self._causal(b["conv1"], z))))
            z = F.relu(y + b["skip"](z))
        return z.permute(2, 0, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)[-1]).unsqueeze(0)


class TSMixer(nn.Module):
    """``[x + TimeMLP(norm(x))^T] -> [x + FeatureMLP(norm(x))]`` x ``blocks`` on ``[B, T, F]``, mean, Linear."""

    def __init__(self, in_features: int, num_classes: int, steps: int, hidden: int = 64, blocks: int = 2) -> None:
        super().__init__()
        self.in_features, self.steps = in_features, check_int("steps", steps)
        self.time_norms = nn.ModuleList(nn.BatchNorm1d(steps * in_features) for _ in range(blocks))
        self.time_mlps = nn.ModuleList(nn.Linear(steps, steps) for _ in range(blocks))
        self.feat_norms = nn.ModuleList(nn.BatchNorm1d(steps * in_features) for _ in range(blocks))
        self.feat_mlps = nn.ModuleList(nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(),
                                                     nn.Linear(hidden, in_features)) for _ in range(blocks))
        self.head = nn.Linear(in_features, num_classes)

    @staticmethod
    def _norm(norm: nn.BatchNorm1d, z: Tensor) -> Tensor:  # TSMixer's 2-D BatchNorm over (time, feature)
        return norm(z.flatten(1)).view_as(z)

    def mix_time(self, i: int, z: Tensor) -> Tensor:
        """Time mixing ``[B, T, F] -> [B, T, F]``: one Linear across T, shared by every feature."""
        return z + F.relu(self.time_mlps[i](self._norm(self.time_norms[i], z).transpose(1, 2))).transpose(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        if x.shape[0] != self.steps:
            raise ValueError(f"x has {x.shape[0]} time steps; this TSMixer was built for steps={self.steps}")
        z = x.transpose(0, 1)
        for i in range(len(self.time_mlps)):
            z = self.mix_time(i, z)
            z = z + self.feat_mlps[i](self._norm(self.feat_norms[i], z))
        return self.head(z.mean(1)).unsqueeze(0)


def bspline_basis(x: Tensor, grid: Tensor, order: int) -> Tensor:
    """Cox-de Boor: the ``len(grid) - order - 1`` B-splines of ``order`` on knots ``grid`` at ``x``:
    ``[..., n_basis]``."""
    x = x.unsqueeze(-1)
    b = ((x >= grid[:-1]) & (x < grid[1:])).to(x.dtype)
    for k in range(1, order + 1):
        left = (x - grid[:-(k + 1)]) / (grid[k:-1] - grid[:-(k + 1)])
        right = (grid[k + 1:] - x) / (grid[k + 1:] - grid[1:-k])
        b = left * b[..., :-1] + right * b[..., 1:]
    return b


class KANLinear(nn.Module):
    """``y_o = sum_i w_oi SiLU(x_i) + sum_i sum_k c_oik B_k(x_i)``: cubic B-splines on a uniform grid of
    ``grid`` intervals over ``[lo, hi]`` (extended by ``order`` knots each side)."""

    def __init__(self, in_features: int, out_features: int, grid: int = 5, order: int = 3,
                 lo: float = -1.0, hi: float = 1.0) -> None:
        super().__init__()
        h = (hi - lo) / check_int("grid", grid)
        self.order = check_int("order", order, minimum=0)
        self.register_buffer("knots", torch.arange(-order, grid + order + 1) * h + lo)
        self.base = nn.Linear(in_features, out_features)
        self.coef = nn.Parameter(torch.randn(out_features, in_features, grid + order) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        spline = torch.einsum("...ik,oik->...o", bspline_basis(x, self.knots.to(x.dtype), self.order), self.coef)
        return self.base(F.silu(x)) + spline


class KANNet(nn.Module):
    """``[T, B, F] -> flatten [B, T*F] -> tanh -> KANLinear -> tanh -> KANLinear -> [1, B, C]``."""

    def __init__(self, in_features: int, num_classes: int, steps: int, hidden: int = 16, grid: int = 5) -> None:
        super().__init__()
        self.in_features, self.steps = in_features, check_int("steps", steps)
        self.l1 = KANLinear(in_features * steps, hidden, grid)
        self.l2 = KANLinear(hidden, num_classes, grid)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.l2(torch.tanh(self.l1(torch.tanh(x.transpose(0, 1).flatten(1))))).unsqueeze(0)


class _BiPerSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, omega: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.omega = omega
        return torch.where(torch.sin(omega * x) >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.omega * torch.cos(ctx.omega * x), None


def biper_sign(x: Tensor, omega: float = math.pi) -> Tensor:
    """Square wave ``sign(sin(omega x))`` (values +-1); its gradient is that of ``sin(omega x)``."""
    return _BiPerSign.apply(x, omega)


class BiPerLinear(nn.Linear):
    """``nn.Linear`` with BiPer-binarised weights ``alpha * sign(sin(omega w))`` (``alpha`` = mean ``|w|``
    per output, as in binary networks)."""

    def __init__(self, *args: Any, omega: float = math.pi, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.omega = omega

    def forward(self, x: Tensor) -> Tensor:
        alpha = self.weight.abs().mean(1, keepdim=True).detach()
        return F.linear(x, alpha * biper_sign(self.weight, self.omega), self.bias)


class BiPerMLP(nn.Module):
    """``[T, B, F] -> flatten -> BiPerLinear -> BN -> ReLU -> Linear -> [1, B, C]``."""

    def __init__(self, in_features: int, num_classes: int, steps: int, hidden: int = 128) -> None:
        super().__init__()
        self.in_features, self.steps = in_features, check_int("steps", steps)
        self.fc1, self.bn = BiPerLinear(in_features * steps, hidden), nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.fc2(F.relu(self.bn(self.fc1(x.transpose(0, 1).flatten(1))))).unsqueeze(0)


def _ann(cls, needs_steps: bool = False):
    def build(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
        if needs_steps:
            if not steps:
                raise ValueError(f"steps={steps!r}: {cls.__name__} needs the sequence length; pass steps=T")
            return cls(in_features, num_classes, steps, **config)
        return cls(in_features, num_classes, **config)
    build.__doc__ = f"ANN baseline :class:`{cls.__name__}` (``create(name, spiking=False, ...)``)."
    return build


# ------------------------------------------------------------------------ speaker/speech TDNN baselines


def _conv_relu_bn(cin: int, cout: int, kernel: int = 1, dilation: int = 1) -> nn.Sequential:
    """ECAPA's TDNN unit on ``[B, C, T]``: ``Conv1d`` ('same' padding) -> ReLU -> BatchNorm (the paper's order)."""
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2),
                         nn.ReLU(), nn.BatchNorm1d(cout))


class Res2Conv(nn.Module):
    """Res2Net's hierarchical convolution on ``[B, C, T]``: ``C`` split into ``scale`` groups ``x_i``;
    ``y_1 = x_1``, ``y_2 = K_2(x_2)``, ``y_i = K_i(x_i + y_{i-1})`` (each ``K_i`` a dilated TDNN unit), so
    later groups see a growing receptive field at the cost of ``scale - 1`` narrow convolutions."""

    def __init__(self, channels: int, scale: int, kernel: int, dilation: int) -> None:
        super().__init__()
        if channels % scale:
            raise ValueError(f"channels={channels} must be divisible by scale={scale}")
        width = channels // scale
        self.scale = scale
        self.convs = nn.ModuleList(_conv_relu_bn(width, width, kernel, dilation) for _ in range(scale - 1))

    def forward(self, x: Tensor) -> Tensor:
        parts = list(x.chunk(self.scale, dim=1))
        out, y = [parts[0]], None
        for conv, xi in zip(self.convs, parts[1:]):
            y = conv(xi if y is None else xi + y)
            out.append(y)
        return torch.cat(out, dim=1)


class SqueezeExcitation1d(nn.Module):
    """``x * sigmoid(W2 ReLU(W1 mean_t(x) + b1) + b2)`` on ``[B, C, T]`` (one gate per channel)."""

    def __init__(self, channels: int, bottleneck: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(channels, bottleneck), nn.Linear(bottleneck, channels)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(-1))))).unsqueeze(-1)


class SERes2Block(nn.Module):
    """ECAPA's block: ``x + SE(TDNN_1x1(Res2(TDNN_1x1(x))))``."""

    def __init__(self, channels: int, scale: int, dilation: int, se_bottleneck: int, kernel: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_relu_bn(channels, channels), Res2Conv(channels, scale, kernel, dilation),
                                  _conv_relu_bn(channels, channels), SqueezeExcitation1d(channels, se_bottleneck))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class AttentiveStatsPool(nn.Module):
    """Channel- and context-dependent attentive statistics pooling (ECAPA, eq. 1-3) on ``h [B, C, T]``.

    The attention sees each frame together with the utterance's unweighted mean and standard deviation:
    ``e_tc = v_c^T tanh(W [h_t; mean; std] + b) + k_c``, ``alpha_tc = softmax_t(e_tc)``; the output is
    ``[mu; sigma]`` with ``mu_c = sum_t alpha_tc h_tc`` and ``sigma_c = sqrt(sum_t alpha_tc h_tc^2 - mu_c^2)``
    (``[B, 2C]``)."""

    def __init__(self, channels: int, hidden: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.attend = nn.Conv1d(3 * channels, hidden, 1)     # W, b
        self.score = nn.Conv1d(hidden, channels, 1)          # v_c, k_c (one row per channel)

    @staticmethod
    def weighted_stats(h: Tensor, w: Tensor, eps: float) -> tuple[Tensor, Tensor]:
        mu = (w * h).sum(-1)
        return mu, ((w * h * h).sum(-1) - mu * mu).clamp(min=eps).sqrt()

    def attention(self, h: Tensor) -> Tensor:
        """The weights ``alpha [B, C, T]`` (each channel's sum to 1 over time)."""
        uniform = torch.full_like(h, 1.0 / h.shape[-1])
        mean, std = self.weighted_stats(h, uniform, self.eps)
        context = torch.cat([h, mean.unsqueeze(-1).expand_as(h), std.unsqueeze(-1).expand_as(h)], dim=1)
        return torch.softmax(self.score(torch.tanh(self.attend(context))), dim=-1)

    def forward(self, h: Tensor) -> Tensor:
        return torch.cat(self.weighted_stats(h, self.attention(h), self.eps), dim=1)


class ECAPATDNN(nn.Module):
    """ECAPA-TDNN (Desplanques et al., Interspeech 2020) for ``[T, B, F]`` feature sequences:
    ``TDNN(k=5)`` -> SE-Res2 blocks (dilations ``2, 3, 4, ...``) -> multi-layer feature aggregation (the
    blocks' outputs concatenated, ``Conv1x1 -> ReLU`` to ``mfa`` channels) -> attentive statistics pooling ->
    ``BN -> Linear(embed) -> BN`` (the speaker embedding) -> ``Linear`` to the classes (the paper trains
    the embedding with AAM-softmax; a plain classifier here). Paper sizes: ``channels=512`` (or 1024),
    ``scale=8``, ``se_bottleneck=128``, ``mfa=1536``, ``attention=128``, ``embed=192``; the defaults are
    a compact version of the same network."""

    def __init__(self, in_features: int, num_classes: int, channels: int = 64, blocks: int = 3, scale: int = 4,
                 se_bottleneck: int = 16, mfa: int = 192, attention: int = 32, embed: int = 64) -> None:
        super().__init__()
        self.in_features = in_features
        self.front = _conv_relu_bn(in_features, channels, 5)
        self.blocks = nn.ModuleList(SERes2Block(channels, scale, 2 + i, se_bottleneck)
                                    for i in range(check_int("blocks", blocks)))
        self.aggregate = nn.Sequential(nn.Conv1d(blocks * channels, mfa, 1), nn.ReLU())   # no BN (paper, fig. 2)
        self.pool = AttentiveStatsPool(mfa, attention)
        self.embedding = nn.Sequential(nn.BatchNorm1d(2 * mfa), nn.Linear(2 * mfa, embed), nn.BatchNorm1d(embed))
        self.head = nn.Linear(embed, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """The utterance embedding ``[B, embed]`` of ``x [T, B, F]``."""
        check_input(x, self.in_features)
        z, outs = self.front(x.permute(1, 2, 0)), []
        for block in self.blocks:
            z = block(z)
            outs.append(z)
        return self.embedding(self.pool(self.aggregate(torch.cat(outs, dim=1))))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x)).unsqueeze(0)


class _BasicResBlock2d(nn.Module):
    """ResNet basic block on ``[B, C, F, T]`` with stride ``(stride, 1)``: frequency is downsampled, time kept."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, (stride, 1), 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1), bias=False), nn.BatchNorm2d(cout))
                         if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + self.shortcut(x))


class FrontConvModule(nn.Module):
    """CAM++'s front-end convolution module (FCM): the features as a one-channel image ``[B, 1, F, T]``,
    ``Conv-BN-ReLU``, two stages of residual blocks (each halving frequency), a ``Conv-BN-ReLU`` with
    frequency stride 2; flattened to ``[B, channels * ceil(F / 8), T]``."""

    def __init__(self, in_features: int, channels: int, blocks: Sequence[int] = (2, 2)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        for n in blocks:
            layers += [_BasicResBlock2d(channels, channels, 2)] + [_BasicResBlock2d(channels, channels, 1)
                                                                   for _ in range(n - 1)]
        layers += [nn.Conv2d(channels, channels, 3, (2, 1), 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        freq = in_features
        for _ in range(len(blocks) + 1):
            freq = (freq + 1) // 2
        self.out_channels = channels * freq

    def forward(self, x: Tensor) -> Tensor:            # [B, F, T] -> [B, out_channels, T]
        return self.net(x.unsqueeze(1)).flatten(1, 2)


def segment_mean(x: Tensor, seg_len: int) -> Tensor:
    """Each frame of ``x [B, C, T]`` replaced by the mean of its segment (frames ``[k*seg_len, (k+1)*seg_len)``,
    the last one possibly shorter)."""
    seg = F.avg_pool1d(x, seg_len, seg_len, ceil_mode=True)          # ceil_mode averages the short last segment
    return seg.repeat_interleave(seg_len, dim=-1)[..., :x.shape[-1]]


class ContextAwareMasking(nn.Module):
    """CAM (Wang et al., Interspeech 2023): a local TDNN ``y = Conv1d(x)`` gated by a mask made from
    multi-granularity context, ``M = sigmoid(W2 ReLU(W1 e + b1) + b2)`` with ``e_t = mean_t(x) +
    segment_mean(x)_t`` (global plus segment-level pooling); returns ``y * M`` on ``[B, C, T]``."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, reduction: int = 2, seg_len: int = 100) -> None:
        super().__init__()
        self.seg_len = check_int("seg_len", seg_len)
        self.local = nn.Conv1d(cin, cout, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2, bias=False)
        self.fc1 = nn.Conv1d(cin, cin // reduction, 1)
        self.fc2 = nn.Conv1d(cin // reduction, cout, 1)

    def mask(self, x: Tensor) -> Tensor:
        context = x.mean(-1, keepdim=True) + segment_mean(x, self.seg_len)
        return torch.sigmoid(self.fc2(F.relu(self.fc1(context))))

    def forward(self, x: Tensor) -> Tensor:
        return self.local(x) * self.mask(x)


class _CAMDenseLayer(nn.Module):
    """``BN-ReLU-Conv1x1`` (bottleneck of ``bn_size * growth``) ``-> BN-ReLU -> CAM`` (``growth`` channels)."""

    def __init__(self, cin: int, growth: int, bn_size: int, kernel: int, dilation: int, seg_len: int) -> None:
        super().__init__()
        mid = bn_size * growth
        self.bottleneck = nn.Sequential(nn.BatchNorm1d(cin), nn.ReLU(), nn.Conv1d(cin, mid, 1, bias=False),
                                        nn.BatchNorm1d(mid), nn.ReLU())
        self.cam = ContextAwareMasking(mid, growth, kernel, dilation, seg_len=seg_len)

    def forward(self, x: Tensor) -> Tensor:
        return self.cam(self.bottleneck(x))


class CAMPlusPlus(nn.Module):
    """CAM++ (Wang et al., Interspeech 2023) for ``[T, B, F]``: FCM front -> TDNN (k=5, time stride 2) ->
    densely connected TDNN blocks (each layer's CAM output concatenated to its input; a
    ``BN-ReLU-Conv1x1`` transit halves the channels after each block) -> ``BN-ReLU`` -> statistics pooling
    (mean and std over time) -> ``Conv1x1(embed) -> BN`` (the embedding) -> ``Linear`` to the classes.
    Paper sizes: ``fcm_channels=32``, ``fcm_blocks=(2, 2)``, ``init_channels=128``, ``layers=(12, 24, 16)``,
    ``growth=32``, ``bn_size=4``, ``dilations=(1, 2, 2)``, ``seg_len=100``, ``embed=192``; the defaults
    are a compact version (``seg_len`` in frames after the stride-2 TDNN)."""

    def __init__(self, in_features: int, num_classes: int, fcm_channels: int = 8, fcm_blocks: Sequence[int] = (1, 1),
                 init_channels: int = 32, layers: Sequence[int] = (2, 2, 2), growth: int = 16, bn_size: int = 2,
                 dilations: Sequence[int] = (1, 2, 2), kernel: int = 3, seg_len: int = 100, embed: int = 64) -> None:
        super().__init__()
        if len(layers) != len(dilations):
            raise ValueError(f"layers={tuple(layers)} and dilations={tuple(dilations)} must have the same length")
        self.in_features = in_features
        self.fcm = FrontConvModule(in_features, fcm_channels, fcm_blocks)
        self.tdnn = nn.Sequential(nn.Conv1d(self.fcm.out_channels, init_channels, 5, 2, 2, bias=False),
                                  nn.BatchNorm1d(init_channels), nn.ReLU())
        self.blocks, self.transits = nn.ModuleList(), nn.ModuleList()
        c = init_channels
        for n, d in zip(layers, dilations):
            block = nn.ModuleList()
            for i in range(n):
                block.append(_CAMDenseLayer(c + i * growth, growth, bn_size, kernel, d, seg_len))
            self.blocks.append(block)
            c += n * growth
            self.transits.append(nn.Sequential(nn.BatchNorm1d(c), nn.ReLU(), nn.Conv1d(c, c // 2, 1, bias=False)))
            c //= 2
        self.out = nn.Sequential(nn.BatchNorm1d(c), nn.ReLU())
        self.embedding = nn.Sequential(nn.Conv1d(2 * c, embed, 1, bias=False), nn.BatchNorm1d(embed, affine=False))
        self.head = nn.Linear(embed, num_classes)

    def embed(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        z = self.tdnn(self.fcm(x.permute(1, 2, 0)))
        for block, transit in zip(self.blocks, self.transits):
            for layer in block:
                z = torch.cat([z, layer(z)], dim=1)
            z = transit(z)
        z = self.out(z)
        stats = torch.cat([z.mean(-1), z.std(-1)], dim=1)   # unbiased std, as the authors' code
        return self.embedding(stats.unsqueeze(-1)).squeeze(-1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x)).unsqueeze(0)


_BASELINE = "ANN-only baseline (no spiking form): "
register("s5", forms=(False,), twin=_BASELINE + "S5, the state-space model spiking SSMs compare with")(_ann(S5Net))
register("tcn", forms=(False,), twin=_BASELINE + "a dilated causal TCN")(_ann(TCN))
register("tsmixer", forms=(False,), twin=_BASELINE + "TSMixer, all-MLP time/feature mixing")(_ann(TSMixer, needs_steps=True))
register("kan", forms=(False,), twin=_BASELINE + "a two-layer KAN (B-spline edges)")(_ann(KANNet, needs_steps=True))
register("biper", forms=(False,), twin=_BASELINE + "an MLP with BiPer-binarised first-layer weights")(
    _ann(BiPerMLP, needs_steps=True))
register("ecapa_tdnn", forms=(False,), twin=_BASELINE + "ECAPA-TDNN, the speech model the spiking tdnn simplifies")(
    _ann(ECAPATDNN))
register("campp", forms=(False,), twin=_BASELINE + "CAM++, a densely connected TDNN with context-aware masking")(
    _ann(CAMPlusPlus))
