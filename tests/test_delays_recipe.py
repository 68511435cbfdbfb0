"""The DCLS recipe configs run under ``snnkit train`` (shrunk, on synthetic SHD-format files) and the
training helpers do what the recipe says."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from snnkit.synapses.delay_training import (DCLSRecipe, SigmaSchedule, clamp_all_delays, delay_param_groups,
                                            sigma_at)
from snnkit.synapses.delays import DelayedLinear, freeze_delays

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "dcls"


def _shrink(text: str, root: Path) -> str:
    """Same config, tiny: synthetic SHD files, 16 hidden units, 1 epoch of batch 8."""
    subs = {r"^hidden = .*$": "hidden = 16", r"^epochs = .*$": "epochs = 1", r"^batch_size = .*$": "batch_size = 8",
            r'^name = "(shd|ssc)"$': f'name = "synthetic_shd"\nroot = "{root}"\nn_train = 24\nn_test = 8',
            r"^duration = .*$": "duration = 0.3"}
    for pat, new in subs.items():
        text, n = re.subn(pat, new, text, flags=re.M)
        assert n == 1, pat
    if "valid_fraction" not in text:
        text = text.replace("[trainer]", "[trainer]\nprogress = false", 1).replace(
            "seed = 0\n\n[trainer]", "seed = 0\nvalid_fraction = 0.25\n\n[trainer]")
    else:
        text = text.replace("[trainer]", "[trainer]\nprogress = false", 1)
    return text


@pytest.mark.parametrize("name", ["shd", "ssc"])
def test_recipe_config_runs_under_snnkit_train(name, tmp_path):
    pytest.importorskip("h5py")
    cli = pytest.importorskip("snnkit.cli")
    pytest.importorskip("snnkit.cli.cmd_train")
    from snnkit.cli.cmd_train import load_config

    full = load_config(EXAMPLES / f"{name}.toml")  # the real config passes the schema checks
    assert full["model"]["name"] == "delay_net" and full["trainer"].loss == "ce_softmax_sum"
    assert name == "ssc" or float(full["data"]["valid_fraction"]) > 0  # SSC has its own validation file
    cfg = tmp_path / f"{name}_smoke.toml"
    cfg.write_text(_shrink((EXAMPLES / f"{name}.toml").read_text(), tmp_path / "data"))
    out = tmp_path / "run"
    assert cli.main(["train", str(cfg), "--out", str(out)]) == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history["history"]) == 1 and "val_accuracy" in history["history"][0]
    assert 0.0 <= history["test"]["accuracy"] <= 1.0


def test_sigma_schedule_reaches_half_a_step_at_the_chosen_fraction():
    net = torch.nn.Sequential(DelayedLinear(3, 4, 25), DelayedLinear(4, 2, 9))
    sched = SigmaSchedule(net, total_epochs=40, decay_fraction=0.25)
    assert sched.current() == [12.5, 4.5]
    seen = []
    for _ in range(12):
        sched.step()
        seen.append(sched.current()[0])
    assert all(a > b for a, b in zip(seen[:9], seen[1:10]))  # strictly decreasing until epoch 10
    assert seen[9] == pytest.approx(0.5) and seen[-1] == pytest.approx(0.5)
    assert sigma_at(5, 40, 12.5) == pytest.approx(12.5 * (0.5 / 12.5) ** 0.5)


def test_param_groups_clamping_and_recipe_callback():
    torch.manual_seed(0)
    net = torch.nn.Sequential(DelayedLinear(3, 4, 6), torch.nn.Linear(4, 2), DelayedLinear(2, 2, 6, mode="random"))
    groups = delay_param_groups(net, lr=1e-3)
    assert [g["name"] for g in groups] == ["weights", "delays"]
    assert groups[1]["lr"] == pytest.approx(0.1) and groups[1]["params"][0] is net[0].delays
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        net[0].delays.add_(100)
    clamp_all_delays(net)
    assert float(net[0].delays.detach().max()) == 5.0

    class FakeTrainer:
        optimizer = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-5)

    recipe = DCLSRecipe(net, total_epochs=4)
    trainer = FakeTrainer()
    recipe.attach(trainer)
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx([2e-3, 0.2])
    assert trainer.optimizer.param_groups[1]["weight_decay"] == 0.0
    s0 = float(net[0].sigma)
    with torch.no_grad():
        net[0].delays.sub_(100)
    recipe("step", trainer, {})
    assert float(net[0].delays.detach().min()) == 0.0
    recipe("epoch", trainer, {})
    assert float(net[0].sigma) == pytest.approx(0.5)  # 4 epochs x 0.25: the decay ends after one epoch
    assert s0 == 3.0
    assert freeze_delays(net) == 2 and net[0].is_frozen
