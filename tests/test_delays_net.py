"""delay_net as published: delays on the output layer too (oracle: explicit per-synapse shifting then the
leaky integrator, written here), hard reset in the hidden LIF neurons, and the random/none controls."""
import torch

from snnkit import models
from snnkit.neurons import LIF
from snnkit.synapses import DelayedLinear, freeze_delays


def _net(**kw):
    torch.manual_seed(0)
    return models.create("delay_net", True, in_features=5, num_classes=3, hidden=6, layers=2, max_delay=5,
                         dropout=0.0, tau_mem=2.0, tau_out=3.0, **kw)


def test_output_layer_has_delays_and_matches_explicit_shift_plus_integrator():
    net = _net().eval()
    assert len(net.delay_layers()) == 3 and isinstance(net.head.synapses.layer, DelayedLinear)
    assert all(m.reset == "hard" for m in net.modules() if isinstance(m, LIF))
    freeze_delays(net)
    x = (torch.rand(12, 2, 5) < 0.4).float()
    hidden = net.features(x)
    out_layer = net.head.synapses.layer
    d, w = out_layer.integer_delays(), out_layer.weight.detach()
    T_out = hidden.shape[0] + out_layer.extra_steps
    cur = torch.zeros(T_out, 2, 3)
    for o in range(3):
        for i in range(6):
            k = int(d[o, i])
            n = min(hidden.shape[0], T_out - k)
            cur[k:k + n, :, o] += w[o, i] * hidden[:n, :, i]
    cur = cur + out_layer.bias.detach()
    beta, v, ref = torch.exp(torch.tensor(-1 / 3.0)), torch.zeros(2, 3), []
    for c in cur:
        v = beta * v + c
        ref.append(v)
    with torch.no_grad():
        torch.testing.assert_close(net.head(hidden), torch.stack(ref), rtol=1e-5, atol=1e-5)


def test_controls_and_previous_form():
    rnd, none = _net(delay_mode="random"), _net(delay_mode="none")
    assert all(m.is_frozen for m in rnd.delay_layers())
    assert all(float(m.delays.abs().sum()) == 0 for m in none.delay_layers())
    old = _net(output_delays=False, reset="subtract")
    assert len(old.delay_layers()) == 2
    assert all(m.reset == "subtract" for m in old.modules() if isinstance(m, LIF))
    x = torch.rand(10, 4, 5)
    assert _net()(x).shape[1:] == (4, 3)
    torch.manual_seed(0)
    ann = models.create("delay_net", False, in_features=5, num_classes=3, hidden=6, max_delay=5)
    assert ann(x).shape == (1, 4, 3)
