"""Build each registered spiking model and its ANN twin, and print parameters and per-sample costs on
random Randman-like spikes (no training; see ``snnkit compare`` for trained accuracy).

    python examples/models/costs_of_pairs.py
"""
import torch

from snnkit import analysis, models


def main() -> None:
    torch.manual_seed(0)
    steps, features, classes = 20, 16, 4
    x = (torch.rand(steps, 8, features) < 0.1).float()
    print(f"{'model':<26} {'form':<8} {'params':>8} {'MACs':>10} {'ACs':>10} {'energy nJ':>10}")
    for name in models.names():
        for spiking in models.forms(name):
            model = models.create(name, spiking=spiking, in_features=features, num_classes=classes, steps=steps)
            c = analysis.count_costs(model, x, event_driven=spiking)
            print(f"{name:<26} {'spiking' if spiking else 'ann':<8} {c.params:>8d} {c.macs:>10.3g} {c.acs:>10.3g} "
                  f"{c.energy_pj / 1e3:>10.3g}")


if __name__ == "__main__":
    main()
