"""Untrusted files never run code, never choose paths or downloads, and never allocate without a cap.

Each test is named after the attack it replays (from the probe in issue 19). The oracle for "no code
ran" is a canary file the payload would create; for "no path chosen" it is the folder the file named,
which must stay absent.
"""
from __future__ import annotations

import os
import sys
import zipfile

import pytest
import torch

from snnkit.cli import main as cli
from snnkit.conversion.architectures import mlp
from snnkit.conversion.serialization import ANN_FORMAT, load_ann, load_converted, save_ann
from snnkit.errors import InvalidFileError, SizeLimitError
from snnkit.training import load_checkpoint, save_checkpoint

CANARY_MODULE = "snnkit_canary_builder"


@pytest.fixture
def canary(tmp_path, monkeypatch):
    """A module on sys.path whose builder creates a canary file: if it is ever imported and called, code ran."""
    flag = tmp_path / "canary-was-created"
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / f"{CANARY_MODULE}.py").write_text(
        "import pathlib\n"
        f"FLAG = pathlib.Path({str(flag)!r})\n"
        "def build(**config):\n"
        "    FLAG.write_text('ran')\n"
        "    from snnkit.conversion.architectures import mlp\n"
        "    return mlp(**config)\n")
    monkeypatch.syspath_prepend(str(mod_dir))
    sys.modules.pop(CANARY_MODULE, None)
    yield flag
    sys.modules.pop(CANARY_MODULE, None)


def _ann_file(path, architecture, config=None):
    weights = mlp(in_features=6, hidden=[5], num_classes=3).state_dict()
    config = config or {"in_features": 6, "hidden": [5], "num_classes": 3}
    torch.save({"format": ANN_FORMAT, "architecture": architecture, "config": config,
                "state_dict": weights}, path)
    return str(path)


def test_checkpoint_architecture_cannot_name_code(tmp_path, canary):
    path = _ann_file(tmp_path / "evil.pt", f"{CANARY_MODULE}:build")
    with pytest.raises(InvalidFileError, match="architecture") as info:
        load_ann(path)
    assert info.value.field == "architecture" and "builder" in info.value.allowed
    assert not canary.exists()


def test_architecture_shell_command_is_not_run_by_convert(tmp_path, capsys):
    flag = tmp_path / "shell-ran"
    path = _ann_file(tmp_path / "evil.pt", "subprocess:getoutput", {"cmd": f"touch {flag}"})
    assert cli(["convert", path, "--calib", "mnist1d", "--out", str(tmp_path / "o.pt")]) == 2
    err = capsys.readouterr().err
    assert "architecture" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not flag.exists()


def test_converted_model_architecture_cannot_name_code(tmp_path, canary):
    torch.save({"format": "snnkit.converted/1", "architecture": f"{CANARY_MODULE}:build",
                "config": {}, "options": {"T": 4}, "input_shape": [6], "state_dict": {}}, tmp_path / "snn.pt")
    with pytest.raises(InvalidFileError, match="architecture"):
        load_converted(str(tmp_path / "snn.pt"))
    assert not canary.exists()


def test_explicit_builder_from_the_caller_is_used(tmp_path, canary):
    """The same builder named by the CALLER (not the file) is imported: that is the documented way."""
    config = {"in_features": 6, "hidden": [5], "num_classes": 3}
    model = mlp(**config)
    path = str(tmp_path / "own.pt")
    save_ann(model, path, "my-own-net", config, builder=f"{CANARY_MODULE}:build")
    canary.unlink()
    with pytest.raises(InvalidFileError):
        load_ann(path)  # the name alone is not enough
    assert not canary.exists()
    loaded = load_ann(path, builder=f"{CANARY_MODULE}:build")
    assert canary.exists()
    x = torch.randn(4, 6)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_config_cannot_ask_for_a_huge_architecture(tmp_path):
    path = _ann_file(tmp_path / "big.pt", "mlp")
    blob = torch.load(path, weights_only=True)
    blob["config"]["hidden"] = [10**6, 10**6]
    torch.save(blob, path)
    with pytest.raises(SizeLimitError, match="max_parameters"):
        load_ann(path)


def test_bit_flipped_model_file_is_refused(tmp_path):
    config = {"in_features": 6, "hidden": [5], "num_classes": 3}
    path = str(tmp_path / "ann.pt")
    save_ann(mlp(**config), path, "mlp", config)
    load_ann(path)  # intact: loads
    _flip_tensor_bit(path)
    with pytest.raises(InvalidFileError, match="sha256"):
        load_ann(path)


def _flip_tensor_bit(path) -> None:
    """Flip one bit inside the first tensor record of a torch zip file (the container stays valid)."""
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if "/data/" in i.filename and i.file_size >= 4)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        start = info.header_offset + 30 + name_len + extra_len
        f.seek(start)
        byte = f.read(1)[0]
        f.seek(start)
        f.write(bytes([byte ^ 0x10]))


def test_bit_flipped_checkpoint_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": {"state_dict": {"w": torch.arange(16.0)}}})
    assert load_checkpoint(path)["model"]["state_dict"]["w"][3] == 3.0
    _flip_tensor_bit(path)
    with pytest.raises(InvalidFileError, match="sha256"):
        load_checkpoint(path)


def test_small_file_cannot_inflate(tmp_path):
    """A deflate-compressed record (torch.save never compresses) declaring 400 MB from a tiny file."""
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"state_dict": {"w": torch.zeros(4)}}})
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("good/data/99", b"\0" * (400 * 2**20))
    assert os.path.getsize(bomb) < 2**20
    with pytest.raises(SizeLimitError, match="records"):
        load_checkpoint(bomb)
    with pytest.raises(SizeLimitError):
        load_checkpoint(good, max_bytes=16)  # the cap is the caller's to set


def test_pickled_payload_in_checkpoint_is_refused(tmp_path):
    flag = tmp_path / "pickle-ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {flag}",))

    torch.save({"format": "snnkit-checkpoint", "evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InvalidFileError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not flag.exists()


def _checkpoint_with_data(path, data_entry, in_features, steps):
    from snnkit import models
    from snnkit.training import TrainerConfig
    model = models.create("mlp", spiking=True, in_features=in_features, num_classes=20, steps=steps, hidden=8)
    save_checkpoint(path, {"data": data_entry,
                           "model": {**models.spec(model), "state_dict": model.state_dict()},
                           "position": {"epoch": 1, "batch_index": 0, "global_step": 1, "seed": 0},
                           "trainer": {"config": TrainerConfig(progress=False).to_dict()}})


def test_checkpoint_cannot_choose_data_root_or_download(tmp_path, monkeypatch, capsys):
    from snnkit import data
    from snnkit.data import builders

    downloads = []
    real_open = builders.open_tonic_dataset if hasattr(builders, "open_tonic_dataset") else None

    def spy(cls, root, download, **kw):
        downloads.append(download)
        assert not download, "a download was attempted because the checkpoint asked for it"
        return real_open(cls, root, download, **kw)

    if real_open is not None:
        monkeypatch.setattr(builders, "open_tonic_dataset", spy)
    chosen_by_file = tmp_path / "chosen-by-the-file"
    mine = tmp_path / "my-data"
    x, _ = data.load("synthetic_shd", "test", root=mine, n_train=8, n_test=8)[0]
    ckpt = tmp_path / "evil.pt"
    entry = {"name": "synthetic_shd", "root": str(chosen_by_file), "download": True, "cache": True,
             "n_train": 8, "n_test": 8}
    _checkpoint_with_data(ckpt, entry, x.shape[-1], x.shape[0])
    assert cli(["evaluate", str(ckpt), "--json", "--data-root", str(mine)]) == 0
    assert not chosen_by_file.exists()  # no folder, no dataset files, no cache where the file said
    assert not (mine / "cache").exists()  # caching is the caller's choice (--cache), not the file's
    capsys.readouterr()
    # a recorded dataset that is missing: the file's download=True is not honoured, a clear error instead
    _checkpoint_with_data(ckpt, {**entry, "name": "shd"}, x.shape[-1], x.shape[0])
    empty = tmp_path / "empty"
    assert cli(["evaluate", str(ckpt), "--data-root", str(empty)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not chosen_by_file.exists() and True not in downloads
    assert cli(["export", str(ckpt), "--to", "nir", "--data-root", str(empty), "--out", str(tmp_path / "x")]) == 2
    assert not chosen_by_file.exists() and True not in downloads


@pytest.mark.parametrize("field, value, message", [
    ("model", {"name": "mlp", "config": {"hidden": 10**6, "in_features": 4, "num_classes": 2, "steps": 5}},
     r"model.hidden=1000000 is not allowed"),
    ("model", {"name": "subprocess:getoutput", "config": {}}, r"model.name"),
    ("model", {"name": "mlp", "config": {"in_features": 4, "num_classes": 2, "steps": 0}}, r"model.steps=0"),
    ("data", {"name": "randman", "samples_per_class": 10**9}, r"data.samples_per_class=1000000000"),
    ("data", {"name": "../../etc"}, r"data.name='../../etc' is not allowed"),
])
def test_checkpoint_model_and_data_entries_are_checked(tmp_path, capsys, field, value, message):
    path = tmp_path / "c.pt"
    _checkpoint_with_data(path, {"name": "randman", "classes": 2, "channels": 4, "steps": 5}, 4, 5)
    ckpt = load_checkpoint(path)
    ckpt[field] = value if field == "data" else {**value, "spiking": True, "state_dict": {}}
    del ckpt["sha256"]
    save_checkpoint(path, {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    assert cli(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    import re
    assert re.search(message, err), err


def test_convert_cli_takes_the_builder_from_the_command_line(tmp_path, canary, capsys):
    config = {"in_features": 6, "hidden": [5], "num_classes": 3}
    path = str(tmp_path / "own.pt")
    save_ann(mlp(**config), path, "my-own-net", config, builder=f"{CANARY_MODULE}:build")
    canary.unlink()
    torch.save(torch.randn(32, 6), tmp_path / "calib.pt")
    out = str(tmp_path / "snn.pt")
    assert cli(["convert", path, "--calib", str(tmp_path / "calib.pt"), "--out", out, "--T", "4"]) == 2
    assert "--architecture-builder" in capsys.readouterr().err and not canary.exists()
    assert cli(["convert", path, "--calib", str(tmp_path / "calib.pt"), "--out", out, "--T", "4",
                "--architecture-builder", f"{CANARY_MODULE}:build"]) == 0
    assert canary.exists()  # the user's own builder ran because the USER named it
    with pytest.raises(InvalidFileError, match="architecture"):
        load_converted(out)  # and loading the converted file needs it again
    assert load_converted(out, builder=f"{CANARY_MODULE}:build") is not None
