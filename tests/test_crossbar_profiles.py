"""Crossbar profiles: lookup by name and path, validation errors naming the key, packaged copies."""
from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from snnkit.hardware import profiles
from snnkit.hardware.crossbar import CrossbarConfig, IdealDevice, LevelDevice, PCMDevice

REPO_HARDWARE = Path(__file__).resolve().parents[1] / "hardware"
PACKAGED = Path(profiles.__file__).resolve().parent / "crossbar" / "profiles"


@pytest.mark.parametrize("name,cls", [("pcm", PCMDevice), ("rram", LevelDevice), ("ideal", IdealDevice)])
def test_load_by_name_and_path(name, cls):
    by_name = profiles.load(name)
    by_path = profiles.load(REPO_HARDWARE / f"{name}.toml")
    assert by_name == by_path
    assert by_name["kind"] == "crossbar" and by_name["name"] == name
    assert isinstance(CrossbarConfig.from_profile(name).device, cls)


def test_pcm_profile_has_published_statistics():
    p = profiles.load("pcm")
    assert p["device"]["prog_coeff"] == [0.26348, 1.9650, -1.1731]
    assert (p["device"]["g_max"], p["device"]["t0"], p["device"]["t_read"]) == (25.0, 20.0, 250e-9)
    per = p["periphery"]
    assert (per["dac_bits"], per["adc_bits"], per["out_bound"], per["out_noise"]) == (7, 9, 12.0, 0.06)
    assert (p["tile"]["rows"], p["tile"]["cols"]) == (512, 512)


def test_packaged_copies_match_repository_files():
    # Wheel installs read the packaged copies; they must be the repository's files.
    for name in ("pcm", "rram", "ideal"):
        assert filecmp.cmp(PACKAGED / f"{name}.toml", REPO_HARDWARE / f"{name}.toml", shallow=False)


def test_search_path_env(tmp_path, monkeypatch):
    text = (REPO_HARDWARE / "pcm.toml").read_text().replace('name = "pcm"', 'name = "mychip"')
    (tmp_path / "mychip.toml").write_text(text)
    monkeypatch.setenv("SNNKIT_HARDWARE_PATH", str(tmp_path))
    assert profiles.load("mychip")["name"] == "mychip"
    assert "mychip" in profiles.available()


@pytest.mark.parametrize("section,key,value,needle", [
    ("device", "g_max", -1.0, "'device.g_max'"),
    ("device", "model", "memristor", "'device.model'"),
    ("periphery", "adc_bits", 2.5, "'periphery.adc_bits'"),
    ("periphery", "adc_bitz", 8, "'periphery.adc_bitz'"),
    ("device", "stuck_off_fraction", 1.5, "'device.stuck_off_fraction'"),
    ("tile", "rows", 0, "'tile.rows'"),
])
def test_validation_errors_name_the_key(section, key, value, needle):
    data = profiles.load("pcm")
    data[section][key] = value
    with pytest.raises(ValueError, match=needle.replace(".", r"\.")):
        profiles.validate(data)


def test_missing_required_and_bad_files(tmp_path):
    data = profiles.load("pcm")
    del data["device"]["model"]
    with pytest.raises(ValueError, match="'device.model' is required"):
        profiles.validate(data)
    with pytest.raises(ValueError, match="not found"):
        profiles.load("no_such_chip")
    bad = tmp_path / "bad.toml"
    bad.write_text("kind = 'crossbar'\nname = [\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        profiles.load(bad)
    with pytest.raises(ValueError, match=r"'periphery\.out_noise'"):
        CrossbarConfig.from_profile("pcm", overrides={"periphery.out_noise": -1.0})
