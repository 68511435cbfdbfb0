"""A ReLU MLP (784-48-10) trained briefly on real MNIST digits, deployed on Loihi 2 as Lava sigma-delta
neurons (graded spikes); prints ANN and sigma-delta accuracy on 2000 test digits and the largest logit error.

    python examples/deploy/loihi_sigma_delta_mnist.py
"""
import torch, numpy as np
from torch import nn
from snnkit.data import load_mnist_arrays
from snnkit.hardware.loihi import sigma_delta_network
torch.set_num_threads(1); torch.manual_seed(0)
xs, ys = load_mnist_arrays("train"); xt, yt = load_mnist_arrays("test")
x, y = torch.as_tensor(xs[:2000]).float() / 255.0, torch.as_tensor(ys[:2000])
x_test, y_test = torch.as_tensor(xt[:2000]).float() / 255.0, torch.as_tensor(yt[:2000])
ann = nn.Sequential(nn.Flatten(), nn.Linear(784, 48), nn.ReLU(), nn.Linear(48, 10))
opt = torch.optim.Adam(ann.parameters(), lr=3e-3)
for _ in range(4):
    for i in range(0, 2000, 100):
        loss = nn.functional.cross_entropy(ann(x[i:i + 100]), y[i:i + 100]); opt.zero_grad(); loss.backward(); opt.step()
with torch.no_grad(): logits = ann(x_test).double().numpy()
net = sigma_delta_network(ann, x[:500]); out = net.run(x_test)
print("ann", (logits.argmax(1) == y_test.numpy()).mean(), "sdn", (out.argmax(1) == y_test.numpy()).mean(),
      "max logit err rel", np.abs(out - logits).max() / np.abs(logits).max(), [l.state_exp for l in net.layers])
