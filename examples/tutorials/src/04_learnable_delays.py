# %% [markdown]
# # 04 · Learnable synaptic delays (DCLS): learned vs random vs none
#
# **Idea:** a spike's *arrival time* carries information. If each synapse has its own delay, a
# neuron can fire only when inputs that were emitted at different times arrive together: it detects
# a temporal pattern. DCLS (Hammouamri et al., ICLR 2024) learns delays by gradient descent: each
# synapse's kernel over time is a Gaussian bump at a continuous position; the bump narrows during
# training and is finally rounded to an integer delay, which hardware like Loihi 2 runs.
#
# **Size:** `FULL = False` trains 10 epochs on one seed (about 30 s). `FULL = True` is the setting of
# `examples/dcls/delays_matter.py`: 30 epochs, seeds 0, 1, 2; measured with `FULL = True` (2026-12-01,
# 8 s of CPU): learned delays 0.547 (rounded to integers; 0.699 as trained), fixed random delays 0.504,
# no delays 0.129, chance 0.125.

# %%
FULL = False
EPOCHS, SEEDS = (30, [0, 1, 2]) if FULL else (10, [0])

import matplotlib.pyplot as plt
import sys
from pathlib import Path

import torch

import snnkit
from snnkit import synapses

# The timing task and the three-way comparison are an experiment, not library code: they live beside
# the DCLS examples, in examples/dcls/delay_task.py of this repository.
sys.path.insert(0, str(Path(snnkit.__file__).resolve().parents[1] / "examples" / "dcls"))
from delay_task import compare_delay_modes, make_timing_task  # noqa: E402

torch.set_num_threads(1)

# %% [markdown]
# ## A task that only timing can solve
# `make_timing_task` makes 6 input channels that each fire once, at offsets that are a
# class-specific permutation of 0, 3, ..., 15 steps, from a random start, plus background spikes.
# Every class has the same spike counts: a network that ignores time is at chance.

# %%
x, y = make_timing_task(8, classes=4, seed=0)
fig, axes = plt.subplots(1, 4, figsize=(12, 2.5), sharey=True)
for k, ax in enumerate(axes):
    t, ch = torch.nonzero(x[:, k], as_tuple=True)
    ax.scatter(t, ch, marker="|", s=150)
    ax.set_title(f"class {int(y[k])}"); ax.set_xlabel("time step")
axes[0].set_ylabel("input channel")
plt.show()

# %% [markdown]
# ## The delay kernel
# `DelayedLinear(in, out, max_delay)` holds a weight and a delay per synapse. Its kernel over the
# `max_delay` taps is a normalised Gaussian around the delay (`synapses.delay_kernel`); as sigma
# shrinks it becomes one-hot: an integer delay.

# %%
w, d = torch.ones(1, 1), torch.tensor([[6.3]])
fig, ax = plt.subplots(figsize=(6, 3))
for sigma in [4.0, 2.0, 1.0, 0.5]:
    ax.plot(synapses.delay_kernel(w, d, 16, sigma)[0, 0].detach(), "o-", label=f"sigma {sigma} steps")
ax.axvline(6.3, color="k", ls=":", lw=1)
ax.set_xlabel("tap (delay in steps)"); ax.set_ylabel("kernel weight"); ax.legend()
plt.show()

layer = synapses.DelayedLinear(6, 8, max_delay=16, mode="learned")
print(layer)
print("output of a [T=40, B=2, 6] input:", tuple(layer(x[:, :2]).shape))

# %% [markdown]
# ## Learned vs random vs no delays, with equal parameter counts
# `compare_delay_modes` trains the same `DelayedLinear -> LIF -> Linear` network three ways:
# delays learned with the DCLS recipe (sigma schedule, a separate learning rate for delays, rounding
# to integers and a short weight fine-tune), fixed random integer delays, and no delays; the two
# controls get extra hidden neurons so every variant has the same number of trainable parameters.
# All are tested with integer delays.

# %%
runs = [compare_delay_modes(epochs=EPOCHS, seed=s) for s in SEEDS]
variants = ["learned_interpolated", "learned", "random", "none"]
mean = {v: sum(r[v] for r in runs) / len(runs) for v in variants}
print("trainable parameters:", runs[0]["params"])
for v in variants:
    print(f"{v:22s} test accuracy {mean[v]:.3f}")

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(["learned\n(as trained)", "learned\n(integer)", "random", "none"], [100 * mean[v] for v in variants])
ax.axhline(100 * runs[0]["chance"], color="k", ls="--", lw=1, label="chance")
ax.set_ylabel("test accuracy (%)"); ax.legend()
plt.show()

# %% [markdown]
# **Takeaways:** with the same parameter budget, learned delays beat random delays, and without delays
# the network is at chance. Rounding to integers costs a few points. The SHD recipe is
# `examples/dcls/shd.toml` (`snnkit train examples/dcls/shd.toml`); delays export to NIR and Loihi 2
# (tutorials 08 and 09). **Next:** 05 learns without gradients, with local plasticity.
