"""Synaptic-operation counts equal a hand count on tiny networks; dense MACs equal the textbook formula."""
import pytest
import torch
from torch import nn

from snnkit import analysis
from snnkit.neurons import LI, LIF, Sequential


def _tiny_net():
    # Hidden neuron j fires exactly when input j spikes: weight 2 > threshold 1, hard reset, tiny tau so
    # no charge carries over between steps.
    l1 = nn.Linear(3, 3, bias=False)
    l2 = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        l1.weight.copy_(2.0 * torch.eye(3))
        l2.weight.fill_(0.5)
    return Sequential(l1, LIF(tau_mem=1e-3, reset="hard"), l2, LI())


def test_synops_equal_hand_count():
    x = torch.zeros(4, 1, 3)
    x[0, 0, 0] = x[1, 0, 0] = x[1, 0, 2] = x[3, 0, 1] = 1.0   # 4 input spikes
    x[2, 0, :] = 0.0
    report = analysis.count_costs(_tiny_net(), x)
    # layer 1: 4 input spikes x fan-out 3 = 12; hidden spikes = same 4 events x fan-out 2 = 8.
    assert report.per_layer["0"] == {"macs": 0.0, "acs": 12.0}
    assert report.per_layer["2"] == {"macs": 0.0, "acs": 8.0}
    assert report.acs == 20.0 and report.macs == 0.0
    assert report.spikes == 4.0
    assert report.energy_pj == pytest.approx(20 * 0.9)
    assert report.params == 9 + 6


def test_synops_are_per_sample():
    x = torch.zeros(4, 2, 3)
    x[0, 0, 0] = 1.0
    x[1, 1, 1] = x[2, 1, 2] = 1.0
    report = analysis.count_costs(_tiny_net(), x)
    # 3 input events over 2 samples -> (3*3 + 3*2) / 2 per sample
    assert report.acs == pytest.approx((9 + 6) / 2)


def test_dense_input_counts_macs():
    net = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    x = torch.randn(7, 2, 5) + 0.5
    report = analysis.count_costs(net, x)
    # per sample: 7 steps x (5*4 + 4*3) MACs; the ReLU output is real-valued, so dense too
    assert report.macs == 7 * (20 + 12)
    assert report.acs == 0


def test_conv_fanout_hand_count_at_borders():
    conv = nn.Conv1d(1, 2, kernel_size=3, padding=1, bias=False)
    x = torch.zeros(1, 1, 6)   # batch 1, length 6
    x[0, 0, 0] = 1.0           # border: reaches outputs 0, 1 -> 2 positions x 2 channels = 4
    x[0, 0, 3] = 1.0           # interior: outputs 2, 3, 4 -> 3 x 2 = 6
    report = analysis.count_costs(conv, x, batch_dim=0)
    assert report.acs == 10.0
    # dense: 6 outputs x 2 channels x 3 taps
    dense = analysis.count_costs(conv, x + 0.5, batch_dim=0)
    assert dense.macs == 36.0 and dense.acs == 0.0


def test_matmul_event_counts():
    mm = analysis.MatMul()
    a = torch.tensor([[[1.0, 0.0], [1.0, 1.0]]])  # 3 events, each adds a row of b (length 4)
    b = torch.randn(1, 2, 4)
    assert analysis.count_costs(mm_wrap(mm, b), a, batch_dim=0).acs == 12.0


def mm_wrap(mm, b):
    class W(nn.Module):
        def __init__(self):
            super().__init__()
            self.mm = mm

        def forward(self, a):
            return self.mm(a, b)
    return W()


def test_bad_arguments():
    with pytest.raises(TypeError, match="model"):
        analysis.count_costs("net", torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="batch_dim"):
        analysis.count_costs(nn.Linear(1, 1), torch.zeros(2, 1), batch_dim=3)
