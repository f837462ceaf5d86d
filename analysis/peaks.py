"""Maxima, minima, dominant period and periodicity p-value of every per-angle curve.

One row per (curve, metric): the rows of ``report/peaks.csv`` (seed 000 reports its curves this
way: "maxima at 90°, 180°, 270°; minima at 45°, 135°, …").
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.curves import (
    cube_of,
    curve_groups,
    find_extrema,
    present_metrics,
    row_codes,
)
from analysis.labels import is_baseline
from analysis.periodicity import (
    FOLDS,
    fill_rows,
    fold_strengths,
    full_circle_step,
    periodicity_test,
    unit_means,
)

PEAK_COLUMNS = ["dataset", "trial_id", "metric", "maxima", "minima", "dominant_period",
                "periodic_p"]
HOG_METRIC = "hog_svm_accuracy"
LABELS = ("backbone", "pretext", "train_angles", "init", "method", "target", "threshold_rule")


def join_angles(angles: Sequence[float]) -> str:
    """``[0, 90, 22.5]`` → ``"0;90;22.5"`` (the peaks.csv format; 0.1° precision)."""
    return ";".join(f"{round(float(a), 1):g}" for a in angles)


def describe_curve(angles: np.ndarray, rows: np.ndarray, *, units: np.ndarray | None = None,
                   bandwidth: float = 5.0, rel_prominence: float = 0.25, n_perm: int = 999,
                   seed: int = 0) -> dict[str, object]:
    """Extrema, Fourier fold strengths and periodicity test of one curve.

    Args:
        angles: ``(A,)`` sorted evaluation angles.
        rows: ``(R, A)`` per-image (or per seed × image) curves; ``R == 1``: the curve itself,
            described but not tested (:mod:`analysis.periodicity`). NaN = missing (an angle
            missing everywhere, e.g. a degenerate point, is interpolated for the test).
        units: ``(R,)`` the image of each row (seeds of an image are averaged first).
        bandwidth, rel_prominence: see :func:`analysis.curves.find_extrema`.
        n_perm: permutations of the periodicity test.
        seed: its generator's seed.

    Returns:
        ``maxima, minima`` (``;``-joined degrees), ``dominant_period`` (degrees),
        ``amplitude`` (of the dominant harmonic, metric units), ``periodic_p``, ``test``,
        ``n_angles, n_rows, n_images, n_missing_angles`` and
        ``amp_k, share_k`` for k in 2, 4, 8. On a grid that is not a full circle the extrema
        are the global ones and the Fourier columns are NaN.
    """
    per_image = unit_means(rows, units)
    with warnings.catch_warnings():  # an angle missing everywhere: NaN, said in the columns
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(per_image, axis=0)
    gaps = int(np.isnan(mean).sum())
    out: dict[str, object] = {"n_angles": len(angles), "n_rows": int(rows.shape[0]),
                              "n_images": int(per_image.shape[0]), "n_missing_angles": gaps,
                              "level": float(np.nanmean(mean)) if gaps < len(mean) else np.nan}
    if full_circle_step(angles) is None or gaps > len(angles) // 4:
        ok = ~np.isnan(mean)
        out.update(maxima=join_angles(angles[ok][mean[ok] == mean[ok].max()]) if ok.any()
                   else "", minima=join_angles(angles[ok][mean[ok] == mean[ok].min()])
                   if ok.any() else "", dominant_period=np.nan, amplitude=np.nan,
                   periodic_p=np.nan, test="not a full-circle grid")
        out.update({f"{c}_{k}": np.nan for k in FOLDS for c in ("amp", "share")})
        return out
    maxima, minima = find_extrema(angles, mean, bandwidth=bandwidth,
                                  rel_prominence=rel_prominence)
    test = periodicity_test(per_image, n_perm=n_perm, seed=seed)
    out.update(maxima=join_angles(maxima), minima=join_angles(minima),
               dominant_period=test.period, amplitude=test.statistic,
               periodic_p=test.p_value, test=test.method,
               **fold_strengths(fill_rows(per_image).mean(axis=0)))
    return out


def peak_table(saliency: pd.DataFrame | None, hog: pd.DataFrame | None = None, *,
               by: str = "trial", condition_of: Mapping[str, str] | None = None,
               metrics: Sequence[str] | None = None, bandwidth: float = 5.0,
               rel_prominence: float = 0.25, n_perm: int = 999, seed: int = 0
               ) -> pd.DataFrame:
    """One row per (curve, metric) of the saliency table, plus each dataset's HoG-SVM curve.

    Args:
        saliency: rows of the ``saliency`` table, or None.
        hog: rows of the ``hog_svm`` table, or None. Its curves (data only, no trial) get an
            empty ``trial_id`` and metric ``hog_svm_accuracy``.
        by, condition_of: one curve per trial, or per condition with its seeds pooled (see
            :func:`analysis.curves.curve_groups`); the test's unit is the image either way.
        metrics: metric columns (default: every metric with values).
        bandwidth, rel_prominence, n_perm, seed: see :func:`describe_curve`.

    Returns:
        The curve's descriptors (``dataset, …, trial_id``), then ``metric, maxima, minima,
        dominant_period, amplitude, periodic_p, test, n_angles, n_rows, n_images,
        n_missing_angles, level,
        amp_k, share_k`` (k = 2, 4, 8). The HoG-SVM rows are described, not tested
        (``periodic_p`` NaN: one curve has no null that holds its size).
    """
    records: list[dict[str, object]] = []
    if saliency is not None and len(saliency):
        metrics = list(metrics) if metrics is not None else present_metrics(saliency)
        meta, groups = curve_groups(saliency, by, condition_of)
        codes = row_codes(saliency, metrics)
        for head, idx in zip(meta.to_dict("records"), groups, strict=True):
            values, angles = cube_of(codes, idx)
            s, n, a, _ = values.shape
            units = np.tile(np.arange(n), s)  # row s·n + i is seed s, image i
            for j, metric in enumerate(metrics):
                rows = values[..., j].reshape(s * n, a)
                keep = ~np.isnan(rows).all(axis=1)
                if keep.any():
                    records.append({**head, "metric": metric, **describe_curve(
                        angles, rows[keep], units=units[keep], bandwidth=bandwidth,
                        rel_prominence=rel_prominence, n_perm=n_perm, seed=seed)})
    if hog is not None and len(hog):
        for dataset, sub in hog.groupby("dataset", sort=True, observed=True):
            curve = sub.groupby("eval_angle")["accuracy"].mean()
            records.append({"dataset": dataset, "trial_id": "", "metric": HOG_METRIC,
                            **describe_curve(curve.index.to_numpy(), curve.to_numpy()[None, :],
                                             bandwidth=bandwidth, rel_prominence=rel_prominence,
                                             n_perm=n_perm, seed=seed)})
    table = pd.DataFrame.from_records(records)
    for col in ("trial_id", *LABELS):  # the HoG rows have no trial: blank, not NaN
        if col in table:
            table[col] = table[col].astype(object).where(table[col].notna(), "")
    return table


def peaks_csv_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows and columns of ``report/peaks.csv``: trained networks' curves and HoG-SVM curves
    (the random-init baseline's curves are in the full periodicity table)."""
    if table.empty:
        return pd.DataFrame(columns=PEAK_COLUMNS)
    keep = ~table["init"].map(is_baseline).astype(bool) if "init" in table else slice(None)
    return table.loc[keep, PEAK_COLUMNS].reset_index(drop=True)
