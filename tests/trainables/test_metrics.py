"""Saliency metrics against hand-made masks and reference implementations (sklearn, scipy,
skimage)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import rankdata
from skimage.filters import threshold_otsu
from sklearn.metrics import roc_auc_score

from trainables.metrics import (
    average_ranks,
    binarize,
    boxes_mask,
    dice_score,
    evaluation_region,
    iou_score,
    mask_metrics,
    mass_in_mask,
    minmax,
    otsu_thresholds,
    q_bbox,
    roc_auc,
    soft_dice,
)
from trainables.rotation import fov_mask, rotate


def square(size: int, r0: int, r1: int, c0: int, c1: int) -> torch.Tensor:
    m = torch.zeros(size, size, dtype=torch.bool)
    m[r0:r1, c0:c1] = True
    return m


def test_dice_iou_on_hand_made_masks() -> None:
    pred = square(8, 0, 4, 0, 4)[None]  # 16 px
    mask = square(8, 2, 6, 2, 6)[None]  # 16 px, overlap 2x2 = 4
    assert dice_score(pred, mask).item() == pytest.approx(2 * 4 / 32)
    assert iou_score(pred, mask).item() == pytest.approx(4 / 28)
    empty = torch.zeros(1, 8, 8, dtype=torch.bool)
    assert dice_score(empty, empty).item() == 1.0 and iou_score(empty, empty).item() == 1.0
    assert dice_score(pred, empty).item() == 0.0


def test_q_bbox_is_seed_002_formula() -> None:
    s = square(8, 0, 4, 0, 4)  # 16 salient px
    b = square(8, 2, 8, 2, 8)  # 36 box px, overlap 4
    # Q = Σ S∘B / (Σ B + Σ max(S − B, 0)) = 4 / (36 + 12)
    assert q_bbox(s[None], b[None]).item() == pytest.approx(4 / 48)
    # for 0/1 maps it is the IoU
    assert q_bbox(s[None], b[None]).item() == pytest.approx(iou_score(s[None], b[None]).item())
    assert q_bbox(b[None], b[None]).item() == 1.0
    none = torch.zeros(1, 8, 8, dtype=torch.bool)
    assert q_bbox(s[None], none).item() == 0.0
    assert torch.isnan(q_bbox(none, none)).item()


def test_soft_metrics_known_values() -> None:
    sal = torch.tensor([[[1.0, 0.5], [0.0, 0.5]]])
    mask = torch.tensor([[[True, False], [False, False]]])
    assert soft_dice(sal, mask).item() == pytest.approx(2 * 1.0 / (2.0 + 1.0))
    assert mass_in_mask(sal, mask).item() == pytest.approx(1.0 / 2.0)


def test_auc_matches_sklearn_with_ties() -> None:
    g = torch.Generator().manual_seed(0)
    size = 12
    region = fov_mask(size, "disk")
    sal = (torch.rand(5, size, size, generator=g) * 6).round() / 6  # many ties
    mask = torch.rand(5, size, size, generator=g) < 0.3
    mask[0] = False  # no positive pixel: undefined
    ours = roc_auc(sal, mask, region)
    assert torch.isnan(ours[0])
    keep = region.flatten().numpy()
    for k in range(1, 5):
        y = mask[k].flatten().numpy()[keep]
        s = sal[k].flatten().numpy()[keep]
        assert ours[k].item() == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_average_ranks_match_scipy() -> None:
    g = torch.Generator().manual_seed(1)
    v = torch.randint(0, 5, (4, 30), generator=g).double()
    assert np.allclose(average_ranks(v).numpy(), rankdata(v.numpy(), axis=1))


@pytest.mark.parametrize("kind", ["uniform", "bimodal", "skewed", "ties"])
def test_otsu_matches_skimage(kind: str) -> None:
    rng = np.random.default_rng(0)
    if kind == "uniform":
        v = rng.random((6, 500))
    elif kind == "bimodal":
        v = np.concatenate([rng.normal(0.2, 0.05, (6, 300)), rng.normal(0.7, 0.1, (6, 200))], 1)
    elif kind == "skewed":
        v = rng.exponential(0.1, (6, 500))
    else:
        v = rng.integers(0, 7, (6, 500)) / 6.0
    v = v.astype(np.float32)
    v[0] = 0.25  # constant: the value itself
    ours = otsu_thresholds(torch.from_numpy(v)).numpy()
    ref = np.array([threshold_otsu(row) for row in v], dtype=np.float64)
    assert np.allclose(ours, ref, rtol=0, atol=1e-6)


def test_binarize_rules() -> None:
    size = 10
    region = torch.ones(size, size, dtype=torch.bool)
    sal = torch.arange(size * size, dtype=torch.float32).view(1, size, size) / 99
    mask = square(size, 0, 3, 0, 10)[None]  # 30 px
    fixed, t = binarize(sal, mask, region, "fixed", 0.5)
    assert fixed.sum().item() == 50 and t.item() == 0.5
    top, _ = binarize(sal, mask, region, "percentile", 0.2)
    assert top.sum().item() == 20 and top[0, -2:].all()  # the 20 largest values
    area, _ = binarize(sal, mask, region, "match_mask_area", 0.0)
    assert area.sum().item() == 30
    _, t = binarize(sal, mask, region, "otsu", 0.0)
    assert t.item() == pytest.approx(threshold_otsu(sal.numpy().ravel()), abs=1e-6)
    with pytest.raises(ValueError, match="percentile"):
        binarize(sal, mask, region, "mean", 0.0)  # type: ignore[arg-type]


def test_percentile_threshold_is_torch_quantile() -> None:
    sal = torch.rand(4, 9, 9, generator=torch.Generator().manual_seed(4))
    region = fov_mask(9, "disk")
    for share in (0.0, 0.1, 0.37, 1.0):
        _, t = binarize(sal, sal > 0, region, "percentile", share)
        ref = torch.quantile(sal.flatten(1)[:, region.flatten()], 1 - share, dim=1)
        assert torch.allclose(t, ref)


def test_match_mask_area_makes_dice_equal_precision() -> None:
    g = torch.Generator().manual_seed(2)
    sal = torch.rand(3, 16, 16, generator=g)
    mask = torch.rand(3, 16, 16, generator=g) < 0.25
    region = torch.ones(16, 16, dtype=torch.bool)
    binary, _ = binarize(sal, mask, region, "match_mask_area", 0.0)
    precision = (binary & mask).flatten(1).sum(1) / binary.flatten(1).sum(1)
    assert torch.allclose(dice_score(binary, mask), precision.float())


def test_metrics_ignore_pixels_outside_the_region() -> None:
    size = 32  # the disk has radius 12 (a 4-px margin): the mask leaves pixels of it outside
    region = fov_mask(size, "disk")
    sal = torch.rand(2, size, size, generator=torch.Generator().manual_seed(3))
    mask = square(size, 10, 22, 10, 22).expand(2, -1, -1)
    ref = mask_metrics(minmax(sal, region), mask, region, "otsu", 0.0)
    sal_out = sal.clone()
    sal_out[:, ~region] = 100.0  # huge values where no angle sees
    out = mask_metrics(minmax(sal_out, region), mask, region, "otsu", 0.0)
    for name in ("dice", "iou", "soft_dice", "auc", "mass_in_mask", "threshold"):
        assert torch.allclose(out[name], ref[name]), name
    assert torch.isnan(out["q_bbox"]).all()


def test_minmax_inside_region() -> None:
    region = torch.tensor([[True, True], [True, False]])
    maps = torch.tensor([[[1.0, 3.0], [2.0, 50.0]]])
    assert torch.allclose(minmax(maps, region), torch.tensor([[[0.0, 1.0], [0.5, 0.0]]]))


def test_evaluation_region_erodes_a_disk_symmetrically() -> None:
    size = 32
    fov = fov_mask(size, "disk")
    assert torch.equal(evaluation_region(size, "disk", 0), fov)
    eroded = evaluation_region(size, "disk", 3)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    kept = torch.stack([yy[eroded], xx[eroded]], 1).float()
    cut = torch.stack([yy[~fov], xx[~fov]], 1).float()
    gap = torch.cdist(kept, cut).min(1).values
    assert (gap > 3).all()  # every kept pixel is more than 3 px from any unseen pixel
    ring = fov & ~eroded
    assert (torch.cdist(torch.stack([yy[ring], xx[ring]], 1).float(), cut).min(1).values
            <= 3).all()  # and only those are cut
    assert torch.equal(torch.rot90(eroded), eroded) and torch.equal(eroded.flip(0), eroded)
    frame = evaluation_region(size, "none", 2)
    assert frame.sum().item() == (size - 4) ** 2


def test_boxes_raster_and_rotation() -> None:
    size = 12
    box = torch.tensor([[2.0, 1.0, 6.0, 4.0]])  # x0, y0, x1, y1: columns 2..5, rows 1..3
    m = boxes_mask(box, size)
    assert torch.equal(m, square(size, 1, 4, 2, 6))
    two = boxes_mask(torch.tensor([[0.0, 0.0, 2.0, 2.0], [10.0, 10.0, 12.0, 12.0]]), size)
    assert two.sum().item() == 8
    # rotating the raster by 90° = rastering the box rotated by 90° (counter-clockwise):
    # (x, y) -> (y, size - x)
    rot = torch.tensor([[1.0, size - 6.0, 4.0, size - 2.0]])
    assert torch.equal(rotate(m, 90, mode="nearest"), boxes_mask(rot, size))


def test_q_bbox_in_mask_metrics_uses_box_area_for_match_mask_area() -> None:
    size = 10
    region = torch.ones(size, size, dtype=torch.bool)
    sal = square(size, 0, 2, 0, 10).float()[None]  # 20 salient px, rows 0-1
    mask = square(size, 0, 1, 0, 10)[None]  # 10 px
    boxes = square(size, 0, 2, 0, 10)[None]  # 20 px
    out = mask_metrics(sal, mask, region, "match_mask_area", 0.0, boxes)
    assert out["q_bbox"].item() == pytest.approx(1.0)
