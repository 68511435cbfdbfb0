"""SHD/SSC HDF5 files: our reader against tonic's reader, binning against tonic.ToFrame, bad files."""
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import snnkit.data as data
from snnkit.data.heidelberg import HeidelbergFile

tonic = pytest.importorskip("tonic")


@pytest.fixture(scope="module")
def shd_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shd")
    data.write_synthetic_shd(root / "SHD" / "shd_train.h5", n=30, seed=1)
    data.write_synthetic_shd(root / "SHD" / "shd_test.h5", n=12, seed=2)
    return root


def test_synthetic_file_has_the_published_layout(shd_root):
    with h5py.File(shd_root / "SHD" / "shd_train.h5", "r") as f:
        assert set(f) >= {"spikes", "labels", "extra"}
        assert f["spikes/times"].dtype.metadata["vlen"] == np.float16
        assert f["spikes/units"].dtype.metadata["vlen"] == np.uint16
        assert len(f["spikes/times"]) == len(f["spikes/units"]) == len(f["labels"]) == 30
        assert max(u.max() for u in f["spikes/units"]) < 700
        assert set(f["labels"][()].tolist()) <= set(range(20))


def test_reader_agrees_with_tonic_reader(shd_root):
    ours = HeidelbergFile(shd_root / "SHD" / "shd_test.h5")
    # tonic's own SHD class wants the downloaded zip beside the .h5; an empty stand-in satisfies it
    (shd_root / "SHD" / "shd_test.h5.zip").touch()
    theirs = tonic.datasets.SHD(save_to=str(shd_root), train=False)
    assert len(theirs) == len(ours) == 12
    for i in range(len(ours)):
        events, label = theirs[i]
        mine = ours.events(i)
        assert label == ours.label(i)
        np.testing.assert_array_equal(mine["x"], events["x"])
        # tonic truncates microseconds to integers; ours keeps the float
        assert np.all(np.abs(mine["t"] - events["t"]) < 1.0)


@pytest.mark.parametrize("backend", ["snnkit", "tonic"])
def test_binned_frames_agree_with_tonic_toframe(shd_root, backend):
    ds = data.load("shd", split="test", root=shd_root, dt=0.02, duration=1.0, backend=backend)
    ours = HeidelbergFile(shd_root / "SHD" / "shd_test.h5")
    to_frame = tonic.transforms.ToFrame(sensor_size=(700, 1, 1), time_window=20000, start_time=0, end_time=1e6)
    for i in range(len(ds)):
        x, label = ds[i]
        events = ours.events(i)
        events_int = np.zeros(events.size, dtype=[("t", int), ("x", int), ("p", int)])
        events_int["t"], events_int["x"] = events["t"].astype(int), events["x"]
        expected = to_frame(events_int)[:, 0, :]  # tonic: [T, P, W] for audio
        assert x.shape == (50, 700) and label == ours.label(i)
        np.testing.assert_array_equal(x.numpy(), expected)


def test_pooling_cropping_binning_by_hand():
    events = np.zeros(6, dtype=[("t", np.float64), ("x", np.int64), ("p", np.int64)])
    events["t"] = [0.0, 9_999.0, 10_000.0, 25_000.0, 30_000.0, 5_000.0]
    events["x"] = [0, 4, 5, 699, 3, 4]
    pooled = data.PoolChannels(5)(events)
    assert pooled["x"].tolist() == [0, 0, 1, 139, 0, 0]
    frames = data.ToFrames((140, 1, 1), bin_us=10_000, n_bins=3)(pooled)
    expected = torch.zeros(3, 140)
    expected[0, 0] = 3  # t = 0, 9999, 5000 in bin 0, channels 0, 4, 4 -> group 0
    expected[1, 1] = 1  # t = 10000, channel 5 -> group 1
    expected[2, 139] = 1  # t = 25000; t = 30000 is past the last bin and dropped
    assert torch.equal(frames, expected)
    cropped = data.CropTime(start_us=5_000, stop_us=26_000)(events)
    assert sorted(cropped["t"].tolist()) == [0.0, 4_999.0, 5_000.0, 20_000.0]
    window = data.CropSensor(x0=4, width=2)(events)
    assert sorted(window["x"].tolist()) == [0, 0, 1]


def test_camera_frames_by_hand():
    events = np.zeros(3, dtype=[("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
    events["x"], events["y"], events["p"], events["t"] = [1, 3, 3], [2, 0, 0], [True, False, False], [0, 10, 1500]
    frames = data.ToFrames((4, 3, 2), bin_us=1000, n_bins=2)(events)
    assert frames.shape == (2, 2, 3, 4)
    assert frames[0, 1, 2, 1] == 1 and frames[0, 0, 0, 3] == 1 and frames[1, 0, 0, 3] == 1
    assert frames.sum() == 3
    pooled = data.PoolChannels(2, 2)
    assert pooled.sensor_size((34, 34, 2)) == (17, 17, 2)


def test_valid_split_is_carved_from_train_disjointly(shd_root):
    train = data.load("shd", "train", root=shd_root, valid_fraction=0.2)
    valid = data.load("shd", "valid", root=shd_root, valid_fraction=0.2)
    assert len(train) + len(valid) == 30 and len(valid) == 6
    assert set(train.indices.tolist()).isdisjoint(valid.indices.tolist())


def test_pool_option_700_to_140(shd_root):
    full = data.load("shd", "test", root=shd_root)
    pooled = data.load("shd", "test", root=shd_root, pool=5)
    x, _ = full[0]
    p, _ = pooled[0]
    assert p.shape == (100, 140)
    assert torch.equal(p, x.reshape(100, 140, 5).sum(-1))


def test_cache_is_written_atomically_and_matches(shd_root, tmp_path):
    plain = data.load("shd", "test", root=shd_root, pool=5)
    cached = data.load("shd", "test", root=shd_root, pool=5, cache=True)
    files = list((shd_root / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and not files[0].name.startswith(".")
    again = data.load("shd", "test", root=shd_root, pool=5, cache=True)  # read from the cache file
    for i in range(len(plain)):
        assert torch.equal(plain[i][0], cached[i][0]) and plain[i][1] == cached[i][1]
        assert torch.equal(plain[i][0], again[i][0])
    with pytest.raises(ValueError, match="random"):
        data.load("shd", "test", root=shd_root, time_jitter=0.001, cache=True)


def test_time_jitter_statistics():
    events = np.zeros(20000, dtype=[("t", np.float64), ("x", np.int64), ("p", np.int64)])
    events["t"] = 1e6
    jittered = data.TimeJitter(std_us=100.0, seed=0)(events)
    # mean within 5 standard errors, std within 5 %
    assert abs(jittered["t"].mean() - 1e6) < 5 * 100 / np.sqrt(20000)
    assert abs(jittered["t"].std() - 100.0) < 5.0
    assert np.all(np.diff(jittered["t"]) >= 0)


def test_truncated_file_gives_clear_error(tmp_path):
    path = data.write_synthetic_shd(tmp_path / "shd_train.h5", n=10)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(data.DatasetFileError, match=r"shd_train\.h5.*(truncated|cannot be opened)"):
        HeidelbergFile(path)


def test_garbage_and_wrong_layout_files_are_named(tmp_path):
    garbage = tmp_path / "SHD" / "shd_train.h5"
    garbage.parent.mkdir()
    garbage.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(data.DatasetFileError, match="shd_train.h5"):
        data.load("shd", root=tmp_path)
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f["labels"] = np.zeros(3, dtype=np.uint16)
    with pytest.raises(data.DatasetFileError, match=r"missing dataset\(s\) \['spikes/times', 'spikes/units'\]"):
        HeidelbergFile(wrong)
    bad_units = tmp_path / "bad_units.h5"
    data.write_synthetic_shd(bad_units, n=2, channels=800)
    reader = HeidelbergFile(bad_units)  # file-level checks pass; the sample check catches ids >= 700
    with pytest.raises(data.DatasetFileError, match="channel ids"):
        for i in range(2):
            reader.events(i)


def test_missing_files_say_what_to_place_where(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load("ssc", split="valid", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "SSC" / "ssc_valid.h5") in message
    assert "https://zenkelab.org/datasets/ssc_valid.h5.zip" in message
    assert "b4eee3516a4a90dd0c71a6ac23a8ae43" in message
    with pytest.raises(data.DatasetNotFoundError, match="SSC"):
        data.load("ssc", split="test", root=tmp_path, backend="tonic")


def test_synthetic_shd_dataset_is_learnable_by_nearest_mean(tmp_path):
    train = data.load("synthetic_shd", "train", root=tmp_path, n_train=200, n_test=60, pool=10, dt=0.1,
                      valid_fraction=0.0)
    test = data.load("synthetic_shd", "test", root=tmp_path, n_train=200, n_test=60, pool=10, dt=0.1)
    xs, ys = data.collate_time_major([train[i] for i in range(len(train))])
    xt, yt = data.collate_time_major([test[i] for i in range(len(test))])
    feats, featt = xs.permute(1, 0, 2).flatten(1), xt.permute(1, 0, 2).flatten(1)
    means = torch.stack([feats[ys == c].mean(0) for c in range(20)])
    accuracy = (torch.cdist(featt, means).argmin(1) == yt).float().mean()
    assert accuracy > 0.5  # chance is 0.05
