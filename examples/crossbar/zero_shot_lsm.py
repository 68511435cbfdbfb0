"""Zero-shot cross-modal classification with resistive-memory liquid state machines, on real digits.

Two modalities of the same real MNIST digits (`snnkit data prepare mnist`):

* image: the digit read row by row (28 steps, 28 channels, each pixel a Bernoulli spike with its
  intensity as probability);
* events: the digit (pooled to 14 x 14) moved along N-MNIST's three saccades and recorded by a
  DVS-style brightness-change converter (snnkit.encoding.dvs_encode): 2 x 14 x 14 ON/OFF channels.

Each modality drives its own reservoir whose weights are the programming noise of RRAM devices
(snnkit.hardware.crossbar.ResistiveLSM; nothing in the reservoir is trained). Two linear encoders map
the reservoirs' windowed spike counts into a shared 64-d space, trained with a contrastive loss on
paired samples of the SEEN classes 0-6 only. Zero-shot test: event samples of the UNSEEN classes 7-9
are classified by the nearest class prototype built from image samples of those classes (no event
sample of 7-9 and no encoder update ever saw them); chance is 1/3. Also reported: cross-modal
accuracy on held-out samples of the seen classes (chance 1/7), and the same pipeline with the
reservoirs' recurrence switched off and with no reservoir (encoders on windowed input counts).
"""
from __future__ import annotations

import argparse

import torch

from snnkit.data import load_mnist_arrays
from snnkit.encoding import dvs_encode, saccade_frames
from snnkit.hardware.crossbar import ResistiveLSM
from snnkit.training.contrastive import contrastive_loss, nearest_prototype

SEEN, UNSEEN = list(range(7)), [7, 8, 9]


def modalities(images: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(row-scan spikes [28, B, 28], DVS events [30, B, 392]) of uint8 images [B, 28, 28]."""
    g = torch.Generator().manual_seed(seed)
    x = images.float() / 255
    rows = (torch.rand(x.transpose(0, 1).shape, generator=g) < x.transpose(0, 1)).float()
    small = torch.nn.functional.avg_pool2d(x[:, None], 2)[:, 0]
    events = dvs_encode(saccade_frames(small, steps=30, amplitude=1.5), threshold=0.3).clamp(max=1)
    return rows, events.flatten(2)


def windowed_counts(spikes: torch.Tensor, windows: int = 4) -> torch.Tensor:
    return torch.cat([c.sum(0) for c in torch.tensor_split(spikes, windows, dim=0)], 1)


def features(kind: str, rows, events, seed: int, neurons: int):
    if kind == "no reservoir (input counts)":
        return windowed_counts(rows), windowed_counts(events)
    gain = 0.0 if kind == "reservoir without recurrence" else 1.0
    out = []
    for i, x in enumerate((rows, events)):
        lsm = ResistiveLSM(x.shape[2], neurons, input_gain=2.0, recurrent_gain=gain, seed=seed + i)
        out.append(torch.cat([lsm.features(chunk)[:, :-1] for chunk in x.split(250, dim=1)]))
    return out[0], out[1]


def standardise(train: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    mean, std = train.mean(0), train.std(0).clamp_min(1e-3)
    return [(t - mean) / std for t in (train, *others)]


def run(kind: str, train_imgs, train_y, test_imgs, test_y, args) -> tuple[float, float]:
    fa, fb = features(kind, *modalities(torch.cat([train_imgs, test_imgs]), args.seed), args.seed, args.neurons)
    n = len(train_y)
    fa_train, fa_test = standardise(fa[:n], fa[n:])
    fb_train, fb_test = standardise(fb[:n], fb[n:])
    torch.manual_seed(args.seed)
    enc_a, enc_b = torch.nn.Linear(fa.shape[1], 64), torch.nn.Linear(fb.shape[1], 64)
    optimiser = torch.optim.Adam([*enc_a.parameters(), *enc_b.parameters()], lr=1e-3, weight_decay=1e-4)
    seen = torch.isin(train_y, torch.tensor(SEEN))
    a_seen, b_seen = fa_train[seen], fb_train[seen]
    g = torch.Generator().manual_seed(args.seed)
    for _ in range(args.steps):
        batch = torch.randint(0, len(a_seen), (128,), generator=g)
        optimiser.zero_grad()
        contrastive_loss(enc_a(a_seen[batch]), enc_b(b_seen[batch]), temperature=0.1).backward()
        optimiser.step()
    with torch.no_grad():
        za_train, zb_test = enc_a(fa_train), enc_b(fb_test)
        unseen_train, unseen_test = ~seen, torch.isin(test_y, torch.tensor(UNSEEN))
        zero_shot = nearest_prototype(zb_test[unseen_test], za_train[unseen_train], train_y[unseen_train])
        zero_shot_acc = float((zero_shot == test_y[unseen_test]).float().mean())
        seen_test = ~unseen_test
        cross = nearest_prototype(zb_test[seen_test], za_train[seen], train_y[seen])
        seen_acc = float((cross == test_y[seen_test]).float().mean())
    return zero_shot_acc, seen_acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=3000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--neurons", type=int, default=300)
    p.add_argument("--steps", type=int, default=400, help="contrastive training steps (batch 128)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(2)
    train_imgs, train_y = load_mnist_arrays("train")
    test_imgs, test_y = load_mnist_arrays("test")
    train_imgs, train_y, test_imgs, test_y = train_imgs[:args.train], train_y[:args.train], test_imgs[:args.test], test_y[:args.test]
    print(f"{'pipeline':>30}  zero-shot (unseen 7-9, chance 0.33)  cross-modal (seen 0-6, chance 0.14)")
    for kind in ("RRAM reservoir (recurrent)", "reservoir without recurrence", "no reservoir (input counts)"):
        zero_shot, seen = run(kind, train_imgs, train_y, test_imgs, test_y, args)
        print(f"{kind:>30}  {zero_shot:>34.3f}  {seen:>35.3f}")


if __name__ == "__main__":
    main()
