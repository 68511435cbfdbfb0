"""``snnkit compare`` trains both forms on one split and reports a row per form with consistent costs."""
import json

from snnkit import analysis, models
from snnkit.cli import main


def test_compare_cli_writes_table_and_json(tmp_path, capsys):
    out, md = tmp_path / "cmp.json", tmp_path / "cmp.md"
    rc = main(["compare", "mlp", "--data", "randman", "--epochs", "1", "--no-progress", "--config", "hidden=16",
               "--data-option", "classes=3", "--data-option", "channels=8", "--data-option", "steps=10",
               "--data-option", "samples_per_class=10", "--data-option", "eval_samples_per_class=5",
               "--json", str(out), "--markdown", str(md), "--threads", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "spiking" in text and "ann" in text
    rows = json.loads(out.read_text())
    assert [r["form"] for r in rows] == ["spiking", "ann"]
    snn, ann = rows
    assert ann["acs"] == 0 and ann["macs"] > 0          # the ANN is costed as dense MACs
    for r in rows:                                     # energy follows the documented per-op figures
        expected = (r["macs"] * analysis.E_MAC_PJ + r["acs"] * analysis.E_AC_PJ) * 1e-6
        assert abs(r["energy_uj"] - expected) <= 1e-9 * max(1.0, expected)
        assert 0.0 <= r["accuracy"] <= 1.0
    table = [line.split("|")[1:-1] for line in md.read_text().splitlines() if line.startswith("| mlp")]
    assert [(c[1].strip(), int(c[3])) for c in table] == [(r["form"], r["params"]) for r in rows]
    spec = models.create("mlp", spiking=True, **snn["config"])
    assert sum(p.numel() for p in spec.parameters()) == snn["params"]


def test_compare_rejects_unknown_model(capsys):
    assert main(["compare", "no_such_model", "--data", "randman", "--epochs", "0", "--no-progress",
                 "--data-option", "samples_per_class=2", "--data-option", "eval_samples_per_class=2"]) == 2
    assert "unknown model name" in capsys.readouterr().err


def test_compare_of_an_ann_only_baseline_says_it_is_no_twin(capsys):
    assert main(["compare", "campp", "--data", "randman", "--epochs", "0", "--threads", "1",
                 "--data-option", "classes=3", "--data-option", "samples_per_class=4",
                 "--data-option", "eval_samples_per_class=2"]) == 0
    out = capsys.readouterr().out
    assert "ANN twin of campp" not in out and "campp: ANN-only baseline" in out
