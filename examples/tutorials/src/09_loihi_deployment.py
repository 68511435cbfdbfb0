# %% [markdown]
# # 09 · Deploying to Loihi 2 through Lava: fixed point, a netx file, the accuracy drop
#
# **Idea:** Loihi 2 computes with integers: 8-bit weights with a shared exponent, 12-bit decays,
# 24-bit states, and a one-step latency per Dense layer. `snnkit.hardware.loihi` quantises a trained
# network to that arithmetic, simulates it **bit-exactly** as Lava's fixed-point models do, writes a
# lava-dl *netx* file, and reports what quantisation costs. With Lava installed (`.venv-lava`,
# see `.ci/install_lava.sh`) `run_netx` runs the same file in the real Lava runtime; this notebook
# uses the simulator, which needs nothing else.
#
# **Size:** `FULL = False`: 784-64-10 on 2000 rate-coded digits, 2 epochs (about 40 s). `FULL = True`:
# 8000 digits, 10 epochs: measured float 93.8 %, Loihi fixed point 94.0 % (drop -0.3 points), after QAT
# 93.4 % / 93.7 % (28 s of CPU).

# %%
FULL = False
N_TRAIN, N_TEST, EPOCHS, STEPS = (8000, 2000, 10, 16) if FULL else (2000, 300, 2, 8)

import copy
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import snnkit
from snnkit import neurons, training
from snnkit.hardware import loihi

torch.set_num_threads(1)
workdir = Path(tempfile.mkdtemp(prefix="snnkit_loihi_"))


def random_subset(dataset, n, seed=0):
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))  # files sorted by class
    return torch.utils.data.Subset(dataset, order[:n].tolist())


load = lambda split, n: random_subset(snnkit.data.load("mnist", split, encoding="rate", steps=STEPS, flatten=True), n)
train_set, test_set = load("train", N_TRAIN), load("test", N_TEST)
test_x, test_y = snnkit.data.collate_time_major([test_set[i] for i in range(len(test_set))])  # binary spikes

# %% [markdown]
# ## Train a network Loihi can run
# Loihi's neuron is the CUBA LIF; a plain LIF is its special case. Inputs are binary spikes.

# %%
torch.manual_seed(0)
model = neurons.Sequential(nn.Linear(784, 64), neurons.LIF(tau_mem=10.0), nn.Linear(64, 10), neurons.LIF(tau_mem=10.0))
config = {"epochs": EPOCHS, "batch_size": 64, "lr": 2e-3, "loss": "ce_count", "progress": False}
training.Trainer(model, config).fit(train_set)

# %% [markdown]
# ## Quantise, simulate bit-exactly, write the netx file
# `loihi.deploy` quantises (`quantize_for_loihi`), runs the fixed-point simulator on the test set and
# compares with the float network. The report gives each layer's weight exponent and quantisation
# error.

# %%
result = loihi.deploy(model, test_x, test_y, netx_path=str(workdir / "network.net"))
print(f"float accuracy {result['float_accuracy']:.1%}, Loihi fixed point {result['accuracy']:.1%}, "
      f"drop {100 * result['accuracy_drop']:.1f} points")
for row in result["report"]:
    print(row)
print("netx file:", result["netx"])

# %% [markdown]
# ## Look at the integers
# The netx file is HDF5; `read_netx` validates it and returns the layers the simulator runs.

# %%
layers = loihi.read_netx(str(workdir / "network.net"))
w_float = model[0].weight.detach().flatten().numpy()
w_int = np.asarray(layers[0].weights).flatten()
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].hist(w_float, bins=80); axes[0].set_xlabel("float weight (a.u.)"); axes[0].set_ylabel("synapses (count)")
axes[1].hist(w_int, bins=80); axes[1].set_xlabel("Loihi weight (integer mantissa)")
fig.suptitle("first layer: float weights and their 8-bit Loihi mantissas")
plt.show()

sim = loihi.simulate(layers, test_x[:, 0].numpy().astype(bool))
print("simulator output spikes for one digit, per class:", np.asarray(sim["spikes"][-1]).sum(0))

# %% [markdown]
# ## Quantisation-aware training
# `enable_qat` fakes Loihi's weight quantisation in the forward pass (straight-through gradients);
# a short fine-tune lets the network adapt to it.

# %%
qat_model = loihi.enable_qat(copy.deepcopy(model))
training.Trainer(qat_model, {**config, "epochs": 1, "lr": 5e-4}).fit(train_set)
loihi.disable_qat(qat_model)
with_qat = loihi.deploy(qat_model, test_x, test_y)
print(f"after QAT: float {with_qat['float_accuracy']:.1%}, Loihi {with_qat['accuracy']:.1%}")

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(["float", "Loihi", "float+QAT", "Loihi+QAT"],
       [100 * result["float_accuracy"], 100 * result["accuracy"], 100 * with_qat["float_accuracy"],
        100 * with_qat["accuracy"]])
ax.set_ylabel("test accuracy (%)")
plt.show()

# %% [markdown]
# **Real Lava:** `loihi.lava_available()` says whether `.venv-lava` exists; then
# `loihi.run_netx(path, inputs, n_layers=...)` runs the file in Lava's own fixed-point models, and
# snnkit's tests check that the spikes are identical. `snnkit export run/last.pt --to loihi` does all
# of this from the command line. **Next:** 10 runs the weights on simulated analog memory instead.
