"""Streaming: ``Sequential.step`` (each layer's own single-step path) gives, step after step, exactly what
the multi-step engines give on the whole sequence (the oracle), with and without a graph; the surrogate's
no-graph shortcut is the same Heaviside step as its autograd Function."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit import surrogate
from snnkit.synapses import RecurrentCell, TimeDistributed


def _net() -> N.Sequential:
    torch.manual_seed(0)
    net = N.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), N.LIF(tau_mem=4.0),
                       TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 16),
                       N.ALIF(tau_mem=5.0), RecurrentCell(N.CubaLIF(tau_syn=3.0, tau_mem=6.0), nn.Linear(16, 16)),
                       nn.Linear(16, 5), N.LI(tau_mem=4.0))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    return net


def _stream(net: N.Sequential, x: torch.Tensor) -> torch.Tensor:
    out, state = [], None
    for x_t in x.unbind(0):
        y, state = net.step(x_t, state)
        out.append(y)
    return torch.stack(out)


def test_step_by_step_equals_the_multistep_run_without_a_graph():
    net = _net()
    x = (torch.rand(30, 3, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    with torch.no_grad():
        ref = net(x)
        got = _stream(net, x)
        hidden = net[:2](x)
    assert hidden.sum() > 50, "the conv LIF layer must spike"
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_step_by_step_gradients_equal_the_multistep_gradients():
    x = (torch.rand(12, 2, 2, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    grads = []
    for run in (lambda n: n(x), lambda n: _stream(n, x)):
        net = _net()
        run(net).pow(2).sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    assert any(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", surrogate.names())
def test_no_graph_spike_equals_the_autograd_spike(name):
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 2.0])
    sg = surrogate.get(name)
    assert torch.equal(sg(x), surrogate.spike(x, sg))           # no graph: the shortcut
    y = x.clone().requires_grad_(True)
    assert torch.equal(sg(y).detach(), surrogate.spike(x, sg))  # graph: the Function
