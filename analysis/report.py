"""``rotsweep report DIR``: every table, test and figure of a study folder, in one report.

pandas in; CSV, PNG/SVG, ``report.md`` and a self-contained ``report.html`` out, under
``DIR/report/``. Works with whichever tables are present: each section says what it needs.
The computing is in the modules named for it (curves, peaks, hypotheses, effects, seed_tables,
figures); this module decides what to compute and writes the files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from analysis import figures
from analysis.curves import angle_label, curve_table
from analysis.effects import baseline_effects
from analysis.hypotheses import hog_dice_table, orientation_table, train_angle_table
from analysis.orientation import orientation_summary
from analysis.peaks import peak_table, peaks_csv_rows
from analysis.results import Results, condition_digests, load_results, study_info
from analysis.seed_tables import q_table, rotation_accuracy_table, rotation_set_table, table_one

__all__ = ["Analysis", "analyse", "angle_label", "make_report", "per_angle_figure",
           "per_angle_table"]


def per_angle_table(saliency: pd.DataFrame, hog: pd.DataFrame | None) -> pd.DataFrame:
    """Mean Dice (and soft Dice, AUC) per (dataset, trial, eval angle), with the dataset's HoG-SVM
    accuracy at that angle alongside.

    Returns:
        Columns ``dataset, trial_id, train_angles, eval_angle, dice, soft_dice, auc,
        n_images, hog_svm_accuracy``.
    """
    labels = saliency["train_angles"]
    if not pd.api.types.is_string_dtype(labels):
        labels = labels.map(angle_label)
    frame = saliency.assign(train_angles=labels)
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


@dataclass
class Analysis:
    """Every derived table of a results root (empty DataFrames where inputs are missing).

    Attributes:
        results: the tables read.
        n_boot, n_perm: bootstrap replicates and permutations used.
        curves: per-trial curves with CIs over images (:func:`analysis.curves.curve_table`).
        condition_curves: per-condition curves, seeds pooled (CI over seeds and images).
        periodicity: per-trial extrema, fold strengths and periodicity tests, HoG rows included.
        condition_periodicity: the same per condition (only when some condition has seeds).
        table_i, hypothesis_a, hypothesis_b, orientation, train_angle, hypothesis_c,
        rotation_accuracy, q, rotation_sets: see the modules that compute them.
    """

    results: Results
    n_boot: int = 1000
    n_perm: int = 999
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    condition_curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    periodicity: pd.DataFrame = field(default_factory=pd.DataFrame)
    condition_periodicity: pd.DataFrame = field(default_factory=pd.DataFrame)
    table_i: pd.DataFrame = field(default_factory=pd.DataFrame)
    hypothesis_a: pd.DataFrame = field(default_factory=pd.DataFrame)
    hypothesis_b: pd.DataFrame = field(default_factory=pd.DataFrame)
    orientation: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_angle: pd.DataFrame = field(default_factory=pd.DataFrame)
    hypothesis_c: pd.DataFrame = field(default_factory=pd.DataFrame)
    rotation_accuracy: pd.DataFrame = field(default_factory=pd.DataFrame)
    q: pd.DataFrame = field(default_factory=pd.DataFrame)
    rotation_sets: pd.DataFrame = field(default_factory=pd.DataFrame)


def analyse(results: Results, n_boot: int = 1000, n_perm: int = 999, seed: int = 0
            ) -> Analysis:
    """Compute every table the present inputs allow.

    Args:
        results: the loaded tables.
        n_boot: bootstrap replicates per CI.
        n_perm: permutations per periodicity test.
        seed: the generators' seed (the report is reproducible).
    """
    r, out = results, Analysis(results=results, n_boot=n_boot, n_perm=n_perm)
    sal, hog, ori = r.saliency, r.hog_svm, r.orientation
    if sal is not None:
        digests = condition_digests(r.trials)
        out.curves = curve_table(sal, n_boot=n_boot, seed=seed)
        out.condition_curves = curve_table(sal, by="condition", condition_of=digests,
                                           n_boot=n_boot, seed=seed)
        out.hypothesis_c = baseline_effects(sal, seed=seed)
        out.q = q_table(sal)
        if out.condition_curves["n_seeds"].max() > 1:
            out.condition_periodicity = peak_table(sal, by="condition", condition_of=digests,
                                                   n_perm=n_perm, seed=seed)
    if sal is not None or hog is not None:
        out.periodicity = peak_table(sal, hog, n_perm=n_perm, seed=seed)
        out.table_i = table_one(out.condition_curves, hog)
    if sal is not None and hog is not None:
        out.hypothesis_a = hog_dice_table(out.curves, hog)
    if ori is not None:
        out.orientation = orientation_summary(ori)
        out.hypothesis_b = orientation_table(out.curves if sal is not None else None, hog, ori)
    if sal is not None and (hog is not None or ori is not None):
        out.train_angle = train_angle_table(out.curves, hog, ori)
    if r.pretext is not None:
        out.rotation_accuracy = rotation_accuracy_table(r.pretext)
    if r.probe is not None:
        out.rotation_sets = rotation_set_table(r.probe, trials=r.trials)
    return out


CSV_FILES = {  # attribute of Analysis -> file name, index kept for the wide tables
    "curves": ("curves.csv", False), "condition_curves": ("curves_by_condition.csv", False),
    "periodicity": ("periodicity.csv", False),
    "condition_periodicity": ("periodicity_by_condition.csv", False),
    "table_i": ("seed000_table_i.csv", True), "hypothesis_a": ("hypothesis_a_hog_dice.csv", False),
    "hypothesis_b": ("hypothesis_b_orientation.csv", False),
    "orientation": ("orientation_summary.csv", False),
    "train_angle": ("hypothesis_train_angle.csv", False),
    "hypothesis_c": ("hypothesis_c_trained_vs_random.csv", False),
    "rotation_accuracy": ("seed002_rotation_accuracy.csv", True),
    "q": ("seed002_q.csv", True), "rotation_sets": ("seed003_rotation_sets.csv", True),
}


def write_tables(a: Analysis, out: Path) -> list[Path]:
    """The CSV of every non-empty derived table, and ``peaks.csv``."""
    written = []
    for attr, (name, index) in CSV_FILES.items():
        frame = getattr(a, attr)
        if len(frame):
            frame.to_csv(out / name, index=index)
            written.append(out / name)
    peaks = out / "peaks.csv"
    peaks_csv_rows(a.periodicity).to_csv(peaks, index=False)
    return [*written, peaks]


def write_figures(a: Analysis, out: Path) -> dict[str, list[Path]]:
    """Every figure the tables allow, by name (PNG first, then SVG)."""
    r = a.results
    made: dict[str, list[Path]] = {}
    metrics = list(dict.fromkeys(a.condition_curves["metric"])) if len(a.condition_curves) \
        else []
    for metric in metrics:
        made[f"{metric}_vs_angle"] = figures.curve_figure(
            a.condition_curves, metric, out / f"{metric}_vs_angle")
    if "dice" in metrics:
        made["dice_polar"] = figures.curve_figure(a.condition_curves, "dice",
                                                  out / "dice_polar", polar=True)
    if r.hog_svm is not None:
        made["hog_svm_vs_angle"] = figures.hog_figure(r.hog_svm, out / "hog_svm_vs_angle")
    if r.orientation is not None:
        made["orientation"] = figures.orientation_figure(
            r.orientation, r.hog_svm, a.curves if len(a.curves) else None, out / "orientation")
    return made


MAX_EXAMPLE_TRIALS = 12  # the HTML embeds every example; hundreds would make it huge


def copy_examples(folder: Path, trial_ids: list[str], out: Path) -> list[Path]:
    """Copy the saliency example grids (``artifacts/<trial>/saliency_examples*.png``) of the
    first :data:`MAX_EXAMPLE_TRIALS` trials into ``out/examples/``."""
    copied = []
    for trial_id in trial_ids[:MAX_EXAMPLE_TRIALS]:
        for src in sorted((folder / "artifacts" / trial_id).glob("saliency_examples*.png")):
            dst = out / "examples" / f"{trial_id}_{src.name}"
            dst.parent.mkdir(exist_ok=True)
            shutil.copyfile(src, dst)
            copied.append(dst)
    return copied


def make_report(folder: str | Path, *, study: str | None = None,
                datasets: list[str] | None = None, trial_ids: list[str] | None = None,
                n_boot: int = 1000, n_perm: int = 999, seed: int = 0) -> list[Path]:
    """Write ``<folder>/report/``: CSV tables, figures, ``report.md`` and ``report.html``.

    Always (with a ``saliency`` table): ``per_angle.csv``, ``per_angle.md``, ``per_angle.png``
    and ``peaks.csv``; the rest as the tables present allow.

    Args:
        folder: the study folder (``rotsweep run --out``) or a results root.
        study, datasets, trial_ids: read only these (filters pushed down to the files).
        n_boot, n_perm, seed: see :func:`analyse`.

    Returns:
        The files written.

    Raises:
        FileNotFoundError: the folder has neither a ``saliency`` nor a ``hog_svm`` table.
        rotsweep.tables.SchemaError: a table file is foreign, broken or of another version.
    """
    from analysis.sections import build_document

    folder = Path(folder)
    results = load_results(folder, study=study, datasets=datasets, trial_ids=trial_ids)
    if results.saliency is None and results.hog_svm is None:
        raise FileNotFoundError(
            f"no saliency or hog_svm table under {results.root} (tables found: "
            f"{results.present() or 'none'}); is {folder} a study folder from `rotsweep run`?")
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if results.saliency is not None:
        table = per_angle_table(results.saliency, results.hog_svm)
        csv, md, png = out / "per_angle.csv", out / "per_angle.md", out / "per_angle.png"
        table.to_csv(csv, index=False)
        md.write_text("# Mean saliency metrics per evaluation angle\n\n"
                      + table.to_markdown(index=False, floatfmt=".4f") + "\n")
        per_angle_figure(table, results.hog_svm, png)
        written += [csv, md, png]
    a = analyse(results, n_boot=n_boot, n_perm=n_perm, seed=seed)
    written += write_tables(a, out)
    made = write_figures(a, out)
    written += [p for paths in made.values() for p in paths]
    trials = sorted(a.curves["trial_id"].astype(str).unique()) if len(a.curves) else []
    examples = copy_examples(folder, trials, out)
    written += examples
    doc = build_document(a, made, examples, study_info(folder), folder, out)
    (out / "report.md").write_text(doc.to_markdown())
    (out / "report.html").write_text(doc.to_html(out))
    return [*written, out / "report.md", out / "report.html"]
