"""Delta layers: with threshold 0 the sigma-delta pair reproduces the dense layer (oracle: the dense
layer on the same activations); with a threshold the receiver's copy never drifts by the threshold or
more (analytic bound), sparsity grows with the threshold, and the L1 change penalty has the right value."""
import pytest
import torch
from torch import nn

from snnkit.synapses import TimeDistributed
from snnkit.synapses.delta import Delta, Sigma
from snnkit.training.regularizers import delta_l1


@pytest.mark.parametrize("layer", [nn.Linear(6, 4), TimeDistributed(nn.Conv1d(2, 3, 3, padding=1))])
def test_threshold_zero_equals_dense_layer(layer):
    torch.manual_seed(0)
    a = torch.randn(9, 5, 6) if isinstance(layer, nn.Linear) else torch.randn(9, 5, 2, 7)
    y = Sigma(layer)(Delta(0.0)(a))
    torch.testing.assert_close(y, layer(a), rtol=1e-5, atol=1e-5)


def test_receiver_error_is_below_threshold_and_sparsity_grows():
    torch.manual_seed(1)
    a = torch.cumsum(torch.randn(50, 4, 10) * 0.1, 0)  # slowly changing activations
    sparsity = []
    for th in (0.0, 0.05, 0.2):
        d = Delta(th)(a)
        r = torch.cumsum(d, 0)
        if th > 0:
            assert float((r - a).abs().max()) < th
        sent = d != 0
        assert torch.all(d[sent].abs() >= th)
        sparsity.append(float((~sent).float().mean()))
    assert sparsity[0] < sparsity[1] < sparsity[2]
    ident = nn.Linear(10, 10, bias=False)
    with torch.no_grad():
        ident.weight.copy_(torch.eye(10))
    torch.testing.assert_close(Sigma(ident)(Delta(0.2)(a)), torch.cumsum(Delta(0.2)(a), 0))


def test_gradient_straight_through_and_penalty():
    a = torch.randn(6, 3, 4, requires_grad=True)
    d = Delta(0.5)(a)
    d.sum().backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    x = [torch.tensor([[1.0, -3.0]]), torch.tensor([[0.5]])]
    assert float(delta_l1(x, weight=2.0)) == pytest.approx(2 * (2.0 + 0.5))
    with pytest.raises(ValueError, match="threshold"):
        Delta(-1.0)
