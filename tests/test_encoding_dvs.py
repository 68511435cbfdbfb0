"""DVS-style events against the analytic log-contrast count; saccades move the image as stated."""
import math

import torch

from snnkit.encoding import dvs_encode, saccade_frames


def test_events_count_log_contrast_steps():
    frames = torch.tensor([0.1, 0.1, 0.4, 0.4, 0.05]).reshape(5, 1, 1, 1)
    events = dvs_encode(frames, threshold=0.2, eps=0.05)
    on, off = events[:, 0, 0, 0, 0], events[:, 0, 1, 0, 0]
    assert on.tolist()[:2] == [0, 0] and off.tolist()[:4] == [0, 0, 0, 0]
    assert on[2] == math.floor(math.log(0.45 / 0.15) / 0.2)          # rise 0.1 -> 0.4: ln 3 / 0.2 -> 5
    assert off[4] == math.floor((math.log(0.45 / 0.1) - (math.log(0.45 / 0.15) % 0.2)) / 0.2)
    assert dvs_encode(torch.full((6, 2, 3, 3), 0.7)).sum() == 0           # a still scene is silent


def test_saccades_return_to_the_start_and_move_the_mass():
    image = torch.zeros(1, 12, 12)
    image[0, 4:7, 4:7] = 1.0
    frames = saccade_frames(image, steps=31, amplitude=2.0)
    torch.testing.assert_close(frames[0], image, atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[-1], image, atol=1e-5, rtol=0)
    ys, xs = torch.meshgrid(torch.arange(12.0), torch.arange(12.0), indexing="ij")
    mid = frames[10, 0]                                                    # end of the first saccade
    assert abs(float((mid * xs).sum() / mid.sum()) - 7.0) < 0.1           # centre 5 moved +2 right
    assert abs(float((mid * ys).sum() / mid.sum()) - 7.0) < 0.1           # and +2 down
