"""MPBN: folding the membrane batch norm into weights and per-channel thresholds leaves every spike
unchanged (exact oracle: the spike tensors of the unfolded network in eval mode)."""
import copy

import pytest
import torch
from torch import nn

from snnkit.neurons import LIF, Sequential
from snnkit.synapses import TimeDistributed
from snnkit.training.mpbn import MPBNLIF, fold_mpbn


def _randomise_bn(net: nn.Module, g: torch.Generator) -> None:
    for m in net.modules():
        if isinstance(m, MPBNLIF):
            C = m.bn.num_features
            m.bn.running_mean.copy_(torch.randn(C, generator=g, dtype=torch.float64))
            m.bn.running_var.copy_(torch.rand(C, generator=g, dtype=torch.float64) * 2 + 0.1)
            with torch.no_grad():  # both signs of gamma: the fold must hold for each
                m.bn.weight.copy_(torch.randn(C, generator=g, dtype=torch.float64))
                m.bn.bias.copy_(torch.randn(C, generator=g, dtype=torch.float64) * 0.5)


def _spikes(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    out = []
    hooks = [m.register_forward_hook(lambda _m, _i, y: out.append(y.clone()))
             for m in net.modules() if isinstance(m, (MPBNLIF, LIF))]  # MPBNLIF.lif is never called
    with torch.no_grad():
        net.eval()(x)
    for h in hooks:
        h.remove()
    return out


@pytest.mark.parametrize("seed", range(4))
def test_fold_keeps_spikes_identical_mlp(seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = Sequential(nn.Linear(12, 16), MPBNLIF(16, tau_mem=3.0), nn.Linear(16, 8), MPBNLIF(8, tau_mem=None),
                     nn.Linear(8, 4)).double()
    _randomise_bn(net, g)
    x = torch.randn(10, 5, 12, generator=g, dtype=torch.float64) * 2
    before = _spikes(net, x)
    folded = fold_mpbn(copy.deepcopy(net))
    assert not any(isinstance(m, MPBNLIF) for m in folded.modules())
    after = _spikes(folded, x)
    assert len(before) == len(after) == 2
    assert all(b.sum() > 0 for b in before)  # the test means something: neurons do fire
    for b, a in zip(before, after):
        assert torch.equal(b, a)
    with torch.no_grad():
        assert torch.equal(net(x), folded(x))


def test_fold_keeps_spikes_identical_conv():
    g = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    net = Sequential(TimeDistributed(nn.Conv2d(2, 6, 3, padding=1)), MPBNLIF(6, tau_mem=2.0),
                     TimeDistributed(nn.Conv2d(6, 4, 3)), MPBNLIF(4)).double()
    _randomise_bn(net, g)
    x = torch.randn(6, 3, 2, 8, 8, generator=g, dtype=torch.float64)
    before, after = _spikes(net, x), _spikes(fold_mpbn(copy.deepcopy(net)), x)
    assert all(b.sum() > 0 for b in before)
    for b, a in zip(before, after):
        assert torch.equal(b, a)


def test_unfolded_layer_matches_reference_equation():
    # the layer against a hand-written loop of the documented equations (eval mode statistics)
    torch.manual_seed(0)
    m = MPBNLIF(3, tau_mem=2.0).double().eval()
    _randomise_bn(nn.Sequential(m), torch.Generator().manual_seed(1))
    x = torch.randn(7, 4, 3, dtype=torch.float64) * 2
    beta = torch.exp(torch.tensor(-1 / 2.0, dtype=torch.float64))
    mu, var = m.bn.running_mean, m.bn.running_var
    v, ref = torch.zeros(4, 3, dtype=torch.float64), []
    for x_t in x:
        h = beta * v + x_t
        s = ((m.bn.weight * (h - mu) / torch.sqrt(var + m.bn.eps) + m.bn.bias - 1.0) > 0).double()
        v = h * (1 - s)
        ref.append(s)
    with torch.no_grad():
        assert torch.equal(m(x), torch.stack(ref))


def test_training_updates_statistics_and_gradients_flow():
    net = Sequential(nn.Linear(5, 7), MPBNLIF(7))
    x = torch.randn(4, 8, 5)
    net.train()(x).sum().backward()
    assert net[0].weight.grad is not None and net[1].bn.weight.grad is not None
    assert not torch.equal(net[1].bn.running_mean, torch.zeros(7))


def test_fold_needs_a_weight_layer():
    with pytest.raises(ValueError, match="must directly follow"):
        fold_mpbn(Sequential(MPBNLIF(3)))
