"""HoG + RBF-SVM accuracy of "rotated by θ vs. not", per angle (seed 000, Table I).

Depends on the data only: the driver computes it once per (dataset, angles, HoG settings) and
caches it. Each angle is an independent binary problem: the HoG descriptors of N unrotated crops
(label 0) and of the same N crops rotated by θ (label 1), classified by StandardScaler + RBF SVC
with C and γ chosen by grouped cross-validation, an image's two copies always in the same fold.

Both classes go through the same resampling (:func:`trainables.rotation.rotate`, band-limited):
the "unrotated" class is the images rotated by 0°, so no angle is told apart by blur (issue 11:
with exact 0° and bilinear 45°, white noise scored 1.0 at 45°). The negative controls
(synthetic ``noise`` and ``discs``) stay at chance at every angle (docs/rotation.md).

Speed (seed 000: 75 images × 360 angles): the unrotated descriptors and the folds are the same
at every angle, so they are computed once per curve; the grid search makes exactly the fits of
``GridSearchCV(make_pipeline(StandardScaler(), SVC()), cv=GroupKFold)`` without its per-fit
overhead; angles run in ``n_jobs`` worker processes, in chunks. The parent rotates (torch) and
the workers only compute HoG and fit SVMs, so this module imports torch lazily: a worker's
start-up then costs no torch import (measured: ~4 s of a loaded 2-core machine's time each).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from joblib import Parallel, delayed
from skimage.feature import hog
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from trainables.config import HogConfig

if TYPE_CHECKING:
    import torch

    from trainables.rotation import FieldOfView

Split = tuple[np.ndarray, np.ndarray]


def hog_features(gray: np.ndarray, cfg: HogConfig) -> np.ndarray:
    """HoG descriptors of ``(N, H, W)`` grayscale images → ``(N, F)`` float32 (skimage, L2-Hys
    block norm; seed 000: 64 × 64-pixel cells)."""
    return np.stack([
        hog(img, orientations=cfg.orientations,
            pixels_per_cell=(cfg.pixels_per_cell, cfg.pixels_per_cell),
            cells_per_block=(cfg.cells_per_block, cfg.cells_per_block),
            block_norm="L2-Hys", feature_vector=True)
        for img in gray
    ]).astype(np.float32)


def rotated_gray(gray: torch.Tensor, angle: float, crop: FieldOfView) -> np.ndarray:
    """``(N, H, W)`` images rotated by ``angle`` inside the common field of view, as numpy."""
    from trainables.rotation import apply_fov, rotate  # torch: in the parent process only

    return apply_fov(rotate(gray, angle), crop).numpy()


def rotated_features(gray: torch.Tensor, angle: float, cfg: HogConfig, crop: FieldOfView
                     ) -> np.ndarray:
    """HoG descriptors ``(N, F)`` of ``(N, H, W)`` images rotated by ``angle`` inside the common
    field of view (0° gives the unrotated descriptors)."""
    return hog_features(rotated_gray(gray, angle, crop), cfg)


def pair_inputs(gray: torch.Tensor, angle: float, cfg: HogConfig, crop: FieldOfView,
                base: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The SVM inputs for one angle: features ``(2N, F)`` (N unrotated, then N rotated), labels
    (0 unrotated, 1 rotated), groups (the image: its two copies share a fold).

    ``base``: the unrotated descriptors when already computed (they are the same every angle).
    """
    n = gray.shape[0]
    base = rotated_features(gray, 0, cfg, crop) if base is None else base
    x = np.concatenate([base, rotated_features(gray, angle, cfg, crop)])
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    groups = np.r_[np.arange(n), np.arange(n)]
    return x, y, groups


def grouped_folds(groups: np.ndarray, n_splits: int) -> list[Split]:
    """``GroupKFold`` (train, test) index pairs: no group on both sides of a split."""
    return list(GroupKFold(n_splits=n_splits).split(np.zeros(len(groups)), groups=groups))


def grid_scores(x: np.ndarray, y: np.ndarray, folds: Sequence[Split], c_grid: Sequence[float],
                gamma_grid: Sequence[float]) -> np.ndarray:
    """Test accuracy of every (C, γ) on every fold: ``(len(c_grid), len(gamma_grid), folds)``.

    Exactly the fits ``GridSearchCV(make_pipeline(StandardScaler(), SVC()), cv=folds)`` makes,
    without its per-fit cloning and validation: per fold the scaler is fitted once on the
    training part (in the features' float32, as the pipeline does) and every (C, γ) SVC is
    fitted on the same scaled arrays, so the numbers are identical, not just close. (A
    precomputed kernel would be faster still but differs in the last bits, which flips
    predictions on the near-duplicate pairs of chance-level angles such as 180°.)
    """
    out = np.zeros((len(c_grid), len(gamma_grid), len(folds)))
    for f, (train, test) in enumerate(folds):
        scaler = StandardScaler().fit(x[train])
        a, b = scaler.transform(x[train]), scaler.transform(x[test])
        for gi, gamma in enumerate(gamma_grid):
            for ci, c in enumerate(c_grid):
                svc = SVC(kernel="rbf", C=c, gamma=gamma).fit(a, y[train])
                out[ci, gi, f] = np.mean(svc.predict(b) == y[test])
    return out


def _best(scores: np.ndarray) -> tuple[int, int]:
    # GridSearchCV's choice: the highest mean test score, the first in (C, γ) grid order on ties
    flat = scores.mean(axis=2).ravel()
    return divmod(int(np.argmax(flat)), scores.shape[1])


def svm_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: HogConfig,
                 folds: Sequence[Split] | None = None) -> dict[str, float]:
    """Grouped-CV accuracy of the best (C, γ), as ``GridSearchCV`` reports it; with
    ``cfg.nested`` the accuracy (and its std) is that of an outer grouped CV around the search
    (the search rerun inside each outer training part), an unbiased estimate.

    Returns:
        ``accuracy``, ``accuracy_std`` (over folds), ``best_c``, ``best_gamma`` (of the search
        on all the data).
    """
    folds = grouped_folds(groups, cfg.cv_folds) if folds is None else folds
    scores = grid_scores(x, y, folds, cfg.c_grid, cfg.gamma_grid)
    ci, gi = _best(scores)
    fold_acc = scores[ci, gi]
    if cfg.nested:
        fold_acc = []
        for train, test in folds:
            inner = grouped_folds(groups[train], cfg.cv_folds)
            ic, ig = _best(grid_scores(x[train], y[train], inner, cfg.c_grid, cfg.gamma_grid))
            # refit on the whole outer training part with the inner choice, score outer test
            refit = grid_scores(x, y, [(train, test)], [cfg.c_grid[ic]], [cfg.gamma_grid[ig]])
            fold_acc.append(float(refit[0, 0, 0]))
        fold_acc = np.array(fold_acc)
    return {"accuracy": float(np.mean(fold_acc)), "accuracy_std": float(np.std(fold_acc)),
            "best_c": float(cfg.c_grid[ci]), "best_gamma": float(cfg.gamma_grid[gi])}


def _score_chunk(turned: np.ndarray, angles: list[float], base: np.ndarray, cfg: HogConfig,
                 folds: list[Split]) -> list[dict[str, Any]]:
    """Rows for a chunk of angles from their rotated images ``turned (len(angles), N, H, W)``
    (runs in a worker: numpy, skimage and sklearn only)."""
    n = base.shape[0]
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    groups = np.r_[np.arange(n), np.arange(n)]
    rows = []
    for angle, gray in zip(angles, turned, strict=True):
        x = np.concatenate([base, hog_features(gray, cfg)])
        rows.append({"eval_angle": float(angle), **svm_accuracy(x, y, groups, cfg, folds)})
    return rows


def hog_svm_curve(images: torch.Tensor, angles: list[float], cfg: HogConfig,
                  crop: FieldOfView = "disk") -> list[dict[str, Any]]:
    """Rows of the ``hog_svm`` table (without study/dataset), one per angle (``eval_angle``), in
    ``angles`` order.

    Args:
        images: ``(N, C, H, W)`` in [0, 1], already at ``cfg.image_size``.
        angles: degrees (floats).
        cfg: ``hog.*`` (``n_jobs`` worker processes over chunks of angles).
        crop: the same field of view the study uses for the network.
    """
    gray = images.float().mean(dim=1)  # N x H x W
    n = gray.shape[0]
    base = rotated_features(gray, 0, cfg, crop)
    folds = grouped_folds(np.r_[np.arange(n), np.arange(n)], cfg.cv_folds)
    jobs = min(cfg.n_jobs, len(angles), os.cpu_count() or 1)
    chunks = [[float(a) for a in c] for c in np.array_split(np.asarray(angles), 4 * jobs)
              if len(c)]
    # a generator: joblib rotates the next chunks while the workers score the first ones
    tasks = (delayed(_score_chunk)(np.stack([rotated_gray(gray, a, crop) for a in chunk]),
                                   chunk, base, cfg, folds) for chunk in chunks)
    results = Parallel(n_jobs=jobs)(tasks)
    common = {"n_images": n, "cv_folds": cfg.cv_folds, "pixels_per_cell": cfg.pixels_per_cell,
              "orientations": cfg.orientations, "image_size": int(gray.shape[-1])}
    return [{**r, **common} for chunk in results for r in chunk]
