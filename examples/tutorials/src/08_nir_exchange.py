# %% [markdown]
# # 08 · Exchanging models through NIR with snntorch, norse and spikingjelly
#
# **Idea:** NIR (the Neuromorphic Intermediate Representation) is a small graph of typed nodes with
# *continuous-time* parameters (time constants in seconds, no time step). snnkit writes and reads it,
# so a network trained here runs in snntorch, norse or spikingjelly, and theirs run here. Each library
# discretises NIR's differential equations its own way, so the time step `dt` must match the reader's
# convention; with the right settings the spikes are *identical*, which this notebook checks.
#
# **Size:** `FULL = False`: a 784-64-10 LIF network trained 1 epoch on 2000 digits (about 30 s).
# `FULL = True`: all 7200 training digits, 5 epochs: measured 92.4 % with identical spikes in snntorch,
# norse and spikingjelly (64 s of CPU). The exchange itself does not depend on size.

# %%
FULL = False
N_TRAIN, N_TEST, EPOCHS, STEPS = (8000, 2000, 5, 16) if FULL else (2000, 300, 1, 8)

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import nir
import torch
from torch import nn

import snnkit
from snnkit import ir, neurons, training

torch.set_num_threads(1)
workdir = Path(tempfile.mkdtemp(prefix="snnkit_nir_"))


def random_subset(dataset, n, seed=0):
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))  # files sorted by class
    return torch.utils.data.Subset(dataset, order[:n].tolist())


load = lambda split, n: random_subset(snnkit.data.load("mnist", split, encoding="rate", steps=STEPS, flatten=True), n)
train_set, test_set = load("train", N_TRAIN), load("test", N_TEST)

# %% [markdown]
# ## Train in snnkit
# Spiking output (LIF) read by spike counts: every peer can import a LIF node (snntorch cannot import
# NIR's leaky integrator, `LI`).

# %%
torch.manual_seed(0)
model = neurons.Sequential(nn.Linear(784, 64), neurons.LIF(tau_mem=5.0), nn.Linear(64, 10), neurons.LIF(tau_mem=5.0))
trainer = training.Trainer(model, {"epochs": EPOCHS, "batch_size": 64, "lr": 2e-3, "loss": "ce_count", "progress": False})
trainer.fit(train_set)
x, y = snnkit.data.collate_time_major([test_set[i] for i in range(len(test_set))])   # [T, N, 784]
ours = model(x).detach()
print(f"snnkit accuracy on {len(y)} test digits: {(ours.sum(0).argmax(1) == y).float().mean():.1%}")

# %% [markdown]
# ## Export and look at the graph
# `ir.export_nir(model, path, dt)` maps each step's decay to a continuous time constant
# (`tau = dt / ln(1/beta)` for the exact method; `method="euler"` uses `beta = 1 - dt/tau`, the
# convention snntorch and spikingjelly read with).

# %%
graph = ir.export_nir(model, str(workdir / "model.nir"), dt=1e-4, method="euler")
for name, node in graph.nodes.items():
    extra = f" tau={node.tau.flatten()[:1]} s" if hasattr(node, "tau") else ""
    print(f"{name:8s} {type(node).__name__}{extra}")

# %% [markdown]
# ## Run the same file in three other libraries
# The settings that make each one agree are those of snnkit's own peer tests
# (`tests/test_ir_peers.py`): snntorch and spikingjelly read with forward Euler at 0.1 ms; norse
# reads at 1 ms and ignores NIR's input resistance, so that export folds it into the weights.

# %%
def run_stepwise(net, xs):
    """Run a peer's single-step module ``net(x_t, state) -> (y_t, state)`` over [T, B, ...]."""
    out, state = [], None
    with torch.no_grad():
        for x_t in xs.unbind(0):
            y_t, state = net(x_t, state)
            out.append(y_t)
    return torch.stack(out)


from snntorch.import_nir import import_from_nir as snntorch_import
import norse.torch as norse
from spikingjelly.activation_based import nir_exchange as sj

peers = {
    "snntorch": run_stepwise(snntorch_import(nir.read(str(workdir / "model.nir"))), x),
    "spikingjelly": run_stepwise(sj.import_from_nir(ir.to_graph(model, dt=1e-4), dt=1e-4), x),
    "norse": run_stepwise(norse.from_nir(ir.export_nir(model, str(workdir / "norse.nir"), dt=1e-3, unit_r=True),
                                         dt=1e-3), x),
}
for name, spikes in peers.items():
    acc = (spikes.sum(0).argmax(1) == y).float().mean().item()
    print(f"{name:12s} identical spikes: {torch.equal(spikes, ours)}   accuracy {acc:.1%}")

# %% [markdown]
# ## And back: a snntorch network imported into snnkit

# %%
import snntorch as snn
import snntorch.utils
from snntorch.export_nir import export_to_nir

torch.manual_seed(3)
kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)    # the reset NIR describes
peer = nn.Sequential(nn.Linear(784, 32), snn.Leaky(beta=torch.full((32,), 0.8), threshold=torch.ones(32), **kw),
                     nn.Linear(32, 10), snn.Leaky(beta=torch.full((10,), 0.7), threshold=torch.ones(10), **kw))
imported = ir.import_nir(export_to_nir(peer, torch.zeros(784)), dt=1e-4)
snntorch.utils.reset(peer)
with torch.no_grad():
    reference = torch.stack([peer(x_t) for x_t in x[:, :32].unbind(0)])
print(imported)
print("snntorch -> NIR -> snnkit, identical spikes:", torch.equal(imported(x[:, :32]), reference))

fig, ax = plt.subplots(figsize=(6, 3))
counts = [ours.sum().item()] + [s.sum().item() for s in peers.values()]
ax.bar(["snnkit"] + list(peers), counts)
ax.set_ylabel("output spikes on the test set (count)")
plt.show()

# %% [markdown]
# **Takeaways:** one NIR file, four libraries, the same spikes, as long as `dt` follows each reader's
# convention. `snnkit export run/last.pt --to nir` writes the file from the command line.
# **Next:** 09 takes the same kind of network to Loihi 2's fixed-point arithmetic.
