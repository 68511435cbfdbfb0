"""SpikeGPT / RWKV: the O(T) recurrent WKV, the O(T^2) parallel form and the formula agree; streaming
``step()`` equals the whole-sequence pass; ``generate`` continues a prompt as the full forward pass says.

Oracle for WKV: the definition written out term by term in float64,
``wkv[t] = (sum_{i<t} e^{-(t-1-i)w + k_i} v_i + e^{u+k_t} v_t) / (same without v)``."""
import pytest
import torch

from snnkit import analysis
from snnkit.models.rwkv import WKV, RWKVLanguageModel, generate


def _wkv_definition(k, v, w, u):
    T = k.shape[0]
    out = torch.empty_like(k)
    for t in range(T):
        num = torch.exp(u + k[t]) * v[t]
        den = torch.exp(u + k[t])
        for i in range(t):
            e = torch.exp(-(t - 1 - i) * w + k[i])
            num, den = num + e * v[i], den + e
        out[t] = num / den
    return out


def test_recurrent_and_parallel_wkv_equal_the_definition():
    torch.manual_seed(0)
    wkv = WKV(5).double()
    with torch.no_grad():
        wkv.bonus.normal_()
    k, v = torch.randn(12, 3, 5, dtype=torch.float64) * 2, torch.randn(12, 3, 5, dtype=torch.float64)
    ref = _wkv_definition(k, v, wkv.log_decay.exp(), wkv.bonus)
    assert torch.allclose(wkv(k, v), ref, atol=1e-12)
    assert torch.allclose(wkv.parallel(k, v), ref, atol=1e-12)


def test_recurrent_wkv_is_stable_for_large_keys_and_matches_parallel_gradients():
    torch.manual_seed(1)
    wkv = WKV(4).double()
    k = (torch.randn(20, 2, 4, dtype=torch.float64) * 300).requires_grad_()   # e^300 overflows float32
    v = torch.randn(20, 2, 4, dtype=torch.float64, requires_grad=True)
    y = wkv(k, v)
    assert torch.isfinite(y).all() and torch.allclose(y, wkv.parallel(k, v), atol=1e-10)
    g1 = torch.autograd.grad(y.sum(), (k, v))
    g2 = torch.autograd.grad(wkv.parallel(k, v).sum(), (k, v))
    assert all(torch.allclose(a, b, atol=1e-8) for a, b in zip(g1, g2))


@pytest.mark.parametrize("spiking", [True, False])
def test_language_model_step_equals_forward(spiking):
    torch.manual_seed(0)
    lm = RWKVLanguageModel(vocab=11, spiking=spiking, dim=16, depth=2, ffn_hidden=24).double()
    tokens = torch.randint(0, 11, (15, 3))
    lm(tokens)  # a training-mode pass moves the BatchNorm running statistics off the identity
    lm.eval()
    state, outs = None, []
    for tok in tokens:
        o, state = lm.step(tok, state)
        outs.append(o)
    assert torch.allclose(torch.stack(outs), lm(tokens), atol=1e-10)


def test_spikegpt_and_rwkv_twin_have_equal_parameters_and_spiking_is_event_driven():
    snn, ann = RWKVLanguageModel(30, True, dim=16, depth=1), RWKVLanguageModel(30, False, dim=16, depth=1)
    assert [p.shape for p in snn.parameters()] == [p.shape for p in ann.parameters()]
    tokens = torch.randint(0, 30, (10, 4))
    c_snn = analysis.count_costs(snn, tokens)
    c_ann = analysis.count_costs(ann, tokens, event_driven=False)
    assert c_snn.acs > 0 and c_ann.acs == 0
    assert c_snn.macs < c_ann.macs     # the token-shift projections became accumulates


def test_generate_greedy_follows_the_forward_pass():
    torch.manual_seed(0)
    lm = RWKVLanguageModel(vocab=7, spiking=True, dim=16, depth=1, ffn_hidden=16).double().eval()
    prompt = [1, 2, 3]
    new = generate(lm, prompt, n=5, temperature=0)
    seq = prompt + new
    logits = lm(torch.tensor(seq)[:, None])
    assert new == logits[len(prompt) - 1:-1, 0].argmax(-1).tolist()
    with pytest.raises(ValueError, match="prompt is empty"):
        generate(lm, [], 3)
    with pytest.raises(ValueError, match="vocab=7"):
        lm(torch.tensor([[9]]))
