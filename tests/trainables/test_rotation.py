"""Rotation and field of view: one resampling at every angle, exact quarter turns, exact masks,
the old bilinear rule against torchvision, a consistent direction, the common crop."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from trainables.band_limited import band_limit, padded_size
from trainables.rotation import (
    FOV_MARGIN,
    apply_fov,
    fov_mask,
    quarter_turns,
    rotate,
    rotate_each,
    rotate_grid,
    split_angles,
)


def bump(size: int, angle: float = 0.0, at: tuple[float, float] = (12.0, -5.0),
         sigma: float = 2.0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A Gaussian bump centred ``at`` (x right, y down, from the image centre), turned
    counter-clockwise by ``angle`` about the centre, drawn analytically: its spectrum is almost
    all inside the pass band, so the exact rotation is known."""
    t = math.radians(angle)
    cx = at[0] * math.cos(t) + at[1] * math.sin(t)
    cy = -at[0] * math.sin(t) + at[1] * math.cos(t)
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma**2)).to(dtype)[None]


def interior(size: int, margin: float) -> torch.Tensor:
    """Pixels farther than ``margin`` from the frame's inscribed circle: out of reach of the
    band-limit's mirrored border."""
    r = torch.arange(size) - (size - 1) / 2
    return (r[:, None] ** 2 + r[None, :] ** 2).sqrt() <= size / 2 - margin


@pytest.mark.parametrize("base", [0.0, 0.1, 12.5, 44.9, 45.0, -30.0])
def test_quarter_turns_commute_exactly_with_the_resampling(base: float) -> None:
    # rotate(x, a + 90k) is rot90 of rotate(x, a) bit for bit: 90° differs from 0° by nothing
    # but an exact permutation of pixels, whatever the resampling does at a
    x = torch.rand(2, 3, 17, 17, generator=torch.Generator().manual_seed(0))
    at = rotate(x, base)
    for k in (1, 2, 3):
        assert torch.equal(rotate(x, base + 90 * k), torch.rot90(at, k, dims=(-2, -1)))
    assert torch.equal(rotate(x, base + 360), at)
    assert torch.equal(rotate(x, base - 360), at)


def test_every_angle_is_resampled_zero_included() -> None:
    noise = torch.rand(1, 32, 32, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(rotate(noise, 0), noise)  # the band-limit acts at 0° too
    assert torch.equal(rotate(noise, 0), rotate(noise, 1e-9))  # below the tolerance: 0°
    # an image inside the pass band goes through (almost) unchanged
    smooth = bump(65)
    assert float((rotate(smooth, 0) - smooth).abs().max()) < 5e-4


@pytest.mark.parametrize("angle", [0.1, 17.3, 45.0, 200.5, 359.9])
def test_the_rotation_adds_no_blur(angle: float) -> None:
    # rotating the band-limited image equals band-limiting the rotated image (to 1e-6, away
    # from the mirrored border): the shears are exact, every angle sees the same band-limit
    size = 65
    inner = interior(size, 8)
    ours = rotate(bump(size), angle)
    assert float((ours - rotate(bump(size, angle), 0))[..., inner].abs().max()) < 1e-6
    # against the analytic rotation: off by the band-limit alone (the bump's few % of energy
    # above 0.3 cycles/pixel), where the old bilinear rule is off by its sub-pixel blur
    disk = fov_mask(size)
    truth = bump(size, angle)
    assert float((ours - truth)[..., disk].abs().max()) < 5e-4
    old = rotate(bump(size).float(), angle, mode="bilinear")
    assert float((old - truth)[..., disk].abs().max()) > (1e-3 if angle in (0.1, 359.9) else 1e-2)


@pytest.mark.parametrize("angle", [0.1, 17.3, 45.0, 200.5, 359.9])
def test_old_rule_matches_torchvision_at_fractional_angles(angle: float) -> None:
    x = torch.rand(2, 3, 33, 33, generator=torch.Generator().manual_seed(2))
    ref = TF.rotate(x, angle, interpolation=InterpolationMode.BILINEAR)
    torch.testing.assert_close(rotate(x, angle, mode="bilinear"), ref, atol=1e-5, rtol=0)
    # the band-limited rotation turns the same way about the same centre as torchvision
    smooth = bump(33, at=(6.0, -3.0), sigma=3.0, dtype=torch.float32)
    ref = TF.rotate(smooth, angle, interpolation=InterpolationMode.BILINEAR)
    assert float((rotate(smooth, angle) - ref)[..., interior(33, 4)].abs().max()) < 0.05


def test_small_fractional_angles_are_distinct_and_tiny() -> None:
    smooth = bump(65, at=(20.0, 0.0))
    plus, minus = rotate(smooth, 0.1), rotate(smooth, 359.9)
    torch.testing.assert_close(minus, rotate(smooth, -0.1), atol=1e-9, rtol=0)
    for turned, angle in ((plus, 0.1), (minus, -0.1)):
        assert float((turned - bump(65, angle, at=(20.0, 0.0))).abs().max()) < 5e-4
        # 0.1° moves a point 20 px from the centre by 0.035 px: visible, not a rounding error
        assert float((turned - rotate(smooth, 0)).abs().max()) > 5e-3


def test_split_angles() -> None:
    quarters, rest = split_angles(torch.tensor([0.0, 90.0, 359.9, 134.0, -90.0, 45.0, 315.0],
                                               dtype=torch.float64))
    assert quarters.tolist() == [0, 1, 0, 1, 3, 1, 0]  # ±45° both go to −45°
    assert torch.allclose(rest, torch.tensor([0.0, 0.0, -0.1, 44.0, 0.0, -45.0, -45.0],
                                             dtype=torch.float64))


def test_counter_clockwise_convention() -> None:
    x = torch.zeros(1, 9, 9)
    x[0, 4, 7] = 1.0  # right of centre
    for mode in ("band_limited", "bilinear", "nearest"):
        row, col = divmod(int(rotate(x, 90, mode=mode).argmax()), 9)
        assert (row, col) == (1, 4)  # counter-clockwise: right -> top (rows grow downwards)


def test_small_angle_rotates_a_point_about_the_centre() -> None:
    size, angle = 65, 30.0
    y = rotate(bump(size, at=(20.0, 0.0), sigma=1.5), angle)
    row, col = divmod(int(y.argmax()), size)
    c, t = (size - 1) / 2, math.radians(angle)
    assert abs(col - (c + 20 * math.cos(t))) <= 1
    assert abs(row - (c - 20 * math.sin(t))) <= 1


def test_masks_are_exact_at_quarter_turns_and_stay_binary() -> None:
    mask = torch.zeros(3, 32, 32, dtype=torch.bool)
    mask[:, 8:20, 10:25] = True
    mask[1, 2:5, 3:30] = True
    for k in range(4):
        assert torch.equal(rotate(mask, 90 * k, mode="nearest"), torch.rot90(mask, k, (-2, -1)))
    out = rotate(mask, 37.5, mode="nearest")
    assert out.dtype == torch.bool
    assert abs(int(out[0].sum()) - int(mask[0].sum())) <= 0.1 * int(mask[0].sum())
    labels = torch.randint(0, 5, (32, 32), generator=torch.Generator().manual_seed(0))
    assert set(rotate(labels, 22.5, mode="nearest").unique().tolist()) <= set(range(5))


def test_rotate_each_matches_per_item_rotation() -> None:
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    angles = [0, 90, 45.5, 90, 13, 359.9]
    for mode in ("band_limited", "bilinear"):
        out = rotate_each(x, angles, mode)
        for i, a in enumerate(angles):
            torch.testing.assert_close(out[i], rotate(x[i], a, mode), atol=1e-6, rtol=0)
    assert torch.equal(rotate_each(x, torch.tensor(angles, dtype=torch.float64)),
                       rotate_each(x, angles))
    with pytest.raises(ValueError, match="6 angles for a batch of 3"):
        rotate_each(x[:3], angles)


def test_rotate_grid_is_every_item_at_every_angle() -> None:
    x = torch.rand(3, 2, 16, 16, generator=torch.Generator().manual_seed(6))
    angles = [0.0, 90.0, 30.0, 120.0, 270.0]
    grid = rotate_grid(x, angles)
    assert grid.shape == (3, 5, 2, 16, 16)
    for j, a in enumerate(angles):
        torch.testing.assert_close(grid[:, j], rotate(x, a), atol=1e-6, rtol=0)
    # one resampling per remainder: the quarter turns of it are exact
    assert torch.equal(grid[:, 1], torch.rot90(grid[:, 0], 1, dims=(-2, -1)))
    assert torch.equal(grid[:, 3], torch.rot90(grid[:, 2], 1, dims=(-2, -1)))
    quarters = torch.tensor([0, 1, 3])
    assert torch.equal(quarter_turns(x, quarters)[2], torch.rot90(x[2], 3, dims=(-2, -1)))


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="square"):
        rotate(torch.rand(3, 8, 9), 10)
    with pytest.raises(ValueError, match="float images"):
        rotate(torch.ones(8, 8, dtype=torch.long), 10)
    with pytest.raises(ValueError, match="unknown mode 'bicubic'"):
        rotate(torch.rand(8, 8), 10, mode="bicubic")  # type: ignore[arg-type]


def test_gradients_flow_through_the_rotation() -> None:
    # the rotation is linear: autograd's gradient equals the numerical one, and its adjoint
    # pairs with it (<R x, y> = <x, R* y>)
    x = torch.rand(1, 1, 9, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: rotate_each(t, [30.0]), (x,))
    y = torch.rand(1, 1, 9, 9, dtype=torch.float64)
    (rotate(x, 30.0) * y).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_dtypes_are_kept(dtype: torch.dtype) -> None:
    x = bump(20, dtype=dtype)
    assert rotate(x, 30).dtype == dtype and rotate(x, 90).dtype == dtype


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu() -> None:
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    angles = [0.0, 30.0, 90.0, 222.2]
    on_gpu = rotate_each(x.cuda(), angles).cpu()
    torch.testing.assert_close(on_gpu, rotate_each(x, angles), atol=1e-5, rtol=0)


def test_band_limit_is_isotropic_and_keeps_the_pass_band() -> None:
    n = padded_size(32)
    h = band_limit(n, torch.device("cpu"), torch.float64)  # rows: all frequencies; cols: ≥ 0
    assert h.shape == (n, n // 2 + 1) and float(h[0, 0]) == 1.0
    half = h[: n // 2 + 1]  # both frequencies non-negative: a quarter turn is the transpose
    assert torch.equal(half, half.T)
    assert torch.equal(h[1:], h[1:].flip(0))  # and symmetric in the sign of the row frequency
    fy = torch.fft.fftfreq(n, dtype=torch.float64)
    fx = torch.fft.rfftfreq(n, dtype=torch.float64)
    rho = (fy[:, None] ** 2 + fx[None, :] ** 2).sqrt()
    assert bool((h[rho <= 0.3] == 1).all()) and bool((h[rho >= 0.45] == 0).all())


def test_padding_is_enough() -> None:
    # the FFT side leaves the shears room: a much larger side gives the same output
    import trainables.band_limited as rotation

    x = torch.rand(2, 1, 40, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ours = rotate_each(x, [44.9, -30.0])
    original = rotation.padded_size
    try:
        rotation.padded_size = lambda s: 4 * s
        wide = rotate_each(x, [44.9, -30.0])
    finally:
        rotation.padded_size = original
    assert float((ours - wide).abs().max()) < 2e-4


def test_disk_field_of_view_is_rotation_invariant() -> None:
    disk = fov_mask(32, "disk")
    for angle in (90, 180, 270):
        assert torch.equal(rotate(disk, angle, mode="nearest"), disk)
    for angle in (17, 45, 133):
        changed = rotate(disk, angle, mode="nearest") ^ disk
        r = torch.arange(32) - 15.5
        dist = (r[:, None] ** 2 + r[None, :] ** 2).sqrt()
        rim = 16 - FOV_MARGIN
        assert bool((dist[changed] > rim - 1.5).all())  # only pixels on the rim differ
    # at any angle, the rotated image restricted to the disk only holds image content
    x = torch.ones(1, 32, 32)
    for angle in (0, 10, 45, 77):
        for mode in ("band_limited", "bilinear"):
            inside = rotate(x, angle, mode=mode)[0][disk]
            assert float(inside.min()) > 0.99 and float(inside.max()) < 1.01
    # and pixels whose source lies outside the frame are 0, as before
    assert float(rotate(x, 45)[0, 0, 0]) == 0.0


def test_square_field_of_view_is_inscribed_in_the_disk() -> None:
    square = fov_mask(64, "square")
    disk = fov_mask(64, "disk")
    assert bool((square & ~disk).sum() == 0)
    side = int(square.any(0).sum())
    assert abs(side - (64 - 2 * FOV_MARGIN) / math.sqrt(2)) <= 2


def test_apply_fov_zeroes_outside_and_checks_shape() -> None:
    x = torch.ones(2, 3, 16, 16)
    y = apply_fov(x, "disk")
    assert y[..., 0, 0].sum() == 0 and y[..., 8, 8].sum() == 6
    assert torch.equal(apply_fov(x, "none"), x)
    with pytest.raises(ValueError, match="square"):
        apply_fov(torch.ones(1, 8, 9), "disk")
