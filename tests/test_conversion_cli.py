"""``snnkit convert`` end to end: safe model files in, converted SNN file out; the reloaded SNN computes
exactly what the in-memory conversion computes."""
from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from snnkit import conversion as C
from snnkit.cli import main as cli
from snnkit.conversion.architectures import mlp, train_classifier
from snnkit.conversion.serialization import load_converted, save_ann


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    x = torch.randn(600, 20)
    y = (x @ torch.randn(20, 4)).argmax(1)
    config = {"in_features": 20, "hidden": [32], "num_classes": 4}
    return train_classifier(mlp(**config), x, y, epochs=6, seed=0), config, x, y


@pytest.mark.parametrize("extra, options", [([], {}),
                                            (["--channel-wise", "--bias-calibration"],
                                             {"channel_wise": True, "bias_calibration": True}),
                                            (["--reset", "zero", "--v-init", "0"], {"reset": "zero", "v_init": 0.0}),
                                            (["--v-init", "auto"], {"v_init": "auto"})])
def test_cli_convert_round_trip(tmp_path, capsys, task, extra, options):
    ann, config, x, y = task
    model_path, data_path = str(tmp_path / "ann.pt"), str(tmp_path / "calib.pt")
    out, png = str(tmp_path / "snn.pt"), str(tmp_path / "acc.png")
    save_ann(ann, model_path, "mlp", config)
    torch.save({"x": x[:300], "y": y[:300]}, data_path)
    rc = cli(["convert", model_path, "--calib", data_path, "--out", out, "--T", "16", "--eval-T", "8,32",
              "--plot", png, *extra])
    assert rc == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["summary"] == "convert" and set(lines[-1]["snn_accuracy"]) == {"8", "32"}
    assert os.path.getsize(png) > 1000 and not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    loaded = load_converted(out)
    conversion = C.convert_detailed(ann, x[:300], T=16, **options)
    expected = conversion.snn
    # the file holds the start "auto" chose, a number, which the reloaded network runs with
    assert lines[0]["v_init"] == conversion.options["v_init"] and isinstance(lines[0]["v_init"], float)
    xs = C.encode(x[:50], 24)
    with torch.no_grad():
        torch.testing.assert_close(loaded(xs), expected(xs))
    # the reported accuracy is the converted network's accuracy on those labelled samples
    assert lines[-1]["snn_accuracy"]["32"] == pytest.approx(C.accuracy_vs_T(expected, x[:300], y[:300], (32,))[32])


def test_cli_refuses_pickled_modules_and_bad_data(tmp_path, capsys, task):
    ann = task[0]
    pickled = str(tmp_path / "pickled.pt")
    torch.save(ann, pickled)  # a whole pickled module: would need weights_only=False
    assert cli(["convert", pickled, "--calib", "mnist1d", "--out", str(tmp_path / "o.pt")]) == 2
    assert "weights-only" in capsys.readouterr().err
    model_path = str(tmp_path / "ann.pt")
    save_ann(ann, model_path, "mlp", task[1])
    assert cli(["convert", model_path, "--calib", str(tmp_path / "missing.pt"), "--out", "o.pt"]) == 2
    assert "--calib" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'architecture' = 'nope'"):
        save_ann(ann, model_path, "nope", {})
    with pytest.raises(ValueError, match="do not fit architecture='mlp'"):
        save_ann(nn.Linear(3, 3), model_path, "mlp", task[1])
