"""Negative controls: which datasets they are, whether they stay at chance, and a figure.

A negative control is a dataset with no orientation at all (synthetic ``noise``: isotropic
white noise; ``discs``: rotation-invariant shapes at random places), run through the same
pipeline as the real data. No evaluation angle can be special on it, so an angle pattern found
there is the pipeline's (resampling, cropping, a degenerate target), not the data's, and the
same metric is suspect on every dataset of the study (issue 11).

The report knows a dataset is a control from its trials' configs (``data.name: synthetic`` with
``data.params.kind`` in :data:`NEGATIVE_KINDS`, read from the ``trials`` table); without a
``trials`` table, from its label: ``noise``, ``discs``, or either followed by ``_``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import norm

from analysis.curves import CONDITION_KEYS
from analysis.labels import curve_labels, is_baseline

NEGATIVE_KINDS = ("noise", "discs")
HOG_CHANCE = 0.5
#: SD of a nested-CV HoG-SVM accuracy under the null over the binomial SD of 2N predictions:
#: measured 1.34 (noise, 32 images, 40 data sets x 23 angles) and 1.45 (noise, 64 images,
#: 3 folds, 6 data sets x 3 angles); see :func:`hog_chance_bound`
HOG_CV_SD_FACTOR = 1.4


def _kind_of_config(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    try:
        data = json.loads(text).get("data") or {}
    except (ValueError, AttributeError):
        return None
    kind = (data.get("params") or {}).get("kind")
    return kind if data.get("name") == "synthetic" and kind in NEGATIVE_KINDS else None


def _kind_of_label(label: str) -> str | None:
    for kind in NEGATIVE_KINDS:
        if label == kind or label.startswith(f"{kind}_"):
            return kind
    return None


def control_kinds(datasets: Iterable[str], trials: pd.DataFrame | None = None) -> dict[str, str]:
    """``dataset → kind`` for the negative-control datasets among ``datasets``.

    Args:
        datasets: dataset labels (the tables' ``dataset`` column).
        trials: the ``trials`` table; a dataset whose trials have configs is judged by them
            alone (a real dataset labelled ``noise`` is not a control).
    """
    by_config: dict[str, str | None] = {}
    if trials is not None and "config_json" in trials:
        for dataset, text in zip(trials["dataset"].astype(str), trials["config_json"],
                                 strict=True):
            kind = _kind_of_config(text)
            if isinstance(text, str):
                by_config[dataset] = by_config.get(dataset) or kind
    out = {}
    for d in sorted({str(x) for x in datasets}):
        kind = by_config[d] if d in by_config else _kind_of_label(d)
        if kind:
            out[d] = kind
    return out


def hog_chance_bound(n_images: int, n_angles: int, alpha: float = 0.05) -> float:
    """The highest HoG-SVM accuracy still read as chance at every one of ``n_angles`` angles.

    Each angle's accuracy is over ``2 n_images`` predictions (an image and its rotated copy).
    Cross-validated accuracy varies more than a binomial (the folds are shared by every angle
    and the inner grid search adds its own selection noise), so the binomial SD ``0.5 / √(2N)``
    is widened by :data:`HOG_CV_SD_FACTOR`; the bound is the one-sided normal quantile with a
    Bonferroni split over the angles: ``0.5 + z_{1−α/A} · k · 0.5 / √(2N)`` (0.75 for 32 images
    on a 15° grid, 0.68 for 64). Measured on the ``noise`` control through
    ``trainables.hog_svm.hog_svm_curve`` (nested 4-fold CV, 32 images at 64 px, 16-px cells,
    23 angles, 40 null data sets; bench/RESULTS.md, "HoG-SVM control band"): the binomial band
    flagged 22.5 % of them, this one 2.5 %.
    """
    z = float(norm.ppf(1.0 - alpha / max(n_angles, 1)))
    return HOG_CHANCE + z * HOG_CV_SD_FACTOR * 0.5 / np.sqrt(2.0 * max(n_images, 1))


def hog_control_rows(hog: pd.DataFrame | None, controls: Mapping[str, str],
                     alpha: float = 0.05) -> pd.DataFrame:
    """One row per control dataset with a HoG-SVM curve: ``dataset, kind, max_accuracy,
    at_angle, bound, at_chance`` (the 0° point, an image against itself, is left out)."""
    rows = []
    if hog is None or not len(hog):
        return pd.DataFrame(rows)
    for dataset, kind in controls.items():
        sub = hog[hog["dataset"].astype(str) == dataset]
        sub = sub[~np.isclose(sub["eval_angle"].astype(float) % 360.0, 0.0)]
        if sub.empty:
            continue
        curve = sub.groupby("eval_angle")["accuracy"].mean()
        n = int(sub["n_images"].min()) if "n_images" in sub and sub["n_images"].notna().any() \
            else 0
        bound = hog_chance_bound(n, len(curve), alpha) if n else np.nan
        top = float(curve.max())
        rows.append({"dataset": dataset, "kind": kind, "max_accuracy": top,
                     "at_angle": float(curve.idxmax()), "bound": bound,
                     "at_chance": bool(top <= bound) if n else None})
    return pd.DataFrame(rows)


def _matches(row: pd.Series, other: pd.DataFrame, keys: list[str]) -> pd.Series:
    ok = pd.Series(True, index=other.index)
    for k in keys:
        ok &= other[k].astype(str) == str(row[k])
    return ok


def _band(ax: plt.Axes, g: pd.DataFrame, **style: object) -> None:
    g = g.sort_values("eval_angle")
    x = g["eval_angle"].to_numpy(dtype=float)
    line, = ax.plot(x, g["mean"].to_numpy(dtype=float), marker=".", linewidth=1.2, **style)
    ax.fill_between(x, g["ci_low"].to_numpy(dtype=float), g["ci_high"].to_numpy(dtype=float),
                    color=line.get_color(), alpha=0.15, linewidth=0)


def control_figure(curves: pd.DataFrame, metric: str, controls: Mapping[str, str]
                   ) -> Figure | None:
    """Each dataset's trained curves beside their random-init baselines and the negative
    controls run under the same condition, with 95 % CI bands; one row of panels per dataset,
    one panel per condition (train angles, …). ``None`` when no curve has ``metric``.

    Args:
        curves: :func:`analysis.curves.curve_table` output (per condition, seeds pooled).
        metric: the metric to draw.
        controls: :func:`control_kinds` of the study.
    """
    sub = curves[(curves["metric"] == metric) & curves["mean"].notna()]
    if sub.empty:
        return None
    base = sub["init"].map(is_baseline).astype(bool) if "init" in sub else False
    is_control = sub["dataset"].astype(str).isin(list(controls))
    keys = [k for k in CONDITION_KEYS if k in sub and k not in ("dataset", "init")]
    trained = sub[~base & ~is_control]
    if trained.empty:
        trained = sub[~base]
    heads = trained.drop_duplicates(["dataset", *keys])
    datasets = sorted(heads["dataset"].astype(str).unique())
    n_cols = int(heads.groupby("dataset", observed=True).size().max())
    fig, axes = plt.subplots(len(datasets), n_cols, figsize=(4.6 * n_cols, 3.4 * len(datasets)),
                             squeeze=False, sharey=True)
    labels = curve_labels(heads[keys]) if keys else pd.Series("", index=heads.index)
    for r, ds in enumerate(datasets):
        mine = heads[heads["dataset"].astype(str) == ds]
        for c, (i, head) in enumerate(mine.iterrows()):
            ax = axes[r, c]
            same = _matches(head, sub, keys)
            here = same & (sub["dataset"].astype(str) == ds)
            _band(ax, sub[here & ~base], color="tab:blue", label="trained")
            if (here & base).any():
                _band(ax, sub[here & base], color="tab:orange", linestyle="--",
                      label="random init (untrained)")
            for j, (cds, g) in enumerate(sub[same & is_control & ~base].groupby(
                    "dataset", observed=True)):
                _band(ax, g, color=("tab:gray", "tab:green")[j % 2], linestyle=":",
                      label=f"control: {cds} ({controls.get(str(cds), '?')})")
            ax.set_title(f"{ds}: {labels.loc[i]}" if keys else ds, fontsize=9)
            ax.set_xticks(range(0, 361, 90))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="best")
        for c in range(len(mine), n_cols):
            axes[r, c].axis("off")
        axes[r, 0].set_ylabel(f"mean {metric} (95 % CI)")
    for ax in axes[-1]:
        ax.set_xlabel("evaluation angle (degrees)")
    fig.tight_layout()
    return fig
