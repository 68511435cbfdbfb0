"""Everything runs on the device of its inputs: the delay layer, the plasticity rules, Loihi
quantisation-aware training (its torch path) and the crossbar simulator are moved to the ``meta``
device (shapes, no values) and run there. A tensor left on the CPU, or a value read back to the host,
raises; the shapes are checked against the same run on CPU."""
import pytest
import torch

from snnkit import plasticity as P
from snnkit.hardware import crossbar
from snnkit.hardware.loihi import qat
from snnkit.synapses import DelayedLinear

META = torch.device("meta")


@pytest.mark.parametrize("mode", ["learned", "random", "none"])
def test_delayed_linear_runs_forward_and_backward_on_meta(mode):
    # "triangle": the Gaussian kernel reads its width sigma back as a Python float on every call
    # (a host read that meta refuses; see docs/engines.md)
    layer = DelayedLinear(4, 3, 5, mode=mode, extra_steps=2, interpolation="triangle")
    cpu_out = layer(torch.rand(6, 2, 4))
    layer = layer.to(META)
    x = torch.empty(6, 2, 4, device=META, requires_grad=True)
    out = layer(x)
    out.sum().backward()
    assert out.device == META and out.shape == cpu_out.shape
    assert x.grad.device == META and layer.weight.grad.device == META


RULES = {"PairSTDP": dict(tau_pre=20.0, tau_post=20.0, a_plus=0.01, a_minus=0.012), "TripletSTDP": {}, "Oja": {},
         "BCM": {}, "SoftHebb": {}, "RewardModulatedSTDP": {}}


@pytest.mark.parametrize("name", sorted(RULES))
def test_plasticity_rules_step_on_meta(name):
    fc = torch.nn.Linear(4, 3).to(META)
    rule = getattr(P, name)(fc, **RULES[name]).to(META)
    pre, post = torch.empty(2, 4, device=META), torch.empty(2, 3, device=META)
    kwargs = {"modulator": torch.empty((), device=META)} if name == "RewardModulatedSTDP" else {}
    for _ in range(3):
        rule.step(pre, post, **kwargs)
    tensors = [t for t in list(rule.parameters()) + list(rule.buffers()) + [fc.weight] if t is not None]
    assert tensors and all(t.device == META for t in tensors)
    if fc.weight.grad is not None:
        assert fc.weight.grad.device == META


def test_loihi_qat_forward_and_backward_on_meta():
    model = qat.enable_qat(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))).to(META)
    x = torch.empty(5, 4, device=META, requires_grad=True)
    out = model(x)
    out.sum().backward()
    assert out.device == META and out.shape == (5, 2) and x.grad.device == META


def test_qat_still_quantises_both_sign_modes():
    """The branch-free fake quantisation keeps the two grids (oracle: the sign-mode rules)."""
    mixed = torch.tensor([-1.0, 0.3, 1.0])
    q = qat.fake_quantize_weights(mixed)
    k = 254.0
    torch.testing.assert_close(q, 2 * torch.round(mixed * k / 2) / k)
    positive = torch.tensor([0.1, 0.5, 1.0])
    torch.testing.assert_close(qat.fake_quantize_weights(positive), torch.round(positive * 255) / 255)


@pytest.mark.parametrize("profile", ["ideal", "pcm", "rram"])
def test_crossbar_state_follows_the_model_to_a_device(profile):
    model = crossbar.simulate(torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2)),
                              profile)
    model = model.to(META)
    tensors = list(model.parameters()) + list(model.buffers())
    assert tensors and all(t.device == META for t in tensors)


def test_crossbar_forward_on_meta_without_value_dependent_bound_management():
    """The iterative bound management re-reads while outputs clip (a value-dependent loop); with
    ``bound_management = "none"`` the whole noisy read path runs on shapes alone."""
    model = crossbar.simulate(torch.nn.Sequential(torch.nn.Linear(8, 3)), "pcm",
                              overrides={"periphery.bound_management": "none"}).to(META)
    out = model(torch.empty(4, 8, device=META))
    assert out.device == META and out.shape == (4, 3)
