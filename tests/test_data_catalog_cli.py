"""Catalogue, tiny samples, MNIST-1D generation and the `snnkit data` command."""
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

import snnkit.data as data
from snnkit.cli import main
from snnkit.data.catalog import catalog_path

REPO = Path(__file__).resolve().parents[1]


def test_catalog_entries_are_complete_and_loadable():
    catalog = data.load_catalog()
    assert set(catalog) == set(data.available())
    for name, info in catalog.items():
        for key in ("title", "kind", "licence", "classes", "prepare"):
            assert key in info, f"{name} lacks {key}"
        if info["kind"] == "recorded":
            assert info["files"] and all({"url", "place"} <= set(f) and ({"md5", "sha256"} & set(f))
                                         for f in info["files"])


def test_samples_are_small_real_format_and_match_their_checksums():
    samples = data.load_catalog()["synthetic_shd"]["sample_files"]
    total = 0
    for sample in samples:
        path = REPO / sample["path"]
        total += path.stat().st_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sample["sha256"]
        reader = data.HeidelbergFile(path)
        assert len(reader) > 0 and reader.events(0).size > 0
    assert total < 1_000_000
    ssc = data.HeidelbergFile(REPO / "datasets/samples/ssc_synthetic_small.h5")
    assert set(ssc.labels.tolist()) == set(range(35))


def test_mnist1d_is_generated_locally_and_presented_as_current(tmp_path):
    train = data.load("mnist1d", "train", root=tmp_path)
    valid = data.load("mnist1d", "valid", root=tmp_path)
    test = data.load("mnist1d", "test", root=tmp_path, encoding="sequence")
    assert (len(train), len(valid), len(test)) == (3600, 400, 1000)
    x, y = train[0]
    assert x.shape == (20, 40) and torch.equal(x[0], x[-1]) and 0 <= y < 10
    assert test[0][0].shape == (40, 1)
    # the same signals as the package's own generator with its default arguments
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()
    reference = make_dataset(get_dataset_args())
    np.random.set_state(state)
    np.testing.assert_allclose(test.signals.numpy(), reference["x_test"], rtol=1e-6)
    assert test.labels.tolist() == reference["y_test"].tolist()


def test_cli_list_and_prepare(tmp_path, capsys):
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "randman" in out and "shd" in out and "missing" in out
    assert main(["data", "prepare", "synthetic_shd", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "SyntheticSHD" / "shd_train.h5").is_file()
    assert main(["data", "prepare", "shd", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert str(tmp_path / "SHD" / "shd_train.h5") in out and "zenkelab.org" in out
    # a placed file is found and read; an archive with the wrong checksum is flagged
    data.write_synthetic_shd(tmp_path / "SHD" / "shd_train.h5", n=5)
    data.write_synthetic_shd(tmp_path / "SHD" / "shd_test.h5", n=5)
    (tmp_path / "SHD" / "shd_test.h5.zip").write_bytes(b"not the archive")
    assert main(["data", "prepare", "shd", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "5 samples" in out
    assert main(["data", "prepare", "nope"]) == 2
    assert catalog_path().is_file()
