"""LMU oracles: parallel == streaming; memory decodes a delayed input as the Legendre closed form says;
the discretisation matches scipy's independent zero-order hold."""
import numpy as np
import pytest
import torch

from snnkit import models
from snnkit.models.lmu import LegendreMemory, discretize_zoh, lmu_state_space


def _streamed(step, xs):
    """Outputs of ``step(x_t, state)`` over the time steps of ``xs``, stacked: the streaming mode."""
    state, outs = None, []
    for x_t in xs:
        out, state = step(x_t, state)
        outs.append(out)
    return torch.stack(outs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spiking_lmu_parallel_equals_streaming(dtype):
    torch.manual_seed(0)
    net = models.create("lmu", spiking=True, in_features=3, num_classes=4, hidden=32, layers=2, theta=20.0).to(dtype)
    x = (torch.rand(60, 5, 3, dtype=dtype) < 0.3).to(dtype) * 2
    with torch.no_grad():
        net(x)  # one training-mode pass: BatchNorm running statistics away from the identity
    net.eval()  # streaming is inference: the BatchNorms use their running statistics
    assert torch.equal(_streamed(net.step, x), net(x))


def test_long_sequences_use_fft_and_match_recurrence():
    mem = LegendreMemory(3, order=8, theta=30.0)
    u = torch.randn(400, 2, 3, dtype=torch.float64)
    assert torch.allclose(_streamed(mem.step, u), mem(u), atol=1e-10)


def test_chunked_run_continues_state():
    mem = LegendreMemory(2, order=6, theta=10.0)
    u = torch.randn(50, 3, 2, dtype=torch.float64)
    a, s = mem.run(u[:20])
    b, _ = mem.run(u[20:], s)
    assert torch.allclose(torch.cat([a, b]), mem(u), atol=1e-10)


def test_zoh_matches_scipy_cont2discrete():
    signal = pytest.importorskip("scipy.signal")
    A, B = lmu_state_space(6, 12.0)
    Ad, Bd = discretize_zoh(A, B)
    ref = signal.cont2discrete((A, B[:, None], np.eye(6), np.zeros((6, 1))), 1.0, method="zoh")
    assert np.allclose(Ad, ref[0]) and np.allclose(Bd, ref[1][:, 0])


@pytest.mark.parametrize("r", [0.0, 0.3, 0.6, 1.0])
def test_memory_decodes_delayed_input(r):
    theta, T = 50.0, 400
    t = torch.arange(T, dtype=torch.float64)
    u = (torch.sin(2 * np.pi * t / 90) + 0.5 * torch.cos(2 * np.pi * t / 140)).reshape(T, 1, 1)
    errors = []
    for order in (4, 16):
        mem = LegendreMemory(1, order=order, theta=theta)
        est = mem.decode_delay(mem(u), r)[:, 0, 0]
        d = int(round(r * theta))
        errors.append(float((est[150:] - u[150 - d:T - d, 0, 0]).abs().max()))
    assert errors[1] < 0.05   # order 16 reconstructs u(t - r*theta) closely (signal amplitude ~1.5)
    assert errors[0] < 0.3    # a 4-term memory only roughly


def test_lmu_twins_have_equal_parameter_counts():
    for name in ("lmu", "lmuformer"):
        snn = models.create(name, spiking=True, in_features=3, num_classes=4, steps=30)
        ann = models.create(name, spiking=False, in_features=3, num_classes=4, steps=30)
        assert sum(p.numel() for p in snn.parameters()) == sum(p.numel() for p in ann.parameters())
        x = torch.rand(30, 2, 3)
        assert snn(x).shape == (30, 2, 4) and ann(x).shape == (1, 2, 4)


@pytest.mark.parametrize("spiking", [True, False])
def test_lmuformer_streaming_equals_parallel(spiking):
    """Oracle: the parallel (convolution) form. Spiking: every step equals forward(x)[t]; ANN twin
    (mean-pooled readout): step t equals the parallel form on the prefix x[:t+1]."""
    torch.manual_seed(0)
    net = models.create("lmuformer", spiking=spiking, in_features=3, num_classes=4, dim=8, blocks=2, order=4,
                        memory_channels=2, theta=6.0).double()
    x = torch.rand(12, 3, 3, dtype=torch.float64) * 2
    with torch.no_grad():
        net(x)
    net.eval()
    with torch.no_grad():
        streamed = _streamed(net.step, x)
        if spiking:
            assert torch.allclose(streamed, net(x), atol=1e-10)
        else:
            for t in (0, 4, 11):
                assert torch.allclose(streamed[t], net(x[:t + 1])[0], atol=1e-10)
