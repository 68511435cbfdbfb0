"""Randman generator and the uniform loading API."""
import numpy as np
import pytest
import torch

import snnkit.data as data


def test_randman_shapes_one_spike_per_channel_and_determinism():
    ds = data.load("randman", split="train", samples_per_class=20, seed=3)
    assert len(ds) == 10 * 20
    x, label = ds[5]
    assert x.shape == (50, 100) and x.dtype == torch.float32
    # every channel fires exactly once (spikes_per_channel=1), so column sums are all one
    assert torch.equal(x.sum(0), torch.ones(100))
    again = data.load("randman", split="train", samples_per_class=20, seed=3)
    assert torch.equal(again[5][0], x) and again[5][1] == label
    other = data.load("randman", split="train", samples_per_class=20, seed=4)
    assert not torch.equal(other[5][0], x)


def test_randman_splits_share_classes_not_samples():
    cfg = dict(samples_per_class=30, eval_samples_per_class=30, seed=1)
    train, test = data.load("randman", "train", **cfg), data.load("randman", "test", **cfg)
    assert set(train.labels.tolist()) == set(test.labels.tolist()) == set(range(10))
    assert not torch.equal(train._times, test._times)
    # nearest class mean of spike-time vectors (an independent, trivial classifier) works across
    # splits, so the classes are manifolds shared by the splits, not noise
    t_train, t_test = train._times.float(), test._times.float()
    means = torch.stack([t_train[train.labels == c].mean(0) for c in range(10)])
    pred = torch.cdist(t_test, means).argmin(1)
    assert (pred == test.labels).float().mean() > 0.5


def test_randman_dense_matches_items_and_counts_multiple_spikes():
    ds = data.load("randman", samples_per_class=4, spikes_per_channel=3, channels=20, steps=30)
    xs, labels = ds.dense()
    assert xs.shape == (30, 40, 20)
    for i in range(len(ds)):
        x, y = ds[i]
        assert torch.equal(xs[:, i], x) and labels[i] == y
        assert torch.equal(x.sum(0), torch.full((20,), 3.0))


def test_loader_is_time_major_and_seeded():
    ds = data.load("randman", samples_per_class=10)
    a = [y for _, y in data.make_loader(ds, 16, shuffle=True, seed=7)]
    b = [y for _, y in data.make_loader(ds, 16, shuffle=True, seed=7)]
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    x, y = next(iter(data.make_loader(ds, 16)))
    assert x.shape == (50, 16, 100) and y.shape == (16,)
    assert torch.equal(x[:, 3], ds[3][0])


def test_collate_pads_shorter_items():
    x, y = data.collate_time_major([(torch.ones(3, 2), 1), (torch.ones(5, 2), 0)])
    assert x.shape == (5, 2, 2)
    assert x[3:, 0].sum() == 0 and x[:, 1].sum() == 10
    assert y.tolist() == [1, 0]


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="split"):
        data.load("randman", split="training")
    with pytest.raises(ValueError, match="name='nope'"):
        data.load("nope")
    with pytest.raises(TypeError, match="unknown randman option"):
        data.load("randman", chanels=3)
    with pytest.raises(ValueError, match="classes"):
        data.load("randman", classes=1)
    with pytest.raises(ValueError, match="batch_size"):
        data.make_loader(data.load("randman", samples_per_class=1), 0)
