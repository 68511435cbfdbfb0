"""Online gradients (SLTT, SLTT-K, OTTT) against independent oracles: autograd through the reference
step functions of :mod:`snnkit.functional` with the state detached between steps (the definition of
the temporal route being cut), and, for OTTT with one synapse layer and no reset, exact BPTT."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snnkit import kernels, models, training
from snnkit.functional import li_step, lif_multistep, lif_step
from snnkit.neurons import LI, LIF, Sequential
from snnkit.synapses import SeqConv2d, TimeDistributed
from snnkit.training import online
from snnkit.training.losses import get_loss


def _reference(model: nn.Sequential, x, y, loss_fn, steps, scale, traces: bool = False) -> list[torch.Tensor]:
    """Step by step with autograd; every neuron state enters the next step detached. With ``traces``,
    each synapse layer's weight gradient reads its presynaptic trace (OTTT), built here by hand."""
    for q in model.parameters():
        q.grad = None
    layers = list(model)
    states = [None] * len(layers)
    trace = [None] * len(layers)
    total = 0.0
    for t, x_t in enumerate(x.unbind(0)):
        h = x_t.unsqueeze(0)  # [1, B, ...]: time-distributed layers need a time axis
        for i, layer in enumerate(layers):
            if isinstance(layer, LIF):
                v = torch.zeros_like(h) if states[i] is None else states[i].detach()
                h, states[i] = lif_step(h, v, layer.params())
            elif isinstance(layer, LI):
                v = torch.zeros_like(h) if states[i] is None else states[i].detach()
                h = states[i] = li_step(h, v, layer.params())
            elif traces and list(layer.parameters()):
                post = next(m for m in layers[i + 1:] if isinstance(m, (LIF, LI)))
                beta = post.params().beta(h).detach()
                trace[i] = h.detach() if trace[i] is None else beta * trace[i] + h.detach()
                # value from the input, weight gradient from the trace, input gradient W^T g
                w_part = layer(trace[i])
                h = w_part + (layer(h) - w_part).detach() + (layer(h) - layer(h.detach()))
            else:
                h = layer(h)
        if t in steps:
            total = total + loss_fn(h, y) / scale
    total.backward()
    return [q.grad.clone() for q in model.parameters()]


def _online(model, x, y, loss_fn, **kw) -> list[torch.Tensor]:
    for q in model.parameters():
        q.grad = None
    online.backward(model, x, y, loss_fn, **kw)
    return [q.grad.clone() for q in model.parameters()]


def _mlp(decay_input=False, reset="hard", learn=False, readout="lif"):
    torch.manual_seed(3)
    last = LI(tau_mem=5.0) if readout == "li" else LIF(tau_mem=8.0)
    return Sequential(nn.Linear(10, 16), LIF(tau_mem=6.0, reset=reset, decay_input=decay_input, learn_tau=learn,
                                              learn_threshold=learn, shape=16 if learn else None, v_th=0.5),
                      nn.Linear(16, 4), last)


def _input(T=13, B=5, F=10):
    torch.manual_seed(4)
    return (torch.rand(T, B, F) < 0.4).float() * 2.0, torch.randint(0, 4, (B,))


@pytest.mark.parametrize("engine", ["auto", "reference"])
@pytest.mark.parametrize("case", [dict(), dict(reset="subtract", decay_input=True, learn=True, readout="li"),
                                  dict(reset="none", readout="li")])
def test_sltt_equals_detached_reference(engine, case) -> None:
    model, (x, y) = _mlp(**case), _input()
    loss_fn = get_loss("ce_mean_membrane")
    ref = _reference(model, x, y, loss_fn, range(13), 13)
    with kernels.use_engine(engine):
        got = _online(model, x, y, loss_fn, method="sltt", chunk_steps=5)  # chunks 5, 5, 3
    assert any(g.abs().sum() > 0 for g in ref)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sltt_differs_from_bptt() -> None:
    """The cut route matters: the full BPTT gradient of the same loss is different."""
    model, (x, y) = _mlp(), _input()
    loss_fn = get_loss("ce_mean_membrane")
    got = _online(model, x, y, loss_fn, method="sltt")
    for q in model.parameters():
        q.grad = None
    out = model(x)
    (online.step_loss_sum(loss_fn, out, y) / x.shape[0]).backward()
    assert any(not torch.allclose(a, q.grad, atol=1e-6) for a, q in zip(got, model.parameters()))


def test_sltt_on_a_conv_network() -> None:
    torch.manual_seed(5)
    model = Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(tau_mem=4.0, v_th=0.3), TimeDistributed(nn.AvgPool2d(2)),
                       TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 3), LIF(tau_mem=4.0, v_th=0.3))
    x, y = (torch.rand(6, 3, 2, 8, 8) < 0.3).float(), torch.randint(0, 3, (3,))
    loss_fn = get_loss("ce_count")
    ref = _reference(model, x, y, loss_fn, range(6), 6)
    got = _online(model, x, y, loss_fn, method="sltt", chunk_steps=4)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sltt_k_equals_reference_on_the_chosen_steps() -> None:
    model, (x, y) = _mlp(readout="li"), _input(T=20)
    loss_fn = get_loss("ce_mean_membrane")
    chosen = torch.randperm(20, generator=torch.Generator().manual_seed(7))[:4].tolist()
    ref = _reference(model, x, y, loss_fn, set(chosen), 4)
    got = _online(model, x, y, loss_fn, method="sltt_k", k=4, generator=torch.Generator().manual_seed(7))
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # all steps chosen (step 0 included): SLTT itself
    every = _online(model, x, y, loss_fn, method="sltt_k", k=20)
    for a, b in zip(every, _online(model, x, y, loss_fn, method="sltt")):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_ottt_equals_bptt_for_one_layer_without_reset() -> None:
    """u[t] = sum_tau beta^(t-tau) W x[tau] without reset: the trace gives the exact gradient (a bias
    would need a trace of ones; OTTT reads the plain input for it, so the synapse has none here)."""
    torch.manual_seed(6)
    model = Sequential(nn.Linear(10, 4, bias=False), LIF(tau_mem=5.0, reset="none", v_th=0.8))
    x, y = _input()
    loss_fn = get_loss("ce_count")
    got = _online(model, x, y, loss_fn, method="ottt", chunk_steps=4)
    for q in model.parameters():
        q.grad = None
    out, _ = lif_multistep(model[0](x), None, model[1].params())  # BPTT through the reference dynamics
    (online.step_loss_sum(loss_fn, out, y) / x.shape[0]).backward()
    for a, q in zip(got, model.parameters()):
        torch.testing.assert_close(a, q.grad, rtol=1e-5, atol=1e-6)


def test_ottt_equals_traced_reference_for_two_layers() -> None:
    model, (x, y) = _mlp(readout="li"), _input()
    loss_fn = get_loss("ce_mean_membrane")
    ref = _reference(model, x, y, loss_fn, range(13), 13, traces=True)
    got = _online(model, x, y, loss_fn, method="ottt", chunk_steps=6)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["online", "sltt", "sltt_k", "ottt"])
def test_trainer_modes_use_the_online_gradient(mode) -> None:
    x, y = _input()
    model = models.create("mlp", spiking=True, in_features=10, num_classes=4, hidden=8)
    t = training.Trainer(model, {"mode": mode, "progress": False, "lr": 1e-9, "loss": "ce_mean_membrane",
                                 "sltt_steps": 3})
    torch.manual_seed(11)
    stats = t.train_step(x, y)
    got = [q.grad.clone() for q in model.parameters()]
    torch.manual_seed(11)
    method = "sltt" if mode == "online" else mode
    model.zero_grad(set_to_none=True)
    _, loss = online.backward(model, x, y, t.loss_fn, method=method, k=3)
    for a, q in zip(got, model.parameters()):
        torch.testing.assert_close(a, q.grad)
    assert stats["loss"] == pytest.approx(loss)


def test_errors_name_the_parameter() -> None:
    model, (x, y) = _mlp(), _input()
    with pytest.raises(ValueError, match="method"):
        online.backward(model, x, y, get_loss("ce_count"), method="eprop")
    with pytest.raises(ValueError, match="k=99"):
        online.backward(model, x, y, get_loss("ce_count"), method="sltt_k", k=99)
    with pytest.raises(TypeError, match="nn.Sequential"):
        online.backward(nn.Linear(10, 4), x, y, get_loss("ce_count"))
