"""TimeDistributed folds time into the batch; on the CPU a 2-D convolution runs channels-last. The
oracle is the same module applied step by step in PyTorch's default layout."""
import torch
from torch import nn

import snnkit
from snnkit.synapses import TimeDistributed


def _per_step(module, x):
    return torch.stack([module(x_t) for x_t in x.unbind(0)])


def test_conv_runs_channels_last_on_cpu_with_the_same_values_and_gradients():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(5, 2, 3, 12, 12)
    auto, default_layout = TimeDistributed(conv), TimeDistributed(conv, channels_last=False)
    y = auto(x)
    assert y.shape == (5, 2, 8, 12, 12)
    assert y.reshape(10, 8, 12, 12).is_contiguous(memory_format=torch.channels_last)
    assert default_layout(x).is_contiguous()
    ref = _per_step(conv, x)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    g_auto = torch.autograd.grad((y * ref.detach()).sum(), conv.weight)[0]
    g_ref = torch.autograd.grad((ref * ref.detach()).sum(), conv.weight)[0]
    torch.testing.assert_close(g_auto, g_ref, rtol=1e-4, atol=1e-4)


def test_spiking_conv_net_keeps_the_layout_and_matches_the_default_layout():
    """Conv - LIF - AvgPool - Flatten - Linear - LIF: the channels-last path gives the same spikes
    (float64, so rounding cannot flip a threshold crossing) and the layout survives LIF and pooling."""
    torch.manual_seed(1)
    conv, fc = nn.Conv2d(2, 6, 3, padding=1).double(), nn.Linear(6 * 5 * 5, 4).double()
    with torch.no_grad():
        conv.weight.mul_(4)
        fc.weight.mul_(20)
    x = (torch.rand(6, 3, 2, 10, 10, dtype=torch.float64) < 0.3).double() * 3

    def net(channels_last):
        return snnkit.neurons.Sequential(TimeDistributed(conv, channels_last=channels_last), snnkit.neurons.LIF(),
                                         TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()), fc,
                                         snnkit.neurons.LIF())

    fast, plain = net(None), net(False)
    hidden = fast[1](fast[0](x))
    assert hidden.reshape(18, 6, 10, 10).is_contiguous(memory_format=torch.channels_last)
    out_fast, out_plain = fast(x), plain(x)
    assert hidden.sum() > 0 and out_plain.sum() > 0
    assert torch.equal(out_fast, out_plain)
