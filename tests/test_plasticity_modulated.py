"""Modulated SoftHebb adaptation: the update with modulation 1 is SoftHebb's (the existing class and a
per-sample loop of the published formula as oracles), modulation 0 leaves the weights alone, per-sample
modulation weights each sample's term, and the modulation layer's look-ahead gradient matches finite
differences."""
import pytest
import torch
from torch import nn

from snnkit.plasticity import SoftHebb
from snnkit.plasticity.modulated import ModulatedHebbianAdaptation, entropy


def make(mode="modulated", temperature=0.5, seed=0):
    torch.manual_seed(seed)
    layer, readout = nn.Linear(6, 5, bias=False), nn.Linear(5, 3)
    return ModulatedHebbianAdaptation(layer, readout, 3, lr=0.1, temperature=temperature, mode=mode)


def softhebb_loop(w, x, temperature, weights):
    """dw_k = sum_b weights_b softmax(u_b / T)_k (x_b - u_bk w_k) / B, one sample at a time."""
    dw = torch.zeros_like(w)
    for b in range(x.shape[0]):
        u = w @ x[b]
        y = torch.softmax(u / temperature, 0)
        for k in range(w.shape[0]):
            dw[k] += weights[b] * y[k] * (x[b] - u[k] * w[k]) / x.shape[0]
    return dw


def test_modulation_one_is_softhebb():
    net = make()
    x = torch.randn(4, 6)
    w = net.layer.weight.detach().clone()
    dw = net.apply(x, torch.ones(4))
    torch.testing.assert_close(dw, softhebb_loop(w, x, 0.5, torch.ones(4)))
    layer = nn.Linear(6, 5, bias=False)
    layer.weight.data.copy_(w)
    SoftHebb(layer, lr=0.1, temperature=0.5).step(x, layer(x))        # the existing class, immediate update
    torch.testing.assert_close(net.layer.weight.detach(), layer.weight.detach())


def test_per_sample_modulation_weights_each_sample():
    net = make()
    x, m = torch.randn(5, 6), torch.tensor([0.0, 0.3, 1.0, 0.7, 0.1])
    w = net.layer.weight.detach().clone()
    torch.testing.assert_close(net.delta(x, m), softhebb_loop(w, x, 0.5, m))


def test_modulation_zero_and_mode_none_leave_weights_alone():
    net = make()
    x = torch.randn(4, 6)
    w = net.layer.weight.detach().clone()
    net.apply(x, torch.zeros(4))
    assert torch.equal(net.layer.weight, w)
    frozen = make(mode="none")
    w = frozen.layer.weight.detach().clone()
    frozen.adapt_step(x)
    assert torch.equal(frozen.layer.weight, w)
    moving = make(mode="hebbian")
    w = moving.layer.weight.detach().clone()
    moving.adapt_step(x)
    assert not torch.equal(moving.layer.weight, w)


def test_lookahead_gradient_matches_finite_differences():
    net = make()
    net.double()
    x = torch.randn(4, 6, dtype=torch.float64)
    logits = net.logits(x)
    net.lookahead_entropy(x, net.modulation_of(logits)).backward()
    grad = net.modulation.bias.grad.clone()
    eps = 1e-6
    with torch.no_grad():
        values = []
        for sign in (1, -1):
            net.modulation.bias += sign * eps
            values.append(net.lookahead_entropy(x, net.modulation_of(logits)))
            net.modulation.bias -= sign * eps
    torch.testing.assert_close(grad, ((values[0] - values[1]) / (2 * eps)).reshape(1))


def test_entropy_of_uniform_is_log_classes():
    torch.testing.assert_close(entropy(torch.zeros(2, 4)), torch.full((2,), float(torch.log(torch.tensor(4.0)))))


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        make(mode="sometimes")
    with pytest.raises(ValueError, match="initial_modulation"):
        ModulatedHebbianAdaptation(nn.Linear(2, 2), nn.Linear(2, 2), 2, initial_modulation=1.0)
