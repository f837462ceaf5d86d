"""Is a per-angle curve periodic? Circular Fourier analysis and a permutation test.

A curve sampled on a full-circle grid (0, d, 2d, …, 360 − d) is a sum of harmonics; harmonic k
repeats every 360/k degrees, so a k-fold symmetric curve (seed 000's BraTS: maxima every 90°)
has its power in harmonic k (and its multiples). Its amplitude here is in the metric's units:
``c·cos(kθ)`` has amplitude ``c``.

The test's null hypothesis is "no angle is special across images": each image's curve may have
any shape (its own autocorrelation, its own symmetries), but its alignment to the absolute angle
is arbitrary. Under that null the data's distribution is unchanged when each image's curve is
circularly shifted by its own random number of grid steps, so those shifts are the
permutations; they keep every image's autocorrelation, which permuting angle labels would not.

**The exchangeable unit is the image.** Several seeds (networks) evaluated on one image share
that image's curve shape, so their rows are not exchangeable with one another: shifting each
seed × image row on its own made the null too narrow (44–80 % false positives at α = 0.05 in
issue 11's simulation). Rows of one image are therefore averaged first (``units``); in a
balanced design that is exactly the test in which all seeds of an image share one shift.

**Statistic.** The p-value uses the largest *standardised* harmonic of the mean curve,
``max_k |Σ_i c_ik| / √(Σ_i |c_ik|²)`` (c_ik: harmonic k of image i). Its denominator does not
change under shifts, and it is the per-harmonic spread of the null mean, so every harmonic
competes on the same scale: with the raw amplitude, images' own smooth low-harmonic shapes
(common in real curves) swamp a small 4-fold pattern (power 0.2 against 0.99 in simulation,
docs/statistics.md). The reported ``statistic`` and ``period`` stay in metric units.

**Missing angles.** An angle missing for every image (a degenerate point, left out) or a
missing cell is filled by circular linear interpolation between the image's neighbouring
angles, so the grid stays a full circle; the size with the 0° point missing is measured by
``bench/calibration.py``.

**One curve** (the HoG-SVM curve, a single image) has no test: a circular shift or phase
randomisation leaves every harmonic amplitude unchanged, and permuting angle labels rejects
smooth null curves almost always (95.5 % at α = 0.05, issue 11), so no null that a lone curve
can supply holds its size. Its harmonics and extrema are reported descriptively.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOLDS = (2, 4, 8)
MAX_HARMONIC = 8
SHIFT_TEST = "circular_shift"
NO_TEST = "none: one curve"


def full_circle_step(angles: np.ndarray) -> float | None:
    """The grid step if ``angles`` are ``0, d, 2d, …, 360 − d`` in some order (and A ≥ 4)."""
    a = np.sort(np.unique(np.round(np.asarray(angles, dtype=np.float64) % 360.0, 6)))
    if len(a) < 4 or len(a) != len(np.asarray(angles)):
        return None
    step = 360.0 / len(a)
    return step if np.allclose(a, a[0] + step * np.arange(len(a)), atol=1e-4) else None


def harmonic_amplitudes(curves: np.ndarray, max_harmonic: int = MAX_HARMONIC) -> np.ndarray:
    """Amplitudes of harmonics 1..K of curves on a full-circle grid, in the curves' units.

    Args:
        curves: ``(..., A)`` sampled at ``0, d, …, 360 − d`` in that order.
        max_harmonic: K; capped at ``(A − 1) // 2`` (the Nyquist harmonic is not resolved).

    Returns:
        ``(..., K)``: ``2 |FFT_k| / A``.
    """
    a = curves.shape[-1]
    k = min(max_harmonic, (a - 1) // 2)
    spectrum = np.fft.rfft(curves, axis=-1)[..., 1:k + 1]
    return 2.0 * np.abs(spectrum) / a


def fold_strengths(curve: np.ndarray, folds: tuple[int, ...] = FOLDS) -> dict[str, float]:
    """Amplitude and share of variance of the 2-, 4- and 8-fold components of one curve.

    Args:
        curve: ``(A,)`` on a full-circle grid.
        folds: the k of each k-fold component (needs ``A > 2k``; NaN otherwise).

    Returns:
        ``amp_<k>`` (metric units) and ``share_<k>`` (fraction of the curve's variance) per k.
    """
    k_max = max(folds)
    amps = harmonic_amplitudes(curve[None, :], k_max)[0]
    var = float(np.var(curve))
    out: dict[str, float] = {}
    for k in folds:
        amp = float(amps[k - 1]) if k <= len(amps) else float("nan")
        out[f"amp_{k}"] = amp
        out[f"share_{k}"] = amp**2 / 2.0 / var if var > 0 else float("nan")
    return out


@dataclass(frozen=True)
class PeriodicityResult:
    """The outcome of :func:`periodicity_test`.

    Attributes:
        statistic: the largest harmonic amplitude of the mean curve (metric units).
        p_value: permutation p of the largest standardised harmonic,
            ``(1 + #{T* ≥ T}) / (1 + n_perm)``; NaN for one curve.
        harmonic: the dominant harmonic k (largest amplitude; the curve repeats every 360/k°).
        period: ``360 / k`` degrees.
        amplitudes: ``(K,)`` amplitudes of harmonics 1..K of the mean curve.
        method: ``circular_shift`` (one shift per image) or ``none: one curve``.
        n_perm: permutations drawn (0 without a test).
        n_units: images (after averaging rows of one image).
    """

    statistic: float
    p_value: float
    harmonic: int
    period: float
    amplitudes: np.ndarray
    method: str
    n_perm: int
    n_units: int


def fill_rows(rows: np.ndarray) -> np.ndarray:
    """Rows without NaN: a missing cell is interpolated circularly between the row's nearest
    present angles (a row with one value takes it everywhere); empty rows are dropped."""
    rows = rows[~np.isnan(rows).all(axis=1)]
    missing = np.isnan(rows)
    if not missing.any():
        return rows
    out = rows.copy()
    grid = np.arange(rows.shape[1], dtype=np.float64)
    for i in np.flatnonzero(missing.any(axis=1)):
        ok = ~missing[i]
        out[i, ~ok] = np.interp(grid[~ok], grid[ok], rows[i, ok], period=rows.shape[1])
    return out


def unit_means(rows: np.ndarray, units: np.ndarray | None) -> np.ndarray:
    """``(U, A)`` NaN-aware means of the rows of each unit (image), units in sorted order;
    ``units=None`` keeps the rows as they are."""
    if units is None:
        return rows
    codes = np.unique(np.asarray(units), return_inverse=True)[1].ravel()
    u = int(codes.max()) + 1 if len(codes) else 0
    present = ~np.isnan(rows)
    total = np.zeros((u, rows.shape[1]))
    count = np.zeros((u, rows.shape[1]))
    np.add.at(total, codes, np.where(present, rows, 0.0))
    np.add.at(count, codes, present)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _shifted_maxima(spec: np.ndarray, weight: np.ndarray, a: int, n_perm: int,
                    rng: np.random.Generator, chunk: int = 256) -> np.ndarray:
    # spec: R x K harmonic coefficients of the per-image curves. Shifting row r by s_r grid
    # steps multiplies its harmonic k by exp(-2πi k s_r / A) (the shift theorem), so the
    # sum of shifted rows is a phase-weighted sum of the rows' spectra.
    r, k = spec.shape
    table = np.exp(-2j * np.pi * np.arange(a)[:, None] * np.arange(1, k + 1)[None, :] / a)
    out = np.empty(n_perm)
    for start in range(0, n_perm, chunk):
        p = min(chunk, n_perm - start)
        shifts = rng.integers(0, a, size=(p, r))
        summed = (table[shifts] * spec[None]).sum(axis=1)  # P x R x K phases -> P x K
        out[start:start + p] = (np.abs(summed) * weight).max(axis=1)
    return out


def periodicity_test(rows: np.ndarray, n_perm: int = 999, max_harmonic: int = MAX_HARMONIC,
                     seed: int = 0, units: np.ndarray | None = None) -> PeriodicityResult:
    """Test whether the mean of per-image curves has a common angular pattern.

    Args:
        rows: ``(R, A)`` per-image (or per seed × image) curves on a full-circle grid, angles in
            increasing order; NaN = missing (see the module docstring).
        n_perm: random shift sets (999 resolves p down to 0.001).
        max_harmonic: harmonics 1..K considered (default 8: periods down to 45°).
        seed: the permutation generator's seed.
        units: ``(R,)`` the image of each row; rows of one image are averaged before the test
            (seeds of an image are not exchangeable with each other). None: one row per image.

    Returns:
        A :class:`PeriodicityResult`; with a single image no test (``p_value`` NaN).

    Raises:
        ValueError: fewer than 4 angles, or no row with a value.
    """
    rows = np.atleast_2d(np.asarray(rows, dtype=np.float64))
    rows = fill_rows(unit_means(rows, units))
    r, a = rows.shape
    if a < 4 or r == 0:
        raise ValueError(f"periodicity_test needs >= 4 angles and one row with values, got "
                         f"{r} rows x {a} angles")
    amps = harmonic_amplitudes(rows.mean(axis=0), max_harmonic)
    k_best = int(np.argmax(amps)) + 1
    common = {"statistic": float(amps.max()), "harmonic": k_best, "period": 360.0 / k_best,
              "amplitudes": amps, "n_units": r}
    if r < 2:
        return PeriodicityResult(p_value=float("nan"), method=NO_TEST, n_perm=0, **common)
    spec = np.fft.rfft(rows, axis=1)[:, 1:len(amps) + 1]  # R x K
    spread = np.sqrt((np.abs(spec) ** 2).sum(axis=0))
    scale = max(float(spread.max()), 1e-300)
    # a harmonic no image has (a constant curve) cannot win: weight 0, not 1/0
    weight = np.where(spread > 1e-9 * scale, 1.0 / np.maximum(spread, 1e-300), 0.0)
    observed = float((np.abs(spec.sum(axis=0)) * weight).max())
    null = _shifted_maxima(spec, weight, a, n_perm, np.random.default_rng(seed))
    # ties (a 4-fold curve shifted by 90°) count against the curve: relative tolerance
    p = (1.0 + np.count_nonzero(null >= observed * (1.0 - 1e-9))) / (1.0 + n_perm)
    return PeriodicityResult(p_value=float(p), method=SHIFT_TEST, n_perm=n_perm, **common)
