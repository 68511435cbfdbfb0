"""Every config in ``examples/configs`` runs the README's path end to end: ``snnkit train`` (writes the
checkpoint, ``config.toml``, history and learning curve), ``snnkit evaluate`` (the rebuilt model measures
what training measured) and ``snnkit export --to nir --to loihi --to crossbar`` (NIR re-imports with the
same outputs; the Loihi fixed-point run stays near the float model). Shortened to one epoch."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from snnkit.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.toml"))


def _one_epoch(src: Path, dst: Path) -> Path:
    text = src.read_text()
    cfg = tomllib.loads(text)
    old = f"epochs = {cfg['trainer']['epochs']}"
    assert old in text, f"{src.name}: write 'epochs = N' in [trainer]"
    dst.write_text(text.replace(old, "epochs = 1", 1))
    return dst


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_config_trains_evaluates_and_exports_to_every_backend(config: Path, tmp_path: Path, capsys) -> None:
    assert CONFIGS, "examples/configs holds no config"
    out = tmp_path / "run"
    assert main(["train", str(_one_epoch(config, tmp_path / config.name)), "--out", str(out),
                 "--no-progress"]) == 0
    for name in ("last.pt", "best.pt", "config.toml", "history.json", "learning_curve.png"):
        assert (out / name).is_file(), f"snnkit train did not write {name}"
    trained = json.loads((out / "history.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "last.pt"), "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["accuracy"] == pytest.approx(trained["test"]["accuracy"])
    assert all(not k.isdigit() for k in ev["rates"]), f"firing rates keyed by module index: {list(ev['rates'])}"
    assert main(["export", str(out / "last.pt"), "--to", "nir", "--to", "loihi", "--to", "crossbar",
                 "--max-samples", "64", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["nir"]["round_trip_max_abs_diff"] == 0.0
    assert Path(res["nir"]["path"]).is_file() and Path(res["loihi"]["path"]).is_file()
    assert abs(res["loihi"]["accuracy_drop"]) <= 0.1
    assert Path(res["crossbar"]["path"]).is_file()
    # the same checkpoint written for a peer and run by that peer's own importer
    assert main(["export", str(out / "last.pt"), "--to", "nir", "--nir-target", "norse", "--out",
                 str(tmp_path / "norse"), "--max-samples", "64", "--json"]) == 0
    peer = json.loads(capsys.readouterr().out)["nir"]
    assert peer["target"] == "norse" and peer["round_trip_max_abs_diff"] < 1e-4
    assert peer["accuracy"] == pytest.approx(res["nir"]["accuracy"])
