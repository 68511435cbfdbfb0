"""The Loihi limits come from hardware/loihi2.toml through snnkit.hardware.profiles, and an installed
wheel (no repository folder) still finds the copy shipped inside the package."""
from __future__ import annotations

import pytest
import torch

import snnkit.synapses
from snnkit.hardware import loihi, profiles
from snnkit.hardware.loihi import layer, load_profile

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


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


def test_delay_range_check_uses_the_profile_limit(monkeypatch, tmp_path):
    # the oracle: the TOML file itself, read without snnkit's loader
    text = (layer.resources.files("snnkit.hardware.loihi") / "profiles" / "loihi2.toml").read_text()
    limit = tomllib.loads(text)["synapse"]["max_delay"]
    assert loihi.MAX_DELAY == limit
    delayed = snnkit.synapses.DelayedLinear(1, 2, max_delay=limit + 2)
    with torch.no_grad():
        delayed.delays.copy_(torch.tensor([[float(limit)], [limit + 1.0]]))
    rep = loihi.check_delay_range(delayed)
    assert (rep.max_allowed, rep.max_delay, rep.n_out_of_range) == (limit, limit + 1, 1)
    assert loihi.check_delay_range(torch.tensor([[0, limit]])).ok
    with pytest.raises(ValueError, match="out of range"):
        loihi.check_delay_range(delayed, strict=True)
    with pytest.raises(TypeError, match="integer_delays"):
        loihi.check_delay_range([[0, 1]])


def test_old_loihi_delay_constant_warns_and_reads_the_profile():
    for owner in (snnkit.synapses, snnkit.synapses.delays):
        with pytest.warns(DeprecationWarning, match=r"LOIHI2_MAX_DELAY is deprecated.*snnkit.hardware.loihi.MAX_DELAY"):
            assert owner.LOIHI2_MAX_DELAY == loihi.MAX_DELAY
