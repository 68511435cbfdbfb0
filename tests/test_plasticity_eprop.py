"""e-prop against BPTT (autograd through the same dynamics) where the factorisation is exact."""
from __future__ import annotations

import pytest
import torch

from snnkit.plasticity import EProp, eprop_gradients

torch.set_num_threads(1)  # tiny tensors: a thread pool only adds launch latency


def _inputs(T=40, B=4, n_in=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n_in, generator=g) < 0.3).float()


def _ce_loss(y, target):
    return sum(torch.nn.functional.cross_entropy(y_t, target) for y_t in y.unbind(0))


@pytest.mark.parametrize("neuron", ["lif", "alif"])
def test_eprop_with_the_true_learning_signal_equals_bptt(neuron):
    """With L_j^t = dE/dz_j^t (total derivative through recurrence and readout, taken by autograd), the
    e-prop sum sum_t L^t e^t equals BPTT's gradient (reset derivative ignored in both, Bellec 2020)."""
    torch.manual_seed(0)
    model = EProp(6, 10, 3, neuron=neuron, tau_mem=10.0, v_th=0.4, surrogate="atan", seed=1)
    x = _inputs()
    target = torch.tensor([0, 1, 2, 1])
    spikes, per_step = model.hidden(x, detach_reset=True)
    for z in per_step:
        z.retain_grad()
    _ce_loss(model.readout(spikes), target).backward()
    signal = torch.stack([z.grad for z in per_step])
    assert spikes.sum() > 20, "the test needs spikes"
    st = eprop_gradients(x, model.w_in, model.w_rec, model.params, signal)
    torch.testing.assert_close(st.spikes, spikes.detach())
    torch.testing.assert_close(st.grad_in, model.w_in.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(st.grad_rec, model.w_rec.grad, rtol=1e-4, atol=1e-6)


def test_online_symmetric_eprop_equals_bptt_without_recurrence():
    """Without recurrent weights the true learning signal is the readout's, filtered by kappa: online
    e-prop with symmetric feedback (filtered eligibility) then equals BPTT exactly."""
    model = EProp(6, 10, 3, neuron="lif", tau_mem=10.0, v_th=0.4, surrogate="atan", seed=2)
    with torch.no_grad():
        model.w_rec.zero_()
    x, target = _inputs(seed=3), torch.tensor([2, 0, 1, 1])
    loss = _ce_loss(model(x), target) / 1.0
    # learn() uses the batch-mean cross-entropy summed over time, like _ce_loss
    grads_bptt = torch.autograd.grad(loss, [model.w_in, model.w_rec, model.w_out, model.b_out])
    model.learn(x, target, loss="ce")
    off_diag = ~torch.eye(10, dtype=torch.bool)
    torch.testing.assert_close(model.w_in.grad, grads_bptt[0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.w_rec.grad[off_diag], grads_bptt[1][off_diag], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.w_out.grad, grads_bptt[2], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(model.b_out.grad, grads_bptt[3], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("feedback,neuron", [("random", "lif"), ("symmetric", "alif")])
def test_eprop_learns_a_pattern_task(feedback, neuron):
    """Two spike patterns, two classes: e-prop training lowers the loss and classifies them."""
    g = torch.Generator().manual_seed(5)
    patterns = (torch.rand(2, 30, 1, 8, generator=g) < 0.25).float()
    x = torch.cat([patterns[0].expand(-1, 2, -1), patterns[1].expand(-1, 2, -1)], 1)
    target = torch.tensor([0, 0, 1, 1])
    model = EProp(8, 16, 2, neuron=neuron, feedback=feedback, tau_mem=10.0, v_th=0.3, seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    with torch.no_grad():
        first = _ce_loss(model(x), target).item()
    for _ in range(25):
        opt.zero_grad()
        model.learn(x, target)
        opt.step()
    with torch.no_grad():
        y = model(x)
    assert _ce_loss(y, target).item() < 0.5 * first
    assert (y[-1].argmax(1) == target).float().mean().item() == 1.0


def test_eprop_rejects_hard_reset():
    from snnkit.functional import LIFParameters
    with pytest.raises(ValueError, match="reset"):
        eprop_gradients(_inputs(), torch.zeros(4, 6), torch.zeros(4, 4), LIFParameters(reset="hard"),
                        torch.zeros(40, 4, 4))
