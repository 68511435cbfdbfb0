"""Reservoir readout rules: FORCE's RLS against a direct ridge solve; the three-factor rule as a delta rule."""
import pytest
import torch

from snnkit.plasticity.readout import ErrorModulatedHebbian, RecursiveLeastSquares


@pytest.mark.parametrize("batch", [1, 7])
def test_rls_equals_the_direct_ridge_solution(batch):
    torch.manual_seed(0)
    n, n_in, n_out, alpha = 140, 12, 3, 0.5
    R = torch.randn(n, n_in, dtype=torch.float64)
    Y = R @ torch.randn(n_in, n_out, dtype=torch.float64) + 0.3 * torch.randn(n, n_out, dtype=torch.float64)
    readout = torch.nn.Linear(n_in, n_out, bias=False).double()
    torch.nn.init.zeros_(readout.weight)
    rls = RecursiveLeastSquares(readout, alpha=alpha)
    for r, y in zip(R.split(batch), Y.split(batch)):
        rls.step(r, readout(r), modulator=readout(r).detach() - y)
    ridge = torch.linalg.solve(R.T @ R + alpha * torch.eye(n_in, dtype=torch.float64), R.T @ Y)
    torch.testing.assert_close(readout.weight.detach(), ridge.T, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(rls.P, torch.linalg.inv(R.T @ R + alpha * torch.eye(n_in, dtype=torch.float64)))


def test_three_factor_rule_is_the_gated_delta_rule_without_a_trace():
    torch.manual_seed(1)
    readout = torch.nn.Linear(5, 2, bias=False)
    w0 = readout.weight.detach().clone()
    rule = ErrorModulatedHebbian(readout, lr=0.1, tau_e=0)
    r, target = torch.rand(4, 5), torch.rand(4, 2)
    error = (readout(r) - target).detach()
    gate = torch.tensor([1.0, 0.0]).expand(4, 2)         # only output 0 is attended
    rule.step(r, readout(r), modulator=error, attention=gate)
    expected = w0 - 0.1 * (error * gate).T @ r / 4      # gradient step of the gated squared error
    torch.testing.assert_close(readout.weight.detach(), expected)
    assert torch.equal(readout.weight.detach()[1], w0[1])


def test_rules_refuse_an_error_of_the_wrong_shape():
    readout = torch.nn.Linear(5, 2, bias=False)
    with pytest.raises(ValueError, match="post shape"):
        RecursiveLeastSquares(readout).step(torch.rand(3, 5), torch.rand(3, 2), modulator=torch.rand(3))
