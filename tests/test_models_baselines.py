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
