"""Operation counts of converted networks: spikes averaged by a pool are still events (regression: a
converted 1-D CNN with average pooling reported ``sops: 0.0`` and more SNN MACs than ANN MACs).
Oracle: the events counted by hand from the recorded pool output times the layer's fan-out, and the
independent counter of snnkit.analysis.count_costs."""
import pytest
import torch
from torch import nn

from snnkit import analysis
from snnkit import conversion as C


def _cnn1d():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2),
                         nn.Conv1d(4, 6, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2), nn.Flatten(),
                         nn.Linear(6 * 5, 3))


def test_pooled_spikes_count_as_synaptic_operations():
    ann = _cnn1d()
    x = torch.rand(16, 1, 20)
    snn = C.convert(ann, x, T=8)
    T = 8
    pools = [m for m in snn.modules() if isinstance(m, nn.AvgPool1d)]
    seen = []
    hooks = [p.register_forward_hook(lambda _m, _i, y: seen.append(y.detach().clone())) for p in pools]
    report = C.synaptic_operations(snn, x, T)
    for h in hooks:
        h.remove()
    weight_layers = [n for n in report if n != "total"]
    assert len(weight_layers) == 3
    first, second, last = weight_layers
    assert "macs" in report[first]  # analog (direct) input: dense
    assert report[second].get("sops", 0) > 0 and report[last].get("sops", 0) > 0
    assert "macs" not in report[second] and "macs" not in report[last]
    # hand count for the Linear: non-zero pooled values x out_features, per sample
    events_last = float((seen[1] != 0).sum()) / len(x)
    assert report[last]["sops"] == pytest.approx(events_last * 3)
    # the independent counter agrees on the event-driven layers and counts no dense MAC there
    cost = analysis.count_costs(snn, C.encode(x, T))
    assert cost.acs == pytest.approx(report["total"]["sops"])
    assert cost.per_layer[last]["macs"] == 0.0 and cost.per_layer[second + ".module"]["macs"] == 0.0


def test_count_costs_pooled_events_and_dense_inputs():
    pool_lin = nn.Sequential(nn.AvgPool1d(2), nn.Flatten(), nn.Linear(4, 5))
    spikes = torch.tensor([[[1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]]])  # pooled: .5 1 0 .5 -> 3 events
    assert analysis.count_costs(pool_lin, spikes, batch_dim=0).acs == 15.0
    analog = spikes * 0.3
    r = analysis.count_costs(pool_lin, analog, batch_dim=0)  # analog input: dense, as before
    assert r.acs == 0.0 and r.macs == 20.0
