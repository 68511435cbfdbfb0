"""Adversarial attacks: FGSM equals the analytic worst case of a linear model (oracle), attacks raise
the loss of an SNN through its surrogate gradient, PGD is at least as strong as FGSM, the epsilon
ball and the pixel range are respected, and swapping surrogates leaves the forward pass unchanged."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnkit.neurons import LIF, Sequential
from snnkit.training.adversarial import (accuracy_under_attack, direct_encode, fgsm, input_gradient, pgd,
                                         rate_encode, using_surrogate)


def _linear_binary():
    torch.manual_seed(0)
    w = torch.randn(20)
    return w, (lambda x: torch.stack([torch.zeros(len(x)), x @ w], 1))


def test_fgsm_is_the_exact_worst_case_of_a_linear_model():
    # two-class logits (0, w.x): the loss is monotone in the margin, so the L-inf worst case moves every
    # coordinate by eps against the label: x - eps * sign(w) for y=1, + for y=0 (no pixel bounds)
    w, f = _linear_binary()
    x, y = torch.randn(16, 20), torch.randint(0, 2, (16,))
    eps = 0.1
    worst = x + eps * torch.sign(w) * torch.where(y == 1, -1.0, 1.0).unsqueeze(1)
    adv = fgsm(f, x, y, eps, bounds=(None, None))
    torch.testing.assert_close(adv, worst)
    pg = pgd(f, x, y, eps, steps=5, bounds=(None, None), random_start=False)
    torch.testing.assert_close(F.cross_entropy(f(pg), y), F.cross_entropy(f(worst), y))


def _snn(T=6):
    torch.manual_seed(3)
    net = Sequential(nn.Linear(30, 40), LIF(3.0, reset="subtract"), nn.Linear(40, 5))
    with torch.no_grad():
        net[0].weight.mul_(3)
    return net, (lambda x: net(direct_encode(x, T)).mean(0))


def test_attacks_raise_snn_loss_and_pgd_not_weaker_than_fgsm():
    net, f = _snn()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, 30, generator=g)
    y = f(x).argmax(-1)  # attack correct predictions
    eps = 0.1
    clean = F.cross_entropy(f(x), y)
    xf = fgsm(f, x, y, eps)
    xp = pgd(f, x, y, eps, steps=8, generator=g)
    lf, lp = F.cross_entropy(f(xf), y), F.cross_entropy(f(xp), y)
    assert lf > clean + 0.05
    assert lp >= lf
    for xa in (xf, xp):
        assert float((xa - x).abs().max()) <= eps + 1e-6
        assert float(xa.min()) >= 0 and float(xa.max()) <= 1


def test_surrogate_swap_changes_gradient_not_spikes():
    net, f = _snn()
    x, y = torch.rand(8, 30), torch.randint(0, 5, (8,))
    g0, l0 = input_gradient(f, x, y)
    with using_surrogate(net, "rectangular", 0.5):
        g1, l1 = input_gradient(f, x, y)
    assert torch.equal(l0, l1)
    assert not torch.allclose(g0, g1)
    assert net[1].surrogate.name == "atan"  # restored
    ge, _ = input_gradient(f, x, y, model=net, surrogates=["atan", "sigmoid", "triangle"])
    assert ge.shape == x.shape and torch.isfinite(ge).all()
    xe = fgsm(f, x, y, 0.05, model=net, surrogates=["atan", "sigmoid"])
    assert float((xe - x).abs().max()) <= 0.05 + 1e-6


def test_rate_encoding_passes_gradient_straight_through():
    x = torch.rand(4, 3, requires_grad=True)
    s = rate_encode(x, 5, torch.Generator().manual_seed(0))
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    s.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 5.0))


def test_accuracy_under_attack_is_monotone_at_zero_and_checks_names():
    net, f = _snn()
    x = torch.rand(40, 30)
    y = f(x).argmax(-1)
    acc = accuracy_under_attack(f, x, y, [0.0, 0.2])
    assert acc[0.0] == 1.0 and acc[0.2] < 1.0
    with pytest.raises(ValueError, match="attack="):
        accuracy_under_attack(f, x, y, [0.1], attack="cw")
