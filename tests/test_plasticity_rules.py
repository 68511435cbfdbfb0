"""Hebbian, three-factor, HLOP and homeostasis rules against analytic expectations."""
from __future__ import annotations

import torch
from torch import nn

from snnkit.plasticity import (BCM, HLOP, AdaptiveThreshold, Oja, SoftHebb, lateral_inhibition, mstdp, mstdpet,
                               winner_take_all)

torch.set_num_threads(1)  # tiny tensors: a thread pool only adds launch latency


def _gaussian_data(n_dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n_dim, n_dim, generator=g))
    std = torch.tensor([3.0, 1.8, 1.2, 0.6, 0.3])[:n_dim]
    return q, (lambda n: (torch.randn(n, n_dim, generator=g) * std) @ q.t())


def test_oja_converges_to_the_first_principal_component():
    q, sample = _gaussian_data()
    w = torch.randn(1, 5, generator=torch.Generator().manual_seed(1)) * 0.1
    rule = Oja(w, lr=0.01)
    for _ in range(1500):
        x = sample(16)
        rule.step(x, x @ w.t())
    cos = (w[0] @ q[:, 0]).abs() / w[0].norm()
    assert cos.item() > 0.99
    assert abs(w[0].norm().item() - 1.0) < 0.05


def test_sanger_finds_the_leading_components_in_order():
    q, sample = _gaussian_data(seed=2)
    w = torch.randn(3, 5, generator=torch.Generator().manual_seed(3)) * 0.1
    rule = Oja(w, lr=0.01, variant="sanger")
    for _ in range(3000):
        x = sample(16)
        rule.step(x, x @ w.t())
    for k in range(3):
        assert ((w[k] @ q[:, k]).abs() / w[k].norm()).item() > 0.97


def test_oja_on_a_convolution_learns_the_patch_principal_component():
    """The same rule on nn.Conv1d reads unfolded patches: it converges to the patches' first PC."""
    conv = nn.Conv1d(1, 1, 3, bias=False)
    q, sample = _gaussian_data(n_dim=3, seed=4)
    rule = Oja(conv, lr=0.02)
    for _ in range(400):
        x = sample(128).reshape(128, 1, 3)  # one patch per sample
        with torch.no_grad():
            rule.step(x, conv(x))
    w = conv.weight.reshape(3)
    assert ((w @ q[:, 0]).abs() / w.norm()).item() > 0.99


def test_bcm_becomes_selective_and_its_threshold_tracks_mean_squared_output():
    patterns = torch.tensor([[1.0, 0.3], [0.3, 1.0]])
    g = torch.Generator().manual_seed(0)
    w = torch.full((1, 2), 0.5)
    rule = BCM(w, lr=0.02, tau_theta=20.0)
    y2, theta = [], []
    for step in range(4000):
        x = patterns[torch.randint(0, 2, (1,), generator=g)]
        y = torch.relu(x @ w.t())
        rule.step(x, y)
        if step >= 2000:
            y2.append(y.item() ** 2)
            theta.append(rule.theta.item())
    r = torch.relu(patterns @ w.t()).flatten()
    assert r.max() > 1.0 and r.min() < 0.05 * r.max(), f"not selective: responses {r.tolist()}"
    # the sliding threshold follows the mean squared output (time averages over the last 2000 steps)
    mean_y2, mean_theta = sum(y2) / len(y2), sum(theta) / len(theta)
    assert abs(mean_theta - mean_y2) < 0.1 * mean_y2
    # and at the selective fixed point the preferred response is theta (= E[y^2] = p y_pref^2, p = 1/2)
    assert abs(r.max().item() - 2.0) < 0.5


def test_softhebb_reaches_its_fixed_point_unit_norm_and_the_weighted_mean_input():
    """dw_k = <y_k (x - u_k w_k)> = 0 means w_k is parallel to <y_k x> with |w_k| = 1; a neuron that wins
    a cluster aligns with its centre."""
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=1)
    w = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=1) * 0.3
    rule = SoftHebb(w, lr=0.05, temperature=0.1)

    def batch():
        return centres[torch.randint(0, 3, (64,), generator=g)] + 0.05 * torch.randn(64, 8, generator=g)

    for _ in range(500):
        x = batch()
        rule.step(x, x @ w.t())
    x = torch.cat([batch() for _ in range(20)])
    y = rule.activation(x @ w.t())
    active = y.mean(0) > 0.01  # a neuron that never wins a share of the softmax does not learn
    assert active.sum() >= 2
    assert torch.allclose(w[active].norm(dim=1), torch.ones(int(active.sum())), atol=0.02)
    target = torch.nn.functional.normalize(y.t() @ x, dim=1)
    assert (torch.nn.functional.cosine_similarity(w, target, dim=1)[active] > 0.99).all()
    assert (torch.nn.functional.normalize(w, dim=1) @ centres.t()).max().item() > 0.99


# --------------------------------------------------------------------------- three-factor
def _distal_reward_setup(T=6000, n_in=12, rate=0.02, delay=11, seed=0):
    """Neuron A fires one step after each spike of input 0 (a causal pair); a reward follows every such
    pair ``delay`` steps later. Neuron B fires as an independent Poisson process."""
    g = torch.Generator().manual_seed(seed)
    pre = (torch.rand(T, 1, n_in, generator=g) < rate).float()
    post = (torch.rand(T, 1, 2, generator=g) < rate).float()
    post[1:, 0, 0] = torch.maximum(post[1:, 0, 0], pre[:-1, 0, 0])
    reward = torch.zeros(T)
    reward[(pre[:-delay, 0, 0] > 0).nonzero().flatten() + delay] = 1.0
    return pre, post, reward - reward.mean()  # reward relative to its baseline


def test_reward_correlated_synapse_potentiates_uncorrelated_do_not_drift():
    pre, post, reward = _distal_reward_setup()
    w = torch.zeros(2, pre.shape[2])
    mstdpet(w, tau_plus=20.0, tau_minus=20.0, tau_z=25.0, lr=1e-2).run(pre, post, reward)
    rewarded = w[0, 0].item()
    unrelated = w[1]  # synapses onto B: activity independent of the reward
    assert rewarded > 0
    assert unrelated.abs().max().item() < 0.25 * rewarded
    assert w[0, 1:].max().item() < 0.7 * rewarded  # the causal synapse stands out on its own neuron too
    # a reward that does not depend on the pairing leaves even synapse 0 where it was
    w_shuffled = torch.zeros_like(w)
    shuffled = reward[torch.randperm(len(reward), generator=torch.Generator().manual_seed(1))]
    mstdpet(w_shuffled, tau_plus=20.0, tau_minus=20.0, tau_z=25.0, lr=1e-2).run(pre, post, shuffled)
    assert w_shuffled.abs().max().item() < 0.25 * rewarded


def test_mstdp_update_is_reward_times_stdp_term():
    """Florian's MSTDP: dw(t) = lr * r(t) * zeta(t) with zeta the pair-STDP term of that step."""
    w = torch.zeros(1, 1)
    rule = mstdp(w, tau_plus=10.0, tau_minus=10.0, a_plus=1.0, a_minus=0.5, lr=0.1)
    pre, post = torch.zeros(12, 1, 1), torch.zeros(12, 1, 1)
    pre[2], post[6] = 1, 1
    r = torch.zeros(12)
    r[6] = 2.0
    rule.run(pre, post, r)
    assert abs(w.item() - 0.1 * 2.0 * torch.exp(torch.tensor(-4 / 10.0)).item()) < 1e-6


def test_per_sample_modulator_equals_separate_runs():
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(20, 3, 4, generator=g) < 0.3).float()
    post = (torch.rand(20, 3, 2, generator=g) < 0.3).float()
    mod = torch.randn(20, 3, generator=g)
    w = torch.zeros(2, 4)
    mstdpet(w, per_sample=True).run(pre, post, mod)
    total = torch.zeros(2, 4)
    for b in range(3):
        wb = torch.zeros(2, 4)
        mstdpet(wb).run(pre[:, b:b + 1], post[:, b:b + 1], mod[:, b])
        total += wb
    torch.testing.assert_close(w, total, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- HLOP
def _subspace_inputs(basis, n, g, noise=0.01):
    return torch.randn(n, basis.shape[0], generator=g) @ basis + noise * torch.randn(n, basis.shape[1], generator=g)


def test_hlop_projected_gradient_has_no_component_in_the_old_subspace():
    g = torch.Generator().manual_seed(0)
    true_basis = torch.linalg.qr(torch.randn(20, 4, generator=g))[0].t()  # 4-dim subspace of R^20
    fc = nn.Linear(20, 6, bias=False)
    hlop = HLOP(fc, components_per_task=4, lr=0.05, iterations=10)
    with hlop.observing():
        for _ in range(60):
            fc(_subspace_inputs(true_basis, 32, g))
    hlop.consolidate()
    u = hlop.basis(0)
    # the Hebbian lateral neurons found the subspace (projection matrices agree)
    assert (u.t() @ u - true_basis.t() @ true_basis).norm().item() < 0.1
    fc.weight.grad = torch.randn(6, 20, generator=g)
    hlop.project_gradients()
    assert (fc.weight.grad @ u.t()).abs().max().item() < 1e-5
    assert (fc.weight.grad @ true_basis.t()).norm().item() < 0.1 * fc.weight.grad.norm().item()


def _train(fc, x, y, hlop=None, steps=300, lr=0.5):
    opt = torch.optim.SGD(fc.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(fc(x), y).backward()
        if hlop is not None:
            hlop.project_gradients()
        opt.step()


def _accuracy(fc, x, y):
    with torch.no_grad():
        return (fc(x).argmax(1) == y).float().mean().item()


def test_hlop_keeps_the_old_task_where_fine_tuning_forgets():
    g = torch.Generator().manual_seed(1)
    dim, classes = 30, 4
    tasks = []
    for _ in range(2):
        basis = torch.linalg.qr(torch.randn(dim, 6, generator=g))[0].t()
        x = _subspace_inputs(basis, 400, g)
        teacher = torch.randn(classes, dim, generator=g)
        tasks.append((x, (x @ teacher.t()).argmax(1)))
    results = {}
    for use_hlop in (False, True):
        torch.manual_seed(0)
        fc = nn.Linear(dim, classes, bias=False)
        hlop = HLOP(fc, components_per_task=6, lr=0.05, iterations=10) if use_hlop else None
        _train(fc, *tasks[0])
        acc_before = _accuracy(fc, *tasks[0])
        if hlop is not None:
            with hlop.observing():
                for _ in range(60):
                    fc(tasks[0][0])
            hlop.consolidate()
        _train(fc, *tasks[1], hlop=hlop)
        results[use_hlop] = (acc_before, _accuracy(fc, *tasks[0]), _accuracy(fc, *tasks[1]))
    (b0, a0, n0), (b1, a1, n1) = results[False], results[True]
    assert b0 > 0.85 and b1 > 0.85
    assert a0 < b0 - 0.2, f"plain fine-tuning should forget task 1: {results}"
    assert a1 > b1 - 0.05, f"HLOP should keep task 1: {results}"
    assert n1 > 0.8, f"HLOP must still learn task 2: {results}"


# --------------------------------------------------------------------------- homeostasis
def test_adaptive_threshold_rises_with_spikes_and_decays():
    th = AdaptiveThreshold(3, v_th=1.0, theta_plus=0.1, tau_theta=10.0)
    th.step(torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    torch.testing.assert_close(th.threshold(), torch.tensor([1.1, 1.0, 1.05]))
    th.step(torch.zeros(2, 3))
    d = torch.exp(torch.tensor(-0.1))
    torch.testing.assert_close(th.threshold(), 1.0 + torch.tensor([0.1, 0.0, 0.05]) * d)


def test_winner_take_all_and_lateral_inhibition():
    spikes = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    v = torch.tensor([[1.2, 1.5, 3.0, 1.1]])
    torch.testing.assert_close(winner_take_all(spikes, v), torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    torch.testing.assert_close(winner_take_all(spikes, v, k=2), torch.tensor([[1.0, 1.0, 0.0, 0.0]]))
    torch.testing.assert_close(lateral_inhibition(spikes, 0.5), torch.tensor([[-1.0, -1.0, -1.5, -1.0]]))
