# %% [markdown]
# # 05 · Local learning: STDP, reward-modulated STDP and unsupervised Diehl & Cook
#
# **Idea:** brains do not backpropagate. Spike-timing-dependent plasticity (STDP) changes a synapse
# from what its two neurons did: strengthen it when the input spike came just *before* the output
# spike, weaken it when it came after. A third factor (a reward) turns STDP into reinforcement
# learning; lateral inhibition and adaptive thresholds turn it into unsupervised feature learning.
#
# `snnkit.plasticity` rules attach to any synapse (a `nn.Linear`, a convolution, a weight tensor) and
# are stepped once per time step with the pre- and post-synaptic spikes.
#
# **Size:** `FULL = False`: Diehl & Cook with 40 neurons, 600 MNIST digits learned one at a time
# (about 1 min of CPU; measured 49.6 % test accuracy on 500 digits, chance 10 %). `FULL = True`:
# 100 neurons, all 8,000 training digits, 2,000 test digits (about 10 min; the same settings in the example
# measured 69.8 %). The paper reports 82.9 %
# with 100 neurons on 60,000 digits; `examples/plasticity/diehl_cook_mnist.py` and
# docs/guide/plasticity.md give what this network reaches on our 8,000 digits.

# %%
FULL = False
N_NEURONS, N_TRAIN, N_TEST = (100, 8000, 2000) if FULL else (40, 600, 500)

import math

import matplotlib.pyplot as plt
import torch

import snnkit
from snnkit.functional import LIFParameters, lif_step
from snnkit.plasticity import AdaptiveThreshold, PairSTDP, lateral_inhibition, mstdpet

torch.set_num_threads(1)
torch.manual_seed(0)

# %% [markdown]
# ## The STDP window
# One pre spike and one post spike, `dt = t_post - t_pre` apart, and the weight change they cause.
# The analytic window is `a_plus * exp(-dt / tau_pre)` for `dt > 0` and `-a_minus * exp(dt / tau_post)`
# for `dt < 0`.

# %%
def pair_change(dt, steps=100, t_pre=50):
    w = torch.zeros(1, 1)
    rule = PairSTDP(w, tau_pre=20.0, tau_post=20.0, a_plus=0.01, a_minus=0.012)
    for t in range(steps):
        pre = torch.tensor([[float(t == t_pre)]])
        post = torch.tensor([[float(t == t_pre + dt)]])
        rule.step(pre, post)
    return w.item()

dts = list(range(-40, 41, 2))
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(dts, [pair_change(d) for d in dts], "o", label="snnkit PairSTDP")
grid = torch.linspace(-40, 40, 161)
analytic = torch.where(grid > 0, 0.01 * torch.exp(-grid / 20), -0.012 * torch.exp(grid / 20))
ax.plot(grid, analytic, "k-", lw=0.8, label="analytic")
ax.set_xlabel("t_post - t_pre (ms)"); ax.set_ylabel("weight change"); ax.legend()
plt.show()

# %% [markdown]
# ## Reward-modulated STDP
# Two output neurons must learn which of two input patterns calls for which of them. STDP alone
# cannot know; the reward arrives only at the end of each trial. `mstdpet` (Florian 2007) keeps an
# *eligibility trace* per synapse and sample, and converts it into a weight change when the reward
# (minus its running mean) arrives.

# %%
def reward_learning(blocks=30, n_in=40, steps=50, batch=16):
    g = torch.Generator().manual_seed(0)
    rates = torch.full((2, n_in), 0.02)
    rates[0, :20], rates[1, 20:] = 0.12, 0.12
    w = torch.full((2, n_in), 0.12) + 0.02 * torch.rand(2, n_in, generator=g)
    rule = mstdpet(w, tau_plus=10.0, tau_minus=10.0, tau_z=steps, a_plus=1.0, a_minus=1.0, per_sample=True,
                   lr=0.05, w_min=0.0, w_max=0.4)
    lif = LIFParameters(tau_mem=10.0, v_th=1.0, reset="hard")
    baseline, curve = 0.0, []
    for _ in range(blocks):
        labels = torch.randint(0, 2, (batch,), generator=g)
        pre_seq = (torch.rand(steps, batch, n_in, generator=g) < rates[labels]).float()
        v, counts = torch.zeros(batch, 2), torch.zeros(batch, 2)
        rule.reset()
        for t, pre in enumerate(pre_seq.unbind(0)):
            s, v = lif_step(pre @ w.t() + 0.05 * torch.randn(batch, 2, generator=g), v, lif)
            counts += s
            if t < steps - 1:
                rule.step(pre, s)                                # eligibility only
        tie = torch.randint(0, 2, (batch,), generator=g)
        answer = torch.where(counts[:, 0] == counts[:, 1], tie, counts.argmax(1))
        reward = (answer == labels).float() * 2 - 1
        rule.step(pre_seq[-1], s, modulator=reward - baseline)  # the reward arrives at the end
        baseline = 0.9 * baseline + 0.1 * reward.mean().item()
        curve.append((answer == labels).float().mean().item())
    return curve, w

curve, w = reward_learning()
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].plot([100 * c for c in curve]); axes[0].set_xlabel("block of 16 trials"); axes[0].set_ylabel("correct (%)")
im = axes[1].imshow(w, aspect="auto"); axes[1].set_xlabel("input"); axes[1].set_ylabel("output neuron")
fig.colorbar(im, ax=axes[1], label="weight"); axes[1].set_title("weights after learning")
plt.show()
print(f"first 5 blocks {sum(curve[:5]) / 5:.0%} correct, last 5 blocks {sum(curve[-5:]) / 5:.0%}")

# %% [markdown]
# ## Unsupervised learning of digits (Diehl & Cook 2015)
# Excitatory LIF neurons see Poisson-coded MNIST digits (a white pixel fires at 63.75 Hz) through a
# plastic synapse trained with pair STDP, **without labels**, one digit at a time for 350 ms. Each
# excitatory spike lowers every other membrane by 17.5 mV (through the inhibitory layer: a soft
# winner-take-all), each spike raises its neuron's threshold a little (`AdaptiveThreshold`: busy neurons
# make room for others), and after each digit each neuron's input weights are rescaled to a fixed sum.
# Afterwards each neuron is labelled with the class it fires most for, and test digits are classified
# by the labelled neurons' votes. The paper's constants, in mV above rest and ms (dt = 1 ms).

# %%
images, labels = snnkit.data.load_mnist_arrays("train")
test_images, test_labels = snnkit.data.load_mnist_arrays("test")
g = torch.Generator().manual_seed(0)
pick = torch.randperm(len(labels), generator=g)[:N_TRAIN]          # files are sorted by class
x, y = images[pick].flatten(1).float() / 255, labels[pick]
x_test, y_test = test_images[:N_TEST].flatten(1).float() / 255, test_labels[:N_TEST]
STEPS, BETA, V_TH, V_RESET, INHIBITION = 350, math.exp(-1 / 100), 13.0, 5.0, 17.5


def present(xb, w, theta, stdp=None):
    """Show digits [B, 784] for 350 ms; returns spike counts [B, neurons]. Learns from one digit when
    ``stdp`` is given (then the thresholds rise too). A digit making < 5 spikes is shown again brighter."""
    rate = torch.full((len(xb), 1), 63.75)
    while True:
        pre_seq = (torch.rand(STEPS, *xb.shape, generator=g) < xb * rate / 1000).float()
        drive = pre_seq @ w.t()                                   # weights change only between digits
        v, last = torch.zeros_like(drive[0]), torch.full_like(drive[0], -99.0)
        post, threshold = torch.zeros_like(drive), theta.threshold()
        for t in range(STEPS):
            v = v * BETA + drive[t]
            if t > 0 and post[t - 1].any():
                v = v + lateral_inhibition(post[t - 1], INHIBITION)
            v = torch.where(t - last < 5, V_RESET, v)                # refractory for 5 ms
            post[t] = (v > threshold).float()
            v, last = torch.where(post[t] > 0, V_RESET, v), torch.where(post[t] > 0, t, last)
            if stdp is not None:
                threshold = threshold + theta.theta_plus * post[t]
        if stdp is not None:
            theta.step(post.sum(0))
            stdp.reset(); stdp.run(pre_seq, post); stdp.flush()    # STDP summed over the digit
            w.mul_(78.4 / w.sum(1, keepdim=True))                  # fixed input sum per neuron
        counts = post.sum(0)
        if counts.sum(1).min() >= 5 or rate.max() > 600:
            return counts
        rate[counts.sum(1) < 5] += 32.0


w = 0.3 * torch.rand(N_NEURONS, 784, generator=g)
w.mul_(78.4 / w.sum(1, keepdim=True))
# the paper raises thresholds by 0.05 mV per spike over 60,000 digits; with a few hundred digits the
# thresholds must rise faster, or most neurons never get to fire and learn
theta = AdaptiveThreshold(N_NEURONS, v_th=V_TH, theta_plus=0.25, tau_theta=1e7, dt=500.0)  # one step per digit
stdp = PairSTDP(w, tau_pre=20.0, tau_post=20.0, a_plus=1e-2, a_minus=1e-4, update="accumulate", w_min=0.0, w_max=1.0)
for digit in x:
    present(digit[None], w, theta, stdp)

responses = lambda data: torch.cat([present(data[i:i + 100], w, theta) for i in range(0, len(data), 100)])
r_train, r_test = responses(x), responses(x_test)
neuron_label = torch.stack([r_train[y == c].mean(0) for c in range(10)]).argmax(0)
votes = torch.stack([r_test[:, neuron_label == c].mean(1) if (neuron_label == c).any()
                     else torch.zeros(len(x_test)) for c in range(10)], 1)
accuracy = (votes.argmax(1) == y_test).float().mean().item()
print(f"unsupervised STDP, {N_NEURONS} neurons, {N_TRAIN} digits: test accuracy {accuracy:.1%} (chance 10 %)")

# %%
fig, axes = plt.subplots(4, 8, figsize=(10, 5.5))
for k, ax in enumerate(axes.flat):
    ax.imshow(w[k].reshape(28, 28), cmap="hot_r"); ax.set_title(int(neuron_label[k]), fontsize=8); ax.axis("off")
fig.suptitle("learned receptive fields of 32 neurons and the class each one votes for")
plt.show()

# %% [markdown]
# **Takeaways:** STDP reproduces its analytic window; a reward signal turns it into trial-and-error
# learning; competition turns it into unsupervised feature learning. More rules (triplet STDP, e-prop,
# Oja, BCM, SoftHebb, homeostasis) live in `snnkit.plasticity`; see `examples/plasticity/`.
# **Next:** 06 uses a Hebbian rule to stop a network from forgetting.
