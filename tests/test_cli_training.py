"""``snnkit train`` / ``evaluate`` / ``info`` / ``demo``: config errors name the key and the allowed values,
a trained checkpoint rebuilds its model, and the demo writes its plots and checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnkit import kernels, models
from snnkit.cli import main
from snnkit.cli.cmd_train import check_config
from snnkit.training import TrainerConfig, load_checkpoint

TINY = """
[model]
name = "mlp"
hidden = 16
[data]
name = "randman"
classes = 3
channels = 12
steps = 10
samples_per_class = 20
eval_samples_per_class = 10
seed = 4
[trainer]
epochs = 2
batch_size = 10
lr = 1e-2
progress = false
"""


@pytest.mark.parametrize("cfg, message", [
    ({"modle": {}}, r"\[modle\] is not known; allowed tables: \['model', 'data', 'trainer'\]"),
    ({"model": {"name": "nope"}, "data": {"name": "randman"}}, r"model.name='nope' is not allowed; allowed: \["),
    ({"model": {"name": "mlp"}, "data": {"name": "imagenet"}}, r"data.name='imagenet' is not allowed; allowed: \["),
    ({"model": {"name": "mlp"}, "data": {"name": "randman"}, "trainer": {"los": "x"}},
     r"trainer.los is not a known setting; allowed: \["),
    ({"model": {"name": "mlp"}, "data": {"name": "randman"}, "trainer": {"loss": "xent"}},
     r"trainer.loss='xent' is not allowed; allowed: \['ce_count'"),
    ({"model": {"name": "mlp"}, "data": {"name": "randman"}, "trainer": {"mode": "fast"}},
     r"trainer.mode='fast' is not allowed; allowed: \['bptt', 'tbptt', 'online', 'sltt', 'sltt_k', 'ottt'\]"),
    ({"model": {"name": "mlp"}, "data": {"name": "randman"}, "trainer": {"epochs": 0}},
     r"trainer.epochs=0 must be an integer >= 1"),
])
def test_config_errors_name_key_and_allowed_values(cfg, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_config(cfg)


def test_schedule_errors_name_allowed_values() -> None:
    with pytest.raises(ValueError, match=r"trainer.schedule='linear' is not allowed; allowed: \['constant'"):
        TrainerConfig(schedule="linear")


def test_train_cli_reports_a_config_error(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(TINY.replace('lr = 1e-2', 'lr = 1e-2\nschedul = "cosine"'))
    assert main(["train", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "trainer.schedul is not a known setting; allowed:" in capsys.readouterr().err


def test_train_then_evaluate_rebuilds_the_model(tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY)
    out = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(out)]) == 0
    result = json.loads((out / "history.json").read_text())
    assert len(result["history"]) == 2
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["model"]["name"] == "mlp" and ckpt["model"]["config"]["in_features"] == 12
    capsys.readouterr()
    assert main(["evaluate", str(out / "last.pt"), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    # the rebuilt model measures what the training run measured on the same test split
    assert ev["accuracy"] == pytest.approx(result["test"]["accuracy"])
    assert ev["count"] == 30
    # resume of a finished run: nothing left to do, same weights
    assert main(["train", str(cfg), "--out", str(out), "--resume"]) == 0
    again = load_checkpoint(out / "last.pt")["model"]["state_dict"]
    assert all(torch.equal(again[k], ckpt["model"]["state_dict"][k]) for k in again)


def test_info_lists_versions_engines_devices(capsys) -> None:
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["versions"]["torch"] == torch.__version__
    assert info["engines"] == kernels.available()
    assert info["devices"]["cpu"]["cores"] >= 1


def test_demo_smoke(tmp_path: Path) -> None:
    from snnkit.cli.demo import run_demo
    res = run_demo(tmp_path / "demo", epochs=1, progress=False, verbose=False,
                   data_options={"samples_per_class": 20, "eval_samples_per_class": 10})
    for key in ("raster", "learning_curve", "checkpoint"):
        path = res["paths"][key]
        assert path.is_file() and path.stat().st_size > 0
    assert Path(res["paths"]["raster"]).read_bytes()[:4] == b"\x89PNG"
    r = res["results"]
    assert 0.0 <= r["snn_accuracy"] <= 1.0 and 0.0 <= r["ann_accuracy"] <= 1.0
    # parameter-matched twin (within 10 %)
    assert abs(r["snn_parameters"] - r["ann_parameters"]) <= 0.1 * r["snn_parameters"]
    # the checkpoint rebuilds the returned model
    ckpt = load_checkpoint(res["paths"]["checkpoint"])
    rebuilt = models.create("mlp", spiking=True, **ckpt["model"]["config"])
    rebuilt.load_state_dict(ckpt["model"]["state_dict"])
    x, _ = res["test_data"][0]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x[:, None]), res["model"](x[:, None]))


def test_demo_cli_rejects_bad_epochs(capsys) -> None:
    assert main(["demo", "--epochs", "0", "--no-progress"]) == 2
    assert "epochs=0 must be an integer >= 1" in capsys.readouterr().err
