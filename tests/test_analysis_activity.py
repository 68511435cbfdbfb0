"""Firing rates from hooks equal the rate computed directly from the layer output; plots are written."""
import torch

from snnkit import analysis
from snnkit.neurons import LI, LIF, Sequential


def test_firing_rate_equals_direct_mean():
    torch.manual_seed(0)
    lin = torch.nn.Linear(5, 7)
    lif = LIF(tau_mem=5.0)
    net = Sequential(lin, lif, torch.nn.Linear(7, 2), LI())
    x = torch.rand(30, 4, 5) * 2
    rates = analysis.firing_rates(net, x)
    direct = lif(lin(x)).mean().item()
    assert list(rates) == ["1"]
    assert abs(rates["1"] - direct) < 1e-7


def test_plots_are_written(tmp_path):
    spikes = (torch.rand(50, 2, 20) < 0.1).float()
    p = analysis.plot_raster(spikes, tmp_path / "sub" / "raster.png")
    q = analysis.plot_traces(torch.randn(50, 2, 3), tmp_path / "traces.png", threshold=1.0, spikes=spikes[..., :3])
    for f in (p, q):
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG"
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(".")] == []
