"""snnkit's LIF emits exactly the spikes of snntorch Leaky, norse LIFBoxCell and spikingjelly LIFNode
on the same input with matched parameters (peer libraries are the oracles)."""
import pytest
import torch

import snnkit
from snnkit.functional import decay_float

T, B, N = 60, 8, 40


def _input(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, N, generator=g) * 0.6


@pytest.mark.parametrize("engine", ["reference", "fused", "auto"])
def test_matches_snntorch_leaky(engine):
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    tau = 9.5
    beta = decay_float(tau)
    x = _input()
    # snntorch's "zero" reset zeros the stored membrane after a spike: our hard reset to 0.
    # (Its "subtract" removes the threshold after the decay, ours before: not the same model.)
    leaky = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())
    mem = leaky.init_leaky()
    ref = []
    for xt in x:
        spk, mem = leaky(xt, mem)
        ref.append(spk)
    ref = torch.stack(ref)
    with snnkit.use_engine(engine):
        ours = snnkit.neurons.LIF(tau_mem=tau, reset="hard")(x)
    assert ref.sum() > 50
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("engine", ["reference", "fused", "auto"])
def test_matches_norse_lifbox(engine):
    norse = pytest.importorskip("norse.torch")

    tau_inv, dt = 100.0, 1e-3   # norse integrates v += dt/tau * (v_leak - v + i): Euler, input decayed
    x = _input() * 3
    p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(tau_inv), v_leak=torch.tensor(0.0),
                               v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0))
    cell = norse.LIFBoxCell(p, dt=dt)
    state, ref = None, []
    for xt in x:
        z, state = cell(xt, state)
        ref.append(z)
    ref = torch.stack(ref)
    with snnkit.use_engine(engine):
        ours = snnkit.neurons.LIF(tau_mem=1 / tau_inv, dt=dt, decay_input=True, method="euler", reset="hard")(x)
    assert ref.sum() > 50
    assert torch.equal(ours, ref)


@pytest.mark.parametrize("decay_input", [True, False])
def test_matches_spikingjelly_lifnode(decay_input):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import neuron, surrogate

    tau = 2.0   # spikingjelly: v += (x - v) / tau (decay_input) or v += -v / tau + x; Euler with dt = 1
    x = _input() * (2.5 if decay_input else 1.0)
    node = neuron.LIFNode(tau=tau, decay_input=decay_input, v_threshold=1.0, v_reset=0.0,
                          surrogate_function=surrogate.ATan(), step_mode="m")
    ref = node(x)
    ours = snnkit.neurons.LIF(tau_mem=tau, decay_input=decay_input, method="euler", reset="hard")(x)
    assert ref.sum() > 50
    assert torch.equal(ours, ref)


def test_gradients_match_snntorch_with_detached_reset():
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    tau = 9.5
    x = _input().requires_grad_()
    leaky = snn.Leaky(beta=decay_float(tau), threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())
    mem, out = leaky.init_leaky(), []
    for xt in x.unbind(0):
        spk, mem = leaky(xt, mem)
        out.append(spk)
    (g_ref,) = torch.autograd.grad(torch.stack(out).sum(), x)
    # snntorch detaches the reset term (its mem_reset uses .detach())
    ours = snnkit.neurons.LIF(tau_mem=tau, reset="hard", detach_reset=True)(x)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-5)
