"""Counter-current learning: every local loss reaches exactly one block (autograd as the oracle), the
one-layer case equals the closed-form gradient of a linear least-squares fit, and spiking blocks
learn a separable task."""
import pytest
import torch
from torch import nn

from snnkit.neurons import LIF, Sequential
from snnkit.training.counter_current import CounterCurrent, standardize, time_mean


def rate_net(widths=(6, 8, 5, 3)):
    forward = [nn.Sequential(nn.Linear(a, b), nn.Tanh()) for a, b in zip(widths[:-1], widths[1:])]
    feedback = [nn.Sequential(nn.Linear(b, a), nn.Tanh()) for a, b in zip(widths[:-1], widths[1:])]
    return CounterCurrent(forward, feedback)


def test_each_local_loss_reaches_only_its_own_block():
    torch.manual_seed(0)
    net = rate_net()
    x, target = torch.randn(7, 6), nn.functional.one_hot(torch.randint(0, 3, (7,)), 3).float()
    forward, feedback = net.local_losses(x, target)
    assert len(forward) == len(feedback) == 3
    owners = [(loss, net.blocks[i]) for i, loss in enumerate(forward)] + \
             [(loss, net.feedback[i]) for i, loss in enumerate(feedback)]
    everything = list(net.parameters())
    for loss, owner in owners:
        grads = torch.autograd.grad(loss, everything, retain_graph=True, allow_unused=True)
        own = {id(p) for p in owner.parameters()}
        for p, g in zip(everything, grads):
            if id(p) in own:
                assert g is not None and g.abs().sum() > 0
            else:
                assert g is None or g.abs().sum() == 0


def test_one_layer_gradients_equal_least_squares_closed_form():
    torch.manual_seed(1)
    f, g = nn.Linear(5, 3), nn.Linear(3, 5)
    net = CounterCurrent([f], [g])
    x, labels = torch.randn(4, 5), torch.tensor([0, 2, 1, 2])
    net.backward_ccl(x, labels, num_classes=3)
    t = nn.functional.one_hot(labels, 3).float()
    with torch.no_grad():
        err_f = (x @ f.weight.t() + f.bias - t) * 2 / t.numel()       # d mse / d output
        err_g = (t @ g.weight.t() + g.bias - x) * 2 / x.numel()
    torch.testing.assert_close(f.weight.grad, err_f.t() @ x)
    torch.testing.assert_close(f.bias.grad, err_f.sum(0))
    torch.testing.assert_close(g.weight.grad, err_g.t() @ t)
    torch.testing.assert_close(g.bias.grad, err_g.sum(0))


def test_rejects_mismatched_feedback():
    with pytest.raises(ValueError, match="feedback"):
        CounterCurrent([nn.Linear(2, 2), nn.Linear(2, 2)], [nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="blocks"):
        CounterCurrent([], [])


def test_spiking_blocks_learn_a_separable_task():
    torch.manual_seed(2)
    n, steps = 256, 6
    labels = torch.randint(0, 2, (n,))
    centres = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
    x = (centres[labels] + 0.2 * torch.randn(n, 4)).clamp(0).expand(steps, -1, -1)
    net = CounterCurrent([Sequential(nn.Linear(4, 16), LIF(tau_mem=5.0, v_th=0.5)), nn.Linear(16, 2)],
                         [nn.Sequential(nn.Linear(16, 4), nn.Sigmoid()), nn.Sequential(nn.Linear(2, 16), nn.Sigmoid())],
                         summary=time_mean)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        net.backward_ccl(x, labels, num_classes=2)
        opt.step()
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == labels).float().mean()
    assert accuracy > 0.95


def test_standardize_is_batch_normalisation_without_affine():
    x = torch.randn(9, 4) * 3 + 1
    expected = nn.functional.batch_norm(x, None, None, training=True, eps=1e-5)
    torch.testing.assert_close(standardize(x), expected)


def test_hidden_comparison_raw_or_standardised():
    torch.manual_seed(3)
    net = rate_net((4, 5, 2))
    x, target = torch.randn(6, 4), nn.functional.one_hot(torch.randint(0, 2, (6,)), 2).float()
    with torch.no_grad():
        a1, b1 = net.blocks[0](x), net.feedback[1](target)
        net.standardize = False
        raw = net.local_losses(x, target)
        net.standardize = True
        normed = net.local_losses(x, target)
    torch.testing.assert_close(raw[0][0], nn.functional.mse_loss(a1, b1))
    bn = lambda t: nn.functional.batch_norm(t, None, None, training=True, eps=1e-5)  # noqa: E731
    torch.testing.assert_close(normed[0][0], nn.functional.mse_loss(bn(a1), bn(b1)))
    torch.testing.assert_close(normed[1][1], nn.functional.mse_loss(bn(b1), bn(a1)))
    torch.testing.assert_close(normed[0][1], raw[0][1])           # the top compares with the target as is
