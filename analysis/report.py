"""``rotsweep report DIR``: the per-angle table and figure of a study folder.

pandas in, CSV / Markdown / PNG out. Works with whichever tables are present.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from analysis.tables import read_table, table_exists


def angle_label(angles: object) -> str:
    """``[0, 90]`` → ``"0/90"`` (train angles as one label)."""
    return "/".join(str(int(a)) for a in list(angles))  # type: ignore[call-overload]


def per_angle_table(saliency: pd.DataFrame, hog: pd.DataFrame | None) -> pd.DataFrame:
    """Mean Dice (and soft Dice, AUC) per (dataset, trial, eval angle), with the dataset's HoG-SVM
    accuracy at that angle alongside.

    Returns:
        Columns ``dataset, trial_id, train_angles, eval_angle, dice, soft_dice, auc,
        n_images, hog_svm_accuracy``.
    """
    frame = saliency.assign(train_angles=saliency["train_angles"].map(angle_label))
    keys = ["dataset", "trial_id", "train_angles", "eval_angle"]
    table = (frame.groupby(keys, observed=True)
             .agg(dice=("dice", "mean"), soft_dice=("soft_dice", "mean"), auc=("auc", "mean"),
                  n_images=("image_id", "nunique"))
             .reset_index())
    if hog is not None and len(hog):
        acc = (hog.groupby(["dataset", "angle"], observed=True)["accuracy"].mean()
               .rename("hog_svm_accuracy").reset_index()
               .rename(columns={"angle": "eval_angle"}))
        table["dataset"] = table["dataset"].astype(str)
        acc["dataset"] = acc["dataset"].astype(str)
        table = table.merge(acc, on=["dataset", "eval_angle"], how="left")
    return table.sort_values(keys).reset_index(drop=True)


def per_angle_figure(table: pd.DataFrame, hog: pd.DataFrame | None, path: Path) -> None:
    """Dice vs. eval angle (one line per train angle set) and, below, HoG-SVM accuracy."""
    datasets = sorted(table["dataset"].astype(str).unique())
    fig, axes = plt.subplots(2, len(datasets), figsize=(6 * len(datasets), 6.5), squeeze=False,
                             sharex=True)
    for c, ds in enumerate(datasets):
        sub = table[table["dataset"].astype(str) == ds]
        ax = axes[0, c]
        curves = sub.groupby(["train_angles", "eval_angle"])["dice"].mean().reset_index()
        for label, curve in curves.groupby("train_angles"):
            ax.plot(curve["eval_angle"], curve["dice"], marker=".", label=f"θ = {label}°")
        ax.set_title(f"{ds}: saliency vs. rotated mask")
        ax.set_ylabel("mean Dice")
        ax.legend(fontsize=8, title="train angle")
        ax.grid(alpha=0.3)
        ax2 = axes[1, c]
        if hog is not None and len(hog):
            h = hog[hog["dataset"].astype(str) == ds].groupby("angle")["accuracy"].mean()
            ax2.plot(h.index, h.values, color="black", marker=".")
            ax2.axhline(0.5, color="grey", linestyle=":", linewidth=1)
        ax2.set_ylabel("HoG-SVM accuracy (rotated vs. not)")
        ax2.set_xlabel("evaluation angle (degrees)")
        ax2.set_xticks(range(0, 361, 45))
        ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_report(folder: str | Path) -> list[Path]:
    """Write ``<folder>/report/``: ``per_angle.csv``, ``per_angle.md``, ``per_angle.png``.

    Raises:
        FileNotFoundError: the folder has no ``saliency`` table.
    """
    folder = Path(folder)
    results = folder / "results"
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    saliency = read_table(results, "saliency")
    hog = read_table(results, "hog_svm") if table_exists(results, "hog_svm") else None
    table = per_angle_table(saliency, hog)
    csv, md, png = out / "per_angle.csv", out / "per_angle.md", out / "per_angle.png"
    table.to_csv(csv, index=False)
    md.write_text("# Mean saliency metrics per evaluation angle\n\n"
                  + table.to_markdown(index=False, floatfmt=".4f") + "\n")
    per_angle_figure(table, hog, png)
    return [csv, md, png]
