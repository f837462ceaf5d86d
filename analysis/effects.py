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
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from analysis.bootstrap import mean_ci
from analysis.curves import BASELINE_INIT, angle_label, present_metrics

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


def sign_flip_p(diff: np.ndarray, n_flips: int = 9999, seed: int = 0) -> float:
    """Two-sided sign-flip permutation p of the mean of paired differences.

    Exact (all 2^n sign patterns, the observed one included) for n ≤ 16, else ``n_flips``
    random patterns with ``p = (1 + #{|mean*| ≥ |mean|}) / (1 + n_flips)``.
    """
    diff = np.asarray(diff, dtype=np.float64)
    n = len(diff)
    observed = abs(diff.mean()) * (1.0 - 1e-9)
    if n <= EXACT_FLIPS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float(np.mean(np.abs(signs @ diff / n) >= observed))
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
        saliency: the ``saliency`` table; baseline rows have ``init == "random_baseline"``.
        metrics: metric columns (default: every metric with values).
        seed: generator seed.

    Returns:
        ``dataset, backbone, pretext, train_angles, trial_id, metric`` and the columns of
        :func:`paired_effect`; empty when no trial has baseline rows.
    """
    if "init" not in saliency or not (saliency["init"].astype(str) == BASELINE_INIT).any():
        return pd.DataFrame()
    metrics = list(metrics) if metrics is not None else present_metrics(saliency)
    is_base = saliency["init"].astype(str) == BASELINE_INIT
    rows = []
    for trial_id, sub in saliency[saliency["trial_id"].isin(
            saliency.loc[is_base, "trial_id"].unique())].groupby("trial_id", sort=True,
                                                                  observed=True):
        base = sub["init"].astype(str) == BASELINE_INIT
        first = sub[~base].iloc[0] if (~base).any() else sub.iloc[0]
        head = {"dataset": first["dataset"], "backbone": first.get("backbone"),
                "pretext": first.get("pretext"),
                "train_angles": angle_label(first["train_angles"]), "trial_id": trial_id}
        for metric in metrics:
            trained = sub[~base].groupby("image_id", observed=True)[metric].mean()
            baseline = sub[base].groupby("image_id", observed=True)[metric].mean()
            both = pd.concat([trained.rename("t"), baseline.rename("b")], axis=1,
                             join="inner").dropna()
            if len(both) >= 2:
                rows.append({**head, "metric": metric, **paired_effect(
                    both["t"].to_numpy(), both["b"].to_numpy(), seed=seed)})
    return pd.DataFrame(rows)
