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

ECAPA-style TDNN for speech is :mod:`snnkit.models.tdnn` (``create("tdnn", spiking=False)``).
"""
from __future__ import annotations

import math
from typing import Any

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


register("s5", forms=(False,))(_ann(S5Net))
register("tcn", forms=(False,))(_ann(TCN))
register("tsmixer", forms=(False,))(_ann(TSMixer, needs_steps=True))
register("kan", forms=(False,))(_ann(KANNet, needs_steps=True))
register("biper", forms=(False,))(_ann(BiPerMLP, needs_steps=True))
