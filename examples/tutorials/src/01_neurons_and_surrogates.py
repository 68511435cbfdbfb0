# %% [markdown]
# # 01 · Neurons and surrogate gradients
#
# **Idea:** a spiking neuron is a small dynamical system with a threshold. snnkit defines each model
# once as a pure step function (`snnkit.functional`), wraps it in a layer (`snnkit.neurons`) and runs
# many steps at once with a fused engine (`snnkit.kernels`). Spikes are not differentiable, so training
# replaces the derivative of the threshold with a smooth *surrogate*.
#
# You will see: LIF, current-based LIF (CUBA), adaptive LIF (ALIF) and Izhikevich firing patterns;
# the surrogate functions; and that every engine computes the same thing.
#
# **Size:** `FULL = False` runs in about 10 s. `FULL = True` only uses longer simulations
# (1000 steps instead of 200); the pictures and the conclusions are the same.

# %%
FULL = False
STEPS = 1000 if FULL else 200

import matplotlib.pyplot as plt
import torch

import snnkit
from snnkit import neurons, surrogate

torch.manual_seed(0)
torch.set_num_threads(1)

# %% [markdown]
# ## Leaky integrate-and-fire
# Layers are **time-major**: input `[T, B, ...]`. `LIF(tau_mem=10.0, dt=1.0)` has a membrane time
# constant of 10 ms at a 1 ms step: each step the membrane keeps `exp(-dt/tau)` of its value, adds the
# input, and spikes (then resets to 0) when it crosses `v_th = 1`. `run(..., record_membrane=True)`
# returns the membrane too. Three constant input currents, three firing rates:

# %%
lif = neurons.LIF(tau_mem=10.0, dt=1.0, v_th=1.0)
currents = torch.tensor([0.09, 0.15, 0.3])                  # three neurons, one per current
x = currents.expand(STEPS, 1, 3).clone()                    # [T, B=1, 3]
spikes, v = lif.run(x, record_membrane=True)
print("firing rate per neuron (spikes per ms):", spikes.mean(0).squeeze().tolist())

fig, ax = plt.subplots(figsize=(8, 3))
for i in range(3):
    ax.plot(v[:, 0, i], label=f"input {currents[i]:.2f}")
ax.axhline(1.0, color="k", ls="--", lw=0.8, label="threshold")
ax.set_xlabel("time (ms)"); ax.set_ylabel("membrane v (a.u.)"); ax.set_xlim(0, 100); ax.legend()
plt.show()

# %% [markdown]
# The weakest input never fires: the membrane settles at `I / (1 - exp(-dt/tau)) ≈ 0.95 < 1`.
#
# ## CUBA LIF and adaptive LIF
# A current-based LIF filters its input through a synaptic current with its own time constant
# `tau_syn` before it reaches the membrane. An ALIF neuron raises its threshold after every spike
# (`beta_adapt`, decaying with `tau_adapt`): its firing rate adapts to a step of input.
# Every layer also has `step(x_t, state)` for streaming one time step at a time:

# %%
def stream(layer, inputs):
    """Run a layer step by step; returns the spikes [T, ...] and the first state tensor [T, ...]."""
    state, out, trace = None, [], []
    for x_t in inputs.unbind(0):
        s, state = layer.step(x_t, state)
        out.append(s)
        trace.append(state[0] if isinstance(state, tuple) else state)
    return torch.stack(out), torch.stack(trace)

pulse = torch.zeros(STEPS, 1, 1)
pulse[10:13] = 1.0                                          # a 3 ms input pulse
step_input = torch.zeros(STEPS, 1, 1)
step_input[20:] = 0.25                                      # a step of input current

s_lif, v_lif = stream(neurons.LIF(tau_mem=10.0), pulse * 0.5)
s_cuba, i_cuba = stream(neurons.CubaLIF(tau_syn=5.0, tau_mem=10.0), pulse * 0.5)
s_alif, _ = stream(neurons.ALIF(tau_mem=20.0, tau_adapt=200.0, beta_adapt=1.8), step_input)
s_plain, _ = stream(neurons.LIF(tau_mem=20.0, reset="subtract"), step_input)

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].plot(v_lif[:60, 0, 0], label="LIF membrane")
axes[0].plot(i_cuba[:60, 0, 0], label="CUBA synaptic current")
axes[0].set_xlabel("time (ms)"); axes[0].set_ylabel("state (a.u.)"); axes[0].legend()
axes[0].set_title("a pulse: the CUBA current decays with tau_syn")
for k, (name, s) in enumerate([("LIF", s_plain), ("ALIF", s_alif)]):
    t = torch.nonzero(s[:, 0, 0]).flatten()
    axes[1].vlines(t, k, k + 0.8)
axes[1].set_yticks([0.4, 1.4], ["LIF", "ALIF"]); axes[1].set_xlabel("time (ms)")
axes[1].set_title("a current step: ALIF adapts")
plt.show()
isi = torch.diff(torch.nonzero(s_alif[:, 0, 0]).flatten()).tolist()
print("ALIF inter-spike intervals (ms):", isi[:8])

# %% [markdown]
# ## Izhikevich firing patterns
# Two equations and four parameters reproduce the classic cortical firing patterns. snnkit ships the
# seven published presets; the same current step gives seven different spike trains.

# %%
from snnkit.functional import IZHIKEVICH_PRESETS

izh_steps = 2 * STEPS                                       # dt = 0.5 ms
current = torch.zeros(izh_steps, 1, 1)
current[izh_steps // 10:] = 10.0
fig, axes = plt.subplots(len(IZHIKEVICH_PRESETS), 1, figsize=(8, 8), sharex=True)
for ax, name in zip(axes, IZHIKEVICH_PRESETS):
    layer = neurons.Izhikevich(preset=name)
    s, v = layer.run(current, record_membrane=True)
    ax.plot(torch.arange(izh_steps) * layer.params().dt, v[:, 0, 0], lw=0.8)
    ax.set_ylabel("mV", fontsize=7); ax.set_title(name, fontsize=8, loc="left")
axes[-1].set_xlabel("time (ms)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Surrogate gradients
# The forward pass is a step function `H(v - v_th)`. Its derivative is zero almost everywhere, so the
# backward pass uses a smooth bump instead. snnkit has a registry by name:

# %%
u = torch.linspace(-2, 2, 401, requires_grad=True)
fig, ax = plt.subplots(figsize=(7, 3))
for name in ["atan", "sigmoid", "fast_sigmoid", "triangle", "rectangular"]:
    g = torch.autograd.grad(surrogate.spike(u, name).sum(), u)[0]
    ax.plot(u.detach(), g, label=name)
ax.set_xlabel("v - v_th (a.u.)"); ax.set_ylabel("surrogate dS/dv"); ax.legend(fontsize=8)
plt.show()
print("all surrogates:", surrogate.names())

# %% [markdown]
# ## Engines: the same dynamics, faster
# `snnkit.kernels` runs LIF over all time steps in one fused call: `cpp` (a C++ CPU kernel compiled on
# first use), `fused` (pure PyTorch) and `reference` (the definition in `snnkit.functional`).
# `snnkit.use_engine(name)` forces one. They agree in the forward pass and in the gradients:

# %%
import time

net = neurons.Sequential(torch.nn.Linear(100, 64), neurons.LIF(tau_mem=10.0), torch.nn.Linear(64, 10),
                         neurons.LIF(tau_mem=10.0))
x = (torch.rand(STEPS, 16, 100) < 0.1).float()
results = {}
for engine in snnkit.kernels.available()["lif"]:
    net.zero_grad()
    with snnkit.use_engine(engine):
        start = time.perf_counter()
        out = net(x)
        out.sum().backward()
        elapsed = time.perf_counter() - start
    results[engine] = (out.detach(), net[0].weight.grad.clone(), elapsed)
ref_out, ref_grad, _ = results["reference"]
for engine, (out, grad, elapsed) in results.items():
    print(f"{engine:9s}  same spikes: {torch.equal(out, ref_out)}   "
          f"max |grad - reference|: {(grad - ref_grad).abs().max():.1e}   time {elapsed * 1e3:.0f} ms")

# %% [markdown]
# Timings on a shared machine are noisy; `snnkit bench core` measures properly against the peer
# libraries. **Next:** tutorial 02 trains a network of these neurons on handwritten digits.
