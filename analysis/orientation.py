"""What a dataset's gradient-orientation histogram says about rotations (hypothesis b).

The histogram h(φ) over orientations φ ∈ [0°, 180°) (table ``orientation``, written at study
time by study/launch/orientation.py) shifts by θ when the images are rotated by θ. Two summaries:

* **k-fold symmetry strength** ``|Σ h(φ) e^{ikφ}| / Σ h(φ)`` (φ in radians), the mean resultant
  length of the k-fold axial data: 0 for a histogram with no k-fold structure, 1 when all
  gradient mass sits on orientations 360°/k apart. k = 2: one preferred axis (a rotation by
  90° changes the histogram); k = 4: two perpendicular axes, e.g. axis-aligned rectangles
  (unchanged by 90°, changed by 45°); k = 8: four axes 45° apart.
* **self-similarity** ``S(θ) = Σ_φ min(h(φ), h(φ − θ))`` (histogram intersection): the share of
  gradient mass that still matches after a rotation by θ. 1 where a rotation leaves the
  orientation statistics unchanged, so a HoG-like shortcut cannot tell θ from 0°.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

FOLDS = (2, 4, 8)


def histogram_of(table: pd.DataFrame, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """One dataset's histogram from the ``orientation`` table.

    Returns:
        ``(centres, weights)``: sorted bin centres in degrees and weights summing to 1
        (averaged over the table's parts when a dataset was written by several studies).

    Raises:
        KeyError: ``dataset`` has no rows; the message lists the datasets.
    """
    sub = table[table["dataset"].astype(str) == dataset]
    if sub.empty:
        raise KeyError(f"orientation table: no rows for dataset {dataset!r}; expected one of "
                       f"{sorted(table['dataset'].astype(str).unique())}")
    h = sub.groupby("orientation")["weight"].mean()
    weights = h.to_numpy(dtype=np.float64)
    return h.index.to_numpy(dtype=np.float64), weights / weights.sum()


def symmetry_strengths(centres: np.ndarray, weights: np.ndarray,
                       folds: Sequence[int] = FOLDS) -> dict[str, float]:
    """k-fold symmetry strength of an orientation histogram, for each k in ``folds``.

    Args:
        centres: ``(B,)`` bin centres, degrees in [0, 180).
        weights: ``(B,)`` non-negative weights.
        folds: even k (an orientation histogram is 180°-periodic, so odd k are undefined).

    Returns:
        ``strength_<k>`` in [0, 1] per k.

    Raises:
        ValueError: an odd k.
    """
    if any(k % 2 for k in folds):
        raise ValueError(f"symmetry_strengths: folds must be even for orientations mod 180°, "
                         f"got {list(folds)}")
    phi = np.radians(np.asarray(centres, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    return {f"strength_{k}": float(np.abs(np.sum(w * np.exp(1j * k * phi))) / w.sum())
            for k in folds}


def self_similarity(centres: np.ndarray, weights: np.ndarray,
                    angles: Sequence[float]) -> np.ndarray:
    """``S(θ)`` for each rotation θ in ``angles`` (histogram intersection with its shift).

    Args:
        centres: ``(B,)`` evenly spaced bin centres in [0, 180).
        weights: ``(B,)`` weights summing to 1.
        angles: rotations in degrees (any; taken mod 180). Shifts by a non-multiple of the
            bin width interpolate the histogram linearly on the circle.

    Returns:
        ``(len(angles),)`` in [0, 1]; ``S(0) = 1``.
    """
    c = np.asarray(centres, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    out = np.empty(len(angles))
    for j, theta in enumerate(angles):
        shifted = np.interp((c - float(theta)) % 180.0, c, w, period=180.0)
        out[j] = np.minimum(w, shifted).sum()
    return out


def orientation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: symmetry strengths, the dominant orientation, S at 45° and 90°.

    Returns:
        ``dataset, n_images, strength_2, strength_4, strength_8, peak_orientation,
        similarity_45, similarity_90``.
    """
    rows = []
    for dataset in sorted(table["dataset"].astype(str).unique()):
        centres, weights = histogram_of(table, dataset)
        n_images = table.loc[table["dataset"].astype(str) == dataset, "n_images"].max()
        s45, s90 = self_similarity(centres, weights, [45, 90])
        rows.append({"dataset": dataset, "n_images": n_images,
                     **symmetry_strengths(centres, weights),
                     "peak_orientation": float(centres[np.argmax(weights)]),
                     "similarity_45": float(s45), "similarity_90": float(s90)})
    return pd.DataFrame(rows)
