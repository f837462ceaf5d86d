"""HoG + RBF-SVM accuracy of "rotated by θ vs. not", per angle (seed 000, Table I).

Depends on the data only: the driver computes it once per (dataset, angles, HoG settings) and
caches it. Each angle is an independent binary problem: the HoG descriptors of N unrotated crops
(label 0) and of the same N crops rotated by θ (label 1), classified by StandardScaler + RBF SVC
with C and γ chosen by grouped cross-validation, an image's two copies always in the same fold.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed
from skimage.feature import hog
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from trainables.config import HogConfig
from trainables.rotation import FieldOfView, apply_fov, rotate


def hog_features(gray: np.ndarray, cfg: HogConfig) -> np.ndarray:
    """HoG descriptors of ``(N, H, W)`` grayscale images → ``(N, F)`` float32."""
    return np.stack([
        hog(img, orientations=cfg.orientations,
            pixels_per_cell=(cfg.pixels_per_cell, cfg.pixels_per_cell),
            cells_per_block=(cfg.cells_per_block, cfg.cells_per_block),
            block_norm="L2-Hys", feature_vector=True)
        for img in gray
    ]).astype(np.float32)


def pair_inputs(gray: torch.Tensor, angle: int, cfg: HogConfig, crop: FieldOfView
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The SVM inputs for one angle: features, labels (0 unrotated, 1 rotated), groups (image)."""
    base = apply_fov(gray, crop)
    turned = apply_fov(rotate(gray, angle), crop)
    x = hog_features(torch.cat([base, turned]).numpy(), cfg)
    n = gray.shape[0]
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    groups = np.r_[np.arange(n), np.arange(n)]
    return x, y, groups


def svm_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: HogConfig
                 ) -> dict[str, float]:
    """Grouped-CV accuracy of the best (C, γ); nested when ``cfg.nested``."""
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


def _one_angle(gray: torch.Tensor, angle: int, cfg: HogConfig, crop: FieldOfView
               ) -> dict[str, Any]:
    x, y, groups = pair_inputs(gray, angle, cfg, crop)
    return {"angle": int(angle), **svm_accuracy(x, y, groups, cfg)}


def hog_svm_curve(images: torch.Tensor, angles: list[int], cfg: HogConfig,
                  crop: FieldOfView = "disk") -> list[dict[str, Any]]:
    """Rows of the ``hog_svm`` table (without study/dataset) for each angle.

    Args:
        images: ``(N, C, H, W)`` in [0, 1], already at ``cfg.image_size``.
        angles: degrees.
        cfg: ``hog.*``.
        crop: the same field of view the study uses for the network.
    """
    gray = images.float().mean(dim=1)  # N x H x W
    results = Parallel(n_jobs=cfg.n_jobs)(
        delayed(_one_angle)(gray, a, cfg, crop) for a in angles
    )
    common = {"n_images": int(gray.shape[0]), "cv_folds": cfg.cv_folds,
              "pixels_per_cell": cfg.pixels_per_cell, "orientations": cfg.orientations,
              "image_size": int(gray.shape[-1])}
    return [{**r, **common} for r in results]
