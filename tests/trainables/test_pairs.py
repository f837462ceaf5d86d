"""The contrastive positive pair: ``shared`` draws make the views differ by exactly R_θ,
``independent`` draws are seed 000's reading (issue 11)."""

from __future__ import annotations

import pytest
import torch

from trainables.augment import augment, augment_unrotated
from trainables.config import DataConfig
from trainables.data import build_dataset
from trainables.pretext.pairs import rotation_pair
from trainables.rotation import apply_fov, fov_mask, rotate, rotate_each

PRESETS = ["paper", "mocov2", "rotnet", "none"]


def ells(n: int = 8, size: int = 32) -> torch.Tensor:
    """Images with no symmetry (a rectangle off the centre, random colour): every symmetry of
    the square changes them, so "the views are equal" means "related by the identity"."""
    data = build_dataset(DataConfig(name="synthetic", image_size=size, params={
        "kind": "rectangles", "n_images": n, "orientation": "upright"}))
    x = torch.stack([data[i]["image"] for i in range(n)])
    return x * torch.rand(n, 3, 1, 1, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("preset", PRESETS)
def test_shared_pairs_at_zero_are_identical_views(preset: str) -> None:
    x = ells()
    view, rotated, theta = rotation_pair(x, [0.0], preset, "disk",
                                         torch.Generator().manual_seed(1))
    assert torch.equal(view, rotated) and bool((theta == 0).all())
    assert theta.dtype == torch.float64


@pytest.mark.parametrize("preset", PRESETS)
def test_shared_pairs_are_one_augmented_image_seen_at_j_and_j_plus_theta(preset: str) -> None:
    x = ells()
    angles = [30.0, 90.0, 180.0, 222.5]
    view, rotated, theta = rotation_pair(x, angles, preset, "disk",
                                         torch.Generator().manual_seed(2))
    # replay the draws: one θ per image, then ONE augmentation for both views, its own
    # rotation j (paper's ±10° jitter; 0 otherwise) folded into the views' one resampling
    g = torch.Generator().manual_seed(2)
    pick = torch.randint(len(angles), (len(x),), generator=g)
    assert torch.equal(theta, torch.tensor(angles, dtype=torch.float64)[pick])
    unrotated, own = augment_unrotated(x, preset, g)
    j = torch.zeros(len(x), dtype=torch.float64) if own is None else own
    limit = (lambda t: t.clamp(0, 1)) if own is not None else (lambda t: t)
    torch.testing.assert_close(view, apply_fov(limit(rotate_each(unrotated, j)), "disk"),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(rotated, apply_fov(limit(rotate_each(unrotated, j + theta)),
                                                  "disk"), atol=1e-6, rtol=0)
    # with quarter turns only, the second view is exactly the first turned
    v90, r90, t90 = rotation_pair(x, [90.0, 180.0], preset, "disk",
                                  torch.Generator().manual_seed(2))
    for i, t in enumerate(t90.tolist()):
        assert torch.equal(r90[i], torch.rot90(v90[i], round(t / 90), dims=(-2, -1)))


def test_augment_is_the_unrotated_augmentation_turned_by_its_own_rotation() -> None:
    # augment_unrotated makes augment's draws and leaves paper's jitter for the pair to fold in
    x = ells()
    unrotated, own = augment_unrotated(x, "paper", torch.Generator().manual_seed(9))
    assert own is not None and own.dtype == torch.float64 and float(own.abs().max()) <= 10
    assert torch.equal(augment(x, "paper", torch.Generator().manual_seed(9)),
                       rotate_each(unrotated, own).clamp(0, 1))
    same, none = augment_unrotated(x, "mocov2", torch.Generator().manual_seed(9))
    assert none is None and torch.equal(same, augment(x, "mocov2",
                                                      torch.Generator().manual_seed(9)))


def test_shared_pairs_at_theta_are_r_theta_of_each_other() -> None:
    # the second view is R_θ of the first up to the common crop and the band-limit's transition
    # band (applied once more to the first view here): 2 % apart inside the disk, where R_θ+5°
    # is 8 % and R_θ+180° 47 % apart, and an independent pair is 44 % from its R_θ
    x = ells(size=64)  # 64 px: the disk of radius 28 (48 px gave 23 before its 4-px margin)
    inner = fov_mask(64, "disk")

    def distance(pairing: str, angle: float) -> float:
        view, rotated, _ = rotation_pair(x, [37.5], "paper", "disk",
                                         torch.Generator().manual_seed(3), pairing=pairing)
        diff = apply_fov(rotate(view, angle), "disk") - rotated
        return float(diff[..., inner].abs().mean() / rotated[..., inner].abs().mean())

    shared = distance("shared", 37.5)
    assert shared < 0.03
    assert distance("shared", 42.5) > 3 * shared and distance("shared", 217.5) > 10 * shared
    assert distance("independent", 37.5) > 10 * shared


def test_theta_and_theta_plus_180_pairs_differ() -> None:
    # with shared flips a 180° pair is a 180° pair, never an identity pair (with independent
    # flips, both θ = 0 and θ = 180° give the same mixture of R0, R180 and mirrors)
    x = ells(64)
    for theta in (0.0, 90.0):
        v0, r0, _ = rotation_pair(x, [theta], "paper", "disk", torch.Generator().manual_seed(4))
        v1, r1, _ = rotation_pair(x, [theta + 180.0], "paper", "disk",
                                  torch.Generator().manual_seed(4))
        assert torch.equal(v0, v1)  # the same first views
        assert torch.equal(r1, torch.rot90(r0, 2, dims=(-2, -1)))  # R180 of the θ pair
        assert not bool((r1 - r0).flatten(1).abs().amax(1).lt(1e-3).any())  # no pair alike


def test_independent_pairs_draw_twice() -> None:
    x = ells(64)
    view, rotated, theta = rotation_pair(x, [0.0], "paper", "disk",
                                         torch.Generator().manual_seed(5),
                                         pairing="independent")
    g = torch.Generator().manual_seed(5)
    torch.randint(1, (len(x),), generator=g)
    (first, j1), (second, j2) = (augment_unrotated(x, "paper", g) for _ in range(2))
    assert j1 is not None and j2 is not None
    torch.testing.assert_close(view, apply_fov(rotate_each(first, j1).clamp(0, 1), "disk"),
                               atol=1e-6, rtol=0)
    torch.testing.assert_close(rotated, apply_fov(rotate_each(second, j2 + theta).clamp(0, 1),
                                                  "disk"), atol=1e-6, rtol=0)
    # at θ = 0 the views differ: independent flips, jitter, translation and blur
    same = (view - rotated).flatten(1).abs().amax(1) < 1e-6
    assert int(same.sum()) == 0


def test_unknown_pairing_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown pairing 'mixed'.*'shared', 'independent'"):
        rotation_pair(ells(2), [0.0], "none", "disk", torch.Generator(),
                      pairing="mixed")  # type: ignore[arg-type]
