"""Readers of SHD/SSC HDF5 files, TOML configs and hardware profiles validate declared sizes, types
and ranges before allocating, and name the file, the field, the value and what is allowed."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from snnkit.cli.cmd_train import load_config
from snnkit.data import DatasetFileError, HeidelbergFile
from snnkit.errors import InvalidFileError, SizeLimitError
from snnkit.hardware import profiles


def _shd(path, n=3, times_shape=None, labels_dtype="uint16"):
    with h5py.File(path, "w") as f:
        f.create_dataset("labels", data=np.arange(n) % 2, dtype=labels_dtype)
        vt, vu = h5py.vlen_dtype(np.float16), h5py.vlen_dtype(np.uint16)
        if times_shape is None:
            t = f.create_dataset("spikes/times", (n,), dtype=vt)
            u = f.create_dataset("spikes/units", (n,), dtype=vu)
            for i in range(n):
                t[i], u[i] = np.array([0.1, 0.2], np.float16), np.array([1, 2], np.uint16)
        else:
            f.create_dataset("spikes/times", times_shape, dtype="f4", chunks=True, compression="gzip")
            f.create_dataset("spikes/units", times_shape, dtype="i2", chunks=True, compression="gzip")
    return path


def test_shd_file_declaring_terabytes_is_refused_before_reading(tmp_path):
    # 3 samples x 10^11 events each: a few kB on disk (gzip of nothing), 1.2 TB if read
    path = _shd(tmp_path / "shd_train.h5", times_shape=(3, 10**11))
    with pytest.raises(SizeLimitError, match="max_events") as info:
        HeidelbergFile(path)
    assert isinstance(info.value, DatasetFileError) and info.value.field == "spikes/times.shape"
    assert str(path) in str(info.value)


def test_shd_sample_count_cap_and_dtype_are_checked(tmp_path):
    path = _shd(tmp_path / "shd_train.h5", n=5)
    assert len(HeidelbergFile(path)) == 5
    with pytest.raises(SizeLimitError, match="max_samples=4"):
        HeidelbergFile(path, max_samples=4)
    bad = _shd(tmp_path / "float_labels.h5", labels_dtype="f4")
    with pytest.raises(DatasetFileError, match="'labels'.*integer"):
        HeidelbergFile(bad)


@pytest.mark.parametrize("line, message", [
    ("[model]\nname='mlp'\nhidden=1000000\n[data]\nname='randman'\n", r"model.hidden=1000000 is not allowed"),
    ("[model]\nname='mlp'\nsteps=0\n[data]\nname='randman'\n", r"model.steps=0 is not allowed; allowed: an integer in \[1,"),
    ("[model]\nname='mlp'\n[data]\nname='randman'\n[trainer]\nlr=nan\n", r"trainer.lr=nan must be a finite number > 0"),
    ("[model]\nname='mlp'\n[data]\nname='randman'\n[trainer]\nbatch_size=1e20\n", r"trainer.batch_size"),
    ("[model]\nname='mlp'\n[data]\nname='randman'\n[trainer]\ndevice='tpu:7'\n", r"trainer.device='tpu:7'"),
    ("[model]\nname='mlp'\n[data]\nname='randman'\nsamples_per_class=1000000000\n", r"data.samples_per_class"),
])
def test_config_ranges_are_checked(tmp_path, line, message):
    path = tmp_path / "c.toml"
    path.write_text(line)
    with pytest.raises(InvalidFileError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_config_that_is_not_text_or_too_big(tmp_path):
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xff\xfe[model]\x00")
    with pytest.raises(InvalidFileError, match="not valid TOML"):
        load_config(path)
    path.write_bytes(b"#" * (2 << 20))
    with pytest.raises(SizeLimitError, match="size"):
        load_config(path)


@pytest.mark.parametrize("body, message", [
    ("rows = 100000000000", r"'tile.rows'=100000000000 is not allowed"),
    ("rows = 'many'", r"'tile.rows'='many' has type str"),
])
def test_profile_values_are_checked(tmp_path, body, message):
    path = tmp_path / "p.toml"
    path.write_text(f"kind = 'crossbar'\nname = 'x'\n[device]\nmodel = 'pcm'\ng_max = 25.0\n[tile]\n{body}\n")
    with pytest.raises(profiles.ProfileError, match=message) as info:
        profiles.load(path)
    assert isinstance(info.value, InvalidFileError)
    path.write_bytes(b"\xff" * 10)
    with pytest.raises(InvalidFileError, match="not valid TOML"):
        profiles.load(path)
