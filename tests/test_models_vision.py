"""Spiking vision transformers, piece by piece.

Oracles: (1) the spike-driven claim itself, checked by forward hooks on every Linear / Conv2d: each
synaptic input is binary, except the first (encoding) convolution that reads pixels; (2) the parameter
counts the papers' ImageNet tables give for a named configuration (Spikformer-8-384 and Spike-driven
Transformer-8-384: 16.81 M, Zhou et al. 2023 Table 3, Yao et al. 2023 Table 2); (3) formulas written out
(SDSA, weight quantisation levels)."""
import pytest
import torch
from torch import nn

from snnkit import models
from snnkit.models.vision import SpikingSelfAttention, _Factory, distillation_loss, quantize_weight

SMALL = {"dim": 32, "depth": 1, "heads": 2, "sim_steps": 2}
STAGED = {"widths": (8, 16, 32), "depths": (1, 1, 1), "heads": 2, "sim_steps": 2}


def _synaptic_inputs(model, x):
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: seen.append((name, i[0].detach())))
             for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def _trained_a_little(model):
    """One training-mode pass so BatchNorm statistics are real; then eval (as deployed)."""
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        model(x)
    return model.eval(), x


@pytest.mark.parametrize("name,cfg", [("sdt_v1_image", SMALL), ("qsd_transformer_image", SMALL),
                                      ("meta_spikeformer_image", STAGED), ("max_former_image", STAGED)])
def test_every_synaptic_input_of_a_spike_driven_model_is_binary(name, cfg):
    model, x = _trained_a_little(models.create(name, spiking=True, **cfg))
    seen = _synaptic_inputs(model, x)
    first, rest = seen[0], seen[1:]
    assert not torch.isin(first[1], torch.tensor([0.0, 1.0])).all()          # pixels: the encoding layer
    assert len(rest) > 5
    for layer, inp in rest:
        assert torch.isin(inp, torch.tensor([0.0, 1.0])).all(), f"{name}: {layer} gets non-binary input"
    assert any(inp.sum() > 0 for _, inp in rest)                               # and it does spike


def test_spikformer_inputs_are_spike_counts_not_binary_spikes():
    """Spikformer adds spikes in its residuals: synaptic inputs are integers (events), not all binary."""
    model, x = _trained_a_little(models.create("spikformer_image", spiking=True, **SMALL))
    rest = _synaptic_inputs(model, x)[1:-1]                    # the head reads the token mean (real)
    assert all(torch.equal(inp, inp.round()) and inp.min() >= 0 for _, inp in rest)


@pytest.mark.parametrize("name", ["spikformer_image", "sdt_v1_image"])
def test_imagenet_8_384_parameter_count_matches_the_paper(name):
    model = models.create(name, spiking=True, in_channels=3, num_classes=1000, dim=384, depth=8, heads=12,
                          pools=(True,) * 4)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 16.81
    twin = models.create(name, spiking=False, in_channels=3, num_classes=1000, dim=384, depth=8, heads=12,
                         pools=(True,) * 4)
    assert sum(p.numel() for p in twin.parameters()) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,cfg", [("spikformer_v2_image", SMALL), ("meta_spikeformer_image", STAGED)])
def test_shapes_of_both_forms(name, cfg):
    snn, ann = models.create(name, spiking=True, **cfg), models.create(name, spiking=False, **cfg)
    x = torch.rand(3, 1, 28, 28)
    assert snn(x).shape == (2, 3, 10) and ann(x).shape == (1, 3, 10)
    assert sum(p.numel() for p in snn.parameters()) == sum(p.numel() for p in ann.parameters())
    with pytest.raises(ValueError, match=r"images \[B, 1, H, W\]"):
        snn(torch.rand(3, 28, 28))


def test_sdsa_is_q_masking_a_spiked_column_sum_of_k_and_v():
    torch.manual_seed(0)
    attn = SpikingSelfAttention(_Factory(True, 2.0), 8, 1, "sdsa", "membrane").eval()
    x = torch.randn(2, 3, 5, 8) * 3
    with torch.no_grad():
        s = attn.pre(x)
        q, k, v = attn.q_act(attn.q(s)), attn.k_act(attn.k(s)), attn.v_act(attn.v(s))
        col = (k * v).sum(-2, keepdim=True)                        # [S, B, 1, D]: tokens summed
        expected = attn.proj(q * attn.attn_act(col))
        assert torch.allclose(attn(x), expected)


def test_quantised_weights_take_at_most_2_to_the_bits_minus_one_levels():
    w = torch.randn(64, 32, requires_grad=True)
    q = quantize_weight(w, 4)
    assert q.detach().unique().numel() <= 15                      # -7..7 times the step
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))               # straight-through
    qsd = models.create("qsd_transformer_image", spiking=True, **SMALL)
    lin = qsd.blocks[0].attn.q.fc
    assert type(lin).__name__ == "QuantLinear" and lin.bits == 4


def test_distillation_loss_is_cross_entropy_when_alpha_is_zero_and_zero_kl_for_equal_logits():
    logits, labels = torch.randn(2, 5, 10), torch.randint(0, 10, (5,))
    assert torch.allclose(distillation_loss(logits, logits, labels, alpha=0.0),
                          nn.functional.cross_entropy(logits.mean(0), labels))
    assert torch.allclose(distillation_loss(logits, logits, labels, alpha=1.0), torch.tensor(0.0), atol=1e-6)
