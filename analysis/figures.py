"""The report's figures (matplotlib, headless): each saved as PNG and SVG.

* saliency metric vs. evaluation angle per dataset with bootstrap CI bands, linear and polar;
* HoG-SVM accuracy vs. angle per dataset;
* each dataset's gradient-orientation histogram with its self-similarity S(θ), beside the
  HoG-SVM and saliency curves it is meant to explain (hypothesis b).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.curves import BASELINE_INIT
from analysis.orientation import histogram_of, self_similarity
from analysis.seed_tables import curve_labels

MAX_LEGEND = 12
METRIC_NAMES = {"dice": "Dice", "soft_dice": "soft Dice", "auc": "ROC-AUC",
                "mass_in_mask": "saliency mass in mask", "iou": "IoU", "q_bbox": "Q(S, B)"}


def save(fig: plt.Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` (110 dpi) and ``stem.svg``; close the figure.

    The SVG keeps its text as text (editable, small, and several times faster to write than
    matplotlib's default of one path per glyph).
    """
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=110)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(paths[1])
    plt.close(fig)
    return paths


def _closed(x: np.ndarray, *ys: np.ndarray) -> list[np.ndarray]:
    # repeat the first point at +360° so a polar line closes
    return [np.r_[x, x[0] + 360.0], *[np.r_[y, y[0]] for y in ys]]


def _datasets(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["dataset"].astype(str).unique())


def curve_figure(curves: pd.DataFrame, metric: str, stem: Path, polar: bool = False
                 ) -> list[Path]:
    """Mean ``metric`` vs. evaluation angle, one panel per dataset, one line per curve, with
    the bootstrap CI as a band (trained networks solid, random-init baselines dashed).

    Args:
        curves: :func:`analysis.curves.curve_table` output.
        metric: the metric to draw.
        stem: output path without suffix.
        polar: draw on polar axes (angle as angle, metric as radius).
    """
    sub = curves[curves["metric"] == metric]
    datasets = _datasets(sub)
    kw = {"subplot_kw": {"projection": "polar"}} if polar else {}
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.6 + polar),
                             squeeze=False, **kw)
    name = METRIC_NAMES.get(metric, metric)
    for ax, ds in zip(axes[0], datasets, strict=True):
        d = sub[sub["dataset"].astype(str) == ds]
        keys = [k for k in ("train_angles", "backbone", "pretext", "init", "method", "target",
                            "threshold_rule", "trial_id") if k in d]
        for _, g in d.groupby(keys, sort=True, dropna=False, observed=True):
            g = g.sort_values("eval_angle")
            label = curve_labels(g.head(1)[keys]).iloc[0]
            base = str(g["init"].iloc[0]) == BASELINE_INIT
            x = g["eval_angle"].to_numpy(dtype=float)
            y, lo, hi = (g[c].to_numpy(dtype=float) for c in ("mean", "ci_low", "ci_high"))
            if polar:
                x, y, lo, hi = _closed(x, y, lo, hi)
                x = np.radians(x)
            line, = ax.plot(x, y, marker="." if len(x) <= 72 else None, linewidth=1.2,
                            linestyle="--" if base else "-",
                            label=label + (" (random init)" if base else ""))
            ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)
        ax.set_title(f"{ds}: {name} vs. rotation", fontsize=10)
        n_lines = len(ax.get_lines())
        if polar:
            ax.set_theta_zero_location("E")
            ax.set_xticks(np.radians(np.arange(0, 360, 45)))
        else:
            ax.set_xlabel("evaluation angle (degrees)")
            ax.set_ylabel(f"mean {name} (95 % CI)")
            ax.set_xticks(range(0, 361, 45))
            ax.grid(alpha=0.3)
        if n_lines <= MAX_LEGEND:  # past a dozen lines a legend hides the plot
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save(fig, stem)


def hog_figure(hog: pd.DataFrame, stem: Path) -> list[Path]:
    """HoG-SVM accuracy of "rotated by θ or not" vs. θ per dataset (seed 000, Table I right),
    with the spread across CV folds as a band and chance (0.5) dotted."""
    datasets = _datasets(hog)
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 3.8),
                             squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        g = hog[hog["dataset"].astype(str) == ds].groupby("angle")[
            ["accuracy", "accuracy_std"]].mean().sort_index()
        x = g.index.to_numpy(dtype=float)
        ax.plot(x, g["accuracy"], color="black", marker=".")
        ax.fill_between(x, g["accuracy"] - g["accuracy_std"], g["accuracy"] + g["accuracy_std"],
                        color="grey", alpha=0.25, linewidth=0, label="± sd over CV folds")
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_title(f"{ds}: HoG-SVM, rotated by θ vs. not", fontsize=10)
        ax.set_xlabel("θ (degrees)")
        ax.set_ylabel("accuracy")
        ax.set_xticks(range(0, 361, 45))
        ax.set_ylim(0.3, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save(fig, stem)


def _scaled(y: np.ndarray) -> np.ndarray:
    span = np.nanmax(y) - np.nanmin(y)
    return (y - np.nanmin(y)) / span if span > 0 else np.zeros_like(y)


def orientation_figure(orientation: pd.DataFrame, hog: pd.DataFrame | None,
                       curves: pd.DataFrame | None, stem: Path, metric: str = "dice"
                       ) -> list[Path]:
    """Per dataset: the orientation histogram (polar, drawn over 360° since an orientation and
    its opposite are the same) and, below, S(θ) beside the HoG-SVM accuracy and the trained
    networks' mean ``metric``, each scaled to [0, 1] so their shapes can be compared."""
    datasets = _datasets(orientation)
    fig = plt.figure(figsize=(5.5 * len(datasets), 9.0))
    theta = np.arange(0, 361, 5)
    for c, ds in enumerate(datasets):
        centres, weights = histogram_of(orientation, ds)
        ax = fig.add_subplot(2, len(datasets), c + 1, projection="polar")
        # one closed polygon, not one bar per bin (360 patches per panel draw slowly)
        phi, radius = _closed(np.r_[centres, centres + 180.0], np.r_[weights, weights])
        ax.fill(np.radians(phi), radius, color="tab:blue", alpha=0.75, linewidth=0.8)
        ax.set_title(f"{ds}: gradient orientations", fontsize=10)
        ax.set_yticklabels([])
        ax2 = fig.add_subplot(2, len(datasets), len(datasets) + c + 1)
        ax2.plot(theta, self_similarity(centres, weights, theta), color="tab:blue",
                 label="S(θ): orientation self-similarity (raw)")
        if hog is not None and len(hog) and (hog["dataset"].astype(str) == ds).any():
            h = hog[hog["dataset"].astype(str) == ds].groupby("angle")["accuracy"].mean()
            ax2.plot(h.index, _scaled(h.to_numpy(dtype=float)), color="black", marker=".",
                     label="HoG-SVM accuracy (scaled)")
        if curves is not None and len(curves):
            d = curves[(curves["dataset"].astype(str) == ds) & (curves["metric"] == metric)
                       & (curves["init"].astype(str) != BASELINE_INIT)]
            for label, g in d.groupby("train_angles", sort=True):
                g = g.groupby("eval_angle")["mean"].mean()
                ax2.plot(g.index, _scaled(g.to_numpy(dtype=float)), linewidth=1, alpha=0.8,
                         label=f"{METRIC_NAMES.get(metric, metric)}, θ = {label}° (scaled)")
        ax2.set_xlabel("rotation θ (degrees)")
        ax2.set_xticks(range(0, 361, 45))
        ax2.set_ylim(-0.05, 1.05)
        ax2.grid(alpha=0.3)
        ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    return save(fig, stem)
