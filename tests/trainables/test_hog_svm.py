"""HoG-SVM per angle: the fast grid search equals sklearn's, the known answers on a
90°-invariant set, and what "the same inputs up to permutation" means at 90°."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from skimage.feature import hog
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from trainables.config import DataConfig, HogConfig
from trainables.data import build_dataset
from trainables.hog_svm import hog_svm_curve, pair_inputs, rotated_features, svm_accuracy


def rectangles(n: int, size: int) -> torch.Tensor:
    """``synthetic`` axis-aligned rectangles: a distribution invariant under 90° rotations."""
    data = build_dataset(DataConfig(name="synthetic", image_size=size,
                                    params={"kind": "rectangles", "n_images": n}))
    return torch.stack([data[i]["image"] for i in range(n)])


def sklearn_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: HogConfig
                     ) -> dict[str, float]:
    """The reference: GridSearchCV over a StandardScaler + RBF SVC pipeline, grouped folds."""
    pipe = make_pipeline(StandardScaler(), SVC(kernel="rbf"))
    grid = {"svc__C": list(cfg.c_grid), "svc__gamma": list(cfg.gamma_grid)}
    folds = GroupKFold(n_splits=cfg.cv_folds)
    search = GridSearchCV(pipe, grid, cv=folds, scoring="accuracy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(x, y, groups=groups)
        if cfg.nested:
            scores = cross_val_score(search, x, y, groups=groups, cv=folds,
                                     params={"groups": groups})
        else:
            best = search.best_index_
            scores = np.array([search.cv_results_[f"split{k}_test_score"][best]
                               for k in range(cfg.cv_folds)])
    return {"accuracy": float(scores.mean()), "accuracy_std": float(scores.std()),
            "best_c": float(search.best_params_["svc__C"]),
            "best_gamma": float(search.best_params_["svc__gamma"])}


@pytest.mark.parametrize("nested", [False, True])
@pytest.mark.parametrize("angle", [20, 180])
def test_grid_search_equals_sklearn(angle: int, nested: bool) -> None:
    cfg = HogConfig(n_images=24, image_size=32, pixels_per_cell=8, cv_folds=3,
                    c_grid=(0.5, 1.0, 10.0), gamma_grid=(0.001, 0.01, 0.1), nested=nested)
    x, y, groups = pair_inputs(rectangles(24, 32).mean(1), angle, cfg, "disk")
    ours = svm_accuracy(x, y, groups, cfg)
    ref = sklearn_accuracy(x, y, groups, cfg)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_known_answers_on_rotation_invariant_rectangles() -> None:
    # the check: 80 images, 64 px, 16-px cells, grouped 5-fold CV
    cfg = HogConfig(n_images=80, image_size=64, pixels_per_cell=16, cv_folds=5)
    rows = hog_svm_curve(rectangles(80, 64), [10, 45, 90, 180, 270], cfg)
    acc = {r["eval_angle"]: r["accuracy"] for r in rows}
    assert [r["eval_angle"] for r in rows] == [10, 45, 90, 180, 270]
    assert acc[10] >= 0.95 and acc[45] >= 0.95, acc
    for angle in (90, 180, 270):  # the rotated set has the unrotated set's distribution
        assert 0.3 <= acc[angle] <= 0.65, acc
    assert {r["n_images"] for r in rows} == {80} and {r["image_size"] for r in rows} == {64}


def orbit(n: int, size: int) -> torch.Tensor:
    """n random images with their three 90° rotations: a set closed under rot90."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(n, size, size, generator=g)
    return torch.cat([torch.rot90(base, k, dims=(-2, -1)) for k in range(4)])


def test_rotation_closed_set_has_identical_inputs_at_90_degrees() -> None:
    # For a set closed under rot90, {HoG(rot90 x)} is the same multiset as {HoG(x)}: the
    # rotated class is a row permutation of the unrotated one, so no classifier can beat chance
    # (the exact rot90 and the disk's symmetry make it so up to the float rounding of the
    # band-limit, which is applied to every copy alike but not bitwise rot90-equivariant).
    cfg = HogConfig(pixels_per_cell=8, orientations=9)
    gray = orbit(6, 32)
    x, y, _ = pair_inputs(gray, 90, cfg, "disk")
    unrotated, rotated = x[y == 0], x[y == 1]
    n = len(gray) // 4
    perm = np.r_[np.arange(n, 4 * n), np.arange(n)]  # rot90 of copy k is copy k + 1
    np.testing.assert_allclose(rotated, unrotated[perm], atol=1e-5, rtol=0)
    x45, y45, _ = pair_inputs(gray, 45, cfg, "disk")
    assert not np.allclose(np.sort(x45[y45 == 1], 0), np.sort(x45[y45 == 0], 0))


def test_hog_of_one_image_turned_90_is_a_feature_permutation_only_for_even_bins() -> None:
    # One image: HoG(rot90 x) = P·HoG(x) (cells and blocks turned, orientation bins shifted by
    # 90°) only when 90° is a whole number of bins; with seed 000's 9 bins it is not, which is
    # why the invariance above is a property of the set, not of each image.
    img = np.random.default_rng(0).random((32, 32))
    for bins, exact in ((8, True), (9, False)):
        kw = {"orientations": bins, "pixels_per_cell": (8, 8), "cells_per_block": (2, 2),
              "block_norm": "L2-Hys", "feature_vector": False}
        f, turned = hog(img, **kw), hog(np.rot90(img), **kw)
        p = np.rot90(np.rot90(f, 1, axes=(0, 1)), 1, axes=(2, 3))
        p = np.roll(p, bins // 2, axis=4)
        assert np.allclose(p, turned, atol=1e-6) == exact


def test_unrotated_features_are_rotation_by_zero() -> None:
    cfg = HogConfig(pixels_per_cell=8)
    gray = rectangles(4, 32).mean(1)
    x, y, groups = pair_inputs(gray, 0, cfg, "disk")
    assert np.array_equal(x[y == 0], x[y == 1]) and np.array_equal(groups, np.r_[0:4, 0:4])
    assert np.array_equal(pair_inputs(gray, 30, cfg, "disk", base=x[:4])[0],
                          pair_inputs(gray, 30, cfg, "disk")[0])
    assert rotated_features(gray, 0, cfg, "disk").dtype == np.float32


@pytest.mark.slow
def test_parallel_curve_equals_serial() -> None:
    cfg = HogConfig(pixels_per_cell=8, cv_folds=3, c_grid=(1.0,), gamma_grid=(0.01,))
    images = rectangles(16, 32)
    angles = [0, 15, 30, 90, 135]
    serial = hog_svm_curve(images, angles, cfg)
    assert hog_svm_curve(images, angles, replace(cfg, n_jobs=2)) == serial
