"""Time-step curriculum (IIR-SNN): the Trainer simulates exactly the scheduled number of steps in each
epoch (oracle: the lengths recorded inside the model against the stage list), warm-starts each stage
from the last, and evaluates on the same truncated input as a direct call of the model."""
import pytest
import torch
from torch import nn

from snnkit.neurons import LIF, Sequential
from snnkit.training import Trainer
from snnkit.training.schedules import TimestepCurriculum


class _Recorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lengths: list[int] = []

    def forward(self, x):
        if self.training:
            self.lengths.append(x.shape[0])
        return x


def test_stages_and_validation():
    c = TimestepCurriculum.iir(5, 1, 2)
    assert c.stages == ((5, 2), (4, 2), (3, 2), (2, 2), (1, 2)) and c.epochs == 10
    assert [c.steps_at(e) for e in range(12)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="start"):
        TimestepCurriculum.iir(1, 3)
    with pytest.raises(ValueError, match="stage"):
        TimestepCurriculum(((0, 1),))


def test_trainer_runs_each_epoch_at_its_stage_length():
    torch.manual_seed(0)
    rec = _Recorder()
    model = Sequential(rec, nn.Linear(6, 16), LIF(2.0), nn.Linear(16, 3))
    X = torch.randn(40, 6).unsqueeze(0).expand(5, 40, 6).contiguous()  # direct encoding, T=5
    Y = torch.randint(0, 3, (40,))
    cur = TimestepCurriculum(((5, 1), (3, 2), (1, 1)))
    trainer = Trainer(model, {"epochs": cur.epochs, "batch_size": 20, "loss": "ce_mean_membrane", "progress": False},
                      timesteps=cur)
    before = model[1].weight.detach().clone()
    hist = trainer.fit((X, Y), (X, Y))
    assert rec.lengths == [5, 5, 3, 3, 3, 3, 1, 1]  # 2 batches per epoch
    assert [h["timesteps"] for h in hist] == [5, 3, 3, 1]
    assert not torch.equal(before, model[1].weight)
    ev = trainer.evaluate((X, Y))
    with torch.no_grad():
        model.eval()
        want = float((model(X[:1]).mean(0).argmax(-1) == Y).float().mean())
    assert ev["accuracy"] == pytest.approx(want)
