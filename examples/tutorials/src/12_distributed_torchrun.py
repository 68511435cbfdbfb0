# %% [markdown]
# # 12 · Distributed training with torchrun
#
# **Idea:** data parallelism splits each global batch across processes; every process computes the
# gradient of its share, the gradients are averaged (all-reduce) and every process takes the same
# step. `snnkit.training.Trainer` does this by itself when it is started by `torchrun` (it reads
# `RANK` / `WORLD_SIZE`, wraps the model in `DistributedDataParallel`, and splits the batch). Here two
# CPU processes talk over gloo; on GPUs the same script uses NCCL.
#
# The check: two processes and one process, same seed and global batch, end with the same weights
# (up to float rounding of the sums).
#
# **Size:** `FULL = False` is tiny on purpose (two processes on a laptop: about 40 s, mostly start-up).
# `FULL = True` trains on all 7200 MNIST training digits instead of 800: measured train accuracy 0.745
# with 1 and with 2 processes, weights equal to 7e-8 (21 s of CPU).

# %%
FULL = False
N_TRAIN = 7200 if FULL else 800

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from snnkit import training

workdir = Path(tempfile.mkdtemp(prefix="snnkit_ddp_"))

# %% [markdown]
# ## A training script
# It is an ordinary script: nothing in it mentions processes. `torchrun` starts it N times.

# %%
script = workdir / "train.py"
script.write_text(f'''
import sys, torch
from torch import nn
import snnkit
from snnkit import neurons, training

torch.set_num_threads(1)
full = snnkit.data.load("mnist", "train", steps=4, flatten=True)
order = torch.randperm(len(full), generator=torch.Generator().manual_seed(0))[:{N_TRAIN}].tolist()
train_set = torch.utils.data.Subset(full, order)
torch.manual_seed(0)
model = neurons.Sequential(nn.Linear(784, 32), neurons.LIF(tau_mem=5.0), nn.Linear(32, 10), neurons.LI(tau_mem=5.0))
config = dict(epochs=1, batch_size=64, optimizer="sgd", momentum=0.0, lr=0.1, seed=0, progress=False)
trainer = training.Trainer(model, config, out_dir=sys.argv[1])
history = trainer.fit(train_set)
if trainer.rank == 0:
    print("world size", trainer.world_size, "train accuracy", round(history[-1]["train_accuracy"], 4))
''')

# %% [markdown]
# ## Run it with one and with two processes
# `python -m torch.distributed.run` is `torchrun`; `--standalone` sets up a local rendezvous.
# (`snnkit train CONFIG --nproc 2` does the same for a TOML config.)

# %%
env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
for n in (1, 2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
           str(script), str(workdir / f"run{n}")]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    print(f"{n} process(es):", done.stdout.strip().splitlines()[-1] if done.returncode == 0 else done.stderr[-2000:])

# %% [markdown]
# ## Same weights?

# %%
one = training.load_checkpoint(workdir / "run1" / "last.pt")["model"]["state_dict"]
two = training.load_checkpoint(workdir / "run2" / "last.pt")["model"]["state_dict"]
diffs = {k: (one[k] - two[k]).abs().max().item() for k in one}
print("largest weight difference per tensor:", diffs)
fig, ax = plt.subplots(figsize=(4, 4))
ax.scatter(one["0.weight"].flatten()[:5000], two["0.weight"].flatten()[:5000], s=1)
ax.set_xlabel("weight, 1 process"); ax.set_ylabel("weight, 2 processes"); ax.set_title("first layer")
plt.show()

# %% [markdown]
# **Takeaways:** the same script scales from one process to many; the result does not depend on the
# number of processes (up to rounding), because the global batch and the seed fix the data order.
# That ends the course: back to [the tutorial index](README.md).
