"""Per-angle curves: the mean of each saliency metric per evaluation angle, with a bootstrap CI.

A curve is one trial's (or one condition's, seeds pooled) metric per evaluation angle. The
unit of replication is the image (seed 000 averages 75 images per angle); seeds, where a
condition has several, are a second level, crossed with the images (see
:mod:`analysis.bootstrap`). Also here: the plain per-angle means grouped in Arrow, smoothing on
the circle and the maxima/minima of a curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.signal import find_peaks

from analysis.bootstrap import Resampler, mean_ci
from rotsweep.vocabulary import angle_set_text, angle_text

METRICS = ("dice", "soft_dice", "auc", "mass_in_mask", "iou", "q_bbox")
BASELINE_INIT = "random_baseline"
# What a trial was, apart from its seed and id; a random-init baseline shares its trial's id
# and differs by ``init`` (seed 002's baseline rows).
CONDITION_KEYS = ("dataset", "backbone", "pretext", "pretraining", "train_angles", "init",
                  "method", "target", "threshold_rule")
DESCRIPTORS = (*CONDITION_KEYS, "seed")


def degrees(angle: float) -> str:
    """An angle as a researcher writes it: ``90.0`` → ``"90"``, ``22.5`` → ``"22.5"``; float32
    values are read to 0.001° (the configs' precision is 0.1°): rotsweep/vocabulary.py."""
    return angle_text(angle)


def angle_label(angles: object) -> str:
    """``[90, 0]`` → ``"0,90"``: train angles as one label, the ``train_angle_set`` spelling
    (rotsweep/vocabulary.py; a label is re-spelled, a missing value becomes ``""``; fractional
    degrees are kept: ``[22.5]`` → ``"22.5"``)."""
    if isinstance(angles, str):
        return angle_set_text(angles)
    if angles is None or (isinstance(angles, float) and np.isnan(angles)):
        return ""
    return angle_set_text(list(angles))  # type: ignore[call-overload]


def _codes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    # One integer per distinct combination of ``columns`` (NaN is a value of its own).
    code = np.zeros(len(frame), dtype=np.int64)
    for col in columns:
        c, uniques = pd.factorize(frame[col], use_na_sentinel=False)
        code = pd.factorize(code * (len(uniques) + 1) + c)[0]  # re-coded: no overflow
    return code


def curve_groups(frame: pd.DataFrame, by: str = "trial",
                 condition_of: Mapping[str, str] | None = None
                 ) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Which rows make each curve, and what each curve is.

    Args:
        frame: rows of the ``saliency`` table.
        by: ``trial`` — one curve per (trial, init); ``condition`` — one per condition, pooling
            the trials (seeds) that differ only in seed.
        condition_of: ``trial_id → digest of its config without the seed`` (from the ``trials``
            table), so trials that differ in a searched hyper-parameter are not pooled; without
            it, conditions are told apart by the saliency table's own columns.

    Returns:
        ``(meta, rows)``: ``meta`` has one row per curve (the :data:`DESCRIPTORS` present, with
        ``train_angles`` as a label, ``trial_id`` — ``;``-joined for conditions — and
        ``n_trials``); ``rows[k]`` holds the positions in ``frame`` of curve ``k``.
    """
    if by not in ("trial", "condition"):
        raise ValueError(f"curve_groups: by={by!r}; expected 'condition' or 'trial'")
    present = [c for c in DESCRIPTORS if c in frame]
    # Grouping 10 M rows by many string columns is slow; trials are few, so group the trials.
    trial = _codes(frame, ["trial_id", *(["init"] if "init" in frame else [])])
    first = np.unique(trial, return_index=True)[1]
    meta = frame.iloc[first][["trial_id", *present]].reset_index(drop=True)
    if "train_angles" in meta:
        meta["train_angles"] = [angle_label(v) for v in meta["train_angles"]]
    if by == "trial":
        curve = trial
        meta["n_trials"] = 1
    else:
        keys = [c for c in CONDITION_KEYS if c in meta]
        if condition_of is not None:
            meta["config"] = meta["trial_id"].map(dict(condition_of)).fillna(meta["trial_id"])
            keys.append("config")
        cond = _codes(meta, keys)
        curve = cond[trial]
        grouped = meta.groupby(cond, sort=False)
        meta = grouped.first().reset_index(drop=True).drop(columns=["seed", "config"],
                                                            errors="ignore")
        meta["trial_id"] = grouped["trial_id"].agg(lambda t: ";".join(sorted(t))).to_numpy()
        meta["n_trials"] = grouped.size().to_numpy()
    order = np.argsort(curve, kind="stable")
    bounds = np.cumsum(np.bincount(curve, minlength=len(meta)))[:-1]
    return meta, np.split(order, bounds)


def angle_means(table: pa.Table, metrics: Sequence[str] = ("dice",),
                keys: Sequence[str] = ("dataset", "trial_id", "init")) -> pd.DataFrame:
    """The plain per-angle aggregation — mean and count of each metric per (curve, angle) —
    grouped in Arrow before anything becomes pandas (multi-threaded; ~10 M rows in about a
    second, bench/analysis.py).

    Args:
        table: the ``saliency`` table as Arrow (:func:`rotsweep.tables.read_arrow`).
        metrics: metric columns.
        keys: what one curve is (those present are used).

    Returns:
        ``*keys, eval_angle``, then ``<metric>`` (mean, NaN skipped) and ``n_<metric>`` (count).
    """
    group = [k for k in keys if k in table.column_names] + ["eval_angle"]
    aggs = [(m, f) for m in metrics for f in ("mean", "count")]
    out = table.group_by(group, use_threads=True).aggregate(aggs).to_pandas()
    out = out.rename(columns={**{f"{m}_mean": m for m in metrics},
                              **{f"{m}_count": f"n_{m}" for m in metrics}})
    return out.sort_values(group, kind="stable").reset_index(drop=True)


def present_metrics(frame: pd.DataFrame, metrics: Sequence[str] = METRICS) -> list[str]:
    """The metric columns of ``frame`` that hold at least one value."""
    return [m for m in metrics if m in frame and frame[m].notna().any()]


def row_codes(frame: pd.DataFrame, metrics: Sequence[str], replicate: str = "trial_id"
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Integer codes of the replicate and image of every row, its angle and metric values.

    Computed once for the whole table, so that cutting it into curves costs array slicing,
    not pandas indexing of string columns (10 M rows hold a few hundred curves).

    Returns:
        ``(replicate, image, angle, values)``: ``(R,)`` int codes, ``(R,)`` int codes,
        ``(R,)`` degrees, ``(R, M)`` float64.
    """
    rep = pd.factorize(frame[replicate])[0]
    img = pd.factorize(frame["image_id"])[0]
    angle = frame["eval_angle"].to_numpy()
    return rep, img, angle, frame[list(metrics)].to_numpy(dtype=np.float64, na_value=np.nan)


def cube_of(codes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], idx: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``idx`` of :func:`row_codes` as a dense ``(S, N, A, M)`` array.

    Returns:
        ``(values, angles)``: replicates × images × sorted angles × metrics (NaN where a
        replicate did not observe an image at an angle), and the ``(A,)`` angles.
    """
    rep, img, angle, vals = codes
    _, s_code = np.unique(rep[idx], return_inverse=True)
    _, i_code = np.unique(img[idx], return_inverse=True)
    angles, a_code = np.unique(angle[idx], return_inverse=True)
    values = np.full((s_code.max() + 1, i_code.max() + 1, len(angles), vals.shape[1]), np.nan)
    values[s_code, i_code, a_code] = vals[idx]
    return values, angles


def observation_cube(frame: pd.DataFrame, metrics: Sequence[str], replicate: str = "trial_id"
                     ) -> tuple[np.ndarray, np.ndarray]:
    """One curve's rows as a dense ``(S, N, A, M)`` array (see :func:`cube_of`).

    Args:
        frame: rows of one curve (one trial, or one condition's seeds).
        metrics: the metric columns.
        replicate: the column that tells seeds apart.
    """
    return cube_of(row_codes(frame, metrics, replicate), np.arange(len(frame)))


def _observed_ci(values: np.ndarray, level: float, resampler: Resampler
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Mean and CI of the (angle, metric) columns with at least one value; NaN for the others
    # (q_bbox of a dataset without boxes, AUC where a mask fills the field of view), which
    # have no mean to estimate.
    observed = ~np.isnan(values).all(axis=(0, 1))
    out = [np.full(values.shape[-1], np.nan) for _ in range(3)]
    if observed.any():
        for target, part in zip(out, mean_ci(values[:, :, observed], level=level,
                                             resampler=resampler), strict=True):
            target[observed] = part
    return out[0], out[1], out[2]


def curve_table(saliency: pd.DataFrame, metrics: Sequence[str] | None = None, *,
                by: str = "trial", condition_of: Mapping[str, str] | None = None,
                n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI of every metric per evaluation angle, per curve.

    Args:
        saliency: rows of the ``saliency`` table.
        metrics: metric columns (default: those of :data:`METRICS` with values).
        by: ``trial`` (one curve per trial and init; CI over images) or ``condition`` (seeds
            pooled; CI over seeds and images); see :func:`curve_groups`.
        condition_of: see :func:`curve_groups`.
        n_boot: bootstrap replicates per curve.
        level: CI coverage.
        seed: the bootstrap generator's seed.

    Returns:
        Long table: the curve's descriptors (``dataset, backbone, pretext, train_angles, init,
        …, trial_id, n_trials``), then ``metric, eval_angle, mean, ci_low, ci_high, n_images,
        n_seeds``.
    """
    metrics = list(metrics) if metrics is not None else present_metrics(saliency)
    meta, groups = curve_groups(saliency, by, condition_of)
    codes = row_codes(saliency, metrics)
    resampler = Resampler(n_boot, seed)
    parts = []
    for k, idx in enumerate(groups):
        values, angles = cube_of(codes, idx)
        s, n, a, m = values.shape
        mean, low, high = _observed_ci(values.reshape(s, n, a * m), level, resampler)
        parts.append(pd.DataFrame({
            "curve": k, "metric": np.tile(np.asarray(metrics, dtype=object), a),
            "eval_angle": np.repeat(angles, m), "mean": mean, "ci_low": low, "ci_high": high,
            "n_images": n, "n_seeds": s}))
    columns = ["metric", "eval_angle", "mean", "ci_low", "ci_high", "n_images", "n_seeds"]
    if not parts:
        return pd.DataFrame(columns=[*meta.columns, *columns])
    long = pd.concat(parts, ignore_index=True)
    table = meta.iloc[long["curve"].to_numpy()].reset_index(drop=True)
    return pd.concat([table, long[columns]], axis=1)


def circular_distance(a: np.ndarray, b: np.ndarray, period: float = 360.0) -> np.ndarray:
    """``|a - b|`` on a circle of ``period`` degrees, in ``[0, period / 2]`` (broadcasts)."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) % period
    return np.minimum(d, period - d)


def smooth_circular(angles: np.ndarray, values: np.ndarray, bandwidth: float = 5.0,
                    period: float = 360.0) -> np.ndarray:
    """Gaussian kernel smoothing on the circle (wraps around 360°), NaN-aware.

    Args:
        angles: ``(A,)`` degrees, any spacing.
        values: ``(A,)``.
        bandwidth: the kernel's standard deviation in degrees (default 5°: on a 1° grid it damps
            a 90°-periodic component by only 6 %; on a 15° grid it leaves the curve as it is).
        period: 360 for curves over rotation angles, 180 for orientation histograms.

    Returns:
        ``(A,)`` smoothed values; ``bandwidth <= 0`` returns ``values``.
    """
    values = np.asarray(values, dtype=np.float64)
    if bandwidth <= 0:
        return values
    d = circular_distance(angles[:, None], angles[None, :], period)
    w = np.exp(-0.5 * (d / bandwidth) ** 2)  # A x A
    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        return (w @ np.where(present, values, 0.0)) / (w @ present.astype(np.float64))


def _circular_peaks(y: np.ndarray, prominence: float) -> np.ndarray:
    # Tile three periods so a peak at 0° (or on a plateau across 360°) is an interior peak.
    n = len(y)
    peaks, _ = find_peaks(np.tile(y, 3), prominence=prominence)
    return np.unique(peaks[(peaks >= n) & (peaks < 2 * n)] - n)


def find_extrema(angles: np.ndarray, values: np.ndarray, *, bandwidth: float = 5.0,
                 rel_prominence: float = 0.25) -> tuple[list[int], list[int]]:
    """Angles of the maxima and minima of a curve on the circle.

    Extrema are read on the smoothed curve (noise makes many spurious local extrema on a 1°
    grid) and must stand out by ``rel_prominence`` of its range. Smoothing leaves a symmetric
    peak in place and moves an asymmetric one towards its broad side by at most ~0.6 σ (3° at
    the default; seed 000's Lung peaks rise over 66° and fall over 24°). Moving each extremum
    to the raw curve's extreme nearby was tried and rejected: on a flat-topped peak that
    follows the noise (errors of 4–7° in simulation against ≤ 1° here).

    Args:
        angles: ``(A,)`` degrees on the circle (sorted or not).
        values: ``(A,)`` the curve.
        bandwidth: smoothing σ in degrees (see :func:`smooth_circular`).
        rel_prominence: minimum prominence as a fraction of the smoothed curve's range.

    Returns:
        ``(maxima, minima)``: sorted integer degrees.
    """
    order = np.argsort(angles)
    a = np.asarray(angles, dtype=np.float64)[order]
    v = np.asarray(values, dtype=np.float64)[order]
    ok = ~np.isnan(v)
    a, v = a[ok], v[ok]
    if len(v) < 3:
        return [], []
    s = smooth_circular(a, v, bandwidth)
    spread = float(np.max(s) - np.min(s))
    if spread <= 1e-12 * max(1.0, float(np.max(np.abs(s)))):
        return [], []
    return tuple(sorted(int(np.rint(a[i])) % 360 for i in  # type: ignore[return-value]
                        _circular_peaks(sign * s, rel_prominence * spread))
                 for sign in (1.0, -1.0))
