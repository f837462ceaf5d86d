"""The report's text, section by section, from an :class:`analysis.report.Analysis`.

Order (top to bottom, as a researcher reads; the opening answer is
:mod:`analysis.answer`, the later sections are in :mod:`analysis.sections_more`): the study's
question answered per dataset and metric, what was run, the summary, the findings (the
verdicts module's table and figure, when it exists), the per-angle curves and their
periodicity, seed 000's Table I and HoG-SVM curve, the three hypotheses, seeds 002 and 003's
tables, saliency examples, and how every number was computed. Tables show the ``init`` column
as ``network`` (pre-trained from what, or an untrained baseline: :mod:`analysis.labels`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.answer import answer_section
from analysis.derived import Analysis
from analysis.document import Document
from analysis.figures import METRIC_NAMES, has_baseline
from analysis.labels import config_name, joined_name
from analysis.sections_more import (
    examples_section,
    hypotheses_section,
    methods_section,
    other_seeds_section,
)
from analysis.text import (
    ALPHA,
    MAX_SUMMARY_TRIALS,
    MAX_TABLE_ROWS,
    THRESHOLD_FREE,
    capped,
    degree_list,
    p_text,
    short_rows,
    trained,
)


def intro(doc: Document, a: Analysis, info: dict[str, Any]) -> None:
    """What was run and what the folder holds."""
    r = a.results
    text = f"Results read from `{r.root}`; tables present: {', '.join(r.present())}."
    if info.get("name"):
        text = (f"Study `{info.get('name', '?')}` ({info.get('source', '?')}), "
                f"{info.get('n_trials', '?')} trials. " + text)
    doc.paragraph(text)
    if info.get("restricted"):
        doc.paragraph(f"**A part of the study**: only {info['restricted']}; the whole study's "
                      "report is `rotsweep report` without filters.")
    if info.get("axes"):
        doc.bullets([f"axis `{k}`: {v}" for k, v in info["axes"].items()])
    if r.trials is not None:
        counts = r.trials.groupby(["dataset", "status"], observed=True).size().unstack(
            fill_value=0)
        doc.table(counts.reset_index(), floatfmt=".0f")
        failed = r.trials[r.trials["status"] == "FAILED"]
        doc.bullets([f"FAILED: {d}, {config_name(c)}: {str(e).splitlines()[-1][:200]}"
                     for d, c, e in zip(failed["dataset"], failed["config_json"],
                                        failed["error"], strict=True)])


def _periodicity_line(row: dict[str, Any], names: dict[str, str]) -> str:
    who = ("HoG-SVM accuracy" if row["metric"] == "hog_svm_accuracy"
           else f"Dice, {joined_name(row['trial_id'], names)}")
    if row["metric"] == "hog_svm_accuracy":  # one curve, no replicates: described, not tested
        return (f"**{row['dataset']}**, {who} (described, not tested: docs/statistics.md): "
                f"dominant period {row['dominant_period']:.0f}°; maxima at "
                f"{degree_list(row['maxima'])}, minima at {degree_list(row['minima'])}.")
    if not np.isfinite(row["periodic_p"]):
        verdict = "no periodicity test (not a full circle)"
    elif row["periodic_p"] < ALPHA:
        verdict = "a significant common angular pattern"
    else:
        verdict = "no angular pattern beyond chance"
    how = ", angle-label permutation" if row["test"] == "angle_permutation" else ""
    return (f"**{row['dataset']}**, {who}: {verdict} (p = {p_text(row['periodic_p'])}{how}, "
            f"dominant period {row['dominant_period']:.0f}°); maxima at "
            f"{degree_list(row['maxima'])}, minima at {degree_list(row['minima'])}.")


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
    """The findings first, so the page's first screen answers the question: the verdicts'
    lines (:mod:`analysis.verdicts`) where they were computed, else one line per trial up to
    :data:`MAX_SUMMARY_TRIALS` trials, then one per dataset."""
    doc.heading("Summary")
    items: list[str] = []
    per = trained(a.periodicity) if len(a.periodicity) else a.periodicity
    if a.verdicts is not None:
        items += a.verdicts.lines()
        if len(per):
            items += [_periodicity_line(r, a.names) for r in
                      per[per["metric"] == "hog_svm_accuracy"].to_dict("records")]
    elif len(per):
        dice = per[per["metric"] == "dice"]
        items += ([_periodicity_line(r, a.names) for r in dice.to_dict("records")]
                  if len(dice) <= MAX_SUMMARY_TRIALS else _periodicity_counts(dice))
        items += [_periodicity_line(r, a.names) for r in
                  per[per["metric"] == "hog_svm_accuracy"].to_dict("records")]
    rows_a = trained(a.hypothesis_a) if len(a.hypothesis_a) else a.hypothesis_a
    rows_a = rows_a[rows_a["metric"] == "dice"] if len(rows_a) else rows_a
    if len(rows_a) <= MAX_SUMMARY_TRIALS:
        items += [f"(a) **{r['dataset']}**, {joined_name(r['trial_id'], a.names)}: "
                  f"ρ(Dice, HoG-SVM) = {r['rho']:.2f}, circular-shift p = {p_text(r['p_shift'])}."
                  for r in rows_a.to_dict("records")]
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
    items += [f"(c) **{r['dataset']}**, {joined_name(r['trial_id'], a.names)}: trained − "
              f"random-init Dice = {r['diff_mean']:+.3f} [{r['diff_ci_low']:+.3f}, "
              f"{r['diff_ci_high']:+.3f}], "
              f"d_z = {r['cohen_dz']:.2f}, p = {p_text(r['p_sign_flip'])}."
              for r in rows_c.head(MAX_SUMMARY_TRIALS).to_dict("records")]
    doc.bullets(items or ["No saliency or HoG-SVM curves in this folder."])


def curves_section(doc: Document, a: Analysis, made: dict[str, list[Path]], out: Path) -> None:
    """Saliency metrics vs. angle, their extrema and periodicity."""
    doc.heading("1. Saliency vs. evaluation angle")
    if not len(a.condition_curves):
        doc.paragraph("No `saliency` table: nothing to plot.")
        return
    text = ("Each line is the mean over images (and seeds, where a condition has several) at "
            "each evaluation angle; the band is the 95 % bootstrap CI.")
    if has_baseline(a.condition_curves):
        text += (" Dashed lines are the same networks untrained, at their random "
                 "initialisation (seed 002's baseline).")
    doc.paragraph(text)
    for name in ("dice_vs_angle", "dice_polar"):
        if name in made:
            doc.figure(made[name][0].relative_to(out), "Dice vs. angle" +
                       (" (polar)" if "polar" in name else "") + " per dataset, 95 % CI." +
                       (" Dashed: untrained baseline." if has_baseline(a.condition_curves,
                                                                       "dice") else ""))
    if "per_angle" in made:
        doc.figure(made["per_angle"][0].relative_to(out),
                   "Mean Dice per evaluation angle φ, one line per train angle θ (the plain "
                   "means of `per_angle.csv`, no CI; degenerate points left out), and the "
                   "HoG-SVM accuracy below.")
    others = [k for k in made if k.endswith("_vs_angle") and k not in
              ("dice_vs_angle", "hog_svm_vs_angle")]
    for name in others:
        metric = name.removesuffix("_vs_angle")
        kind = ("threshold-free" if metric in THRESHOLD_FREE
                else "thresholded by the study's threshold rule")
        dashed = " Dashed: untrained baseline." if has_baseline(a.condition_curves, metric) \
            else ""
        doc.figure(made[name][0].relative_to(out),
                   f"{METRIC_NAMES.get(metric, metric)} vs. angle ({kind}), 95 % CI.{dashed}")
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
    capped(doc, table, "periodicity.csv", names=a.names)
    if len(a.condition_periodicity):
        doc.paragraph("The same per condition, seeds pooled — *is there a pattern in the "
                      "average* of its networks (the image the unit, an image's seeds averaged "
                      "first): `periodicity_by_condition.csv`.")
        capped(doc, a.condition_periodicity[[c for c in cols if c != "trial_id"]
                                             + ["n_trials"]], "periodicity_by_condition.csv")
    if len(a.replication):
        doc.paragraph("Replication — *does another seed give the same pattern* (the seed the "
                      "unit): each seed's curve on its own images, the mean correlation over "
                      "seed pairs, and its circular-shift p (docs/statistics.md).")
        rep = [c for c in ("dataset", "train_angles", "trial_id", "init", "metric", "n_seeds",
                           "n_images_per_seed", "r_mean", "p_replication", "note")
               if c in a.replication]
        capped(doc, a.replication[rep], "replication.csv", names=a.names)


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
    shown, note = short_rows(a.table_i)
    doc.table(shown, floatfmt=".3f", index=True)
    if note:
        doc.paragraph("Rows shown" + note + "; every row is in `seed000_table_i.csv`.")
    if "hog_svm_vs_angle" in made:
        doc.figure(made["hog_svm_vs_angle"][0].relative_to(out),
                   "HoG-SVM accuracy vs. θ; band: ± sd over CV folds.")


def findings_section(doc: Document, a: Analysis, made: dict[str, list[Path]], out: Path
                     ) -> None:
    """Which angle patterns are findings (:mod:`analysis.verdicts`): the rules, one row per
    significant trained curve × metric, the negative controls, and each curve beside its
    random-init baseline and the controls."""
    v = a.verdicts
    if v is None:
        return
    from analysis.verdicts import rules_text

    doc.heading("Findings")
    doc.paragraph(rules_text(v.alpha))
    significant = v.table[v.table["verdict"] != "no pattern"] if len(v.table) else v.table
    if len(significant):
        cols = [c for c in ("dataset", "label", "metric", "level", "period", "p", "p_holm",
                            "p_vs_baseline_holm", "baseline", "control", "verdict", "reasons")
                if c in significant]
        shown = significant.assign(label=[joined_name(t, a.names) for t in
                                          significant["trial_id"]])
        capped(doc, shown[cols], "verdicts.csv")
    else:
        doc.paragraph("No trained curve has an angle pattern after Holm's correction; every "
                      "test is in `verdicts.csv`.")
    if len(v.controls):
        doc.heading("Negative controls", 3)
        doc.table(v.controls, floatfmt=".3g")
    if "dice_controls" in made:
        doc.figure(made["dice_controls"][0].relative_to(out),
                   "Dice per condition: trained (solid) beside the same network untrained "
                   "(dashed, where the study has the baseline) and the negative controls "
                   "(dotted, where it has them), 95 % CI.")


def build_document(a: Analysis, made: dict[str, list[Path]], examples: list[Path],
                   info: dict[str, Any], folder: Path, out: Path,
                   stems: dict[str, str] | None = None) -> Document:
    """The whole report, in reading order."""
    doc = Document(f"rotsweep report: {info.get('name', folder.name)}")
    answer_section(doc, a)
    doc.heading("What was run")
    intro(doc, a, info)
    summary(doc, a)
    findings_section(doc, a, made, out)
    curves_section(doc, a, made, out)
    seed000_section(doc, a, made, out)
    hypotheses_section(doc, a, made, out)
    other_seeds_section(doc, a)
    examples_section(doc, a, examples, out, stems)
    methods_section(doc, a)
    return doc
