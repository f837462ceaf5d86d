"""Synthetic sets: known gradient orientations, invariance under 90° turns, phantom anatomy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from trainables.config import ConfigError, DataConfig
from trainables.data import build_dataset
from trainables.data.phantoms import PHANTOMS
from trainables.data.shapes import SHAPES
from trainables.data.synthetic import NOISE_LEVEL, symmetry
from trainables.rotation import rotate

KINDS = [*sorted(SHAPES), "noise", *sorted(PHANTOMS)]


def dataset(kind: str, n: int = 64, size: int = 64, **params: object):
    return build_dataset(DataConfig(name="synthetic", image_size=size,
                                    params={"kind": kind, "n_images": n, **params}))


def grey(ds) -> list[np.ndarray]:
    return [ds[i]["image"].mean(0).numpy().astype(np.float64) for i in range(len(ds))]


def orientation_histogram(images: list[np.ndarray]) -> np.ndarray:
    """Naive reference: gradient-magnitude-weighted histogram of gradient orientations mod 180°,
    one bin per degree (central differences, as a HoG cell sees them)."""
    hist = np.zeros(180)
    for g in images:
        gy, gx = np.gradient(g)
        angle = np.degrees(np.arctan2(gy, gx)) % 180.0
        hist += np.histogram(angle, bins=180, range=(0, 180), weights=np.hypot(gx, gy))[0]
    return hist / hist.sum()


def share_near(hist: np.ndarray, centres: list[float], tol: float = 10.0) -> float:
    """Share of the histogram within ``tol`` degrees (mod 180) of any centre."""
    mid = np.arange(180) + 0.5
    dist = np.min([np.abs((mid - c + 90) % 180 - 90) for c in centres], axis=0)
    return float(hist[dist <= tol].sum())


UNIFORM_SHARE = 2 * 21 / 180  # two ±10° windows of a flat histogram (21 one-degree bins each)


@pytest.mark.parametrize(("kind", "centres", "least"), [
    ("rectangles", [0, 90], 0.9),
    ("diamonds", [45, 135], 0.85),
])
def test_edges_concentrate_at_the_known_orientations(kind: str, centres: list[float],
                                                     least: float) -> None:
    hist = orientation_histogram(grey(dataset(kind, noise=0.0)))
    assert share_near(hist, centres) > least
    other = [c + 45 for c in centres]
    assert share_near(hist, other) < 0.05


@pytest.mark.parametrize("kind", ["discs", "ellipses"])
def test_round_shapes_have_every_orientation(kind: str) -> None:
    hist = orientation_histogram(grey(dataset(kind, noise=0.0)))
    per_15 = hist.reshape(12, 15).sum(axis=1)
    assert per_15.max() / per_15.min() < 1.4
    assert share_near(hist, [0, 90]) == pytest.approx(UNIFORM_SHARE, abs=0.03)
    assert share_near(hist, [45, 135]) == pytest.approx(UNIFORM_SHARE, abs=0.03)


def test_default_texture_keeps_the_orientation_contrast() -> None:
    # noise 0.05 adds gradients at every angle, but the shapes' edges still dominate
    rect = orientation_histogram(grey(dataset("rectangles")))
    diam = orientation_histogram(grey(dataset("diamonds")))
    assert share_near(rect, [0, 90]) > 1.4 * share_near(rect, [45, 135])
    assert share_near(diam, [45, 135]) > 1.2 * share_near(diam, [0, 90])


def asymmetry(x: np.ndarray) -> float:
    """How far a mean image is from its own quarter turn, relative to its mean."""
    return float(np.abs(x - np.rot90(x)).mean() / x.mean())


def means(kind: str, orientation: str) -> tuple[np.ndarray, np.ndarray]:
    ds = dataset(kind, n=256, size=32, orientation=orientation)
    masks = torch.stack([ds[i]["mask"].float() for i in range(len(ds))]).mean(0).numpy()
    images = np.mean(grey(ds), axis=0)
    return images, masks


@pytest.mark.parametrize("kind", KINDS)
def test_distribution_is_invariant_under_a_quarter_turn(kind: str) -> None:
    images, masks = means(kind, "random")
    assert asymmetry(images) < 0.05
    assert asymmetry(masks) < 0.25
    hist = orientation_histogram(grey(dataset(kind, n=128, size=32)))
    assert np.abs(hist - np.roll(hist, 90)).sum() < 0.25  # h(θ) = h(θ + 90°)


@pytest.mark.parametrize("kind", ["brain_phantom", "chest_phantom"])
def test_upright_phantoms_give_a_rotation_away(kind: str) -> None:
    # the control: without the random symmetry the anatomy has an up, as real scans do
    images, _ = means(kind, "upright")
    assert asymmetry(images) > 0.2


def test_symmetry_enumerates_the_eight_elements_of_the_square_group() -> None:
    x = np.arange(12).reshape(3, 4)
    out = {symmetry(x, k, f).tobytes() + bytes(symmetry(x, k, f).shape)
           for k in range(4) for f in (False, True)}
    assert len(out) == 8
    assert np.array_equal(symmetry(x, 1, False), np.rot90(x))


def test_items_are_deterministic_and_seeded_per_item() -> None:
    a, b = dataset("chest_phantom", n=8), dataset("chest_phantom", n=8)
    assert torch.equal(a[5]["image"], b[5]["image"])
    assert torch.equal(a[5]["image"], a[5]["image"])  # reading twice changes nothing
    bigger = dataset("chest_phantom", n=20)
    assert torch.equal(a[5]["image"], bigger[5]["image"])  # item i independent of n
    other = dataset("chest_phantom", n=8, seed=1)
    assert not torch.equal(a[5]["image"], other[5]["image"])


def ring(mask: np.ndarray, width: int = 3) -> np.ndarray:
    return ndimage.binary_dilation(mask, iterations=width) & ~mask


@pytest.mark.parametrize(("kind", "components", "brighter"), [
    ("brain_phantom", 1, True),    # FLAIR: the tumour is hyperintense
    ("chest_phantom", 2, False),   # X-ray: the lungs are dark, two fields
    ("polyp_phantom", 1, True),    # the polyp is lighter than the mucosa
])
def test_phantom_masks_match_their_anatomy(kind: str, components: int, brighter: bool) -> None:
    ds = dataset(kind, n=12, size=96, noise=0.0)
    for i in range(len(ds)):
        sample = ds[i]
        mask, image = sample["mask"].numpy(), sample["image"].mean(0).numpy()
        assert ndimage.label(mask)[1] == components
        inside, around = image[mask].mean(), image[ring(mask)].mean()
        assert (inside > around) if brighter else (inside < around)


@pytest.mark.parametrize("kind", KINDS)
def test_samples_keep_the_contract(kind: str) -> None:
    ds = dataset(kind, n=4, size=40)
    for i in range(len(ds)):
        s = ds[i]
        assert s["image"].shape == (3, 40, 40) and s["image"].dtype == torch.float32
        assert float(s["image"].min()) >= 0.0 and float(s["image"].max()) <= 1.0
        assert s["mask"].shape == (40, 40) and s["mask"].dtype == torch.bool
        assert s["mask"].any()
        assert s["image_id"] == f"{kind}_{i:05d}"


def test_unknown_kind_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"data.params.kind: expected one of .*'brain_phantom'"):
        dataset("hexagons")


def test_noise_is_white_and_its_mask_has_no_orientation() -> None:
    # the negative control (issue 11): i.i.d. pixels of the requested std around a flat grey,
    # and a centred disc as the mask, the same for every item and unchanged by any rotation
    ds = dataset("noise", n=16, size=48, noise=0.1)
    images = torch.stack([ds[i]["image"] for i in range(len(ds))])
    assert torch.equal(images[:, 0], images[:, 1])  # grey
    z = images[:, 0].double() - NOISE_LEVEL
    assert float(z.mean()) == pytest.approx(0.0, abs=0.005)
    assert float(z.std()) == pytest.approx(0.1, rel=0.03)
    for dims in ((-1,), (-2,)):  # neighbours are uncorrelated: white
        lag = (z * z.roll(1, dims=dims)).mean() / z.var()
        assert abs(float(lag)) < 0.03
    masks = torch.stack([ds[i]["mask"] for i in range(len(ds))])
    assert bool((masks == masks[0]).all())
    assert int(masks[0].sum()) == pytest.approx(np.pi * 12**2, rel=0.05)
    for angle in (90.0, 180.0, 270.0):
        assert torch.equal(rotate(masks[0], angle, mode="nearest"), masks[0])
    r = torch.arange(48) - 23.5
    dist = (r[:, None] ** 2 + r[None, :] ** 2).sqrt()
    for angle in (10.0, 45.0, 137.5):
        changed = rotate(masks[0], angle, mode="nearest") ^ masks[0]
        assert bool(((dist[changed] - 12).abs() < 1.5).all())  # the rim's staircase only
