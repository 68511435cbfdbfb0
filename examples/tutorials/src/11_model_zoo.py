# %% [markdown]
# # 11 · The model zoo: a spiking model against its ANN twin
#
# **Idea:** is a spiking network worth it? Compare it with a *parameter-matched* ANN on the same data:
# accuracy, and cost. An ANN multiplies and accumulates (a MAC) for every weight at every step;
# a spiking network only accumulates (an AC) when a spike arrives, so its cost is *synaptic
# operations*, which depends on how sparse the spikes are. Energy is estimated with Horowitz's 45 nm
# figures (4.6 pJ per 32-bit float MAC, 0.9 pJ per AC). `snnkit.models` builds every architecture in
# both forms by name; `snnkit.analysis.count_costs` counts the operations.
#
# **Size:** `FULL = False`: MLP twins on 2000 digits, 2 epochs (about 30 s). `FULL = True`: 8000
# digits, 10 epochs: not measured here. `snnkit compare NAME` runs the same comparison from the CLI.

# %%
FULL = False
N_TRAIN, N_TEST, EPOCHS, STEPS = (8000, 2000, 10, 16) if FULL else (2000, 500, 2, 8)

import matplotlib.pyplot as plt
import torch

import snnkit
from snnkit import analysis, models, training

torch.set_num_threads(1)
print("architectures:", models.names())


def random_subset(dataset, n, seed=0):
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))  # files sorted by class
    return torch.utils.data.Subset(dataset, order[:n].tolist())


load = lambda split, n: random_subset(snnkit.data.load("mnist", split, encoding="rate", steps=STEPS, flatten=True), n)
train_set, test_set = load("train", N_TRAIN), load("test", N_TEST)
x_test, y_test = snnkit.data.collate_time_major([test_set[i] for i in range(len(test_set))])

# %% [markdown]
# ## Build and train both forms
# Every model takes time-major input `[T, B, F]`; the spiking one returns its readout membrane
# `[T, B, C]`, the ANN twin logits `[1, B, C]`; both are reduced over time the same way.

# %%
config = dict(in_features=784, num_classes=10, steps=STEPS)
results = {}
for spiking in (True, False):
    torch.manual_seed(0)
    net = models.create("mlp", spiking=spiking, **config)
    trainer = training.Trainer(net, {"epochs": EPOCHS, "batch_size": 64, "lr": 2e-3, "progress": False})
    trainer.fit(train_set)
    costs = analysis.count_costs(net.eval(), x_test[:, :100])
    results["SNN" if spiking else "ANN"] = (trainer.evaluate(test_set)["accuracy"], costs)
for name, (acc, c) in results.items():
    print(f"{name}: accuracy {acc:.1%}, parameters {c.params}, MACs {c.macs:,.0f}, ACs (synops) {c.acs:,.0f}, "
          f"energy {c.energy_pj / 1e3:.1f} nJ per sample")

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3))
names = list(results)
axes[0].bar(names, [100 * results[n][0] for n in names]); axes[0].set_ylabel("test accuracy (%)")
axes[1].bar(names, [results[n][1].macs for n in names], label="MACs")
axes[1].bar(names, [results[n][1].acs for n in names], bottom=[results[n][1].macs for n in names], label="ACs")
axes[1].set_ylabel("operations per sample"); axes[1].legend()
axes[2].bar(names, [results[n][1].energy_pj / 1e3 for n in names]); axes[2].set_ylabel("energy per sample (nJ)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where the operations go
# `per_layer` splits the count by layer; the spiking layers' firing rates explain the synops.

# %%
snn_costs = results["SNN"][1]
for layer, row in snn_costs.per_layer.items():
    print(f"{layer:20s}", {k: round(v) if isinstance(v, float) else v for k, v in row.items()})
snn = models.create("mlp", spiking=True, **config)
print("firing rates by layer (untrained net):", analysis.firing_rates(snn, x_test[:, :50]))

# %% [markdown]
# **Takeaways:** measure, do not assume. At this size (2 epochs) the spiking MLP was the more
# accurate one (85 % against 81 %), but it also cost more: its hidden layer runs every one of the T
# steps, while the ANN twin reads the input once, so the SNN did about 8x the synaptic operations and
# energy. Sparser firing, fewer steps or hardware that charges less per event change the balance.
# The same comparison for LMU, S4D, transformers, RWKV and delay networks:
# `examples/models/comparison.md`. **Next:** 12 trains on several processes.
