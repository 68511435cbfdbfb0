"""Online gradients (SLTT, SLTT-K, OTTT) against independent oracles: autograd through the reference
step functions of :mod:`snnkit.functional` with the state detached between steps (the definition of
the temporal route being cut), and, for OTTT with one synapse layer and no reset, exact BPTT."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from snnkit import kernels, models, training
from snnkit.functional import li_step, lif_multistep, lif_step
from snnkit.neurons import LI, LIF, Sequential
from snnkit.synapses import SeqConv2d, TimeDistributed
from snnkit.training import online
from snnkit.training.losses import get_loss


def _contribution(readout: LI, z_t, t: int, T: int):
    """What readout input ``z_t`` at step ``t`` adds to the sum of the readout's membranes up to step
    T - 1: the reference LI driven by ``z_t`` at step t and by nothing after it (with graph)."""
    v = li_step(z_t, torch.zeros_like(z_t), readout.params())
    total = v
    for _ in range(t + 1, T):
        v = li_step(torch.zeros_like(z_t), v, readout.params())
        total = total + v
    return total


def _reference(model: nn.Sequential, x, y, loss_fn, steps, scale, traces: bool = False,
               mean_readout: bool = False) -> list[torch.Tensor]:
    """Step by step with autograd; every neuron state enters the next step detached. With ``traces``,
    each synapse layer's weight gradient reads its presynaptic trace (OTTT), built here by hand. With
    ``mean_readout`` the loss of step t reads the contribution of the LI readout's input at t to the sum
    of its membranes (the readout's route through time kept whole; no trace for its synapse)."""
    for q in model.parameters():
        q.grad = None
    layers = list(model)
    states = [None] * len(layers)
    trace = [None] * len(layers)
    total = 0.0
    for t, x_t in enumerate(x.unbind(0)):
        h = x_t.unsqueeze(0)  # [1, B, ...]: time-distributed layers need a time axis
        for i, layer in enumerate(layers):
            if mean_readout and i == len(layers) - 1:
                h = _contribution(layer, h, t, x.shape[0])
            elif isinstance(layer, LIF):
                v = torch.zeros_like(h) if states[i] is None else states[i].detach()
                h, states[i] = lif_step(h, v, layer.params())
            elif isinstance(layer, LI):
                v = torch.zeros_like(h) if states[i] is None else states[i].detach()
                h = states[i] = li_step(h, v, layer.params())
            elif traces and list(layer.parameters()) and not (mean_readout and i == len(layers) - 2):
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
    return [q.grad.clone() for q in model.parameters() if q.requires_grad]


def _online(model, x, y, loss_fn, **kw) -> list[torch.Tensor]:
    for q in model.parameters():
        q.grad = None
    online.backward(model, x, y, loss_fn, **kw)
    return [q.grad.clone() for q in model.parameters() if q.requires_grad]


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
                                  dict(reset="subtract", decay_input=True), dict(reset="none", readout="li")])
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


@pytest.mark.parametrize("method", ["sltt", "ottt"])  # OTTT: traces of the event frames and of the pooled spikes
def test_online_on_a_conv_network(method) -> None:
    torch.manual_seed(5)
    model = Sequential(SeqConv2d(2, 4, 3, padding=1), LIF(tau_mem=4.0, v_th=0.3), TimeDistributed(nn.AvgPool2d(2)),
                       TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 3), LIF(tau_mem=4.0, v_th=0.3))
    x, y = (torch.rand(6, 3, 2, 8, 8) < 0.3).float(), torch.randint(0, 3, (3,))
    loss_fn = get_loss("ce_count")
    ref = _reference(model, x, y, loss_fn, range(6), 6, traces=method == "ottt")
    got = _online(model, x, y, loss_fn, method=method, chunk_steps=4)
    assert all(g.abs().sum() > 0 for g in ref)
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


def test_sltt_k_follows_a_trained_tau_and_threshold() -> None:
    """The graph-free pass reads tau and the threshold as the layer keeps them between calls; after an
    optimiser step changes them in place, the next SLTT-K gradient is the reference's for the new values."""
    model, (x, y) = _mlp(learn=True, readout="li"), _input(T=20)
    loss_fn = get_loss("ce_mean_membrane")
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for seed in (7, 8):
        chosen = torch.randperm(20, generator=torch.Generator().manual_seed(seed))[:4].tolist()
        ref = _reference(model, x, y, loss_fn, set(chosen), 4)
        got = _online(model, x, y, loss_fn, method="sltt_k", k=4, generator=torch.Generator().manual_seed(seed))
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        tau_before = model[1].tau_mem.detach().clone()
        opt.step()  # the gradients of this SLTT-K call: tau and the threshold change in place
        assert not torch.allclose(model[1].tau_mem, tau_before)


@pytest.mark.parametrize("engine", ["auto", "reference"])
def test_sltt_k_keeps_states_across_graph_free_chunks(engine, monkeypatch) -> None:
    """The graph-free pass in chunks of 4 steps: chosen steps at a chunk's start (the state carried from the
    chunk before), inside it, and step 0 (from rest) still get the reference gradient."""
    monkeypatch.setattr(online, "NO_GRAD_CHUNK_STEPS", 4)
    model, (x, y) = _mlp(readout="li"), _input(T=20)
    loss_fn = get_loss("ce_mean_membrane")
    gen = torch.Generator().manual_seed(1)
    seed = next(s for s in range(200) if {0, 4} <= set(torch.randperm(20, generator=gen.manual_seed(s))[:8].tolist()))
    chosen = torch.randperm(20, generator=gen.manual_seed(seed))[:8].tolist()
    ref = _reference(model, x, y, loss_fn, set(chosen), 8)
    with kernels.use_engine(engine):
        got = _online(model, x, y, loss_fn, method="sltt_k", k=8, generator=gen.manual_seed(seed))
    assert all(g.abs().sum() > 0 for g in ref)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ["auto", "reference"])
def test_sltt_k_reuses_linear_outputs_with_exact_gradients(engine) -> None:
    """The chosen steps' nn.Linear layers take their outputs from the forward pass (no recompute): a
    bias-free layer, a frozen one and a hidden one still get the reference's gradients, and the input
    gradient flows through the kept layer to the layer before it."""
    torch.manual_seed(9)
    model = Sequential(nn.Linear(10, 16, bias=False), LIF(tau_mem=6.0, v_th=0.5), nn.Linear(16, 12),
                       LIF(tau_mem=4.0, v_th=0.4), nn.Linear(12, 4), LI(tau_mem=5.0))
    model[2].bias.requires_grad_(False)
    x, y = _input(T=15)
    loss_fn = get_loss("ce_mean_membrane")
    chosen = torch.randperm(15, generator=torch.Generator().manual_seed(3))[:5].tolist()
    trainable = [q for q in model.parameters() if q.requires_grad]
    ref = _reference(model, x, y, loss_fn, set(chosen), 5)
    with kernels.use_engine(engine):
        got = _online(model, x, y, loss_fn, method="sltt_k", k=5, generator=torch.Generator().manual_seed(3))
    assert len(got) == len(trainable) and all(g.abs().sum() > 0 for g in ref)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_sltt_k_on_a_model_ending_in_a_linear_layer() -> None:
    """No neuron after the last Linear: its kept outputs go through _KeptLinear, the pair before it
    through the fused pass, and the gradients are the reference's."""
    torch.manual_seed(2)
    model = Sequential(nn.Linear(10, 16), LIF(tau_mem=6.0, v_th=0.5), nn.Linear(16, 4))
    x, y = _input(T=12)
    loss_fn = get_loss("ce_count")
    chosen = torch.randperm(12, generator=torch.Generator().manual_seed(4))[:3].tolist()
    ref = _reference(model, x, y, loss_fn, set(chosen), 3)
    got = _online(model, x, y, loss_fn, method="sltt_k", k=3, generator=torch.Generator().manual_seed(4))
    assert all(g.abs().sum() > 0 for g in ref)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ["auto", "reference"])  # the fused Linear + LIF pass, and the layers apart
def test_ottt_equals_bptt_for_one_layer_without_reset(engine) -> None:
    """u[t] = sum_tau beta^(t-tau) W x[tau] without reset: the trace gives the exact gradient (a bias
    would need a trace of ones; OTTT reads the plain input for it, so the synapse has none here)."""
    torch.manual_seed(6)
    model = Sequential(nn.Linear(10, 4, bias=False), LIF(tau_mem=5.0, reset="none", v_th=0.8))
    x, y = _input()
    loss_fn = get_loss("ce_count")
    with kernels.use_engine(engine):
        got = _online(model, x, y, loss_fn, method="ottt", chunk_steps=4)
    for q in model.parameters():
        q.grad = None
    out, _ = lif_multistep(model[0](x), None, model[1].params())  # BPTT through the reference dynamics
    (online.step_loss_sum(loss_fn, out, y) / x.shape[0]).backward()
    for a, q in zip(got, model.parameters()):
        torch.testing.assert_close(a, q.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("engine", ["auto", "reference"])
@pytest.mark.parametrize("readout", ["li", "lif"])
def test_ottt_equals_traced_reference_for_two_layers(engine, readout) -> None:
    model, (x, y) = _mlp(readout=readout), _input()
    loss_fn = get_loss("ce_mean_membrane" if readout == "li" else "ce_count")
    ref = _reference(model, x, y, loss_fn, range(13), 13, traces=True)
    with kernels.use_engine(engine):
        got = _online(model, x, y, loss_fn, method="ottt", chunk_steps=6)
    assert all(g.abs().sum() > 0 for g in ref)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method", ["sltt", "ottt", "sltt_k"])
@pytest.mark.parametrize("learn", [False, True])
def test_mean_readout_equals_reference(method, learn) -> None:
    """readout="mean": each step's loss reads its input's whole contribution to the readout's membranes
    (the reference LI run forward from that step alone); the hidden routes stay cut."""
    # OTTT's traces need one shared tau in the hidden layer, so it learns only the readout's
    case = dict(reset="subtract", decay_input=True, learn=method != "ottt") if learn else {}
    model, (x, y) = _mlp(readout="li", **case), _input(T=13)
    if learn:  # a learnable, per-neuron readout tau gets its gradient through the contributions too
        model[-1] = LI(tau_mem=5.0, decay_input=True, learn_tau=True, shape=4)
    loss_fn = get_loss("ce_mean_membrane")
    if method == "sltt_k":
        chosen = torch.randperm(13, generator=torch.Generator().manual_seed(2))[:4].tolist()
        ref = _reference(model, x, y, loss_fn, set(chosen), 4, mean_readout=True)
        got = _online(model, x, y, loss_fn, method="sltt_k", k=4, generator=torch.Generator().manual_seed(2),
                      readout="mean")
    else:
        ref = _reference(model, x, y, loss_fn, range(13), 13, traces=method == "ottt", mean_readout=True)
        got = _online(model, x, y, loss_fn, method=method, chunk_steps=5, readout="mean")
    assert all(g.abs().sum() > 0 for g in ref)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("decay_input", [False, True])
def test_mean_readout_is_bptt_for_a_loss_linear_in_the_mean(decay_input) -> None:
    """Without spiking layers nothing is cut, and for a loss linear in the mean membrane the per-step
    terms add up to the loss itself: the online gradient is exact BPTT of ``loss(v)``."""
    torch.manual_seed(8)
    model = Sequential(nn.Linear(10, 4), LI(tau_mem=4.0, decay_input=decay_input))
    x, y = _input(T=9)

    def linear_loss(out, labels):  # minus the label's mean membrane, averaged over the batch
        return -out.mean(0).gather(1, labels[:, None]).mean()

    got = _online(model, x, y, linear_loss, method="sltt", chunk_steps=4, readout="mean")
    for q in model.parameters():
        q.grad = None
    linear_loss(model(x), y).backward()
    for a, q in zip(got, model.parameters()):
        torch.testing.assert_close(a, q.grad, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="readout='mean' needs an LI"):
        online.backward(_mlp(), x, y, linear_loss, readout="mean")


@pytest.mark.parametrize("mode", ["online", "sltt", "sltt_k", "ottt"])
def test_trainer_modes_use_the_online_gradient(mode) -> None:
    """The Trainer's online modes are online.backward (with readout="mean": mean-membrane loss, LI readout)."""
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
    _, loss = online.backward(model, x, y, t.loss_fn, method=method, k=3, readout="mean")
    for a, q in zip(got, model.parameters()):
        torch.testing.assert_close(a, q.grad)
    assert stats["loss"] == pytest.approx(loss)


@pytest.mark.parametrize("method", ["sltt", "sltt_k", "ottt"])
def test_on_output_streams_the_output_and_keeps_none(method) -> None:
    """With ``on_output`` the chunks arrive in order and make up the output the plain call returns (the
    model's own forward); gradients and loss are unchanged and no full output is kept."""
    model, (x, y) = _mlp(readout="li"), _input()
    loss_fn = get_loss("ce_mean_membrane")
    kw = dict(method=method, k=4, chunk_steps=5)
    model.zero_grad(set_to_none=True)
    kept, loss = online.backward(model, x, y, loss_fn, generator=torch.Generator().manual_seed(1), **kw)
    grads = [q.grad.clone() for q in model.parameters()]
    chunks: list[torch.Tensor] = []
    model.zero_grad(set_to_none=True)
    none, streamed_loss = online.backward(model, x, y, loss_fn, generator=torch.Generator().manual_seed(1),
                                          on_output=chunks.append, **kw)
    assert none is None
    assert [c.shape[0] for c in chunks] == ([5, 5, 3] if method != "sltt_k" else [13])
    assert not any(c.requires_grad for c in chunks)
    with torch.no_grad():
        torch.testing.assert_close(torch.cat(chunks), model(x))
        torch.testing.assert_close(kept, model(x))
    assert streamed_loss == pytest.approx(loss, rel=1e-6)
    for a, q in zip(grads, model.parameters()):
        torch.testing.assert_close(a, q.grad)


def test_errors_name_the_parameter() -> None:
    model, (x, y) = _mlp(), _input()
    with pytest.raises(ValueError, match="method"):
        online.backward(model, x, y, get_loss("ce_count"), method="eprop")
    with pytest.raises(ValueError, match="k=99"):
        online.backward(model, x, y, get_loss("ce_count"), method="sltt_k", k=99)
    with pytest.raises(TypeError, match="nn.Sequential"):
        online.backward(nn.Linear(10, 4), x, y, get_loss("ce_count"))
    with pytest.raises(TypeError, match="on_output"):
        online.backward(model, x, y, get_loss("ce_count"), on_output=[])


@settings(max_examples=200, deadline=None)
@given(T=st.integers(1, 3000), limit=st.integers(1, 200))
def test_chunks_are_balanced(T, limit):
    """As many chunks as the limit forces, none longer than the limit, the last within one step per
    chunk of the others (T = 100 with a limit of 64 runs as 50 + 50, not 64 + 36)."""
    size = online.balanced_chunk(T, limit)
    chunks = -(-T // limit)
    last = T - (chunks - 1) * size
    assert size <= limit and -(-T // size) == chunks
    assert 1 <= last <= size and size - last < chunks
