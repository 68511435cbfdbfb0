"""Oracle tests for DelayedConv1d, as for DelayedLinear: integer delays against explicit shifting, the
Gaussian-interpolated layer against a dense 2-D convolution over (time, feature), delay gradients
against finite differences, and mode "none" against torch's Conv1d."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnkit.synapses import DelayedConv1d
from snnkit.synapses.delay_training import SigmaSchedule, clamp_all_delays, freeze_delays


def _explicit_shift_conv(x, weight, delays, T_out, stride, padding):
    """Every synapse (o, i, k) shifts its input by its own integer delay (written independently)."""
    T, B, C, L = x.shape
    O, _, K = weight.shape
    xp = F.pad(x, (padding, padding))
    L_out = (L + 2 * padding - K) // stride + 1
    y = torch.zeros(T_out, B, O, L_out, dtype=x.dtype)
    for o in range(O):
        for i in range(C):
            for k in range(K):
                d = int(delays[o, i, k])
                for t in range(T):
                    if t + d < T_out:
                        for l in range(L_out):
                            y[t + d, :, o, l] += weight[o, i, k] * xp[t, :, i, l * stride + k]
    return y


@pytest.mark.parametrize("method", ["spectral", "direct"])
@pytest.mark.parametrize("stride,padding,extra", [(1, 0, 0), (2, 1, 3)])
def test_frozen_delays_equal_explicit_shift(method, stride, padding, extra):
    torch.manual_seed(0)
    layer = DelayedConv1d(2, 3, 3, max_delay=5, stride=stride, padding=padding, extra_steps=extra,
                          algorithm=method).double()
    layer.freeze_delays()
    x = torch.randn(7, 2, 2, 6, dtype=torch.float64)
    ref = _explicit_shift_conv(x, layer.weight.detach(), layer.integer_delays(), 7 + extra, stride, padding)
    torch.testing.assert_close(layer(x), ref, rtol=1e-10, atol=1e-10)


def test_gaussian_layer_equals_dense_conv2d_over_time_and_features():
    torch.manual_seed(2)
    D, sigma, extra, K = 7, 1.3, 2, 3
    layer = DelayedConv1d(2, 4, K, max_delay=D, sigma=sigma, extra_steps=extra, padding=1).double()
    x = torch.randn(12, 3, 2, 5, dtype=torch.float64)
    taps = torch.arange(D, dtype=torch.float64)
    g = torch.exp(-((taps - layer.delays.detach()[..., None]) ** 2) / (2 * sigma ** 2))  # [O, C, K, D]
    g = g / (g.sum(-1, keepdim=True) + 1e-7)
    kernel = (layer.weight.detach()[..., None] * g).permute(0, 1, 3, 2)  # [O, C, D(tap), K]
    inp = x.permute(1, 2, 0, 3)  # [B, C, T, L]
    inp = F.pad(inp, (1, 1, D - 1, extra))  # causal in time, 'same' padding 1 in features
    y = F.conv2d(inp, kernel.flip(2))  # tap k multiplies x[t - k]
    torch.testing.assert_close(layer(x), y.permute(2, 0, 1, 3), rtol=1e-6, atol=1e-6)


def test_delay_gradients_match_finite_differences():
    torch.manual_seed(3)
    layer = DelayedConv1d(2, 2, 2, max_delay=5, sigma=0.8, extra_steps=1).double()
    x = torch.randn(6, 2, 2, 4, dtype=torch.float64)

    def f(delays):
        with torch.no_grad():
            layer.synapses.delays.copy_(delays.detach().reshape(2, 4))
        layer.synapses.delays.grad = None
        return layer(x)

    d0 = layer.synapses.delays.detach().clone()
    y = layer(x)
    gy = torch.randn_like(y)
    (gd,) = torch.autograd.grad((y * gy).sum(), layer.synapses.delays)
    eps, fd = 1e-6, torch.zeros_like(d0)
    for j in range(d0.numel()):
        dp, dm = d0.clone().view(-1), d0.clone().view(-1)
        dp[j] += eps
        dm[j] -= eps
        with torch.no_grad():
            fd.view(-1)[j] = ((f(dp) * gy).sum() - (f(dm) * gy).sum()) / (2 * eps)
    torch.testing.assert_close(gd, fd, rtol=1e-5, atol=1e-6)


def test_mode_none_is_conv1d_and_recipe_tools_apply():
    torch.manual_seed(4)
    layer = DelayedConv1d(3, 4, 3, max_delay=5, mode="none", padding=1, stride=2)
    x = torch.randn(5, 2, 3, 9)
    ref = F.conv1d(x.reshape(10, 3, 9), layer.weight.detach(), stride=2, padding=1)
    torch.testing.assert_close(layer(x), ref.reshape(5, 2, 4, -1), rtol=1e-5, atol=1e-5)
    learned = torch.nn.Sequential(DelayedConv1d(3, 4, 3, max_delay=9))
    sched = SigmaSchedule(learned, total_epochs=4)
    assert sched.current() == [4.5]
    with torch.no_grad():
        learned[0].synapses.delays.add_(20)
    clamp_all_delays(learned)
    assert float(learned[0].delays.detach().max()) == 8.0
    assert freeze_delays(learned) == 1 and learned[0].synapses.is_frozen
    with pytest.raises(ValueError, match="kernel_size"):
        DelayedConv1d(3, 4, 0, max_delay=5)
