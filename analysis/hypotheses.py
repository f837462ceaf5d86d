"""The hypotheses seed 000 left open, tested on the result tables.

(a) **HoG-SVM accuracy vs. saliency quality across angles.** Seed 000 correlates, by eye, the
    HoG-SVM "rotated by θ or not" accuracy with the Dice curve. Here: Spearman's ρ per trial
    over the shared evaluation angles, with a circular-shift permutation p
    (:mod:`analysis.correlation`).
(b) **The gradient-orientation shortcut.** The dataset's orientation histogram gives, for every
    rotation θ, the self-similarity S(θ) (:mod:`analysis.orientation`); the shortcut story
    predicts HoG-SVM accuracy high where S is low (ρ(S, SVM) < 0: the link through which a
    shortcut would work) and saliency quality low where a shortcut exists, i.e. ρ(S, Dice) > 0
    and ρ(SVM, Dice) < 0. Strictly the story is about the *training* angle; where a study
    trains single angles θ, :func:`train_angle_table` tests it across trials too.
(c) lives in :mod:`analysis.effects` (trained vs. random-init saliency).

At 0° the HoG-SVM tells an image from itself (accuracy is chance by construction) and
S(0°) = 1 for every histogram, so in (a) and (b) that point is a gap, not evidence; so is a
saliency curve's degenerate point. Gaps stay on the grid and ride with their curve in the
shift test (:mod:`analysis.correlation`), which is exact when the saliency curve (or, for
ρ(S, SVM), the SVM curve) has no angle that is special under the null; size and power are
measured by ``bench/calibration.py``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from analysis.correlation import circular_spearman, pearson_rows, snap
from analysis.labels import is_baseline
from analysis.orientation import histogram_of, self_similarity
from analysis.periodicity import full_circle_step

CURVE_KEYS = ["dataset", "train_angles", "trial_id", "init"]
SHORTCUT_METRICS = ("dice", "soft_dice")


def hog_curves(hog: pd.DataFrame) -> dict[str, pd.Series]:
    """``dataset → HoG-SVM accuracy per angle`` (the mean over HoG settings, if several)."""
    return {str(d): sub.groupby("eval_angle")["accuracy"].mean()
            for d, sub in hog.groupby("dataset", sort=True, observed=True)}


def similarity_curves(orientation: pd.DataFrame, angles: Sequence[float]
                      ) -> dict[str, pd.Series]:
    """``dataset → S(θ)`` at ``angles`` from the ``orientation`` table."""
    out = {}
    for dataset, sub in orientation.groupby(orientation["dataset"].astype(str), sort=True):
        centres, weights = histogram_of(sub, str(dataset))
        out[dataset] = pd.Series(self_similarity(centres, weights, list(angles)),
                                 index=np.asarray(angles))
    return out


def without_identity(curve: pd.Series) -> pd.Series:
    """``curve`` (indexed by angle) with its value at 0° (mod 360) set to NaN: the point a
    HoG-SVM curve and S(θ) have by construction."""
    at_zero = np.isclose((curve.index.to_numpy(dtype=np.float64) + 180.0) % 360.0, 180.0)
    return curve.mask(at_zero)


def _correlate(x: pd.Series, y: pd.Series) -> dict[str, float]:
    # x, y indexed by angle; correlate on the angles both were evaluated at. On a full circle
    # a missing value stays a gap on the grid (the shift test moves it with its curve).
    both = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner").sort_index()
    if full_circle_step(both.index.to_numpy()) is None:
        both = both.dropna()
    if both.notna().all(axis=1).sum() < 3:
        return {"n_angles": int(both.notna().all(axis=1).sum()), "rho": np.nan,
                "p_shift": np.nan}
    c = circular_spearman(both.index.to_numpy(), both["x"].to_numpy(), both["y"].to_numpy())
    # scipy's p (independent angles) is not reported: it rejects smooth unrelated curves far
    # above its level (test_correlation.py), and the report prints only calibrated p-values
    return {"n_angles": c.n_angles, "rho": c.rho, "p_shift": c.p_shift}


def _trial_curves(curves: pd.DataFrame, metrics: Sequence[str]
                  ) -> Iterator[tuple[dict[str, object], pd.Series]]:
    sub = curves[curves["metric"].isin(metrics)]
    keys = [k for k in CURVE_KEYS if k in sub]
    for key, g in sub.groupby([*keys, "metric"], sort=True, observed=True, dropna=False):
        head = dict(zip([*keys, "metric"], key, strict=True))
        yield head, g.set_index("eval_angle")["mean"]


def hog_dice_table(curves: pd.DataFrame, hog: pd.DataFrame,
                   metrics: Sequence[str] = SHORTCUT_METRICS) -> pd.DataFrame:
    """Hypothesis (a): ρ(metric, HoG-SVM accuracy) across evaluation angles, per trial curve.

    Args:
        curves: :func:`analysis.curves.curve_table` output (``by="trial"``).
        hog: the ``hog_svm`` table.
        metrics: the saliency metrics to correlate (Dice and the threshold-free soft Dice).

    Returns:
        ``dataset, train_angles, trial_id, init, metric, n_angles, rho, p_shift``.
    """
    svm = {d: without_identity(c) for d, c in hog_curves(hog).items()}
    rows = [{**head, **_correlate(curve, svm[str(head["dataset"])])}
            for head, curve in _trial_curves(curves, metrics) if str(head["dataset"]) in svm]
    return pd.DataFrame(rows)


def orientation_table(curves: pd.DataFrame | None, hog: pd.DataFrame | None,
                      orientation: pd.DataFrame,
                      metrics: Sequence[str] = SHORTCUT_METRICS) -> pd.DataFrame:
    """Hypothesis (b): ρ(S(θ), HoG-SVM accuracy) per dataset and ρ(S(θ), metric) per trial.

    Args:
        curves: trial curves (:func:`analysis.curves.curve_table`), or None.
        hog: the ``hog_svm`` table, or None.
        orientation: the ``orientation`` table.
        metrics: saliency metrics to correlate with S.

    Returns:
        ``dataset, train_angles, trial_id, init, metric, n_angles, rho, p_shift``;
        the HoG-SVM rows have metric ``hog_svm_accuracy`` and an empty trial.
    """
    angles: set[float] = set()
    if curves is not None and len(curves):
        angles |= set(curves["eval_angle"].astype(float))
    svm = hog_curves(hog) if hog is not None and len(hog) else {}
    for curve in svm.values():
        angles |= set(curve.index.astype(float))
    sim = {d: without_identity(c) for d, c in
           similarity_curves(orientation, sorted(angles)).items()}
    svm = {d: without_identity(c) for d, c in svm.items()}
    rows = [{"dataset": d, "train_angles": "", "trial_id": "", "init": "",
             "metric": "hog_svm_accuracy", **_correlate(sim[d], svm[d])}
            for d in sorted(svm) if d in sim]
    if curves is not None and len(curves):
        rows += [{**head, **_correlate(sim[str(head["dataset"])], curve)}
                 for head, curve in _trial_curves(curves, metrics)
                 if str(head["dataset"]) in sim]
    return pd.DataFrame(rows)


EXACT_PAIRINGS = 8  # up to 8! = 40,320 pairings enumerated; beyond, random ones
MIN_PAIRED_TRIALS = 5  # 2/5! = 0.017 < 0.05; with 4 trials p >= 2/24 = 0.083: no test


def _spearman_exact(x: np.ndarray, y: np.ndarray, n_random: int = 9999, seed: int = 0
                    ) -> tuple[float, float]:
    # Few trials: the permutation distribution of ρ over pairings, two-sided. Exact (every
    # pairing, the observed one included) up to EXACT_PAIRINGS trials.
    rx, ry = rankdata(snap(x)), rankdata(snap(y))
    rho = float(pearson_rows(rx, ry[None, :])[0])
    if np.isnan(rho):
        return rho, float("nan")
    n = len(x)
    if n <= EXACT_PAIRINGS:
        null = pearson_rows(rx, ry[np.array(list(itertools.permutations(range(n))))])
        return rho, float(np.mean(np.abs(null) >= abs(rho) * (1.0 - 1e-9)))
    perms = np.random.default_rng(seed).permuted(np.tile(np.arange(n), (n_random, 1)), axis=1)
    null = pearson_rows(rx, ry[perms])
    return rho, float((1 + np.count_nonzero(np.abs(null) >= abs(rho) * (1.0 - 1e-9)))
                      / (1 + n_random))


def train_angle_table(curves: pd.DataFrame, hog: pd.DataFrame | None,
                      orientation: pd.DataFrame | None,
                      metrics: Sequence[str] = SHORTCUT_METRICS) -> pd.DataFrame:
    """The shortcut hypothesis across training angles: trials trained on one angle θ each.

    For every group of trials that differ only in a single training angle θ (at least three
    distinct θ), the trial's mean metric (over evaluation angles and images) is correlated
    with HoG-SVM accuracy at θ (a) and with S(θ) (b). Trials are independent units here, so
    the p-value permutes the pairing (exact for up to 8 trials).

    Returns:
        ``dataset, backbone, pretext, init, metric, predictor, n_trials, angles, rho, p_perm,
        note``; with fewer than :data:`MIN_PAIRED_TRIALS` trials ``p_perm`` is blank and
        ``note`` says why (the pairing distribution cannot reach 0.05: 3 trials give p ≥ 1/3).
    """
    single = curves[~curves["train_angles"].astype(str).str.contains(",")
                    & (curves["train_angles"].astype(str) != "")
                    & ~curves["init"].map(is_baseline).astype(bool)
                    & curves["metric"].isin(metrics)]
    if single.empty:
        return pd.DataFrame()
    per_trial = (single.groupby(["dataset", "backbone", "pretext", "init", "metric",
                                 "train_angles", "trial_id"], dropna=False, observed=True)
                 ["mean"].mean().reset_index())
    per_trial["theta"] = per_trial["train_angles"].astype(float).round(3)
    svm = hog_curves(hog) if hog is not None and len(hog) else {}
    sim = (similarity_curves(orientation, sorted(per_trial["theta"].unique()))
           if orientation is not None and len(orientation) else {})
    rows = []
    for key, g in per_trial.groupby(["dataset", "backbone", "pretext", "init", "metric"],
                                    dropna=False, observed=True):
        g = g.groupby("theta")["mean"].mean()
        if len(g) < 3:
            continue
        head = dict(zip(["dataset", "backbone", "pretext", "init", "metric"], key, strict=True))
        for name, source in (("hog_svm_accuracy", svm), ("self_similarity", sim)):
            pred = source.get(str(head["dataset"]))
            if pred is None:
                continue
            pred = pred.set_axis(pred.index.astype(float).round(3))  # float32 angles
            if not set(g.index) <= set(pred.index):
                continue
            x = pred.reindex(g.index).to_numpy(dtype=np.float64)
            rho, p = _spearman_exact(x, g.to_numpy())
            note = ""
            if len(g) < MIN_PAIRED_TRIALS:  # 2 of the n! pairings are as extreme as ρ = ±1
                note = (f"{len(g)} trials: the smallest possible p is "
                        f"{2 / math.factorial(len(g)):.3g}; at least {MIN_PAIRED_TRIALS} "
                        "train angles are needed for p < 0.05")
                p = float("nan")
            rows.append({**head, "predictor": name, "n_trials": len(g),
                         "angles": "/".join(f"{a:g}" for a in g.index), "rho": rho,
                         "p_perm": p, "note": note})
    return pd.DataFrame(rows)
