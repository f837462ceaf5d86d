"""Known answers of the resampling (issue 11): no angle can be told from another by blur.

The negative controls (synthetic ``noise`` and ``discs``: nothing in their distribution changes
under any rotation) must stay at chance at every angle, for HoG + RBF-SVM, for the gradient
magnitude and for a small CNN trained as RotNet, while real orientation (axis-aligned
rectangles at 45°) is still found. Each check also runs the old rule (exact rot90, bilinear
elsewhere) as its positive control: the same detector does find its blur, so "at chance" is
the resampling's merit, not the detector's weakness.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from bench import rotation as bench_rotation
from trainables.config import DataConfig, HogConfig
from trainables.data import build_dataset
from trainables.hog_svm import hog_features, hog_svm_curve, svm_accuracy
from trainables.pretext.rotnet import rotation_batch
from trainables.rotation import Interpolation, apply_fov, rotate, rotate_each

CHANCE_CEILING = 0.62  # issue 11: "stay at chance (≤ 0.62)" for 64 images, nested CV
ANGLES = [0.0, 30.0, 45.0, 90.0, 135.0, 180.0, 270.0]
# the HoG setting (64 px, 16-px cells, nested grouped CV) with 128 images: at 64 the
# null accuracy has a standard deviation of ~0.05, so 12 null angles would cross 0.62 by chance
# one run in six; at 128 (~0.035) they do not
HOG = HogConfig(n_images=128, image_size=64, pixels_per_cell=16, cv_folds=3, nested=True)


def images(kind: str, n: int, size: int, seed: int = 0, **params: object) -> torch.Tensor:
    data = build_dataset(DataConfig(name="synthetic", image_size=size, params={
        "kind": kind, "n_images": n, "seed": seed, **params}))
    return torch.stack([data[i]["image"] for i in range(n)])


def old_rule_accuracy(gray: torch.Tensor, angle: float) -> float:
    """HoG-SVM "rotated or not" with the old rule's rotations (exact 0°, bilinear at θ)."""
    n = gray.shape[0]
    base, turned = (hog_features(apply_fov(rotate(gray, a, mode="bilinear"), "disk").numpy(),
                                 HOG) for a in (0.0, angle))
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    groups = np.r_[np.arange(n), np.arange(n)]
    return svm_accuracy(np.concatenate([base, turned]), y, groups, HOG)["accuracy"]


@pytest.mark.parametrize(("kind", "params"), [("noise", {"noise": 0.1}), ("discs", {})])
def test_hog_svm_stays_at_chance_on_the_negative_controls(kind: str, params: dict) -> None:
    data = images(kind, HOG.n_images, 64, **params)
    rows = hog_svm_curve(data, ANGLES, HOG)
    acc = {r["eval_angle"]: r["accuracy"] for r in rows}
    assert all(a <= CHANCE_CEILING for a in acc.values()), acc
    # positive control: the old rule's blur at 45° is found (issue 11: 1.0 on noise, 0.9 on
    # discs)
    assert old_rule_accuracy(data.mean(1), 45.0) >= 0.85


def test_hog_svm_still_finds_real_orientation() -> None:
    rows = hog_svm_curve(images("rectangles", 64, 64), [45.0, 90.0], replace(HOG, n_images=64))
    acc = {r["eval_angle"]: r["accuracy"] for r in rows}
    assert acc[45.0] >= 0.9 and acc[90.0] <= CHANCE_CEILING, acc


def mean_gradient(x: torch.Tensor) -> float:
    """Mean central-difference gradient magnitude inside the disk, 3 px clear of its rim."""
    gy = (x[..., 2:, 1:-1] - x[..., :-2, 1:-1]) / 2
    gx = (x[..., 1:-1, 2:] - x[..., 1:-1, :-2]) / 2
    s = x.shape[-1]
    r = torch.arange(s - 2) - (s - 3) / 2
    keep = (r[:, None] ** 2 + r[None, :] ** 2) <= (s / 2 - 4) ** 2
    return float(torch.hypot(gx, gy)[..., keep].mean())


def test_gradient_magnitude_of_noise_is_the_same_at_every_angle() -> None:
    noise = images("noise", 32, 64, noise=0.1).mean(1)
    ours = {a: mean_gradient(rotate(noise, a)) for a in (0.0, 10.0, 30.0, 45.0, 90.0, 135.0)}
    assert max(ours.values()) / min(ours.values()) < 1.02, ours
    old = {a: mean_gradient(rotate(noise, a, mode="bilinear")) for a in (0.0, 45.0)}
    assert old[45.0] / old[0.0] < 0.8, old  # issue 11: 0.051 → 0.034


def rotnet_accuracy(mode: Interpolation, steps: int = 300, size: int = 32) -> float:
    """Held-out accuracy of a small CNN trained to tell discs at 0° from discs at 45°
    (bench/rotation.py's measurement, with the rotation rule ``mode``).

    32 px and 300 steps since the field of view's 4-px margin (issue 19): it leaves a 24-px
    image a disk of radius 8 (was 11, reaching the rim the old rule darkened), on which the
    old rule's positive control fell from 1.00 to 0.78 (150 steps; 0.77 at 300, 0.55 at 32 px
    and 150). At 32 px and 300 steps: old rule 0.99, the default 0.49."""
    return bench_rotation.rotnet_accuracy(lambda x, a: rotate_each(x, a, mode), (0.0, 45.0),
                                          size, steps)


def test_the_bench_rotnet_batch_is_the_projects() -> None:
    x = images("discs", 4, 24)
    project, _ = rotation_batch(x, (0.0, 45.0), True, torch.Generator(), "disk")
    gray = x[:, :1].repeat_interleave(2, dim=0)
    ours = apply_fov(rotate_each(gray, [0.0, 45.0] * 4, "band_limited"), "disk")
    assert torch.allclose(project, ours.expand(-1, 3, -1, -1), atol=1e-6)


def test_rotnet_cannot_tell_45_from_0_on_discs() -> None:
    # issue 11: with the old rule RotNet learned {0, 45} on discs to 1.00 held-out accuracy
    assert rotnet_accuracy("bilinear") >= 0.9  # the detector is strong enough
    assert rotnet_accuracy("band_limited") < 0.65
