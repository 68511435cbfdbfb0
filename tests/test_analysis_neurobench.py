"""NeuroBench (the field's metric harness) runs on an snnkit model, and its synaptic operations and
activation sparsity agree with snnkit.analysis on the same network and data: two independent counters.

NeuroBench feeds batch-major ``[B, T, F]``; the wrapper below hands snnkit its time-major ``[T, B, F]``.
Its activation hooks are told that snnkit's spiking layers are activations (the LI readout, whose
output is a membrane, is not one, as in ``snnkit.analysis``)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snnkit import analysis, neurons

nb_models = pytest.importorskip("neurobench.models", reason="install neurobench: pip install --no-deps neurobench")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: E402

T, B, N = 12, 8, 32


class TimeMajor(nn.Module):
    """NeuroBench's batch-major input -> an snnkit model's time-major input; output summed over time."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(0, 1)).sum(0)


def _net_and_data():
    torch.manual_seed(0)
    net = neurons.Sequential(nn.Linear(20, 24), neurons.LIF(tau_mem=5.0), nn.Linear(24, 16),
                             neurons.LIF(tau_mem=5.0), nn.Linear(16, 4), neurons.LI(tau_mem=5.0))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(N, T, 20, generator=g) < 0.2).float()      # batch-major binary spikes
    y = torch.randint(0, 4, (N,), generator=g)
    return net.eval(), x, y


def test_neurobench_agrees_with_snnkit_analysis():
    net, x, y = _net_and_data()
    model = nb_models.TorchModel(TimeMajor(net))
    model.add_activation_module(neurons.LIF)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=B)
    results = Benchmark(model, loader, [], [], [[], [ActivationSparsity, SynapticOperations]]).run(quiet=True)

    xs = x.transpose(0, 1)                                         # [T, N, 20]
    ours = analysis.count_costs(net, xs)                            # per sample
    rates = analysis.firing_rates(net, xs)
    assert set(rates) == {"1:LIF", "3:LIF"}
    sizes = {"1:LIF": 24, "3:LIF": 16}
    spikes = sum(rates[k] * sizes[k] for k in rates)
    sparsity = 1.0 - spikes / sum(sizes.values())
    assert 0.05 < sparsity < 0.99, "the network must spike, but not everywhere"
    assert results["ActivationSparsity"] == pytest.approx(sparsity, rel=1e-9)
    synops = results["SynapticOperations"]
    assert synops["Effective_MACs"] == 0                          # all inputs are spikes: accumulates only
    assert synops["Effective_ACs"] == pytest.approx(ours.acs, rel=1e-9)
    assert ours.acs > 0 and ours.macs == 0
