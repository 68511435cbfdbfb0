# %% [markdown]
# # 10 · Resistive crossbars and conductance drift
#
# **Idea:** a resistive crossbar stores each weight as the conductance of a memory device (PCM, RRAM)
# and computes a whole matrix-vector product in one analog read (Ohm's and Kirchhoff's laws). The
# price is imprecision: programming noise, read noise, limited DAC/ADC resolution, and, for PCM,
# *drift*: conductances decay as `g(t) = g0 * (t / t0)^(-nu)`, so accuracy falls over hours to years.
# Global drift compensation rescales outputs by a reference read-out. `snnkit.hardware.crossbar`
# simulates all of this with aihwkit's published PCM statistics, device profiles in TOML.
#
# **Size:** `FULL = False`: a spiking MLP on 2000 digits, 2 epochs, 2 programmings per time point
# (about 40 s). `FULL = True`: all 7200 training digits, 10 epochs, 10 programmings: measured 94.7 %
# digital; after a year 93.6 % with drift compensation, 92.5 % without (59 s of CPU).

# %%
FULL = False
N_TRAIN, N_TEST, EPOCHS, REPEATS, STEPS = (8000, 2000, 10, 10, 16) if FULL else (2000, 300, 2, 2, 8)

import matplotlib.pyplot as plt
import torch
from torch import nn

import snnkit
from snnkit import neurons, training
from snnkit.hardware import crossbar

torch.set_num_threads(1)


def random_subset(dataset, n, seed=0):
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))  # files sorted by class
    return torch.utils.data.Subset(dataset, order[:n].tolist())


load = lambda split, n: random_subset(snnkit.data.load("mnist", split, encoding="current", steps=STEPS, flatten=True), n)
train_set, test_set = load("train", N_TRAIN), load("test", N_TEST)
x_test, y_test = snnkit.data.collate_time_major([test_set[i] for i in range(len(test_set))])

torch.manual_seed(0)
model = neurons.Sequential(nn.Linear(784, 128), neurons.LIF(tau_mem=5.0), nn.Linear(128, 10), neurons.LI(tau_mem=5.0))
training.Trainer(model, {"epochs": EPOCHS, "batch_size": 64, "lr": 2e-3, "progress": False}).fit(train_set)

# %% [markdown]
# ## The PCM device model
# A device profile (`hardware/pcm.toml`) sets the conductance range, the noise and drift statistics
# and the periphery. Here one device's conductance, programmed to several targets, drifting over a
# year:

# %%
device = crossbar.PCMDevice()
print(device)
targets = torch.tensor([5.0, 10.0, 15.0, 20.0, 25.0])          # microsiemens
times = torch.logspace(0, 7.5, 40)                               # seconds after programming
nu = 0.06                                                        # a typical drift exponent
fig, ax = plt.subplots(figsize=(6, 3))
for g0 in targets:
    ax.plot(times, g0 * (times / 20.0).clamp(min=1) ** (-nu), label=f"{g0:.0f} uS")
ax.set_xscale("log"); ax.set_xlabel("time after programming (s)"); ax.set_ylabel("conductance (uS)")
ax.set_title("PCM drift, g(t) = g0 (t / t0)^-nu, t0 = 20 s"); ax.legend(fontsize=7)
plt.show()

# %% [markdown]
# ## The network on a crossbar, over a year
# `crossbar.simulate(model, "pcm")` swaps every Linear/Conv for a programmed analog copy;
# `drift_study` programs the network `repeats` times (independent chips) and measures accuracy at
# each time, with and without global drift compensation.

# %%
table = crossbar.drift_study(model, x_test, y_test, profile="pcm", repeats=REPEATS,
                             times=(1.0, 3600.0, 86400.0, 2_592_000.0, 31_536_000.0), progress=False)
print(crossbar.drift_table_markdown([table]))

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.axhline(100 * table["digital"], color="k", ls="--", lw=1, label="digital (float)")
for key in ["compensated", "uncompensated"]:
    ax.errorbar(table["times_s"], [100 * a for a in table[key]], yerr=[100 * s for s in table[f"{key}_std"]],
                marker="o", capsize=3, label=key)
ax.set_xscale("log"); ax.set_xticks(table["times_s"], table["time_labels"])
ax.set_xlabel("time after programming"); ax.set_ylabel("test accuracy (%)"); ax.legend()
plt.show()

# %% [markdown]
# ## Energy
# `estimate_energy` uses a simple analytic model per MAC and per read (aihwkit has none); compare it
# with a digital implementation's MAC energy in `snnkit.analysis` (tutorial 11).

# %%
analog = crossbar.simulate(model, "pcm", seed=0)
print(analog)
energy = crossbar.estimate_energy(analog, x_test[:, :16])
print(f"crossbar: {energy['energy_pj'] / 1e3:.1f} nJ and {energy['latency_ns'] / 1e3:.1f} us per inference")

# %% [markdown]
# **Takeaways:** programming noise costs accuracy immediately; drift keeps costing it; global
# compensation recovers most of it. `snnkit export run/last.pt --to crossbar` writes the same study.
# **Next:** 11 compares spiking models with their ANN twins.
