"""Every registered architecture (each form) learns a small offline Randman task clearly above chance.

Oracle: chance level (4 balanced classes -> 25 %); the threshold 45 % leaves no room for a model that
does not learn. Tiny sizes, 20 short epochs (80 optimiser steps) and one thread (these models are far
too small to gain from more; extra threads only add contention) keep the file to seconds of CPU time.
"""
import pytest
import torch

from snnkit import data, models

STEPS, FEATURES, CLASSES, EPOCHS = 16, 16, 4, 20
SMALL = {"hidden": 32, "dim": 16, "channels": 16, "embed": 32, "reservoir": 100, "ffn_hidden": 32,
         "token_hidden": 16, "channel_hidden": 32, "widths": (16, 32), "order": 8, "memory_channels": 2, "max_delay": 5}
SIZE_KEYS = {"mlp": ["hidden"], "lmu": ["hidden", "order", "memory_channels"],
             "lmuformer": ["dim", "order", "memory_channels"], "ssm": ["hidden"], "gru": ["hidden"],
             "lstm": ["hidden"], "tdnn": ["channels", "embed"], "mixer": ["dim", "token_hidden", "channel_hidden"],
             "transformer": ["dim"], "spikformer": ["dim"], "spike_driven_transformer": ["dim"],
             "rwkv": ["dim", "ffn_hidden"], "delay_net": ["hidden", "max_delay"], "lsm": ["reservoir"],
             "vgg": ["widths"], "resnet": ["widths"], "s5": ["hidden"], "tcn": ["channels"], "biper": ["hidden"]}


@pytest.fixture(autouse=True)
def one_thread(_seed_and_threads):
    """After conftest's per-test thread setting: these tiny models run fastest on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def task():
    opts = dict(classes=CLASSES, channels=FEATURES, steps=STEPS, samples_per_class=40, eval_samples_per_class=40,
                seed=1, spikes_per_channel=2)

    def stack(split):
        ds = data.load("randman", split, **opts)
        return (torch.stack([ds[i][0] for i in range(len(ds))], 1),
                torch.tensor([int(ds[i][1]) for i in range(len(ds))]))
    return stack("train"), stack("valid")


def _cases():
    # image models (``*_image``, input [B, C, H, W]) are trained on digits in tests/test_models_vision.py's
    # examples instead; this file is for the sequence models
    return [pytest.param(n, sp, id=f"{n}-{'snn' if sp else 'ann'}") for n in models.names() for sp in models.forms(n)
            if not n.endswith("_image")]


@pytest.mark.slow
@pytest.mark.parametrize("name,spiking", _cases())
def test_model_trains_above_chance(task, name, spiking):
    (xtr, ytr), (xva, yva) = task
    torch.manual_seed(0)
    cfg = {k: SMALL[k] for k in SIZE_KEYS.get(name, [])}
    model = models.create(name, spiking=spiking, in_features=FEATURES, num_classes=CLASSES, steps=STEPS, **cfg)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(EPOCHS):
        model.train()
        perm = torch.randperm(xtr.shape[1])
        for i in range(0, len(perm), 40):
            idx = perm[i:i + 40]
            loss = torch.nn.functional.cross_entropy(model(xtr[:, idx]).max(0).values, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(xva).max(0).values.argmax(-1) == yva).float().mean().item()
    assert acc > 0.45, f"{name} (spiking={spiking}) reached only {acc:.2f}"
