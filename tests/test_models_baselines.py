"""ANN baselines named as twins. Oracles: S4D/S5 recurrence == convolution-kernel form; the PTD
eigen-decomposition reconstructs the perturbed HiPPO matrix (numpy); KAN's B-splines equal scipy's;
the TCN is causal (future inputs never change past features); BiPer's forward is sign(sin) and its
gradient the sine's; TSMixer's time mixing commutes with permuting features."""
import math

import numpy as np
import pytest
import torch

from snnkit import models
from snnkit.models.baselines import S5Layer, TCN, TSMixer, biper_sign, bspline_basis, hippo_legs, ptd_init
from snnkit.models.recurrent import DiagonalSSM
from test_models_lmu import _streamed  # the streaming loop, shared with the LMU tests


def test_ptd_eigendecomposition_reconstructs_the_perturbed_hippo_matrix():
    lam, vb, A_pert = ptd_init(8, eps=0.01)
    w, V = np.linalg.eig(A_pert)
    assert np.allclose(V @ np.diag(w) @ np.linalg.inv(V), A_pert, atol=1e-8)
    assert np.linalg.cond(V) < 1e3 < np.linalg.cond(np.linalg.eig(hippo_legs(16)[0])[1])
    assert np.all(lam.real < 0) and lam.shape == (8,) and np.all(np.isin(np.round(lam, 8), np.round(w, 8)))
    A, _ = hippo_legs(16)
    assert 0 < np.linalg.norm(A_pert - A, 2) <= 0.01 * np.linalg.norm(A, 2) + 1e-9


@pytest.mark.parametrize("init", ["lin", "ptd"])
def test_s4d_recurrence_equals_convolution_kernel(init):
    torch.manual_seed(0)
    ssm = DiagonalSSM(3, state=6, init=init).double()
    u = torch.randn(40, 2, 3, dtype=torch.float64)
    assert torch.allclose(_streamed(ssm.step, u), ssm(u), atol=1e-8)


@pytest.mark.parametrize("init", ["lin", "ptd"])
def test_s5_recurrence_equals_convolution_kernel(init):
    torch.manual_seed(0)
    layer = S5Layer(4, state=6, init=init)
    u = torch.randn(30, 2, 4)
    assert torch.allclose(_streamed(layer.step, u), layer(u), atol=1e-4)
    net = models.create("s5", spiking=False, in_features=4, num_classes=3, hidden=8, state=4)
    assert net(u).shape == (1, 2, 3)


def test_tcn_is_causal_and_shaped():
    torch.manual_seed(0)
    tcn = TCN(3, 5, channels=8, levels=3)
    x = torch.randn(20, 2, 3)
    x2 = x.clone()
    x2[12:] += torch.randn(8, 2, 3)
    f1, f2 = tcn.features(x), tcn.features(x2)
    assert torch.equal(f1[:12], f2[:12]) and not torch.equal(f1[12:], f2[12:])
    assert tcn(x).shape == (1, 2, 5)


def test_tsmixer_time_mixing_commutes_with_feature_permutation():
    torch.manual_seed(0)
    mixer = TSMixer(4, 3, steps=10, blocks=1).eval()
    with torch.no_grad():
        mixer.time_norms[0].running_mean.zero_()   # a per-(t, f) norm is the identity here, so only the
        mixer.time_norms[0].running_var.fill_(1.0)  # shared time MLP acts: it must commute with permuting f
        mixer.time_norms[0].weight.fill_(1.0)
        mixer.time_norms[0].bias.zero_()
    z, perm = torch.randn(2, 10, 4), torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        assert torch.allclose(mixer.mix_time(0, z)[..., perm], mixer.mix_time(0, z[..., perm]), atol=1e-6)
    assert mixer(torch.randn(10, 2, 4)).shape == (1, 2, 3)


def test_kan_bsplines_equal_scipy():
    interpolate = pytest.importorskip("scipy.interpolate")
    knots = torch.arange(-3, 9, dtype=torch.float64) * 0.4 - 1.0
    x = torch.linspace(-0.99, 0.99, 37, dtype=torch.float64)
    ours = bspline_basis(x, knots, 3).numpy()
    ref = interpolate.BSpline.design_matrix(x.numpy(), knots.numpy(), 3).toarray()
    assert np.allclose(ours, ref, atol=1e-12)
    kan = models.create("kan", spiking=False, in_features=4, num_classes=3, steps=6)
    assert kan(torch.rand(6, 2, 4)).shape == (1, 2, 3)


def test_biper_square_wave_forward_and_sine_gradient():
    omega = 2.0
    x = torch.linspace(-4, 4, 101, dtype=torch.float64, requires_grad=True)
    y = biper_sign(x, omega)
    expect = np.where(np.sin(omega * x.detach().numpy()) >= 0, 1.0, -1.0)
    assert np.array_equal(y.detach().numpy(), expect)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(g, omega * torch.cos(omega * x.detach()))
    net = models.create("biper", spiking=False, in_features=3, num_classes=2, steps=5)
    assert net(torch.rand(5, 4, 3)).shape == (1, 4, 2)
    assert math.isclose(float(net.fc1.omega), math.pi)


# ---------------------------------------------------------------- ECAPA-TDNN and CAM++ (speech baselines)

def _conv(cin, cout, k, bias=True):
    return cin * cout * k + (cout if bias else 0)


def _ecapa_params(F, K, C, blocks, s, b, M, a, E):
    """Derived by hand from the paper's figure 2: TDNN unit = Conv1d + BN (2 per channel)."""
    w = C // s
    unit = lambda cin, cout, k=1: _conv(cin, cout, k) + 2 * cout  # noqa: E731
    block = 2 * unit(C, C) + (s - 1) * unit(w, w, 3) + (C * b + b) + (b * C + C)
    asp = _conv(3 * M, a, 1) + _conv(a, M, 1)
    return (unit(F, C, 5) + blocks * block + _conv(blocks * C, M, 1) + asp         # MFA: Conv1d + ReLU, no BN
            + 2 * 2 * M + _conv(2 * M, E, 1) + 2 * E + _conv(E, K, 1))


def _campp_params(F, K, m, fcm_blocks, init, layers, g, bn_size, E, k=3):
    fcm = 9 * m + 2 * m                                               # conv1 + BN
    for n in fcm_blocks:
        fcm += (18 * m * m + 4 * m) + (m * m + 2 * m)                 # strided block (with 1x1 shortcut)
        fcm += (n - 1) * (18 * m * m + 4 * m)
    fcm += 9 * m * m + 2 * m                                          # conv2 + BN
    freq = F
    for _ in range(len(fcm_blocks) + 1):
        freq = (freq + 1) // 2
    total, c, mid = fcm + _conv(m * freq, init, 5, bias=False) + 2 * init, init, bn_size * g
    for n in layers:
        for i in range(n):
            cin = c + i * g
            total += 2 * cin + _conv(cin, mid, 1, False) + 2 * mid             # BN-ReLU-Conv1x1-BN
            total += _conv(mid, g, k, False) + _conv(mid, mid // 2, 1) + _conv(mid // 2, g, 1)   # CAM
        c += n * g
        total += 2 * c + _conv(c, c // 2, 1, False)                     # transit
        c //= 2
    return total + 2 * c + _conv(2 * c, E, 1, False) + _conv(E, K, 1)


def test_ecapa_parameter_count_matches_the_formula_and_the_paper():
    paper = dict(channels=512, blocks=3, scale=8, se_bottleneck=128, mfa=1536, attention=128, embed=192)
    net = models.create("ecapa_tdnn", spiking=False, in_features=80, num_classes=10, **paper)
    n = sum(p.numel() for p in net.parameters())
    assert n == _ecapa_params(80, 10, 512, 3, 8, 128, 1536, 128, 192)
    head = 192 * 10 + 10
    assert abs((n - head) / 6.2e6 - 1) < 0.01    # Desplanques et al., table 1: 6.2M (C=512), without the classifier
    small = models.create("ecapa_tdnn", spiking=False, in_features=16, num_classes=4)
    assert sum(p.numel() for p in small.parameters()) == _ecapa_params(16, 4, 64, 3, 4, 16, 192, 32, 64)
    assert small(torch.randn(30, 3, 16)).shape == (1, 3, 4) and small.embed(torch.randn(30, 3, 16)).shape == (3, 64)


def test_campp_parameter_count_matches_the_formula():
    cfg = dict(fcm_channels=6, fcm_blocks=(2, 1), init_channels=20, layers=(3, 2), growth=8, bn_size=2,
               dilations=(1, 2), embed=24)
    net = models.create("campp", spiking=False, in_features=20, num_classes=5, **cfg)
    assert sum(p.numel() for p in net.parameters()) == _campp_params(20, 5, 6, (2, 1), 20, (3, 2), 8, 2, 24)
    assert net(torch.randn(33, 4, 20)).shape == (1, 4, 5)       # time stride 2: 17 frames inside
    assert net.fcm(torch.randn(4, 20, 33)).shape == (4, 6 * 3, 33)   # 20 -> 10 -> 5 -> 3 frequency bins


def test_attentive_statistics_pooling_equals_a_direct_weighted_mean_and_std():
    from snnkit.models.baselines import AttentiveStatsPool
    torch.manual_seed(0)
    pool = AttentiveStatsPool(5, 7).double().requires_grad_(False)
    h = torch.randn(2, 5, 11, dtype=torch.float64)
    out = pool(h)
    W, b = pool.attend.weight[..., 0], pool.attend.bias
    V, k = pool.score.weight[..., 0], pool.score.bias
    for i in range(2):
        mean = [sum(h[i, c, t] for t in range(11)) / 11 for c in range(5)]
        std = [math.sqrt(sum((h[i, c, t] - mean[c]) ** 2 for t in range(11)) / 11) for c in range(5)]
        ctx = torch.tensor(mean + std, dtype=torch.float64)
        for c in range(5):
            e = [float(V[c] @ torch.tanh(W @ torch.cat([h[i, :, t], ctx]) + b) + k[c]) for t in range(11)]
            alpha = np.exp(np.array(e) - max(e))
            alpha /= alpha.sum()
            x = h[i, c].numpy()
            mu = float((alpha * x).sum())
            sigma = math.sqrt(float((alpha * (x - mu) ** 2).sum()))   # the weighted variance, centred form
            assert math.isclose(float(out[i, c]), mu, abs_tol=1e-10)
            assert math.isclose(float(out[i, 5 + c]), sigma, abs_tol=1e-8)


def test_context_aware_masking_equals_the_formula():
    from snnkit.models.baselines import ContextAwareMasking
    torch.manual_seed(0)
    cam = ContextAwareMasking(6, 4, kernel=3, dilation=2, seg_len=4).double().requires_grad_(False)
    x = torch.randn(2, 6, 10, dtype=torch.float64)                 # segments: frames 0-3, 4-7, 8-9
    out = cam(x)
    W1, b1, W2, b2 = cam.fc1.weight[..., 0], cam.fc1.bias, cam.fc2.weight[..., 0], cam.fc2.bias
    Wl = cam.local.weight                                          # [4, 6, 3], dilation 2, zero padding 2
    for i in range(2):
        for t in range(10):
            start = 4 * (t // 4)
            e = x[i].mean(-1) + x[i, :, start:min(start + 4, 10)].mean(-1)   # global + segment mean
            mask = torch.sigmoid(W2 @ torch.relu(W1 @ e + b1) + b2)
            y = sum(Wl[:, :, j] @ x[i, :, t + 2 * (j - 1)] for j in range(3) if 0 <= t + 2 * (j - 1) < 10)
            assert torch.allclose(out[i, :, t], y * mask, atol=1e-12)


def test_res2_groups_see_growing_receptive_fields():
    """Res2Net's hierarchy: group i depends on input groups 2..i only (group 1 passes through)."""
    from snnkit.models.baselines import Res2Conv
    torch.manual_seed(0)
    res2 = Res2Conv(8, 4, kernel=3, dilation=1).eval()
    x = torch.randn(1, 8, 12)
    x2 = x.clone()
    x2[:, 4:6] += 1.0                                             # change input group 3 only
    with torch.no_grad():
        d = (res2(x) - res2(x2)).abs().view(4, 2, 12).sum((1, 2))
    assert d[0] == 0 and d[1] == 0 and d[2] > 0 and d[3] > 0
