"""Builders of result tables with known structure (imported by conftest.py and the tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from rotsweep.schema import columns

Curve = Callable[[np.ndarray], np.ndarray]


def saliency_frame(curve: Curve, *, n_images: int = 30, angles: Sequence[int] | None = None,
                   noise: float = 0.02, image_sd: float = 0.05, trial_id: str = "t0",
                   dataset: str = "brats", train_angles: Sequence[int] = (90,),
                   seed: int = 0, init: str = "random", backbone: str = "small_cnn",
                   pretext: str = "moco_rotation", rng_seed: int = 0,
                   metrics: Sequence[str] = ("dice", "soft_dice", "auc")) -> pd.DataFrame:
    """Rows of the ``saliency`` table: metric = curve(angle) + image effect + noise.

    Every metric gets the same curve (plus independent noise), so tests can check any metric.
    """
    angles = np.arange(0, 360, 15) if angles is None else np.asarray(angles)
    rng = np.random.default_rng(rng_seed)
    n_a = len(angles)
    base = curve(angles.astype(float))[None, :] + rng.normal(0, image_sd, (n_images, 1))
    rows: dict[str, Any] = {
        "study": "s", "dataset": dataset, "trial_id": trial_id, "backbone": backbone,
        "pretext": pretext, "train_angles": [list(np.atleast_1d(train_angles))] * (n_images * n_a),
        "init": init, "seed": seed, "method": "smoothgrad", "target": "pair_similarity",
        "eval_angle": np.tile(angles, n_images).astype(np.int16),
        "image_id": np.repeat([f"img{i:03d}" for i in range(n_images)], n_a),
        "threshold_rule": "match_mask_area", "threshold": 0.5, "mlflow_run_id": "run",
    }
    for m in metrics:
        rows[m] = (base + rng.normal(0, noise, base.shape)).ravel().astype(np.float32)
    frame = pd.DataFrame(rows)
    return frame[[c for c in columns("saliency") if c in frame]]


def four_fold(amplitude: float = 0.02, phase: float = 0.0, level: float = 0.6) -> Curve:
    """A curve with a 90° period and maxima at ``phase + k·90°``."""
    return lambda a: level + amplitude * np.cos(np.radians(4 * (a - phase)))


def flat(level: float = 0.5) -> Curve:
    return lambda a: np.full_like(a, level, dtype=np.float64)
