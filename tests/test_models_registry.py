"""Registry behaviour: rebuild from (name, spiking, config); bad input names the parameter."""
import pytest
import torch

from snnkit import models


def test_rebuild_from_spec_gives_same_state_dict_layout():
    torch.manual_seed(0)
    m = models.create("mlp", spiking=True, in_features=6, num_classes=3, hidden=8)
    s = models.spec(m)
    m2 = models.create(s["name"], spiking=s["spiking"], **s["config"])
    m2.load_state_dict(m.state_dict())
    x = torch.rand(12, 2, 6) * 2
    assert torch.equal(m(x), m2(x))


def test_mlp_streaming_equals_whole_sequence():
    torch.manual_seed(0)
    m = models.create("mlp", spiking=True, in_features=4, num_classes=2, hidden=16, layers=2)
    x = torch.rand(15, 3, 4) * 3
    state, outs = None, []
    for x_t in x:
        o, state = m.step(x_t, state)
        outs.append(o)
    assert torch.allclose(torch.stack(outs), m(x), atol=1e-6)


def test_ann_twins_have_equal_parameters_and_flat_twin_keeps_width():
    snn = models.create("mlp", spiking=True, in_features=10, num_classes=4, hidden=64)
    ann = models.create("mlp", spiking=False, in_features=10, num_classes=4, hidden=64)
    assert sum(p.numel() for p in snn.parameters()) == sum(p.numel() for p in ann.parameters())
    assert ann(torch.rand(20, 5, 10)).shape == (20, 5, 4)
    flat = models.create("mlp", spiking=False, in_features=10, num_classes=4, hidden=64, steps=20, twin="flat")
    assert flat(torch.rand(20, 5, 10)).shape == (1, 5, 4)


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="unknown model name"):
        models.create("nope")
    with pytest.raises(ValueError, match="steps"):
        models.create("mlp", spiking=False, in_features=3, num_classes=2, twin="flat")
    with pytest.raises(ValueError, match="hidden"):
        models.create("mlp", in_features=3, num_classes=2, hidden=0)
    with pytest.raises(TypeError, match="spiking"):
        models.create("mlp", spiking="yes", in_features=3, num_classes=2)
    m = models.create("mlp", in_features=3, num_classes=2)
    with pytest.raises(ValueError, match="in_features=3"):
        m(torch.rand(5, 2, 4))
