"""Firing rates from hooks equal the rate computed directly from the layer output; plots return Figures
(or draw on a given Axes), never switch the backend, and files get the user's normal permissions."""
import os

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
    assert list(rates) == ["1:LIF"]  # position and type in a Sequential (LI readouts do not spike)
    assert abs(rates["1:LIF"] - direct) < 1e-7


def test_named_layers_keep_their_names():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.hidden = torch.nn.Linear(5, 7), LIF(tau_mem=5.0)

        def forward(self, x):
            return self.hidden(self.fc(x))

    net = Net()
    x = torch.rand(20, 3, 5) * 2
    rates = analysis.firing_rates(net, x)
    assert list(rates) == ["hidden"]
    assert abs(rates["hidden"] - net.hidden(net.fc(x)).mean().item()) < 1e-7


def test_plots_return_figures_and_keep_the_backend(tmp_path):
    import matplotlib
    from matplotlib.figure import Figure
    backend = matplotlib.get_backend()
    spikes = (torch.rand(40, 2, 6) < 0.2).float()
    fig = analysis.plot_raster(spikes, dt=0.5)
    assert isinstance(fig, Figure) and matplotlib.get_backend() == backend
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (ms)" and ax.get_xlim()[1] == 40 * 0.5
    points = ax.collections[0].get_offsets()
    assert len(points) == int(spikes[:, 0].sum())              # one mark per spike of sample 0
    other = Figure()
    target = other.add_subplot()
    assert analysis.plot_traces(torch.randn(40, 2, 3), ax=target, units=[0, 2]) is other
    assert len(target.lines) == 2


def test_plots_are_written(tmp_path):
    spikes = (torch.rand(50, 2, 20) < 0.1).float()
    p = analysis.plot_raster(spikes, tmp_path / "sub" / "raster.png")
    q = analysis.plot_traces(torch.randn(50, 2, 3), tmp_path / "traces.png", threshold=1.0, spikes=spikes[..., :3])
    for f in (p, q):
        assert f.exists() and f.read_bytes()[:4] == b"\x89PNG"
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(".")] == []
    umask = os.umask(0)
    os.umask(umask)
    assert q.stat().st_mode & 0o777 == 0o666 & ~umask         # the user's normal permissions, not 0600
