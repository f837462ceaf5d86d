"""Does another seed give the same angle pattern? A test whose unit is the seed.

The seeds-pooled periodicity test (:mod:`analysis.periodicity`, ``units`` = images) asks "is
there a pattern in the *average* of the networks": when every seed has a pattern of its own,
random in phase, their average still has one, and that test rejects (69 % of studies in
issue 19's simulation, 0.02 per-seed patterns). Replication is a different question: does the
pattern of seed k predict that of seed k′?

**Statistic.** Each seed's curve is its mean over images, centred; the statistic is the mean,
over seed pairs, of the Pearson correlation of two seeds' curves (``r_mean``; harmonics
1..K only, the same K as the periodicity test, so white noise above the 45° period does not
dilute it).

**Images.** Every seed is evaluated on the same images, and an image's own curve is shared by
all its seeds: two seeds' mean curves over the same images correlate through the images'
shapes even when no seed has a pattern. Shifting each seed's curve then gives a null that is
far too narrow. So each seed's curve is taken over a *disjoint* group of the images (images
split at random, once, into as many groups as there are seeds): seed k on its images, seed k′
on others. The question answered is then "does another seed, on other images, give the same
pattern" — a pattern of the networks that replicates, not of a few images.

**Null and permutations.** Under "the seeds' patterns are independent" the seeds' curves are
independent (disjoint images, separately trained networks), and each curve's alignment to the
absolute angle is arbitrary, so shifting each seed's curve circularly by its own number of grid
steps leaves the joint distribution unchanged. Every combination of relative shifts is
enumerated (A^(S−1) of them: 576 for 3 seeds on a 15° grid) up to :data:`EXACT_SHIFTS`, else
``n_perm`` random ones. The p-value is one-sided (a replicated pattern correlates positively).
A k-fold pattern ties with itself at shifts of 360°/k, so its smallest p is about
``k^(S−1) / A^(S−1)``: 2 seeds cannot show a 4-fold pattern below 4/24 on a 15° grid; 3 seeds
reach 16/576 = 0.028. Size and power: ``bench/calibration.py`` (docs/statistics.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.curves import cube_of, curve_groups, present_metrics, row_codes
from analysis.labels import is_baseline
from analysis.periodicity import MAX_HARMONIC, fill_rows, full_circle_step

EXACT_SHIFTS = 20_000
NO_SEEDS = "one seed: replication needs at least two"


@dataclass(frozen=True)
class ReplicationResult:
    """The outcome of :func:`replication_test`.

    Attributes:
        r_mean: mean over seed pairs of the correlation of their curves (NaN without a test).
        p_value: one-sided shift-permutation p (NaN without a test).
        n_seeds: seeds with a curve.
        n_images: images per seed's group (the smallest group).
        n_shifts: shift combinations in the null (the observed one included).
        note: why there is no test, else ``""``.
    """

    r_mean: float
    p_value: float
    n_seeds: int
    n_images: int
    n_shifts: int
    note: str = ""


def _pair_correlations(curves: np.ndarray, max_harmonic: int) -> np.ndarray:
    # (S, S, A): correlation of seed s with seed s' shifted by d grid steps, on harmonics 1..K
    a = curves.shape[1]
    spec = np.fft.rfft(curves - curves.mean(axis=1, keepdims=True), axis=1)
    keep = np.zeros(spec.shape[1], dtype=bool)
    keep[1:min(max_harmonic, (a - 1) // 2) + 1] = True
    spec = np.where(keep[None, :], spec, 0.0)
    norm = np.sqrt((np.abs(spec) ** 2).sum(axis=1))
    cross = np.fft.irfft(np.conj(spec)[:, None, :] * spec[None, :, :], n=a, axis=2)
    # irfft(conj(X_s) X_s') = Σ_t x_s(t) x_s'(t + d); Σ_t x_s(t)² = 2 Σ_k |X_sk|² / a (no
    # DC or Nyquist bin kept)
    scale = 2.0 * np.outer(norm, norm)[:, :, None] / a
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(scale > 0, cross / np.maximum(scale, 1e-300), np.nan)


def split_images(n_images: int, n_seeds: int, seed: int = 0) -> list[np.ndarray]:
    """Disjoint image groups, one per seed, as equal as possible (random, reproducible)."""
    order = np.random.default_rng(seed).permutation(n_images)
    return [np.sort(order[k::n_seeds]) for k in range(n_seeds)]


def replication_test(cube: np.ndarray, n_perm: int = 9999, seed: int = 0,
                     max_harmonic: int = MAX_HARMONIC) -> ReplicationResult:
    """Test whether seeds share an angle pattern (the seed is the unit).

    Args:
        cube: ``(S, N, A)`` metric per seed, image and angle on a full-circle grid (angles in
            increasing order; NaN = missing, filled circularly within each image's row).
        n_perm: random shift combinations when there are more than :data:`EXACT_SHIFTS`.
        seed: seeds the image split and the random shifts.
        max_harmonic: harmonics 1..K compared.

    Returns:
        A :class:`ReplicationResult`; no test (NaN) with one seed or fewer images than seeds.
    """
    cube = np.asarray(cube, dtype=np.float64)
    present = [s for s in range(cube.shape[0]) if not np.isnan(cube[s]).all()]
    cube = cube[present]
    s, n, a = cube.shape if cube.ndim == 3 and len(present) else (len(present), 0, 0)
    if s < 2:
        return ReplicationResult(np.nan, np.nan, s, n, 0, NO_SEEDS)
    if n < s:
        return ReplicationResult(np.nan, np.nan, s, n, 0,
                                 f"{n} images for {s} seeds: each seed needs images of its own")
    groups = split_images(n, s, seed)
    curves = np.stack([fill_rows(cube[k, g]).mean(axis=0) for k, g in enumerate(groups)])
    r = _pair_correlations(curves, max_harmonic)
    pairs = list(itertools.combinations(range(s), 2))
    observed = float(np.mean([r[i, j, 0] for i, j in pairs]))
    if not np.isfinite(observed):
        return ReplicationResult(np.nan, np.nan, s, min(len(g) for g in groups), 0,
                                 "a seed's curve is flat")
    if a ** (s - 1) <= EXACT_SHIFTS:
        shifts = np.array(list(itertools.product(range(a), repeat=s - 1)), dtype=np.int64)
    else:
        shifts = np.random.default_rng(seed + 1).integers(0, a, size=(n_perm, s - 1))
        shifts = np.vstack([np.zeros((1, s - 1), dtype=np.int64), shifts])
    full = np.hstack([np.zeros((len(shifts), 1), dtype=np.int64), shifts])  # seed 0 fixed
    null = np.mean([r[i, j][(full[:, j] - full[:, i]) % a] for i, j in pairs], axis=0)
    p = float(np.mean(null >= observed - 1e-9 * max(abs(observed), 1e-12)))
    return ReplicationResult(observed, p, s, min(len(g) for g in groups), len(shifts))


def replication_table(saliency: pd.DataFrame, metrics: Sequence[str] | None = None, *,
                      condition_of: Mapping[str, str] | None = None, n_perm: int = 9999,
                      seed: int = 0) -> pd.DataFrame:
    """The replication test of every condition with at least two seeds, per metric.

    Args:
        saliency: the ``saliency`` table, degenerate points masked
            (:func:`analysis.degenerate.mask_degenerate`).
        metrics: metric columns (default: every metric with values).
        condition_of: ``trial_id → condition digest`` (see
            :func:`analysis.curves.curve_groups`).
        n_perm, seed: see :func:`replication_test`.

    Returns:
        The condition's descriptors (``dataset, …, init, trial_id, n_trials``), then ``metric,
        n_seeds, n_images_per_seed, r_mean, p_replication, note``; empty when no condition has
        two seeds. Untrained baselines are tested too (their ``init`` says so).
    """
    metrics = list(metrics) if metrics is not None else present_metrics(saliency)
    if not metrics or "seed" not in saliency:
        return pd.DataFrame()
    meta, groups = curve_groups(saliency, "condition", condition_of)
    codes = row_codes(saliency, metrics)
    records = []
    for head, idx in zip(meta.to_dict("records"), groups, strict=True):
        if head.get("n_trials", 1) < 2:
            continue
        cube, angles = cube_of(codes, idx)
        if full_circle_step(angles) is None:
            continue
        for j, metric in enumerate(metrics):
            if np.isnan(cube[..., j]).all():
                continue
            test = replication_test(cube[..., j], n_perm=n_perm, seed=seed)
            records.append({**head, "metric": metric, "n_seeds": test.n_seeds,
                            "n_images_per_seed": test.n_images, "r_mean": test.r_mean,
                            "p_replication": test.p_value, "note": test.note})
    return pd.DataFrame.from_records(records)


def trained_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of trained networks (not untrained baselines)."""
    if not len(table) or "init" not in table:
        return table
    return table[~table["init"].map(is_baseline).astype(bool)]
