"""N-MNIST, DVS Gesture and N-TIDIGITS through tonic: tiny files in each real format, binned frames
checked against hand binning of the events we wrote."""
import h5py
import numpy as np
import pytest
import torch

import snnkit.data as data

pytest.importorskip("tonic")


def _write_nmnist_bin(path, x, y, p, t):
    """N-MNIST's 40-bit records: x, y, polarity bit + 23-bit microsecond time (Orchard et al.)."""
    raw = np.zeros((len(x), 5), dtype=np.uint8)
    raw[:, 0], raw[:, 1] = x, y
    raw[:, 2] = (np.asarray(p) << 7) | ((np.asarray(t) >> 16) & 0x7F)
    raw[:, 3], raw[:, 4] = (np.asarray(t) >> 8) & 0xFF, np.asarray(t) & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def test_nmnist_bins_events_by_hand(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for digit in range(3):
        for k in range(2):
            n = 40
            ev = (rng.integers(0, 34, n), rng.integers(0, 34, n), rng.integers(0, 2, n), np.sort(rng.integers(0, 300_000, n)))
            _write_nmnist_bin(tmp_path / "NMNIST" / "Test" / str(digit) / f"{k:05d}.bin", *ev)
            written[(digit, k)] = ev
    ds = data.load("nmnist", "test", root=tmp_path, dt=0.05, duration=0.3)
    assert len(ds) == 6
    for i, (digit, k) in enumerate(sorted(written)):
        x_, y_, p_, t_ = written[(digit, k)]
        expected = torch.zeros(6, 2, 34, 34)
        for xx, yy, pp, tt in zip(x_, y_, p_, t_):
            expected[tt // 50_000, pp, yy, xx] += 1
        frames, label = ds[i]
        assert label == digit and torch.equal(frames, expected)
    pooled = data.load("nmnist", "test", root=tmp_path, dt=0.05, duration=0.3, pool=2)
    assert torch.equal(pooled[0][0], ds[0][0].reshape(6, 2, 17, 2, 17, 2).sum((3, 5)))


def test_dvsgesture_bins_events_by_hand(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "DVSGesture" / "ibmGestureTest" / "user24_led"
    folder.mkdir(parents=True)
    events = {}
    for label in (0, 4):
        n = 50
        rows = np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n),
                         np.sort(rng.integers(0, 1500, n))], axis=1)  # (x, y, p, t in ms)
        np.save(folder / f"{label}.npy", rows)
        events[label] = rows
    ds = data.load("dvsgesture", "test", root=tmp_path)  # defaults: dt 50 ms, 1.5 s, pool 4
    assert len(ds) == 2
    for i in range(len(ds)):
        frames, label = ds[i]
        expected = torch.zeros(30, 2, 32, 32)
        for x, y, p, t in events[label]:
            expected[t // 50, p, y // 4, x // 4] += 1
        assert torch.equal(frames, expected)


def test_ntidigits_single_digits_by_hand(tmp_path):
    path = tmp_path / "NTIDIGITS18" / "n-tidigits.hdf5"
    path.parent.mkdir()
    rng = np.random.default_rng(2)
    ids = ["man-ab-1", "woman-cd-z", "man-ef-o", "man-gh-12"]  # the last is a two-digit sample
    with h5py.File(path, "w") as f:
        f["test_labels"] = np.array([s.encode() for s in ids])
        for name in ("train_labels",):
            f[name] = np.array([s.encode() for s in ids[:1]])
        addresses, stamps = f.create_group("test_addresses"), f.create_group("test_timestamps")
        written = {}
        for sid in ids:
            n = 30
            written[sid] = (rng.integers(0, 64, n), np.sort(rng.uniform(0, 0.9, n)))
            addresses[sid], stamps[sid] = written[sid]
    ds = data.load("ntidigits", "test", root=tmp_path, dt=0.1, duration=1.0)
    assert len(ds) == 3  # single digits only
    for i, (sid, label) in enumerate([("man-ab-1", 1), ("woman-cd-z", 10), ("man-ef-o", 0)]):
        frames, got = ds[i]
        expected = torch.zeros(10, 64)
        for ch, t in zip(*written[sid]):
            expected[int(t * 1e6) // 100_000, ch] += 1
        assert got == label and torch.equal(frames, expected)


@pytest.mark.parametrize("name,folder", [("nmnist", "NMNIST"), ("dvsgesture", "DVSGesture"), ("ntidigits", "NTIDIGITS18")])
def test_missing_recordings_name_the_place_and_url(tmp_path, name, folder):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load(name, "train", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / folder) in message and "http" in message and "md5" in message
