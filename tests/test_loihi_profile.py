"""The Loihi limits come from hardware/loihi2.toml through snnkit.hardware.profiles, and an installed
wheel (no repository folder) still finds the copy shipped inside the package."""
from __future__ import annotations

import pytest

from snnkit.hardware import profiles
from snnkit.hardware.loihi import layer, load_profile


def test_limits_are_the_profile_values():
    prof = load_profile("loihi2")
    assert prof["kind"] == "loihi"
    assert layer.MAX_DELAY == prof["synapse"]["max_delay"]
    assert layer.CONV_ACC_BITS == prof["synapse"]["conv_accumulator_bits"]
    assert layer.BIAS_MANT_MAX == (1 << (prof["neuron"]["bias_mantissa_bits"] - 1)) - 1


def test_packaged_profile_is_found_without_the_repository_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(profiles, "_REPO_DIR", tmp_path / "no-hardware")
    monkeypatch.setenv("SNNKIT_HARDWARE_PATH", "")
    prof = load_profile("loihi2")
    assert prof["name"] == "loihi2"
    assert prof["synapse"]["max_delay"] == 62
    with pytest.raises(ValueError, match="not found"):
        load_profile("loihi9")


def test_profile_schema_refuses_bad_values(tmp_path):
    bad = tmp_path / "chip.toml"
    text = (layer.resources.files("snnkit.hardware.loihi") / "profiles" / "loihi2.toml").read_text()
    bad.write_text(text.replace("max_delay = 62", "max_delay = -3"))
    with pytest.raises(ValueError, match="max_delay"):
        load_profile(str(bad))
