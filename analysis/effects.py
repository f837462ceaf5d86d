"""Hypothesis (c): does pre-training change the saliency at all? Trained vs. random init.

Seed 002 compares each trained network's saliency with that of the same architecture at random
initialisation (its "baseline" rows, all 0 in its tables). Here both are evaluated on the same
images and angles (the baseline's rows share the trial's id, with ``init = random_baseline``),
so the comparison is paired by image: each image's metric, averaged over evaluation angles
(angles are repeated measures of one image, not independent replicates), trained minus
baseline. Reported per trial and metric:

* the mean difference with a bootstrap CI over images (:func:`analysis.bootstrap.mean_ci`);
* Cohen's d_z = mean(diff) / sd(diff) — the paired effect size (t = d_z √n);
* Hedges' g — the difference in units of the images' spread, bias-corrected, comparable with
  unpaired studies;
* a sign-flip permutation p (under "no effect" each difference is as likely negative as
  positive; exact up to 16 images) and scipy's Wilcoxon signed-rank p.

The sign-flip p is about the networks evaluated: images are the random units, the trained
network and its own initial weights are fixed. Whether another seed would differ is a question
for several seeds.

**Is the angle pattern the training's?** An untrained network already has angle patterns
(issue 11: Kvasir p 0.012-0.032), so :func:`baseline_pattern_table` tests the per-image
*difference* curves, trained minus random-init at each angle, for a common angular pattern
(:func:`analysis.periodicity.periodicity_test`, one shift per image, seeds of an image
averaged). Under "the same pattern with or without training" the difference has none.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from analysis.bootstrap import mean_ci
from analysis.curves import angle_label, curve_groups, present_metrics, row_codes
from analysis.labels import is_baseline
from analysis.periodicity import full_circle_step, periodicity_test

EXACT_FLIPS = 16  # 2**16 sign patterns enumerated; beyond that, random flips


def cohen_dz(diff: np.ndarray) -> float:
    """Mean over standard deviation (ddof 1) of paired differences; NaN if they are constant."""
    sd = float(np.std(diff, ddof=1)) if len(diff) > 1 else 0.0
    return float(np.mean(diff)) / sd if sd > 0 else float("nan")


def hedges_g(a: np.ndarray, b: np.ndarray) -> float:
    """Standardised mean difference of ``a`` and ``b`` with the pooled sd and Hedges' small-sample
    correction ``J = 1 − 3 / (4 (n_a + n_b) − 9)``."""
    na, nb = len(a), len(b)
    pooled = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1))
                     / (na + nb - 2))
    if not pooled > 0:
        return float("nan")
    return float((np.mean(a) - np.mean(b)) / pooled * (1.0 - 3.0 / (4.0 * (na + nb) - 9.0)))


@functools.lru_cache(maxsize=4)
def _all_signs(n: int) -> np.ndarray:
    # (2^n, n): every sign pattern, built once per n (65,536 x 16 for 16 images)
    bits = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    return 1.0 - 2.0 * bits


def sign_flip_p(diff: np.ndarray, n_flips: int = 9999, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p of the mean of paired differences.

    Exact (all 2^n sign patterns, the observed one included) for n ≤ 16, else ``n_flips``
    random patterns with ``p = (1 + #{|mean*| ≥ |mean|}) / (1 + n_flips)``.
    """
    diff = np.asarray(diff, dtype=np.float64)
    n = len(diff)
    observed = abs(diff.mean()) * (1.0 - 1e-9)
    if n <= EXACT_FLIPS:
        return float(np.mean(np.abs(_all_signs(n) @ diff / n) >= observed))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(n_flips, n))
    return float((1 + np.count_nonzero(np.abs(signs @ diff / n) >= observed)) / (1 + n_flips))


def paired_effect(trained: np.ndarray, baseline: np.ndarray, n_boot: int = 2000, seed: int = 0
                  ) -> dict[str, float]:
    """Effect of training on one metric, from per-image values paired by position.

    Args:
        trained: ``(N,)`` per-image metric of the trained network.
        baseline: ``(N,)`` the same images under the random-init network.
        n_boot: bootstrap replicates of the CI of the mean difference.
        seed: generator seed (bootstrap, random sign flips).

    Returns:
        ``n_images, trained_mean, baseline_mean, diff_mean, diff_ci_low, diff_ci_high,
        cohen_dz, hedges_g, p_sign_flip, p_wilcoxon``.
    """
    diff = trained - baseline
    mean, low, high = mean_ci(diff[None, :, None], n_boot, rng=np.random.default_rng(seed))
    nonzero = np.any(diff != 0)
    p_w = float(wilcoxon(trained, baseline).pvalue) if nonzero and len(diff) > 1 else np.nan
    return {"n_images": len(diff), "trained_mean": float(trained.mean()),
            "baseline_mean": float(baseline.mean()), "diff_mean": float(mean[0]),
            "diff_ci_low": float(low[0]), "diff_ci_high": float(high[0]),
            "cohen_dz": cohen_dz(diff), "hedges_g": hedges_g(trained, baseline),
            "p_sign_flip": sign_flip_p(diff, seed=seed), "p_wilcoxon": p_w}


def baseline_effects(saliency: pd.DataFrame, metrics: Sequence[str] | None = None,
                     seed: int = 0) -> pd.DataFrame:
    """Trained vs. random-init saliency, per trial that has baseline rows, per metric.

    Args:
        saliency: the ``saliency`` table; baseline rows have ``init`` ending in ``_baseline``
            (``random_baseline``: the trial's network at its initialisation).
        metrics: metric columns (default: every metric with values).
        seed: generator seed.

    Returns:
        ``dataset, backbone, pretext, train_angles, trial_id, metric`` and the columns of
        :func:`paired_effect`; empty when no trial has baseline rows.
    """
    if "init" not in saliency or not saliency["init"].map(is_baseline).any():
        return pd.DataFrame()
    metrics = list(metrics) if metrics is not None else present_metrics(saliency)
    is_base = saliency["init"].map(is_baseline).astype(bool)
    keep = saliency["trial_id"].isin(saliency.loc[is_base, "trial_id"].unique())
    frame = saliency[keep]
    # per (trial, network, image): the metric averaged over angles, in one grouping
    means = frame.groupby([frame["trial_id"].astype(str), is_base[keep].rename("base"),
                           frame["image_id"].astype(str)], sort=True)[metrics].mean()
    heads = frame[~is_base[keep]].drop_duplicates("trial_id").set_index("trial_id")
    rows = []
    for trial_id, per in means.groupby(level=0, sort=True):
        if per.index.get_level_values(1).nunique() < 2:  # trained and baseline rows both
            continue
        first = heads.loc[trial_id]
        head = {"dataset": first["dataset"], "backbone": first.get("backbone"),
                "pretext": first.get("pretext"),
                "train_angles": angle_label(first["train_angles"]), "trial_id": trial_id}
        both = per.xs(False, level=1).add_suffix("_t").join(
            per.xs(True, level=1).add_suffix("_b"), how="inner")
        for metric in metrics:
            pair = both[[f"{metric}_t", f"{metric}_b"]].dropna()
            if len(pair) >= 2:
                rows.append({**head, "metric": metric, **paired_effect(
                    pair.iloc[:, 0].to_numpy(), pair.iloc[:, 1].to_numpy(), seed=seed)})
    return pd.DataFrame(rows)


def _difference_cube(codes: tuple[np.ndarray, ...], trained: np.ndarray, baseline: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    # (S, N, A, M) trained minus baseline, paired by trial, image and angle (row positions of
    # each side; codes from analysis.curves.row_codes of the whole table); a pair missing on
    # either side (a degenerate point) stays NaN on the grid. Returns it and the angles.
    rep, img, angle, vals = codes
    both = np.concatenate([trained, baseline])
    _, s_code = np.unique(rep[both], return_inverse=True)
    _, i_code = np.unique(img[both], return_inverse=True)
    angles, a_code = np.unique(angle[both], return_inverse=True)
    shape = (s_code.max() + 1, i_code.max() + 1, len(angles), vals.shape[1])
    sides = []
    for part in (slice(0, len(trained)), slice(len(trained), None)):
        cube = np.full(shape, np.nan)
        cube[s_code[part], i_code[part], a_code[part]] = vals[both[part]]
        sides.append(cube)
    return sides[0] - sides[1], angles


def baseline_pattern_table(saliency: pd.DataFrame, metrics: Sequence[str] | None = None, *,
                           by: str = "condition", condition_of: Mapping[str, str] | None = None,
                           n_perm: int = 999, seed: int = 0) -> pd.DataFrame:
    """Does training change the angle pattern? Periodicity test of trained − random-init curves.

    Args:
        saliency: the ``saliency`` table (degenerate points already masked).
        metrics: metric columns (default: every metric with values).
        by, condition_of: one row per trial or per condition (seeds pooled, per image); see
            :func:`analysis.curves.curve_groups`.
        n_perm, seed: see :func:`analysis.periodicity.periodicity_test`.

    Returns:
        The trained curve's descriptors (``dataset, …, trial_id``), then ``metric, n_images,
        diff_amplitude`` (largest harmonic amplitude of the mean difference curve, metric
        units), ``diff_period`` and ``p_vs_baseline``; empty without baseline rows. NaN p on a
        grid that is not a full circle.
    """
    if "init" not in saliency or not saliency["init"].map(is_baseline).any():
        return pd.DataFrame()
    metrics = list(metrics) if metrics is not None else present_metrics(saliency)
    is_base = saliency["init"].map(is_baseline).to_numpy(dtype=bool)
    codes = row_codes(saliency, metrics)
    trained_at = np.flatnonzero(~is_base)
    base_of = pd.Series(np.flatnonzero(is_base)).groupby(codes[0][is_base]).agg(list)
    meta, groups = curve_groups(saliency.iloc[trained_at], by, condition_of)
    records = []
    for head, idx in zip(meta.to_dict("records"), groups, strict=True):
        rows = trained_at[idx]
        base = [i for t in np.unique(codes[0][rows]) for i in base_of.get(t, [])]
        if not base:
            continue
        diff, angles = _difference_cube(codes, rows, np.asarray(base))
        s, n, a, _ = diff.shape
        units = np.tile(np.arange(n), s)
        for j, metric in enumerate(metrics):
            cube = diff[..., j].reshape(s * n, a)
            if np.isnan(cube).all():
                continue
            out = {**head, "metric": metric, "n_images": n, "diff_amplitude": np.nan,
                   "diff_period": np.nan, "p_vs_baseline": np.nan}
            if full_circle_step(angles) is not None:
                test = periodicity_test(cube, n_perm=n_perm, seed=seed, units=units)
                out.update(diff_amplitude=test.statistic, diff_period=test.period,
                           p_vs_baseline=test.p_value)
            records.append(out)
    return pd.DataFrame.from_records(records)
