"""Oracle tests for learnable delays: explicit shifting, a dense conv1d, finite differences, dcls."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnkit.synapses.delays import (DelayedLinear, check_delay_range, dcls_position, delay_kernel,
                                    delayed_linear, freeze_delays)


def _explicit_shift(x, weight, delays, T_out):
    """Every synapse shifts its input by its own integer delay (written independently of snnkit)."""
    T, B, I = x.shape
    y = torch.zeros(T_out, B, weight.shape[0], dtype=x.dtype)
    for o in range(weight.shape[0]):
        for i in range(I):
            d = int(delays[o, i])
            for t in range(T):
                if t + d < T_out:
                    y[t + d, :, o] += weight[o, i] * x[t, :, i]
    return y


def _gaussian_kernel_numpy_style(weight, delays, D, sigma):
    taps = torch.arange(D, dtype=torch.float64)
    k = torch.exp(-((taps[None, None, :] - delays[..., None].double()) ** 2) / (2 * sigma ** 2))
    k = k / (k.sum(-1, keepdim=True) + 1e-7)
    return weight[..., None].double() * k


@pytest.mark.parametrize("method", ["spectral", "direct"])
@pytest.mark.parametrize("extra", [0, 3])
def test_frozen_delays_equal_explicit_shift(method, extra):
    torch.manual_seed(0)
    layer = DelayedLinear(4, 3, max_delay=7, extra_steps=extra, algorithm=method).double()
    layer.freeze_delays()
    x = torch.randn(12, 2, 4, dtype=torch.float64)
    ref = _explicit_shift(x, layer.weight.detach(), layer.integer_delays(), 12 + extra)
    torch.testing.assert_close(layer(x), ref, rtol=1e-10, atol=1e-10)


def test_gaussian_with_integer_positions_and_tiny_sigma_is_a_shift():
    torch.manual_seed(1)
    layer = DelayedLinear(5, 4, max_delay=6, sigma=0.05).double()
    with torch.no_grad():
        layer.delays.copy_(torch.randint(0, 6, (4, 5)).double())
    x = torch.randn(15, 3, 5, dtype=torch.float64)
    ref = _explicit_shift(x, layer.weight.detach(), layer.delays.detach().long(), 15)
    torch.testing.assert_close(layer(x), ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method", ["spectral", "direct"])
def test_gaussian_layer_equals_dense_conv1d(method):
    torch.manual_seed(2)
    D, sigma, extra = 9, 1.7, 4
    layer = DelayedLinear(6, 5, max_delay=D, sigma=sigma, extra_steps=extra, algorithm=method)
    x = (torch.rand(20, 3, 6) < 0.3).float()
    kernel = _gaussian_kernel_numpy_style(layer.weight.detach(), layer.delays.detach(), D, sigma).float()
    # conv1d is a cross-correlation: tap k (delay k) sits at index D - 1 - k after left padding D - 1.
    ref = F.conv1d(F.pad(x.permute(1, 2, 0), (D - 1, extra)), kernel.flip(-1)).permute(2, 0, 1)
    torch.testing.assert_close(layer(x), ref, rtol=1e-4, atol=1e-4)


def test_triangle_interpolation_splits_weight_between_neighbour_taps():
    layer = DelayedLinear(1, 1, max_delay=5, interpolation="triangle").double()
    with torch.no_grad():
        layer.weight.fill_(2.0)
        layer.delays.fill_(1.25)
    x = torch.zeros(8, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    y = layer(x)[:, 0, 0]
    expected = torch.zeros(8, dtype=torch.float64)
    expected[1], expected[2] = 2.0 * 0.75, 2.0 * 0.25
    torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("interpolation", ["gaussian", "triangle"])
@pytest.mark.parametrize("method", ["spectral", "direct"])
def test_delay_gradients_match_finite_differences(interpolation, method):
    torch.manual_seed(3)
    layer = DelayedLinear(3, 2, max_delay=6, sigma=0.9, interpolation=interpolation, extra_steps=2,
                          algorithm=method).double()
    with torch.no_grad():  # keep triangle positions off the kinks at integers
        layer.delays.copy_(torch.rand(2, 3, dtype=torch.float64) * 4 + 0.3)
    x = torch.randn(10, 2, 3, dtype=torch.float64)

    def f(delays, weight, inp):  # exactly what layer.forward computes, as a function of its inputs
        kernel = delay_kernel(weight, delays, layer.max_delay, 0.9, interpolation)
        return delayed_linear(inp, kernel, layer.extra_steps, algorithm=method)

    args = (layer.delays.detach().clone().requires_grad_(True), layer.weight.detach().clone().requires_grad_(True),
            x.requires_grad_(True))
    torch.testing.assert_close(f(*args), layer(x))
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5)


def test_spectral_and_direct_agree_in_float64():
    torch.manual_seed(4)
    x = torch.randn(30, 4, 7, dtype=torch.float64)
    k = torch.randn(5, 7, 11, dtype=torch.float64)
    for extra in (0, 5, 40):
        torch.testing.assert_close(delayed_linear(x, k, extra, algorithm="spectral"),
                                   delayed_linear(x, k, extra, algorithm="direct"), rtol=1e-10, atol=1e-10)
    # wide output: the spectral path then works through several frequency blocks
    x = torch.randn(60, 256, 3, dtype=torch.float64, requires_grad=True)
    k = torch.randn(512, 3, 8, dtype=torch.float64, requires_grad=True)
    ys = [delayed_linear(x, k, 2, algorithm=m) for m in ("spectral", "direct")]
    torch.testing.assert_close(ys[0], ys[1], rtol=1e-10, atol=1e-10)
    gs = [torch.autograd.grad(y.square().sum(), (x, k)) for y in ys]
    for a, b in zip(*gs):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_modes_none_and_random():
    torch.manual_seed(5)
    none = DelayedLinear(4, 3, max_delay=5, mode="none", extra_steps=2)
    x = torch.randn(6, 2, 4)
    y = none(x)
    torch.testing.assert_close(y[:6], x @ none.weight.t())
    assert torch.all(y[6:] == 0) and y.shape == (8, 2, 3)
    assert not any(p is none.delays for p in none.parameters())
    rnd = DelayedLinear(4, 3, max_delay=5, mode="random")
    d = rnd.integer_delays()
    assert rnd.is_frozen and d.min() >= 0 and d.max() <= 4
    assert sum(p.numel() for p in rnd.parameters()) == 12
    ref = _explicit_shift(x.double(), rnd.weight.detach().double(), d, 6).float()
    torch.testing.assert_close(rnd(x), ref, rtol=1e-4, atol=1e-4)


def test_freeze_rounds_and_export_hook_checks_loihi_range():
    layer = DelayedLinear(2, 2, max_delay=80)
    with torch.no_grad():
        layer.delays.copy_(torch.tensor([[0.4, 10.6], [70.2, 79.9]]))
    assert freeze_delays(torch.nn.Sequential(layer)) == 1
    assert layer.integer_delays().tolist() == [[0, 11], [70, 79]]
    assert not layer.delays.requires_grad
    rep = layer.check_delay_range(62)
    assert not rep.ok and rep.n_out_of_range == 2 and rep.max_delay == 79 and "0..62" in str(rep)
    assert layer.check_delay_range(79).ok and layer.check_delay_range(78).n_out_of_range == 1
    with pytest.raises(ValueError, match="out of range"):
        check_delay_range(layer.integer_delays(), 62, strict=True)
    assert check_delay_range(torch.tensor([[0, 62]]), 62).ok
    assert check_delay_range(torch.tensor([[-1, 3]]), 62).n_out_of_range == 1
    with pytest.raises(ValueError, match=r"max_allowed=-1; allowed: an integer >= 0"):
        check_delay_range(torch.tensor([[0]]), -1)


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="mode"):
        DelayedLinear(2, 2, 3, mode="bogus")
    with pytest.raises(ValueError, match="max_delay"):
        DelayedLinear(2, 2, 0)
    with pytest.raises(ValueError, match="extra_steps"):
        DelayedLinear(2, 2, 3, extra_steps=-1)
    with pytest.raises(ValueError, match=r"\[T, B, 2\]"):
        DelayedLinear(2, 2, 3)(torch.randn(4, 2, 3))
    with pytest.raises(ValueError, match="unfreeze"):
        DelayedLinear(2, 2, 3, mode="random").unfreeze_delays()


@pytest.mark.parametrize("version", ["gauss", "v1"])
def test_identical_to_dcls_for_identical_parameters(version):
    dcls = pytest.importorskip("DCLS.construct.modules")
    torch.manual_seed(6)
    D, I, O, T, B, sigma = 7, 5, 4, 16, 3, 1.3
    ours = DelayedLinear(I, O, D, sigma=sigma, interpolation="gaussian" if version == "gauss" else "triangle")
    theirs = dcls.Dcls1d(I, O, kernel_count=1, dilated_kernel_size=D, bias=False, version=version)
    with torch.no_grad():
        theirs.weight.copy_(ours.weight.unsqueeze(-1))
        theirs.P.copy_(dcls_position(ours.delays, D).reshape(theirs.P.shape))
        if theirs.SIG is not None:
            theirs.SIG.fill_(sigma - 0.27)  # DCLS uses |SIG| + 0.27 as the width
    x = torch.randn(T, B, I)
    ref = theirs(F.pad(x.permute(1, 2, 0), (D - 1, 0))).permute(2, 0, 1)
    torch.testing.assert_close(ours(x), ref, rtol=1e-4, atol=1e-4)
    assert math.isclose(float(dcls_position(dcls_position(torch.tensor(2.5), D), D)), 2.5)


def test_straight_through_rounding_forwards_integer_delays_and_still_trains_them():
    torch.manual_seed(7)
    layer = DelayedLinear(4, 3, max_delay=8, sigma=0.5).double()
    layer.straight_through = True
    x = torch.randn(14, 2, 4, dtype=torch.float64)
    y = layer(x)
    ref = _explicit_shift(x, layer.weight.detach(), layer.integer_delays(), 14)
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10)
    y.square().sum().backward()
    assert layer.delays.grad is not None and bool(layer.delays.grad.abs().sum() > 0)
    # the weight gradient is the integer network's own gradient
    w = layer.weight.detach().clone().requires_grad_(True)
    _explicit_shift(x, w, layer.integer_delays(), 14).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad)


def test_weights_by_delay_branches_rebuild_the_frozen_layer():
    torch.manual_seed(8)
    layer = DelayedLinear(5, 4, max_delay=6, extra_steps=2).double()
    layer.freeze_delays()
    x = torch.randn(9, 2, 5, dtype=torch.float64)
    branches = layer.weights_by_delay()
    assert sum(int((w != 0).sum()) for w in branches.values()) == 20
    y = torch.zeros(9 + 6, 2, 4, dtype=torch.float64)
    for d, w in branches.items():  # NIR-style: Linear(W_d) then a channel Delay(d)
        y[d:d + 9] += x @ w.t()
    torch.testing.assert_close(layer(x), y[:11])


def test_fused_gaussian_kernel_equals_its_functional_definition():
    """The engine (hand-written backward) against snnkit.functional.delays.gaussian_kernel (autograd)."""
    from snnkit.functional.delays import gaussian_kernel
    from snnkit.kernels.delays import delay_kernel as fused_delay_kernel
    g = torch.Generator().manual_seed(0)
    for sigma in (0.5, 2.0, 4.5):
        w = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
        d = (torch.rand(5, 4, generator=g, dtype=torch.float64) * 8).requires_grad_()
        fused, ref = fused_delay_kernel(w, d, 9, sigma), gaussian_kernel(w, d, 9, sigma)
        torch.testing.assert_close(fused, ref)
        grad = torch.randn(fused.shape, generator=g, dtype=torch.float64)
        torch.testing.assert_close(torch.autograd.grad(fused, (w, d), grad), torch.autograd.grad(ref, (w, d), grad))


def test_old_method_keyword_still_works_with_a_deprecation_warning():
    """``method`` (now ``algorithm``) keeps working for one release: same output as the new keyword."""
    torch.manual_seed(0)
    x = torch.rand(12, 2, 4)
    new = DelayedLinear(4, 3, max_delay=5, algorithm="direct")
    with pytest.warns(DeprecationWarning, match="algorithm"):
        old = DelayedLinear(4, 3, max_delay=5, method="direct")
    old.load_state_dict(new.state_dict())
    assert old.algorithm == "direct"
    torch.testing.assert_close(old(x), new(x))
    with pytest.warns(DeprecationWarning, match="algorithm"):
        assert new.method == "direct"
    k = new.kernel()
    with pytest.warns(DeprecationWarning, match="algorithm"):
        y_old = delayed_linear(x, k, method="spectral")
    torch.testing.assert_close(y_old, delayed_linear(x, k, algorithm="spectral"))
