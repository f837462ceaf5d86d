"""The report's text, section by section, from an :class:`analysis.report.Analysis`.

Order (top to bottom, as a researcher reads): what was run, the summary, the per-angle curves
and their periodicity, seed 000's Table I and HoG-SVM curve, the three hypotheses, seeds 002 and
003's tables, saliency examples, and how every number was computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.curves import BASELINE_INIT
from analysis.document import Document
from analysis.figures import METRIC_NAMES

if TYPE_CHECKING:
    from analysis.report import Analysis

ALPHA = 0.05
MAX_SUMMARY_TRIALS = 12
THRESHOLD_FREE = ("soft_dice", "auc", "mass_in_mask")
MAX_TABLE_ROWS = 40


def _p(p: float) -> str:
    return "n/a" if p is None or not np.isfinite(p) else f"{p:.3g}"


def _degrees(joined: str) -> str:
    return ", ".join(f"{a}°" for a in str(joined).split(";")) if joined else "-"


def _trained(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["init"].astype(str) != BASELINE_INIT] if "init" in frame else frame


def _short(frame: pd.DataFrame, step_column: str | None = None) -> tuple[pd.DataFrame, str]:
    # Long tables (360 angles) are thinned in the text; the CSV has every row.
    if len(frame) <= MAX_TABLE_ROWS:
        return frame, ""
    index = frame.index if step_column is None else frame[step_column]
    keep = np.asarray(index) % 15 == 0
    which = "every 15°"
    if keep.sum() == 0 or keep.sum() > MAX_TABLE_ROWS:
        keep, which = np.arange(len(frame)) < MAX_TABLE_ROWS, "the first rows"
    return frame[keep], f" ({which}, {int(keep.sum())} of {len(frame)} rows)"


def _capped(doc: Document, frame: pd.DataFrame, csv: str, floatfmt: str = ".3g") -> None:
    # A study of hundreds of trials would make the page unreadable: the first rows, and where
    # the rest are.
    doc.table(frame.head(MAX_TABLE_ROWS), floatfmt=floatfmt)
    if len(frame) > MAX_TABLE_ROWS:
        doc.paragraph(f"First {MAX_TABLE_ROWS} of {len(frame)} rows; all in `{csv}`.")


def intro(doc: Document, a: Analysis, info: dict[str, Any]) -> None:
    """What was run and what the folder holds."""
    r = a.results
    text = f"Results read from `{r.root}`; tables present: {', '.join(r.present())}."
    if info:
        text = (f"Study `{info.get('name', '?')}` ({info.get('source', '?')}), "
                f"{info.get('n_trials', '?')} trials. " + text)
    doc.paragraph(text)
    if info.get("axes"):
        doc.bullets([f"axis `{k}`: {v}" for k, v in info["axes"].items()])
    if r.trials is not None:
        counts = r.trials.groupby(["dataset", "status"], observed=True).size().unstack(
            fill_value=0)
        doc.table(counts.reset_index(), floatfmt=".0f")
        failed = r.trials[r.trials["status"] == "FAILED"]
        doc.bullets([f"FAILED `{t}`: {str(e).splitlines()[-1][:200]}"
                     for t, e in zip(failed["trial_id"], failed["error"], strict=True)])


def _periodicity_line(row: dict[str, Any]) -> str:
    who = ("HoG-SVM accuracy" if row["metric"] == "hog_svm_accuracy"
           else f"Dice, θ = {row.get('train_angles', '')}° (`{row['trial_id']}`)")
    if not np.isfinite(row["periodic_p"]):
        verdict = "no periodicity test (not a full circle)"
    elif row["periodic_p"] < ALPHA:
        verdict = "a significant common angular pattern"
    else:
        verdict = "no angular pattern beyond chance"
    how = ", angle-label permutation" if row["test"] == "angle_permutation" else ""
    return (f"**{row['dataset']}**, {who}: {verdict} (p = {_p(row['periodic_p'])}{how}, "
            f"dominant period {row['dominant_period']:.0f}°); maxima at "
            f"{_degrees(row['maxima'])}, minima at {_degrees(row['minima'])}.")


def _periodicity_counts(dice: pd.DataFrame) -> list[str]:
    # Many trials: one line per dataset instead of one per trial.
    lines = []
    for dataset, d in dice.groupby("dataset", sort=True):
        periods = d["dominant_period"].round().value_counts().head(3)
        common = ", ".join(f"{p:.0f}° ({n})" for p, n in periods.items())
        lines.append(f"**{dataset}**, Dice: {int((d['periodic_p'] < ALPHA).sum())} of "
                     f"{len(d)} trial curves have a significant common angular pattern "
                     f"(p < {ALPHA}); dominant periods: {common}. Per trial: `peaks.csv`.")
    return lines


def summary(doc: Document, a: Analysis) -> None:
    """The findings first, so the page's first screen answers the question (one line per
    trial up to :data:`MAX_SUMMARY_TRIALS` trials, then one per dataset)."""
    doc.heading("Summary")
    items: list[str] = []
    per = _trained(a.periodicity) if len(a.periodicity) else a.periodicity
    if len(per):
        dice = per[per["metric"] == "dice"]
        items += ([_periodicity_line(r) for r in dice.to_dict("records")]
                  if len(dice) <= MAX_SUMMARY_TRIALS else _periodicity_counts(dice))
        items += [_periodicity_line(r) for r in
                  per[per["metric"] == "hog_svm_accuracy"].to_dict("records")]
    rows_a = _trained(a.hypothesis_a) if len(a.hypothesis_a) else a.hypothesis_a
    rows_a = rows_a[rows_a["metric"] == "dice"] if len(rows_a) else rows_a
    if len(rows_a) <= MAX_SUMMARY_TRIALS:
        items += [f"(a) **{r['dataset']}** `{r['trial_id']}`: ρ(Dice, HoG-SVM) = {r['rho']:.2f}"
                  f", circular-shift p = {_p(r['p_shift'])}." for r in rows_a.to_dict("records")]
    else:
        items.append(f"(a) ρ(Dice, HoG-SVM) over {len(rows_a)} trials: median "
                     f"{rows_a['rho'].median():.2f}; {int((rows_a['p_shift'] < ALPHA).sum())} "
                     f"with circular-shift p < {ALPHA}.")
    items += [f"(b) **{r['dataset']}** gradient orientations: 2/4/8-fold strength "
              f"{r['strength_2']:.2f}/{r['strength_4']:.2f}/{r['strength_8']:.2f}, "
              f"self-similarity S(45°) = {r['similarity_45']:.2f}, S(90°) = "
              f"{r['similarity_90']:.2f}." for r in a.orientation.to_dict("records")]
    rows_c = a.hypothesis_c[a.hypothesis_c["metric"] == "dice"] if len(a.hypothesis_c) \
        else a.hypothesis_c
    items += [f"(c) **{r['dataset']}** `{r['trial_id']}`: trained − random-init Dice = "
              f"{r['diff_mean']:+.3f} [{r['diff_ci_low']:+.3f}, {r['diff_ci_high']:+.3f}], "
              f"d_z = {r['cohen_dz']:.2f}, p = {_p(r['p_sign_flip'])}."
              for r in rows_c.head(MAX_SUMMARY_TRIALS).to_dict("records")]
    doc.bullets(items or ["No saliency or HoG-SVM curves in this folder."])


def curves_section(doc: Document, a: Analysis, made: dict[str, list[Path]], out: Path) -> None:
    """Saliency metrics vs. angle, their extrema and periodicity."""
    doc.heading("1. Saliency vs. evaluation angle")
    if not len(a.condition_curves):
        doc.paragraph("No `saliency` table: nothing to plot.")
        return
    doc.paragraph("Each line is the mean over images (and seeds, where a condition has several) "
                  "at each evaluation angle; the band is the 95 % bootstrap CI. Dashed lines are "
                  "random-init baselines (seed 002).")
    for name in ("dice_vs_angle", "dice_polar"):
        if name in made:
            doc.figure(made[name][0].relative_to(out), "Dice vs. angle" +
                       (" (polar)" if "polar" in name else "") + " per dataset, 95 % CI.")
    others = [k for k in made if k.endswith("_vs_angle") and k not in
              ("dice_vs_angle", "hog_svm_vs_angle")]
    for name in others:
        metric = name.removesuffix("_vs_angle")
        kind = ("threshold-free" if metric in THRESHOLD_FREE
                else "thresholded by the study's threshold rule")
        doc.figure(made[name][0].relative_to(out),
                   f"{METRIC_NAMES.get(metric, metric)} vs. angle ({kind}), 95 % CI.")
    doc.heading("Extrema and periodicity", 3)
    doc.paragraph("Maxima and minima are read on the curve smoothed on the circle (Gaussian, "
                  "σ = 5°) and must stand out by a quarter of its range. The dominant period is "
                  "360°/k for the strongest harmonic k ≤ 8; `share_k` is the share of the "
                  "curve's variance in the k-fold component. `periodic_p` tests for any common "
                  "angular pattern by shifting each image's curve circularly at random "
                  f"({a.n_perm} shifts); the HoG-SVM curve, one value per angle, permutes "
                  "angles. "
                  "All rows are in `periodicity.csv`; `peaks.csv` has the columns the issue "
                  "names.")
    cols = [c for c in ("dataset", "train_angles", "trial_id", "init", "metric", "maxima",
                        "minima", "dominant_period", "periodic_p", "share_2", "share_4",
                        "share_8") if c in a.periodicity]
    table = a.periodicity[cols]
    if len(table) > MAX_TABLE_ROWS:
        table = table[table["metric"].isin(["dice", "soft_dice", "hog_svm_accuracy"])]
    _capped(doc, table, "periodicity.csv")
    if len(a.condition_periodicity):
        doc.paragraph("The same per condition, seeds pooled (each seed × image curve shifted "
                      "on its own): `periodicity_by_condition.csv`.")
        _capped(doc, a.condition_periodicity[[c for c in cols if c != "trial_id"]
                                             + ["n_trials"]], "periodicity_by_condition.csv")


def seed000_section(doc: Document, a: Analysis, made: dict[str, list[Path]], out: Path
                    ) -> None:
    """Seed 000's Table I and the HoG-SVM curve."""
    doc.heading("2. Seed 000, Table I: Dice and HoG-SVM accuracy per angle")
    if not len(a.table_i):
        doc.paragraph("Needs the `saliency` and/or `hog_svm` tables.")
        return
    doc.paragraph("Left: mean Dice of each trained network per evaluation angle (seeds pooled); "
                  "right: cross-validated accuracy of an RBF-SVM telling an image's HoG "
                  "descriptor from that of the image rotated by θ (chance 0.5).")
    shown, note = _short(a.table_i)
    doc.table(shown, floatfmt=".3f", index=True)
    if note:
        doc.paragraph("Rows shown" + note + "; every row is in `seed000_table_i.csv`.")
    if "hog_svm_vs_angle" in made:
        doc.figure(made["hog_svm_vs_angle"][0].relative_to(out),
                   "HoG-SVM accuracy vs. θ; band: ± sd over CV folds.")


def _hypothesis_table(doc: Document, frame: pd.DataFrame, csv: str) -> None:
    cols = [c for c in ("dataset", "train_angles", "trial_id", "init", "metric", "n_angles",
                        "rho", "p_shift", "p_naive") if c in frame]
    _capped(doc, frame[cols], csv)


def hypotheses_section(doc: Document, a: Analysis, made: dict[str, list[Path]], out: Path
                       ) -> None:
    """Hypotheses (a), (b), (c)."""
    doc.heading("3. Hypothesis (a): HoG-SVM accuracy vs. saliency across angles")
    doc.paragraph("Seed 000's shortcut story predicts worse saliency where HoG features tell "
                  "the rotation apart (ρ < 0); seed 000 saw minima coincide on Kvasir (ρ > 0). "
                  "Spearman's ρ per trial over the shared angles; `p_shift` is the circular-"
                  "shift permutation p (keeps both curves' autocorrelation; smallest possible "
                  "p = 1/number of angles); `p_naive` assumes independent angles and is shown "
                  "only for contrast.")
    if len(a.hypothesis_a):
        _hypothesis_table(doc, a.hypothesis_a, "hypothesis_a_hog_dice.csv")
    else:
        doc.paragraph("Needs both the `saliency` and `hog_svm` tables.")
    doc.heading("4. Hypothesis (b): the gradient-orientation shortcut", 2)
    if not len(a.orientation):
        doc.paragraph("Needs the `orientation` table (written at study time by "
                      "study/orientation.py).")
    else:
        doc.paragraph("Each dataset's magnitude-weighted histogram of gradient orientation mod "
                      "180° inside the field of view. k-fold strength: 0 = no k-fold structure, "
                      "1 = all gradient mass on k/2 axes 360°/k apart. S(θ) = share of "
                      "gradient mass that still matches after rotating by θ; a HoG-like "
                      "shortcut can tell θ from 0° only where S(θ) < 1, so the story predicts "
                      "ρ(S, HoG-SVM) < 0 and ρ(S, Dice) > 0.")
        if "orientation" in made:
            doc.figure(made["orientation"][0].relative_to(out),
                       "Orientation histograms (top) and S(θ) beside scaled HoG-SVM accuracy "
                       "and Dice (bottom).")
        doc.table(a.orientation, floatfmt=".3g")
        if len(a.hypothesis_b):
            _hypothesis_table(doc, a.hypothesis_b, "hypothesis_b_orientation.csv")
    if len(a.train_angle):
        doc.heading("Across training angles", 3)
        doc.paragraph("Trials trained on one angle θ each: the trial's mean metric vs. the "
                      "HoG-SVM accuracy and S at θ (the shortcut story in its own terms). "
                      "`p_perm` permutes the pairing of trials (exact for ≤ 8 trials).")
        _capped(doc, a.train_angle, "hypothesis_train_angle.csv")
    doc.heading("5. Hypothesis (c): trained vs. random-init saliency", 2)
    if len(a.hypothesis_c):
        doc.paragraph("Per image (metric averaged over angles), trained minus random-init, "
                      "paired by image: mean difference with a 95 % bootstrap CI, Cohen's d_z, "
                      "Hedges' g, sign-flip permutation p and Wilcoxon p.")
        _capped(doc, a.hypothesis_c.drop(columns=["backbone", "pretext"], errors="ignore"),
                "hypothesis_c_trained_vs_random.csv")
    else:
        doc.paragraph("No random-init baseline rows (`init = random_baseline`); set "
                      "`saliency.random_init_baseline: true` in the study to get them.")


def other_seeds_section(doc: Document, a: Analysis) -> None:
    """Seeds 002 and 003's tables."""
    doc.heading("6. Seed 002: rotation accuracy and Q(S, B), backbone × dataset")
    if len(a.rotation_accuracy):
        doc.paragraph("Pretext accuracy at each trial's last epoch, mean over seeds.")
        doc.table(a.rotation_accuracy, floatfmt=".3f", index=True)
    else:
        doc.paragraph("No pretext accuracy logged (needs the `pretext` table).")
    if len(a.q):
        doc.paragraph("Goodness Q(S, B) of thresholded saliency vs. bounding boxes at 0°.")
        doc.table(a.q, floatfmt=".3f", index=True)
    else:
        doc.paragraph("No `q_bbox` values (datasets with bounding boxes only).")
    doc.heading("7. Seed 003: rotation set → downstream accuracy per block")
    if len(a.rotation_sets):
        doc.table(a.rotation_sets, floatfmt=".3f", index=True)
    else:
        doc.paragraph("No `probe` table in this folder.")


def examples_section(doc: Document, examples: list[Path], out: Path) -> None:
    """The trials' saliency example grids."""
    doc.heading("8. Saliency examples")
    if not examples:
        doc.paragraph("No saliency example grids under `artifacts/`.")
    for path in examples:
        doc.figure(path.relative_to(out), f"{path.stem}: rotated image with the mask outline "
                   "(top) and normalised saliency (bottom) at a few angles.")


def methods_section(doc: Document, a: Analysis) -> None:
    """How every number was computed."""
    doc.heading("Methods")
    doc.bullets([
        f"Unit of replication: the image. CIs: bootstrap ({a.n_boot} replicates) over images, and "
        "over seeds where a condition has several, images and seeds drawn independently "
        "(they are crossed: every seed sees the same evaluation images); expanded percentile "
        "interval (Hesterberg 2015) so small samples are not too narrow.",
        "Periodicity: circular Fourier analysis of the mean curve on the full-circle grid; "
        "null = no common alignment of the images' curves, simulated by independent circular "
        "shifts per image (keeps each curve's autocorrelation).",
        "Correlations: Spearman's ρ; circular-shift permutation p over all shifts of one curve "
        "against the other.",
        "Effect sizes: paired by image; d_z = mean/sd of differences; Hedges' g with the pooled "
        "sd; sign-flip permutation p.",
        "p-values are per test and not adjusted for the number of curves.",
    ])


def build_document(a: Analysis, made: dict[str, list[Path]], examples: list[Path],
                   info: dict[str, Any], folder: Path, out: Path) -> Document:
    """The whole report, in reading order."""
    doc = Document(f"rotsweep report: {info.get('name', folder.name)}")
    intro(doc, a, info)
    summary(doc, a)
    curves_section(doc, a, made, out)
    seed000_section(doc, a, made, out)
    hypotheses_section(doc, a, made, out)
    other_seeds_section(doc, a)
    examples_section(doc, examples, out)
    methods_section(doc, a)
    return doc
