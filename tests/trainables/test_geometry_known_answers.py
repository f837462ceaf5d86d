"""Known answers of issue 19: masks share the images' geometry, and the field of view leaves no
frame cue. Each has the geometry it replaced as its positive control, in the same run, so the
test is strong enough to see the bias it rules out (detectors and scoring: bench/geometry.py;
the numbers: bench/rotation.py and docs/rotation.md)."""

from __future__ import annotations

import pytest
import torch

from bench.geometry import (
    DETECTORS,
    cnn_cue_accuracy,
    frame_cue_accuracy,
    old_fov,
    perfect_map_spread,
    pink_noise,
    white_noise,
)
from trainables.config import DataConfig
from trainables.data import build_dataset
from trainables.rotation import FOV_MARGIN, fov_mask

SIZE = 64
PER_CLASS = 600  # images per class; the held-out half is 600 images (s.e. 0.02 at chance)
CHANCE_BOUND = 0.56
ANGLES = [float(a) for a in range(0, 360, 15)]


def synthetic(kind: str, n: int, key: str, seed: int = 0) -> torch.Tensor:
    # the data's default noise: a constant background's variance would be float rounding,
    # which differs between 0° (no shears) and 45° (1e-7) and which log-variance features read
    data = build_dataset(DataConfig(name="synthetic", image_size=SIZE, params={
        "kind": kind, "n_images": n, "seed": seed}))
    return torch.stack([data[i][key] for i in range(n)])


@pytest.fixture(scope="module")
def masks() -> torch.Tensor:
    return torch.cat([synthetic(k, 4, "mask").bool() for k in ("ellipses", "rectangles")])


def test_a_perfect_map_scores_the_same_at_every_angle(masks: torch.Tensor) -> None:
    # the map is the rotated mask's own image; masks rotated through the images' path give
    # every metric flat over 0–345° (measured: 0 to float rounding)
    spread = perfect_map_spread(masks, ANGLES, "soft")
    assert max(spread.values()) <= 1e-3, spread
    # positive control: nearest-neighbour masks (the geometry before issue 19), same maps
    old = perfect_map_spread(masks, ANGLES, "nearest")
    assert old["dice"] > 5e-3 and old["soft_dice"] > 5e-3 and old["iou"] > 5e-3, old


def test_thresholding_the_soft_mask_for_every_metric_is_not_enough(masks: torch.Tensor
                                                                   ) -> None:
    # why the threshold-free metrics take the soft mask: against the binary one they move
    spread = perfect_map_spread(masks, ANGLES[:7], "thresholded")
    assert spread["dice"] <= 1e-6 and spread["auc"] <= 1e-6
    assert spread["soft_dice"] > 3e-3 and spread["mass_in_mask"] > 3e-3, spread


def test_field_of_view_keeps_its_margin() -> None:
    r = torch.arange(SIZE) - (SIZE - 1) / 2
    inside = fov_mask(SIZE)
    dist = (r[:, None] ** 2 + r[None, :] ** 2).sqrt()
    assert float(dist[inside].max()) <= SIZE / 2 - FOV_MARGIN
    assert bool(inside[dist <= SIZE / 2 - FOV_MARGIN - 0.5].all())
    with pytest.raises(ValueError, match="8-pixel image"):
        fov_mask(8)


@pytest.fixture(scope="module")
def white() -> dict[str, torch.Tensor]:
    return {"a": white_noise(PER_CLASS, SIZE, 0), "b": white_noise(PER_CLASS, SIZE, 1)}


@pytest.mark.parametrize("angles", [(0.0, 45.0), (90.0, 135.0)])
@pytest.mark.parametrize("detector", sorted(DETECTORS))
def test_white_noise_has_no_frame_cue(white: dict[str, torch.Tensor], detector: str,
                                      angles: tuple[float, float]) -> None:
    now = frame_cue_accuracy(white["a"], white["b"], angles, fov_mask(SIZE), detector)
    assert now <= CHANCE_BOUND, (detector, angles, now)
    if detector != "pixel_statistics":  # positive control: the rim before issue 19
        old = frame_cue_accuracy(white["a"], white["b"], angles, old_fov(SIZE), detector)
        assert old >= 0.6, (detector, angles, old)



def test_a_cnn_finds_no_cue_in_white_noise_and_finds_the_old_rules(
        white: dict[str, torch.Tensor]) -> None:
    # the detector family's learned member: every pixel, every local correlation the resampling
    # leaves; 300 images per class (held-out half 300, s.e. 0.03 at chance)
    a, b = white["a"][:300], white["b"][:300]
    for angles in ((0.0, 45.0), (90.0, 135.0)):
        now = cnn_cue_accuracy(a, b, angles, fov_mask(SIZE))
        assert now <= CHANCE_BOUND + 0.02, (angles, now)
    # positive control: bilinear interpolation smooths 45° and not 0° (1.00 with 600 per class)
    assert cnn_cue_accuracy(a, b, (0.0, 45.0), fov_mask(SIZE), mode="bilinear") >= 0.9

@pytest.mark.parametrize("kind", ["pink", "discs"])
def test_pink_noise_and_discs_have_no_frame_cue(kind: str) -> None:
    n = 300
    if kind == "pink":
        a, b = pink_noise(n, SIZE, 2), pink_noise(n, SIZE, 3)
    else:
        a, b = (synthetic("discs", n, "image", s).mean(1, keepdim=True) for s in (2, 3))
    for detector in DETECTORS:
        acc = frame_cue_accuracy(a, b, (0.0, 45.0), fov_mask(SIZE), detector)
        assert acc <= CHANCE_BOUND, (kind, detector, acc)
