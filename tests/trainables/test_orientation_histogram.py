"""The data's gradient-orientation histogram (trainables/orientation.py): known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.orientation import symmetry_strengths
from trainables.orientation import orientation_histograms, orientation_rows
from trainables.rotation import rotate

S = 64


def ramp(angle: float) -> torch.Tensor:
    """A linear intensity ramp rising towards ``angle`` (counter-clockwise, as displayed): its
    gradient has that orientation at every pixel, and Sobel is exact on linear images."""
    r = torch.arange(S, dtype=torch.float64) - (S - 1) / 2
    rows, cols = torch.meshgrid(r, r, indexing="ij")
    t = math.radians(angle)
    return ((cols * math.cos(t) - rows * math.sin(t)) / S + 0.5).float()[None]


def rectangles(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, 3, S, S)
    for i in range(n):
        y0, x0 = torch.randint(8, 28, (2,), generator=g).tolist()
        h, w = torch.randint(10, 26, (2,), generator=g).tolist()
        out[i, :, y0:y0 + h, x0:x0 + w] = 1.0
    return out


@pytest.mark.parametrize("angle", [0, 30, 90, 135, 179])
def test_a_ramp_has_all_its_gradient_at_its_own_orientation(angle: int) -> None:
    h = orientation_histograms(ramp(angle))[0]
    assert h.sum() == pytest.approx(1.0)
    assert int(np.argmax(h)) == angle % 180
    assert h[angle % 180] > 0.99


@pytest.mark.parametrize(("angle", "turn"), [(30, 20), (30, 90), (10, 200), (100, 135)])
def test_rotating_the_image_shifts_the_histogram_by_the_same_angle(angle: int, turn: int
                                                                   ) -> None:
    h = orientation_histograms(rotate(ramp(angle), turn))[0]
    assert int(np.argmax(h)) == (angle + turn) % 180


def test_rectangles_peak_at_0_and_90_degrees() -> None:
    h = orientation_histograms(rectangles(12)).mean(axis=0)
    assert sorted(np.argsort(h)[-2:].tolist()) == [0, 90]
    assert h[0] + h[90] > 0.7
    strengths = symmetry_strengths(np.arange(180.0), h)
    assert strengths["strength_4"] > 0.6 > strengths["strength_2"]
    # a 90° rotation of the same images swaps the two peaks: exactly, against the images as
    # every angle sees them (the resampling at 0°; rotate(x, 90) is its rot90 bit for bit)
    seen = orientation_histograms(rotate(rectangles(12), 0)).mean(axis=0)
    turned = orientation_histograms(rotate(rectangles(12), 90)).mean(axis=0)
    assert turned[0] == pytest.approx(seen[90], rel=1e-5)
    assert turned[90] == pytest.approx(seen[0], rel=1e-5)
    resampled = orientation_histograms(rectangles(12), resample=True).mean(axis=0)
    assert resampled == pytest.approx(seen, abs=1e-6)


def test_resampled_noise_histogram_shifts_with_the_rotation() -> None:
    # white noise through the study's resampling: the histogram is flat at every angle and the
    # images rotated by 45° have the histogram of the images at 0° (no blur signature)
    noise = 0.5 + 0.1 * torch.randn(24, S, S, generator=torch.Generator().manual_seed(0))
    at0 = orientation_histograms(noise, n_bins=36, resample=True).mean(axis=0)
    at45 = orientation_histograms(rotate(noise, 45.0), n_bins=36).mean(axis=0)
    assert at0.max() / at0.min() < 1.15 and at45.max() / at45.min() < 1.15
    assert np.abs(at45 - at0).sum() < 0.04


def test_the_field_of_view_rim_is_not_an_edge() -> None:
    # a constant image cropped to the disk has a strong circular edge at the rim; none of it
    # may count (the histogram is empty), and a blank image is all zeros
    from trainables.rotation import apply_fov

    flat = apply_fov(torch.full((1, S, S), 0.8), "disk")
    assert orientation_histograms(flat, crop="disk").sum() == 0.0
    assert orientation_histograms(torch.zeros(2, 3, S, S)).sum() == 0.0
    # without a crop, every interior pixel counts: the disk's rim shows, in many orientations
    rim = orientation_histograms(flat, crop="none")[0]
    assert rim.sum() == pytest.approx(1.0) and np.count_nonzero(rim > 0.01) >= 8


def test_rows_average_images_and_check_bins() -> None:
    rows = orientation_rows(torch.cat([ramp(0), ramp(90)])[:, None].expand(-1, 3, -1, -1),
                            n_bins=36)
    assert [r["orientation"] for r in rows] == list(range(0, 180, 5))
    weights = {r["orientation"]: r["weight"] for r in rows}
    assert weights[0] == pytest.approx(0.5, abs=1e-3) and weights[90] == pytest.approx(0.5,
                                                                                    abs=1e-3)
    assert rows[0]["n_images"] == 2 and rows[0]["image_size"] == S and rows[0]["crop"] == "disk"
    with pytest.raises(ValueError, match="divide 180"):
        orientation_rows(ramp(0)[None], n_bins=7)
    with pytest.raises(ValueError, match="square"):
        orientation_histograms(torch.zeros(1, 8, 9))
