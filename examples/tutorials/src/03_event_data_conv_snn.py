# %% [markdown]
# # 03 · A convolutional SNN on event-camera data, through tonic transforms
#
# **Idea:** an event camera (DVS) does not send frames; each pixel reports an *event* `(x, y, t, p)`
# when its log brightness changes by more than a threshold, ON (p = 1) for brighter and OFF (p = 0)
# for darker. Tools like [tonic](https://tonic.readthedocs.io) clean such streams (`Denoise`) and bin
# them into frames (`ToFrame`) that a convolutional SNN reads step by step.
#
# No download is needed: we make events offline the way N-MNIST was recorded, by moving real MNIST
# digits in front of a simulated DVS (a small saccade) and emitting an event wherever the log
# brightness changes, plus uniform background noise that `Denoise` removes.
#
# **Size:** `FULL = False` converts 1500 digits and trains 2 epochs (about 40 s; about 70 % test
# accuracy). `FULL = True` converts all 8000 + 2000 digits and trains 10 epochs: measured 94.6 % test
# accuracy (121 s of CPU).

# %%
FULL = False
N_TRAIN, N_TEST, EPOCHS = (8000, 2000, 10) if FULL else (1200, 300, 2)   # at most 8000 and 2000
FRAMES = 10                                     # time bins per sample

import matplotlib.pyplot as plt
import numpy as np
import tonic.transforms as tt
import torch
from torch import nn

import snnkit
from snnkit import analysis, neurons, synapses, training

torch.set_num_threads(1)
rng = np.random.default_rng(0)
# training digits from the train split, test digits from the test split, each drawn at random
parts = [snnkit.data.load_mnist_arrays(split) for split in ("train", "test")]
picks = [rng.permutation(len(part[1]))[:n] for part, n in zip(parts, (N_TRAIN, N_TEST))]
images = np.concatenate([part[0][pick].numpy() for part, pick in zip(parts, picks)]) / 255.0
labels = np.concatenate([part[1][pick].numpy() for part, pick in zip(parts, picks)])

# %% [markdown]
# ## A simulated event camera
# The digit moves along a short path (a saccade, 1 pixel per 10 ms). Between consecutive positions,
# every pixel whose log brightness changed by more than `THRESHOLD` emits one event, with a time
# stamp spread uniformly inside the interval. The events form a numpy *structured array* with fields
# `x, y, t, p` (t in microseconds): tonic's format.

# %%
SENSOR = (28, 28, 2)                             # tonic's sensor_size: width, height, polarities
EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
THRESHOLD = 0.15
PATH = [(0, 0), (1, 1), (2, 2), (2, 1), (2, 0), (1, 0), (0, 0), (0, 1), (1, 2), (0, 2), (0, 0)]


def dvs_events(image, noise_events=60):
    """Events of one image moved along PATH in front of a DVS, plus uniform noise."""
    log_i = np.log(image + 0.1)
    frames = [np.roll(log_i, shift, axis=(0, 1)) for shift in PATH]
    chunks = []
    for k in range(1, len(frames)):
        diff = frames[k] - frames[k - 1]
        y, x = np.nonzero(np.abs(diff) > THRESHOLD)
        ev = np.empty(len(x), EVENT_DTYPE)
        ev["x"], ev["y"], ev["p"] = x, y, diff[y, x] > 0
        ev["t"] = (k - 1) * 10_000 + rng.integers(0, 10_000, len(x))
        chunks.append(ev)
    noise = np.empty(noise_events, EVENT_DTYPE)
    noise["x"], noise["y"] = rng.integers(0, 28, noise_events), rng.integers(0, 28, noise_events)
    noise["t"], noise["p"] = rng.integers(0, 100_000, noise_events), rng.integers(0, 2, noise_events)
    events = np.concatenate(chunks + [noise])
    return events[np.argsort(events["t"], kind="stable")]


events = dvs_events(images[0])
print(f"{len(events)} events for one digit; first three: {events[:3]}")

# %% [markdown]
# ## tonic transforms
# `Denoise(filter_time)` drops an event unless a neighbouring pixel fired within `filter_time`
# microseconds; `ToFrame(n_time_bins=...)` counts events per pixel and polarity in equal time bins:
# `[T, 2, 28, 28]`.

# %%
denoise = tt.Denoise(filter_time=10_000)
to_frames = tt.ToFrame(sensor_size=SENSOR, n_time_bins=FRAMES)
transform = tt.Compose([denoise, to_frames])
clean = denoise(events)
print(f"Denoise kept {len(clean)} of {len(events)} events")

frames = to_frames(clean)
fig, axes = plt.subplots(2, 6, figsize=(11, 4))
for k in range(6):
    axes[0, k].imshow(frames[k, 1], cmap="Greens"); axes[0, k].set_title(f"ON, bin {k}")
    axes[1, k].imshow(frames[k, 0], cmap="Reds"); axes[1, k].set_title(f"OFF, bin {k}")
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"label {labels[0]}: events binned into {FRAMES} frames of 10 ms")
plt.show()

# %%
def to_tensor(idx):
    x = np.stack([transform(dvs_events(images[i])) for i in idx])        # [N, T, 2, 28, 28]
    x = torch.from_numpy(x).float().clamp(max=1).transpose(0, 1)          # time-major, binary
    return x, torch.from_numpy(labels[idx]).long()

train_data = to_tensor(range(N_TRAIN))
test_data = to_tensor(range(N_TRAIN, N_TRAIN + N_TEST))
print("train tensor:", tuple(train_data[0].shape), "(T, N, polarity, height, width)")

# %% [markdown]
# ## A convolutional SNN
# `synapses.SeqConv2d` applies a `Conv2d` to all time steps at once (`[T, B, C, H, W]`); LIF layers
# spike per step; the readout is a leaky integrator.

# %%
torch.manual_seed(0)
net = neurons.Sequential(
    synapses.SeqConv2d(2, 12, 5, stride=2), neurons.LIF(tau_mem=10.0),       # -> [T, B, 12, 12, 12]
    synapses.SeqConv2d(12, 24, 3, stride=2), neurons.LIF(tau_mem=10.0),      # -> [T, B, 24, 5, 5]
    nn.Flatten(start_dim=2), nn.Linear(24 * 5 * 5, 10), neurons.LI(tau_mem=10.0))
trainer = training.Trainer(net, {"epochs": EPOCHS, "batch_size": 32, "lr": 2e-3, "loss": "ce_max_membrane",
                                 "progress": False})
history = trainer.fit(train_data, test_data)
print(f"test accuracy: {history[-1]['val_accuracy']:.1%}  (chance 10 %)")

# %%
with analysis.recording(net) as rec:
    net(test_data[0][:, :16])
print("firing rates by layer:", {k: round(v, 3) for k, v in rec.rates().items()})
first = next(iter(rec.spikes.values()))[0]                       # [T, B, 12, 12, 12]
fig = analysis.plot_raster(first.flatten(2)[:, :, :400], title="first conv layer, 400 of its neurons",
                           dt=10.0)
fig

# %% [markdown]
# **Takeaways:** events are sparse and timed; tonic's transforms turn them into tensors; the SNN
# itself is ordinary snnkit layers. Recorded datasets (N-MNIST, DVS Gesture, SHD) load through
# `snnkit.data.load(...)` once their files are in place (`snnkit data list`). **Next:** 04 learns
# *when* spikes arrive, with synaptic delays.
