"""Rotation and field of view: exact at multiples of 90°, consistent direction, common crop."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.rotation import _rotate_sampled, apply_fov, fov_mask, rotate, rotate_each


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_multiples_of_90_are_exact_rot90(k: int) -> None:
    x = torch.rand(2, 3, 17, 17)
    assert torch.equal(rotate(x, 90 * k), torch.rot90(x, k, dims=(-2, -1)))
    assert torch.equal(rotate(x, 90 * k + 360), rotate(x, 90 * k))
    assert torch.equal(rotate(x, -90 * k), torch.rot90(x, -k, dims=(-2, -1)))


def test_four_quarter_turns_are_identity_bit_for_bit() -> None:
    x = torch.rand(3, 16, 16)
    y = x
    for _ in range(4):
        y = rotate(y, 90)
    assert torch.equal(x, y)


@pytest.mark.parametrize("size", [8, 9, 32])
def test_sampled_path_agrees_with_rot90_direction(size: int) -> None:
    # the interpolating path, forced at 90°, must turn the same way as torch.rot90
    x = torch.rand(1, 3, size, size)
    assert torch.allclose(_rotate_sampled(x, 90.0, "bilinear"), rotate(x, 90), atol=1e-5)


def test_counter_clockwise_convention() -> None:
    x = torch.zeros(5, 5)
    x[2, 4] = 1.0  # right of centre
    y = rotate(x, 90)
    assert y[0, 2] == 1.0  # counter-clockwise: right -> top (rows grow downwards)


def test_small_angle_rotates_a_point_about_the_centre() -> None:
    size, angle = 65, 30.0
    x = torch.zeros(size, size)
    c = (size - 1) / 2
    x[int(c), int(c + 20)] = 1.0
    y = rotate(x, angle)
    row, col = divmod(int(y.argmax()), size)
    t = math.radians(angle)
    assert abs(col - (c + 20 * math.cos(t))) <= 1
    assert abs(row - (c - 20 * math.sin(t))) <= 1


def test_masks_stay_binary_under_nearest() -> None:
    mask = torch.zeros(32, 32, dtype=torch.bool)
    mask[8:20, 10:25] = True
    out = rotate(mask, 37, mode="nearest")
    assert out.dtype == torch.bool
    assert abs(int(out.sum()) - int(mask.sum())) <= 0.1 * int(mask.sum())


def test_rotate_each_matches_per_item_rotation() -> None:
    x = torch.rand(5, 3, 16, 16)
    angles = [0, 90, 45, 90, 13]
    out = rotate_each(x, angles)
    for i, a in enumerate(angles):
        assert torch.allclose(out[i], rotate(x[i], a))
    with pytest.raises(ValueError, match="5 angles"):
        rotate_each(x[:3], angles)


def test_disk_field_of_view_is_rotation_invariant() -> None:
    disk = fov_mask(32, "disk")
    for angle in (90, 180, 270):
        assert torch.equal(rotate(disk, angle, mode="nearest"), disk)
    for angle in (17, 45, 133):
        changed = rotate(disk, angle, mode="nearest") ^ disk
        r = torch.arange(32) - 15.5
        dist = (r[:, None] ** 2 + r[None, :] ** 2).sqrt()
        assert bool((dist[changed] > 15 - 1.5).all())  # only pixels on the rim differ
    # at any angle, the rotated image restricted to the disk only holds image content
    x = torch.ones(1, 32, 32)
    for angle in (10, 45, 77):
        inside = rotate(x, angle)[0][disk]
        assert float(inside.min()) > 0.99


def test_square_field_of_view_is_inscribed_in_the_disk() -> None:
    square = fov_mask(64, "square")
    disk = fov_mask(64, "disk")
    assert bool((square & ~disk).sum() == 0)
    side = int(square.any(0).sum())
    assert abs(side - 64 / math.sqrt(2)) <= 2


def test_apply_fov_zeroes_outside_and_checks_shape() -> None:
    x = torch.ones(2, 3, 16, 16)
    y = apply_fov(x, "disk")
    assert y[..., 0, 0].sum() == 0 and y[..., 8, 8].sum() == 6
    assert torch.equal(apply_fov(x, "none"), x)
    with pytest.raises(ValueError, match="square"):
        apply_fov(torch.ones(1, 8, 9), "disk")
