"""The report's figures (matplotlib, headless).

* saliency metric vs. evaluation angle per dataset with bootstrap CI bands, linear and polar;
* HoG-SVM accuracy vs. angle per dataset;
* each dataset's gradient-orientation histogram with its self-similarity S(θ), beside the
  HoG-SVM and saliency curves it is meant to explain (hypothesis b).

Each function builds and returns a :class:`matplotlib.figure.Figure` (what the notebook API
hands out), made without pyplot: no backend is chosen or changed (a notebook's inline display
keeps working, a headless server needs no display), and no global figure list grows. :func:`save`
writes it as PNG and SVG for the report. A dataset whose rows have no value of the metric gets
no panel, and a figure with nothing to draw is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from analysis.curves import BASELINE_INIT
from analysis.labels import curve_labels, is_baseline
from analysis.orientation import histogram_of, self_similarity

MAX_LEGEND = 12
METRIC_NAMES = {"dice": "Dice", "soft_dice": "soft Dice", "auc": "ROC-AUC",
                "mass_in_mask": "saliency mass in mask", "iou": "IoU", "q_bbox": "Q(S, B)"}
CURVE_KEYS = ("train_angles", "pretraining", "backbone", "pretext", "init", "method", "target",
              "threshold_rule", "trial_id")
PNG_DPI = 100


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` (:data:`PNG_DPI` dpi) and ``stem.svg``.

    The SVG keeps its text as text (editable, small, and several times faster to write than
    matplotlib's default of one path per glyph).
    """
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=PNG_DPI)
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(paths[1])
    if fig.canvas.manager is not None:  # made through pyplot: let pyplot forget it
        import matplotlib.pyplot as plt

        plt.close(fig)
    return paths


def _closed(x: np.ndarray, *ys: np.ndarray) -> list[np.ndarray]:
    # repeat the first point at +360° so a polar line closes
    return [np.r_[x, x[0] + 360.0], *[np.r_[y, y[0]] for y in ys]]


def _datasets(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["dataset"].astype(str).unique())


def with_values(curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of ``metric`` whose curve has at least one value (``q_bbox`` exists only for
    datasets with boxes: the others get no panel)."""
    sub = curves[curves["metric"] == metric]
    if sub.empty:
        return sub
    has = sub["mean"].notna().groupby(sub["trial_id"].astype(str)).transform("any")
    return sub[has.to_numpy()]


def has_baseline(curves: pd.DataFrame, metric: str | None = None) -> bool:
    """Whether ``curves`` (of ``metric``) hold an untrained-baseline curve with values."""
    sub = curves if metric is None else with_values(curves, metric)
    return "init" in sub and bool(sub["init"].map(is_baseline).any())


def curve_figure(curves: pd.DataFrame, metric: str, polar: bool = False,
                 differences: Mapping[str, str] | None = None) -> Figure | None:
    """Mean ``metric`` vs. evaluation angle, one panel per dataset, one line per curve, with
    the bootstrap CI as a band (pre-trained networks solid, untrained baselines dashed).

    Args:
        curves: :func:`analysis.curves.curve_table` output.
        metric: the metric to draw.
        polar: draw on polar axes (angle as angle, metric as radius).
        differences: :func:`analysis.labels.config_differences`, for the curves' labels.

    Returns:
        The figure, or None when no dataset has a value of ``metric``.
    """
    sub = with_values(curves, metric)
    datasets = _datasets(sub)
    if not datasets:
        return None
    kw = {"subplot_kw": {"projection": "polar"}} if polar else {}
    n_lines = int(sub.drop_duplicates(["dataset", *[k for k in CURVE_KEYS if k in sub]])
                  .groupby("dataset").size().max())
    legend_rows = min(n_lines, MAX_LEGEND) if n_lines <= MAX_LEGEND else 0
    fig = Figure(figsize=(5.5 * len(datasets), 4.2 + polar + 0.17 * legend_rows),
                 layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False, **kw)
    name = METRIC_NAMES.get(metric, metric)
    for ax, ds in zip(axes[0], datasets, strict=True):
        d = sub[sub["dataset"].astype(str) == ds]
        keys = [k for k in CURVE_KEYS if k in d]
        meta = d.drop_duplicates(keys)[keys].reset_index(drop=True)
        meta["label"] = curve_labels(meta, differences)
        for g in distinct_curves(d.merge(meta, on=keys)):
            _draw_curve(ax, g, polar)
        ax.set_title(f"{ds}: {name} vs. rotation", fontsize=10)
        if polar:
            ax.set_theta_zero_location("E")
            ax.set_xticks(np.radians(np.arange(0, 360, 45)))
        else:
            ax.set_xlabel("evaluation angle φ (degrees)")
            ax.set_ylabel(f"mean {name} (95 % CI)")
            ax.set_xticks(range(0, 361, 45))
            ax.grid(alpha=0.3)
        if legend_rows:  # below the panel; past a dozen lines a legend is no help
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.05 * polar),
                      ncol=1, frameon=False)
    return fig


def distinct_curves(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """The curves of one panel by label, each sorted by angle, with untrained baselines that
    are the same curve (the random-init network of one seed is the same for every θ) kept
    once, labelled for all of them (``untrained baseline, same for θ = 0°, 45°``)."""
    out: list[pd.DataFrame] = []
    seen: dict[bytes, int] = {}
    shared: dict[int, list[str]] = {}
    for label, g in frame.groupby("label", sort=True):
        g = g.sort_values("eval_angle")
        if "init" in g and is_baseline(g["init"].iloc[0]):
            key = np.round(g[["eval_angle", "mean"]].to_numpy(dtype=float), 9).tobytes()
            if key in seen:
                shared[seen[key]].append(str(label))
                continue
            seen[key] = len(out)
            shared[len(out)] = [str(label)]
        out.append(g)
    for k, labels in shared.items():
        if len(labels) > 1:
            angles = [lab.split(",")[0].removeprefix("θ = ") for lab in labels]
            out[k] = out[k].assign(label="untrained baseline, the same curve for θ = "
                                   + ", ".join(angles))
    return out


def _draw_curve(ax: Axes, g: pd.DataFrame, polar: bool) -> None:
    base = is_baseline(g["init"].iloc[0]) if "init" in g else False
    x = g["eval_angle"].to_numpy(dtype=float)
    y, lo, hi = (g[c].to_numpy(dtype=float) for c in ("mean", "ci_low", "ci_high"))
    if polar:
        x, y, lo, hi = _closed(x, y, lo, hi)
        x = np.radians(x)
    label = str(g["label"].iloc[0])
    if base and "untrained" not in label:
        label += ", untrained baseline"
    line, = ax.plot(x, y, marker="." if len(x) <= 72 else None, linewidth=1.2,
                    linestyle="--" if base else "-", label=label)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.18, linewidth=0)


def hog_figure(hog: pd.DataFrame) -> Figure | None:
    """HoG-SVM accuracy of "rotated by θ or not" vs. θ per dataset (seed 000, Table I right),
    with the spread across CV folds as a band and chance (0.5) dotted."""
    hog = hog.dropna(subset=["accuracy"])
    datasets = _datasets(hog)
    if not datasets:
        return None
    fig = Figure(figsize=(5.5 * len(datasets), 3.8))
    axes = fig.subplots(1, len(datasets), squeeze=False)
    for ax, ds in zip(axes[0], datasets, strict=True):
        g = hog[hog["dataset"].astype(str) == ds].groupby("eval_angle")[
            ["accuracy", "accuracy_std"]].mean().sort_index()
        x = g.index.to_numpy(dtype=float)
        ax.plot(x, g["accuracy"], color="black", marker=".")
        ax.fill_between(x, g["accuracy"] - g["accuracy_std"], g["accuracy"] + g["accuracy_std"],
                        color="grey", alpha=0.25, linewidth=0, label="± sd over CV folds")
        ax.axhline(0.5, color="grey", linestyle=":", linewidth=1, label="chance")
        ax.set_title(f"{ds}: HoG-SVM, rotated by φ vs. not", fontsize=10)
        ax.set_xlabel("rotation φ (degrees)")
        ax.set_ylabel("accuracy")
        ax.set_xticks(range(0, 361, 45))
        ax.set_ylim(0.3, 1.05)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def orientation_figure(orientation: pd.DataFrame, hog: pd.DataFrame | None,
                       curves: pd.DataFrame | None, metric: str = "dice") -> Figure | None:
    """Per dataset: the orientation histogram (polar, drawn over 360° since an orientation and
    its opposite are the same) and, below, S(θ) and the HoG-SVM accuracy on the left axis
    (both in [0, 1], raw) beside the pre-trained networks' mean ``metric`` on a right axis of
    its own (raw: a min-max rescaled curve would make any wiggle look like a full swing)."""
    datasets = _datasets(orientation)
    if not datasets:
        return None
    fig = Figure(figsize=(5.5 * len(datasets), 9.0))
    theta = np.arange(0, 361, 5)
    name = METRIC_NAMES.get(metric, metric)
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
                 label="S(φ): orientation self-similarity")
        if hog is not None and len(hog) and (hog["dataset"].astype(str) == ds).any():
            h = hog[hog["dataset"].astype(str) == ds].groupby("eval_angle")["accuracy"].mean()
            ax2.plot(h.index, h.to_numpy(dtype=float), color="black", marker=".",
                     label="HoG-SVM accuracy")
        ax2.set_xlabel("rotation φ (degrees)")
        ax2.set_ylabel("S(φ), HoG-SVM accuracy")
        ax2.set_xticks(range(0, 361, 45))
        ax2.set_ylim(-0.02, 1.05)
        ax2.grid(alpha=0.3)
        handles = _metric_axis(ax2, curves, ds, metric, name)
        lines, labels = ax2.get_legend_handles_labels()
        ax2.legend(lines + handles, labels + [h.get_label() for h in handles], fontsize=7,
                   loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    return fig


def _metric_axis(ax: Axes, curves: pd.DataFrame | None, dataset: str, metric: str,
                 name: str) -> list[Line2D]:
    # the trained networks' metric on a twin y-axis, in its own (raw) units
    if curves is None or not len(curves):
        return []
    d = with_values(curves, metric)
    d = d[(d["dataset"].astype(str) == dataset) & (d["init"].astype(str) != BASELINE_INIT)
          & ~d["init"].map(is_baseline)]
    if d.empty:
        return []
    twin = ax.twinx()
    handles = []
    for k, (label, g) in enumerate(d.groupby("train_angles", sort=True)):
        g = g.groupby("eval_angle")["mean"].mean()
        # colours C1, C2, ...: C0 is S(θ) on the left axis
        line, = twin.plot(g.index, g.to_numpy(dtype=float), color=f"C{k % 9 + 1}",
                          linewidth=1, alpha=0.85, linestyle="-.",
                          label=f"{name}, θ = {label}° (right axis)")
        handles.append(line)
    twin.set_ylabel(f"mean {name} (right axis)")
    return handles
