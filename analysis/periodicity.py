"""Is a per-angle curve periodic? Circular Fourier analysis and a permutation test.

A curve sampled on a full-circle grid (0, d, 2d, …, 360 − d) is a sum of harmonics; harmonic k
repeats every 360/k degrees, so a k-fold symmetric curve (seed 000's BraTS: maxima every 90°)
has its power in harmonic k (and its multiples). Its amplitude here is in the metric's units:
``c·cos(kθ)`` has amplitude ``c``.

The test's null hypothesis is "no angle is special across images": each image's curve may have
any shape (its own autocorrelation, its own symmetries), but its alignment to the absolute angle
is arbitrary. Under that null the data's distribution is unchanged when each image's curve is
circularly shifted by its own random number of grid steps, so those shifts are the
permutations; they keep every image's autocorrelation, which permuting angle labels would not
(smooth but unaligned per-image curves would look periodic after averaging and fool a label
permutation). The statistic is the largest harmonic amplitude (1..``max_harmonic``) of the mean
curve, an omnibus test for any common angular pattern.

A single curve with no per-image rows (the HoG-SVM curve) has no such shifts — a circular shift
leaves every amplitude unchanged — so its test permutes angle labels: exact only when the angles
are exchangeable, liberal for an autocorrelated curve. The report says which test gave a p-value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOLDS = (2, 4, 8)
MAX_HARMONIC = 8


def full_circle_step(angles: np.ndarray) -> float | None:
    """The grid step if ``angles`` are ``0, d, 2d, …, 360 − d`` in some order (and A ≥ 4)."""
    a = np.sort(np.unique(np.asarray(angles, dtype=np.float64) % 360.0))
    if len(a) < 4 or len(a) != len(np.asarray(angles)):
        return None
    step = 360.0 / len(a)
    return step if np.allclose(a, a[0] + step * np.arange(len(a))) else None


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
        p_value: permutation p-value, ``(1 + #{T* ≥ T}) / (1 + n_perm)``.
        harmonic: the dominant harmonic k (the curve repeats every 360/k degrees).
        period: ``360 / k`` degrees.
        amplitudes: ``(K,)`` amplitudes of harmonics 1..K of the mean curve.
        method: ``circular_shift`` (per-image curves) or ``angle_permutation`` (one curve).
        n_perm: permutations drawn.
    """

    statistic: float
    p_value: float
    harmonic: int
    period: float
    amplitudes: np.ndarray
    method: str
    n_perm: int


def _fill_rows(rows: np.ndarray) -> np.ndarray:
    # A missing (image, angle) cell takes the image's mean: neutral for every harmonic k >= 1.
    rows = rows[~np.isnan(rows).all(axis=1)]
    means = np.nanmean(rows, axis=1, keepdims=True)
    return np.where(np.isnan(rows), means, rows)


def _shifted_maxima(spec: np.ndarray, a: int, n_perm: int, rng: np.random.Generator,
                    chunk: int = 128) -> np.ndarray:
    # spec: R x K harmonic coefficients of the per-image curves. Shifting row r by s_r grid
    # steps multiplies its harmonic k by exp(-2πi k s_r / A) (the shift theorem), so the mean
    # curve of shifted rows is a phase-weighted mean of the rows' spectra.
    r, k = spec.shape
    ks = np.arange(1, k + 1)
    out = np.empty(n_perm)
    for start in range(0, n_perm, chunk):
        p = min(chunk, n_perm - start)
        shifts = rng.integers(0, a, size=(p, r))
        phase = np.exp(-2j * np.pi * shifts[:, :, None] * ks[None, None, :] / a)  # P x R x K
        mean_spec = np.einsum("prk,rk->pk", phase, spec) / r
        out[start:start + p] = (2.0 * np.abs(mean_spec) / a).max(axis=1)
    return out


def periodicity_test(rows: np.ndarray, n_perm: int = 999, max_harmonic: int = MAX_HARMONIC,
                     seed: int = 0) -> PeriodicityResult:
    """Test whether the mean of per-image curves has a common angular pattern.

    Args:
        rows: ``(R, A)`` per-image (or per seed × image) curves on a full-circle grid, angles in
            increasing order; ``R == 1`` is a single curve (angle-label permutations).
        n_perm: permutations (999 resolves p down to 0.001).
        max_harmonic: harmonics 1..K considered (default 8: periods down to 45°).
        seed: the permutation generator's seed.

    Returns:
        A :class:`PeriodicityResult`.

    Raises:
        ValueError: fewer than 4 angles, or no row with a value.
    """
    rows = _fill_rows(np.atleast_2d(np.asarray(rows, dtype=np.float64)))
    r, a = rows.shape
    if a < 4 or r == 0:
        raise ValueError(f"periodicity_test needs >= 4 angles and one row with values, got "
                         f"{r} rows x {a} angles")
    rng = np.random.default_rng(seed)
    amps = harmonic_amplitudes(rows.mean(axis=0), max_harmonic)
    stat = float(amps.max())
    if r > 1:
        k = len(amps)
        spec = np.fft.rfft(rows, axis=1)[:, 1:k + 1]
        null = _shifted_maxima(spec, a, n_perm, rng)
        method = "circular_shift"
    else:
        perms = rng.permuted(np.repeat(rows, n_perm, axis=0), axis=1)
        null = harmonic_amplitudes(perms, max_harmonic).max(axis=1)
        method = "angle_permutation"
    # ties (a 4-fold curve shifted by 90°) count against the curve: relative tolerance
    p = (1.0 + np.count_nonzero(null >= stat * (1.0 - 1e-9))) / (1.0 + n_perm)
    k_best = int(np.argmax(amps)) + 1
    return PeriodicityResult(statistic=stat, p_value=float(p), harmonic=k_best,
                             period=360.0 / k_best, amplitudes=amps, method=method,
                             n_perm=n_perm)
