"""The plain per-angle summary: mean Dice (soft Dice, AUC) per dataset, trial, network and
evaluation angle, beside the dataset's HoG-SVM accuracy at that angle (``per_angle.csv``,
``per_angle.md``, ``per_angle.png``; the first thing the report wrote, kept for scripts that
read it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.curves import angle_label
from analysis.labels import is_baseline, network_label

KEYS = ["dataset", "trial_id", "train_angles", "init", "eval_angle"]


def per_angle_table(saliency: pd.DataFrame, hog: pd.DataFrame | None) -> pd.DataFrame:
    """Mean Dice (and soft Dice, AUC) per (dataset, trial, network, eval angle), with the
    dataset's HoG-SVM accuracy at that angle alongside.

    A trial's untrained baseline (``init = random_baseline``, same ``trial_id``) has rows of
    its own, never averaged with the pre-trained network's.

    Returns:
        Columns ``dataset, trial_id, train_angles, init, eval_angle, dice, soft_dice, auc,
        n_images, hog_svm_accuracy`` (the last only with a ``hog_svm`` table).
    """
    labels = saliency["train_angles"]
    if not pd.api.types.is_string_dtype(labels):
        labels = labels.map(angle_label)
    frame = saliency.assign(train_angles=labels)
    if "init" not in frame:
        frame = frame.assign(init="random")
    metrics = {m: (m, "mean") for m in ("dice", "soft_dice", "auc") if m in frame}
    table = (frame.groupby(KEYS, observed=True, dropna=False)
             .agg(**metrics, n_images=("image_id", "nunique"))
             .reset_index())
    table["dataset"] = table["dataset"].astype(str)
    if hog is not None and len(hog):
        acc = (hog.groupby(["dataset", "eval_angle"], observed=True)["accuracy"].mean()
               .rename("hog_svm_accuracy").reset_index())
        acc["dataset"] = acc["dataset"].astype(str)
        acc["eval_angle"] = acc["eval_angle"].astype(table["eval_angle"].dtype)
        table = table.merge(acc, on=["dataset", "eval_angle"], how="left")
    return table.sort_values(KEYS).reset_index(drop=True)


def per_angle_figure(table: pd.DataFrame, hog: pd.DataFrame | None) -> Figure:
    """Dice vs. eval angle (one line per train angle set and network; untrained baselines
    dashed) and, below, HoG-SVM accuracy (chance dotted)."""
    datasets = sorted(table["dataset"].astype(str).unique())
    with_hog = hog is not None and len(hog) > 0
    rows = 2 if with_hog else 1
    fig = Figure(figsize=(6 * len(datasets), 3.4 * rows))
    axes = fig.subplots(rows, len(datasets), squeeze=False, sharex=True)
    for c, ds in enumerate(datasets):
        sub = table[table["dataset"].astype(str) == ds]
        ax = axes[0, c]
        curves = sub.groupby(["train_angles", "init", "eval_angle"], dropna=False)["dice"] \
            .mean().reset_index()
        networks = curves["init"].nunique()
        drawn: dict[bytes, str] = {}  # a baseline the same for every θ is drawn once
        for (label, init), curve in curves.groupby(["train_angles", "init"], dropna=False):
            name = f"θ = {label}°" + (f", {network_label(init)}" if networks > 1 else "")
            if is_baseline(init):
                key = np.round(curve["dice"].to_numpy(dtype=float), 9).tobytes()
                if key in drawn:
                    continue
                drawn[key] = name
                same = [str(t) for (t, i), c in curves.groupby(["train_angles", "init"],
                                                               dropna=False)
                        if is_baseline(i) and np.round(c["dice"].to_numpy(dtype=float),
                                                       9).tobytes() == key]
                if len(same) > 1:
                    name = f"{network_label(init)}, the same for θ = {', '.join(same)}°"
            ax.plot(curve["eval_angle"], curve["dice"], marker=".", label=name,
                    linestyle="--" if is_baseline(init) else "-")
        ax.set_title(f"{ds}: saliency vs. rotated mask", fontsize=10)
        ax.set_ylabel("mean Dice")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax.set_xticks(range(0, 361, 45))
        if not with_hog:
            ax.set_xlabel("evaluation angle φ (degrees)")
            continue
        ax2 = axes[1, c]
        if (hog["dataset"].astype(str) == ds).any():
            h = hog[hog["dataset"].astype(str) == ds].groupby("eval_angle")["accuracy"].mean()
            ax2.plot(h.index, h.values, color="black", marker=".")
            ax2.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        else:
            ax2.text(0.5, 0.5, "no HoG-SVM curve for this dataset", ha="center",
                     va="center", transform=ax2.transAxes, color="grey")
        ax2.set_ylabel("HoG-SVM accuracy (rotated vs. not)")
        ax2.set_xlabel("evaluation angle φ (degrees)")
        ax2.set_xticks(range(0, 361, 45))
        ax2.grid(alpha=0.3)
    fig.tight_layout()
    return fig
