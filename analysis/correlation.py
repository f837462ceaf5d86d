"""Rank correlation of two curves over the same angles, with a circular-shift permutation test.

Two per-angle curves (Dice and HoG-SVM accuracy, seed 000's comparison) are each autocorrelated:
neighbouring angles have similar values. Permuting one curve's angle labels destroys that and
makes any two smooth curves look more correlated than chance. Shifting one curve circularly
against the other keeps both autocorrelations intact and only breaks their alignment, so the A
circular shifts of a full-circle grid are the reference distribution (the "toroidal shift" test
of ecology; Fortin & Jacquez 2000). The smallest attainable p is 1/A (1/24 on a 15° grid,
1/360 on seed 000's 1° grid), and a curve with 4-fold symmetry matches itself at four shifts.

The test is exact when, under the null, at least one of the two curves is stationary on the
circle (its distribution does not change under rotation) and independent of the other: a mean
saliency curve with no common angular pattern is such a curve, whatever the other one is.
Points missing from a curve (a degenerate angle, or one fixed by construction) stay on the grid
as gaps: each shift correlates the angles both curves have after shifting, so the gap moves
with its curve instead of being filled in.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata, spearmanr

from analysis.periodicity import full_circle_step


@dataclass(frozen=True)
class Correlation:
    """Spearman's ρ between two curves and its p-values.

    Attributes:
        rho: Spearman's rank correlation (average ranks for ties).
        p_shift: two-sided circular-shift p, ``#{shifts s: |ρ_s| ≥ |ρ|} / A`` (the identity
            included); NaN when the angles are not a full-circle grid.
        p_naive: scipy's p, which assumes independent angles (shown for contrast only).
        n_angles: A.
    """

    rho: float
    p_shift: float
    p_naive: float
    n_angles: int


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of ``x`` (``(A,)``) with each row of ``y`` (``(..., A)``); NaN if constant."""
    xc = x - x.mean()
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc**2).sum() * (yc**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (yc @ xc) / den


def circular_shift_ranks(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """ρ of ``rx`` with every circular shift of ``ry``: ``out[s] = r(rx, roll(ry, s))``.

    Ranks commute with shifts, so the ranks are computed once.
    """
    a = len(ry)
    shifted = ry[(np.arange(a)[None, :] - np.arange(a)[:, None]) % a]  # A x A, row s = roll s
    return pearson_rows(rx, shifted)


def snap(values: np.ndarray, digits: int = 10) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits of their largest magnitude, so that
    values equal up to float rounding (S(θ) and S(θ + 180°), a curve and its image under an
    exact monotone map) tie instead of being ranked by their last bits."""
    top = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
    if top == 0.0 or not np.isfinite(top):
        return values
    return np.round(values, digits - 1 - int(np.floor(np.log10(top))))


def circular_spearman(angles: np.ndarray, x: np.ndarray, y: np.ndarray) -> Correlation:
    """Spearman's ρ of two curves over the same angles, with the circular-shift test.

    Args:
        angles: ``(A,)`` degrees; the shift test needs a full-circle grid (else ``p_shift`` is
            NaN).
        x: ``(A,)`` first curve (e.g. mean Dice per angle).
        y: ``(A,)`` second curve (e.g. HoG-SVM accuracy per angle).

    Returns:
        A :class:`Correlation`; ρ is NaN when either curve is constant.

    Raises:
        ValueError: the three arrays differ in length, or the angles are not a full-circle
            grid while a curve holds NaN.
    """
    angles, x, y = (np.asarray(v, dtype=np.float64) for v in (angles, x, y))
    if not (angles.shape == x.shape == y.shape) or angles.ndim != 1:
        raise ValueError(f"circular_spearman: angles, x, y must be equal-length vectors, got "
                         f"{angles.shape}, {x.shape}, {y.shape}")
    order = np.argsort(angles)
    angles, x, y = angles[order], x[order], y[order]
    if np.isnan(x).any() or np.isnan(y).any():
        if full_circle_step(angles) is None:
            raise ValueError("circular_spearman: the curves hold NaN and the angles are not a "
                             "full-circle grid; drop those angles first")
        return _gapped_spearman(x, y)
    rx, ry = rankdata(snap(x)), rankdata(snap(y))
    rho = float(pearson_rows(rx, ry[None, :])[0])
    n = len(x)
    if np.isnan(rho) or n < 3:
        return Correlation(rho, np.nan, np.nan, n)
    p_naive = float(spearmanr(snap(x), snap(y)).pvalue)
    if full_circle_step(angles) is None:
        return Correlation(rho, np.nan, p_naive, n)
    null = circular_shift_ranks(rx, ry)
    p_shift = float(np.count_nonzero(np.abs(null) >= abs(rho) * (1.0 - 1e-9)) / n)
    return Correlation(rho, p_shift, p_naive, n)


def _masked_rhos(x: np.ndarray, ys: np.ndarray) -> np.ndarray:
    # Spearman's ρ of x with each row of ys over the angles both have (ranks among those).
    xs = np.broadcast_to(x, ys.shape).copy()
    gap = np.isnan(xs) | np.isnan(ys)
    xs[gap], ys = np.nan, np.where(gap, np.nan, ys)
    rx = rankdata(snap(xs), axis=1, nan_policy="omit")
    ry = rankdata(snap(ys), axis=1, nan_policy="omit")
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # a shift with no shared angle: NaN
        rx -= np.nanmean(rx, axis=1, keepdims=True)
        ry -= np.nanmean(ry, axis=1, keepdims=True)
        out = np.nansum(rx * ry, axis=1) / np.sqrt(np.nansum(rx**2, axis=1)
                                                    * np.nansum(ry**2, axis=1))
    out[(~gap).sum(axis=1) < 3] = np.nan
    return out


def _gapped_spearman(x: np.ndarray, y: np.ndarray) -> Correlation:
    # Full-circle grid with gaps: rho over the angles both curves have, at every shift of y.
    both = ~(np.isnan(x) | np.isnan(y))
    n = int(both.sum())
    a = len(y)
    null = _masked_rhos(x, y[(np.arange(a)[None, :] - np.arange(a)[:, None]) % a])
    rho = float(null[0])
    if np.isnan(rho):
        return Correlation(rho, np.nan, np.nan, n)
    p_naive = float(spearmanr(snap(x[both]), snap(y[both])).pvalue)
    p_shift = float(np.count_nonzero(np.abs(null) >= abs(rho) * (1.0 - 1e-9)) / a)
    return Correlation(rho, p_shift, p_naive, n)
