"""Adversarial robustness on real digits: an MLP 784-256-10 trained as an ANN (ReLU), as an SNN with
direct encoding and as an SNN with rate encoding (LIF, T steps, surrogate gradients); accuracy under
FGSM and PGD (L-inf, pixels in [0, 1]) crafted through each model's own gradient (the SNN's surrogate),
through a different surrogate than training's, through an ensemble of surrogates, and transferred from
the ANN twin.

    SNNKIT_DISABLE_CPP=1 PYTHONPATH=. python examples/methods/adversarial_digits.py --train 4000 --test 500
"""
from __future__ import annotations

import argparse
from functools import partial

import torch
from torch import nn

from _common import accuracy, digits, load_average, train_classifier
from snnkit.neurons import LIF, Sequential
from snnkit.training.adversarial import accuracy_under_attack, direct_encode, rate_encode


def snn_logits(model, xb, T, encoding, generator=None):
    xs = direct_encode(xb, T) if encoding == "direct" else rate_encode(xb, T, generator)
    return model(xs).mean(0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--test", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--pgd-steps", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = digits(a.train, a.test)
    T, eps_list = a.steps, [0.0, 0.02, 0.05, 0.1, 0.2]
    print(f"MNIST {a.train} train / {a.test} test, MLP 784-256-10, T={T}, {a.epochs} epochs, "
          f"PGD {a.pgd_steps} steps; {load_average()}")

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    ann_fwd = lambda m, xb: m(xb)  # noqa: E731
    train_classifier(ann, ann_fwd, xtr, ytr, a.epochs)
    models = {"ANN": (ann, partial(ann_fwd, ann))}
    for enc in ("direct", "rate"):
        torch.manual_seed(0)
        snn = Sequential(nn.Linear(784, 256), LIF(4.0, reset="subtract"), nn.Linear(256, 10))
        fwd = lambda m, xb, enc=enc: snn_logits(m, xb, T, enc)  # noqa: E731
        train_classifier(snn, fwd, xtr, ytr, a.epochs)
        snn.eval()
        models[f"SNN {enc}"] = (snn, partial(fwd, snn))

    def show(name, curve):
        print(f"  {name:44s} " + "  ".join(f"{100 * curve[e]:5.1f}" for e in eps_list), flush=True)

    print("accuracy (%) at eps =" + " ".join(f"{e:6.2f}" for e in eps_list))
    for attack in ("fgsm", "pgd"):
        opts = {"steps": a.pgd_steps, "generator": torch.Generator().manual_seed(0)} if attack == "pgd" else {}
        for name, (model, f) in models.items():
            show(f"{attack.upper()} {name} (own gradient)", accuracy_under_attack(f, xte, yte, eps_list, attack, **opts))
            if name.startswith("SNN"):
                show(f"{attack.upper()} {name} (rectangular surrogate)",
                     accuracy_under_attack(f, xte, yte, eps_list, attack, model=model,
                                           surrogates=["rectangular"], **opts))
                show(f"{attack.upper()} {name} (ensemble atan+sigmoid+triangle)",
                     accuracy_under_attack(f, xte, yte, eps_list, attack, model=model,
                                           surrogates=["atan", "sigmoid", "triangle"], **opts))
                show(f"{attack.upper()} {name} (transfer from ANN twin)",
                     accuracy_under_attack(models["ANN"][1], xte, yte, eps_list, attack, eval_fn=f, **opts))


if __name__ == "__main__":
    main()
