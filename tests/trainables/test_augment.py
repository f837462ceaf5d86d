"""Batched augmentations against torchvision's per-image functional reference, and their
determinism under the explicit generator."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.functional as TF

from trainables import augment as A


@pytest.mark.parametrize("mine, ref, factors", [
    (A.adjust_brightness, TF.adjust_brightness, [0.6, 0.9, 1.0, 1.4]),
    (A.adjust_contrast, TF.adjust_contrast, [0.6, 0.9, 1.0, 1.4]),
    (A.adjust_saturation, TF.adjust_saturation, [0.6, 0.9, 1.0, 1.4]),
    (A.adjust_hue, TF.adjust_hue, [-0.1, -0.02, 0.0, 0.1]),
])
def test_colour_ops_match_torchvision(mine, ref, factors) -> None:
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    f = torch.tensor(factors)
    expected = torch.stack([ref(x[i], factors[i]) for i in range(4)])
    torch.testing.assert_close(mine(x, f), expected, atol=1e-5, rtol=0)


def test_grayscale_matches_torchvision() -> None:
    x = torch.rand(3, 3, 8, 8)
    torch.testing.assert_close(A.grayscale(x), TF.rgb_to_grayscale(x))


def test_hsv_round_trip() -> None:
    x = torch.rand(5, 3, 9, 9)
    x[0] = 0.5  # grey: zero chroma
    torch.testing.assert_close(A.hsv_to_rgb(A.rgb_to_hsv(x)), x, atol=1e-6, rtol=0)


def test_resized_crop_full_box_is_identity_and_small_box_zooms() -> None:
    ramp = torch.linspace(0, 1, 16).expand(2, 3, 16, 16).contiguous()
    g = torch.Generator().manual_seed(0)
    same = A.random_resized_crop(ramp, g, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    torch.testing.assert_close(same, ramp)
    zoom = A.random_resized_crop(ramp, g, scale=(0.25, 0.25), ratio=(1.0, 1.0))
    span = zoom[:, 0, 0, -1] - zoom[:, 0, 0, 0]
    # half the side: the ramp's range across the output is half of the input's (±1 px)
    assert torch.all((span - 0.5).abs() < 1.5 / 15)


def test_colour_jitter_with_p_zero_is_identity() -> None:
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(A.color_jitter(x, torch.Generator().manual_seed(0), p=0.0), x)


def test_rotnet_shift_moves_by_whole_pixels() -> None:
    x = torch.zeros(64, 1, 16, 16)
    x[:, :, 8, 8] = 1.0
    out = A.random_shift(x, torch.Generator().manual_seed(0), 2)
    flat = out.flatten(1)
    assert torch.allclose(flat.max(1).values, torch.ones(64), atol=1e-5)  # no interpolation
    rows, cols = flat.argmax(1) // 16, flat.argmax(1) % 16
    assert set(rows.tolist()) == set(range(6, 11)) and set(cols.tolist()) == set(range(6, 11))


@pytest.mark.parametrize("preset", ["paper", "mocov2", "rotnet"])
def test_presets_are_deterministic_per_generator(preset) -> None:
    x = torch.rand(6, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    a = A.augment(x, preset, torch.Generator().manual_seed(7))
    b = A.augment(x, preset, torch.Generator().manual_seed(7))
    c = A.augment(x, preset, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= -1e-6 and a.max() <= 1 + 1e-6


def test_mocov2_grayscale_share_is_about_a_fifth() -> None:
    x = torch.rand(2000, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = A.mocov2(x, torch.Generator().manual_seed(0))
    gray = ((out[:, 0] - out[:, 1]).abs().amax(dim=(1, 2)) < 1e-6).float().mean()
    assert 0.16 < float(gray) < 0.24


def test_unknown_preset_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown preset 'simclr'; expected one of "
                                         r"\['mocov2', 'none', 'paper', 'rotnet'\]"):
        A.augment(torch.rand(1, 3, 4, 4), "simclr", torch.Generator())
