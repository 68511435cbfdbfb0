"""The deployment steps of `snnkit demo` / `snnkit export`: NIR round trip, Loihi 2 and crossbar,
checked against the float model they deploy."""
import torch

from snnkit import models
from snnkit.cli.deploy import run_steps
from snnkit.hardware.loihi import quantize_for_loihi
from snnkit.training import predict


def _model_and_data():
    torch.manual_seed(3)
    model = models.create("mlp", spiking=True, in_features=20, num_classes=4, hidden=32, reset="hard").eval()
    with torch.no_grad():
        model[0].weight.mul_(4)
    x = (torch.rand(30, 64, 20) < 0.2).float()
    with torch.no_grad():
        y = predict(model(x), "ce_max_membrane")   # labels = the float model's own answers
    return model, x, y


def test_run_steps_deploys_to_every_backend(tmp_path):
    model, x, y = _model_and_data()
    lines = []
    res = run_steps(model, x, y, tmp_path, lambda out: predict(out, "ce_max_membrane"), say=lines.append)
    assert res["nir"]["round_trip_max_abs_diff"] == 0.0 and res["nir"]["accuracy"] == 1.0
    assert res["loihi"]["float_accuracy"] == 1.0          # same decoding as the trainer's predict
    assert res["loihi"]["accuracy"] >= 0.8                 # 8-bit weights change few answers
    assert (tmp_path / "network.net").exists() and (tmp_path / "crossbar_drift.png").exists()
    table = res["crossbar"]["table"]
    assert table["digital"] == 1.0 and len(table["compensated"]) == len(table["times_s"])
    assert len(lines) == 4


def test_quantizer_trades_weight_precision_for_range_on_leaky_readouts():
    # 256 inputs of similar weight into a slow LI (tau 100 steps): the worst-case membrane needs
    # 254 * 64 * 256 / (1 - beta) >> 2^23 at full 8-bit precision
    model = models.create("mlp", spiking=True, in_features=20, num_classes=4, hidden=256, reset="hard",
                          tau_out=100.0)
    with torch.no_grad():
        model[2].weight.uniform_(0.5, 1.0)
    net = quantize_for_loihi(model)
    last = net.report[-1]
    assert last["weight_exp"] == 0 and last["weight_rel_error"] < 0.1
