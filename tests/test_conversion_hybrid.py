"""Hybrid starts: at T = L the converted start of a QCFS network equals the quantised ANN exactly when
the neurons see a constant current (analytic oracle: an IF neuron starting at half its threshold emits
round(z T / lambda) spikes, which is QCFS's clamp(floor(z L / lambda + 1/2))), thresholds can be made
trainable, and a few surrogate-gradient steps lower the loss."""
import torch
import torch.nn.functional as F
from torch import nn

from snnkit import conversion as C
from snnkit.conversion.hybrid import hybrid_start, learnable_thresholds


def _qcfs_net(L):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 12), C.QCFS(L, 2.0), nn.Linear(12, 3))
    return net.eval()


def test_start_equals_quantised_ann_at_T_equal_L():
    L = 4
    ann = _qcfs_net(L)
    x = torch.randn(64, 8)
    snn = hybrid_start(ann, x, T=L)
    with torch.no_grad():
        got = C.snn_logits(snn.eval(), x, L)
        torch.testing.assert_close(got, ann(x), rtol=1e-5, atol=1e-5)


def test_learnable_thresholds_train():
    ann = _qcfs_net(4)
    x, y = torch.randn(128, 8), torch.randint(0, 3, (128,))
    snn = hybrid_start(ann, x, T=4, learn_thresholds=True)
    ths = [p for n, p in snn.named_parameters() if n.endswith("v_th")]
    assert len(ths) == 1 and learnable_thresholds(snn) == []  # already parameters: nothing more to do
    before = ths[0].detach().clone()
    opt = torch.optim.Adam(snn.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(C.snn_logits(snn, x, 4), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    assert not torch.equal(before, ths[0].detach())
