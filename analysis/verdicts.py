"""The study's findings: which angle patterns the summary may report, and with what caution.

A curve's periodicity p (:mod:`analysis.periodicity`) says only that *some* angle is special
on average. Issue 11 found that this alone misleads: an untrained network already gives
"significant" patterns (Kvasir p 0.012–0.032), and a BraTS Dice of 0.003 was called "a
significant common angular pattern". Here a trained network's pattern (one row per dataset ×
condition × metric) is a **finding** only when all four hold:

1. **it survives multiple testing**: Holm's step-down adjustment over every trained curve ×
   metric of the study (family-wise error ≤ α under any dependence between the tests: the
   metrics of one curve share its images, so they are strongly dependent);
2. **the metric is not near chance**: its mean over angles is at least :data:`FLOOR` away from
   the metric's chance level (:data:`CHANCE`: 0 for overlap metrics, 0.5 for ROC-AUC);
3. **it is the training's**: the per-image difference curves, trained minus the same network
   at its initialisation, have a common angular pattern themselves
   (:func:`analysis.effects.baseline_pattern_table`, Holm-adjusted over the same family); with
   no baseline rows this cannot be checked and the summary says so;
4. **the negative controls are at chance for the metric**: no control curve of the study
   (``noise``/``discs`` datasets, :mod:`analysis.controls`, trained or untrained) has a pattern
   after Holm within that control and metric. A control that is not at chance marks the
   metric **broken** for the whole study.

A pattern that fails 2–4 is "not a finding"; one that passes every check it could have but
lacks a baseline or a control is "unconfirmed". Requiring both 1 and 3 to reject is an
intersection–union test: the claim "a pattern, and the training's" keeps level α without a
further correction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.controls import control_kinds, hog_control_rows
from analysis.effects import baseline_pattern_table
from analysis.labels import curve_labels, is_baseline

ALPHA = 0.05
FLOOR = 0.05
CHANCE = {"dice": 0.0, "iou": 0.0, "soft_dice": 0.0, "mass_in_mask": 0.0, "q_bbox": 0.0,
          "auc": 0.5}
HOG_METRIC = "hog_svm_accuracy"
KEYS = ["dataset", "trial_id", "metric"]
# what a curve's label is made of; ``dataset`` only tells curves of other datasets apart (the
# line names the dataset itself)
LABEL_COLUMNS = ("dataset", "train_angles", "pretraining", "backbone", "pretext", "method",
                 "target", "threshold_rule", "seed", "trial_id")
MAX_LINES = 12


def holm(p: np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (NaN stays NaN and does not count towards the family size)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m:
        order = np.argsort(p[ok], kind="stable")
        adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[ok][order]))
        ranked = np.empty(m)
        ranked[order] = adjusted
        out[ok] = ranked
    return out


@dataclass(frozen=True)
class Verdicts:
    """What the summary may say (see the module docstring).

    Attributes:
        table: one row per trained curve × metric: ``dataset, label, trial_id, metric, level,
            amplitude, period, p, p_holm, p_vs_baseline, p_vs_baseline_holm, baseline,
            control, verdict, reasons``.
        controls: one row per control dataset × metric: ``dataset, kind, metric, n_curves,
            min_p_holm, at_chance``.
        hog_controls: :func:`analysis.controls.hog_control_rows`.
        baseline_patterns: :func:`analysis.effects.baseline_pattern_table` output.
        broken_metrics: metrics a control is not at chance for.
        n_degenerate: saliency rows left out as degenerate.
        alpha: the family-wise level.
    """

    table: pd.DataFrame
    controls: pd.DataFrame
    hog_controls: pd.DataFrame
    baseline_patterns: pd.DataFrame
    broken_metrics: tuple[str, ...]
    n_degenerate: int = 0
    alpha: float = ALPHA

    def findings(self) -> pd.DataFrame:
        """The rows whose verdict is ``finding``."""
        return self.table[self.table["verdict"] == "finding"] if len(self.table) \
            else self.table

    def lines(self) -> list[str]:
        """The summary's bullets: findings first, then significant patterns with their
        cautions, then the controls and the degenerate points."""
        return summary_lines(self)

    def markdown(self) -> str:
        """The rules in one paragraph and :meth:`lines` as a Markdown list."""
        return rules_text(self.alpha) + "\n\n" + "\n".join(f"- {x}" for x in self.lines())


def rules_text(alpha: float = ALPHA) -> str:
    """One paragraph: when a pattern counts as a finding."""
    return (f"A pattern is a finding only when its periodicity p survives Holm's correction "
            f"over every trained curve × metric (α = {alpha}), the metric's mean is at least "
            f"{FLOOR} from its chance level, the trained − random-init difference curves have "
            "the pattern too (Holm, same family), and no negative control (noise, discs) has "
            "a pattern in that metric. Every p is a permutation p with the image as the unit; "
            "sizes and power are in docs/statistics.md.")


def _control_table(per: pd.DataFrame, controls: dict[str, str], alpha: float) -> pd.DataFrame:
    rows = []
    sub = per[per["dataset"].isin(list(controls))]
    p_of: dict[tuple[str, str], list[float]] = {}
    for dataset, metric, p in zip(sub["dataset"], sub["metric"].astype(str),
                                  sub["periodic_p"].astype(float), strict=True):
        p_of.setdefault((dataset, metric), []).append(p)
    for (dataset, metric), ps in sorted(p_of.items()):
        smallest = float(np.nanmin(holm(np.asarray(ps))))
        rows.append({"dataset": dataset, "kind": controls[dataset], "metric": metric,
                     "n_curves": len(ps), "min_p_holm": smallest,
                     "at_chance": bool(smallest >= alpha)})
    return pd.DataFrame(rows, columns=["dataset", "kind", "metric", "n_curves", "min_p_holm",
                                       "at_chance"])


def _levels(curves: pd.DataFrame | None) -> pd.DataFrame:
    if curves is None or not len(curves):
        return pd.DataFrame(columns=[*KEYS, "level"])
    trained = curves[~curves["init"].map(is_baseline).astype(bool)] if "init" in curves \
        else curves
    trained = trained.assign(dataset=trained["dataset"].astype(str))
    return trained.groupby(KEYS, observed=True)["mean"].mean().rename("level").reset_index()


def _baseline(saliency: pd.DataFrame | None, judged: pd.DataFrame, condition_of: object,
              n_perm: int, seed: int) -> pd.DataFrame:
    if saliency is None or not len(judged):
        return pd.DataFrame()
    by = "condition" if judged["trial_id"].astype(str).str.contains(";").any() else "trial"
    saliency = saliency[saliency["dataset"].astype(str).isin(set(judged["dataset"]))]
    table = baseline_pattern_table(saliency, sorted(judged["metric"].unique()), by=by,
                                   condition_of=condition_of if by == "condition" else None,
                                   n_perm=n_perm, seed=seed)
    if len(table):
        table["dataset"] = table["dataset"].astype(str)
    return table


def _judge(row: dict, controls: pd.DataFrame, broken: set[str], alpha: float,
           floor: float) -> tuple[str, str]:
    if not row["p_holm"] < alpha:
        return "no pattern", ""
    fails, missing = [], []
    chance = CHANCE.get(row["metric"], 0.0)
    if np.isfinite(row["level"]) and abs(row["level"] - chance) < floor:
        fails.append(f"near chance (mean {row['level']:.3f}, chance {chance:g})")
    if row["baseline"] == "same":
        fails.append(f"the random-init network has the same pattern (trained − random p = "
                     f"{row['p_vs_baseline_holm']:.3g} after Holm)")
    elif row["baseline"] == "none":
        missing.append("no baseline: cannot rule out an untrained-network pattern")
    if row["metric"] in broken:
        fails.append("a negative control is not at chance in this metric: broken for the study")
    elif not (controls["metric"] == row["metric"]).any():
        missing.append("no negative control: cannot rule out a pipeline artefact")
    reasons = "; ".join(fails + missing)
    return ("not a finding" if fails else "unconfirmed" if missing else "finding"), reasons


def study_verdicts(saliency: pd.DataFrame | None, periodicity: pd.DataFrame,
                   curves: pd.DataFrame | None, *, trials: pd.DataFrame | None = None,
                   hog: pd.DataFrame | None = None, condition_of: object = None,
                   n_perm: int = 999, seed: int = 0, n_degenerate: int = 0,
                   alpha: float = ALPHA, floor: float = FLOOR,
                   baseline_patterns: pd.DataFrame | None = None) -> Verdicts:
    """Judge every trained curve's pattern by the four rules of the module docstring.

    Args:
        saliency: the ``saliency`` table with degenerate points masked
            (:func:`analysis.degenerate.mask_degenerate`), or None.
        periodicity: :func:`analysis.peaks.peak_table` rows to judge: per condition (seeds
            pooled) where conditions have several seeds, else per trial.
        curves: :func:`analysis.curves.curve_table` at the same level, for each curve's mean
            when ``periodicity`` has no ``level`` column (None: the level is not checked).
        trials: the ``trials`` table (which datasets are negative controls).
        hog: the ``hog_svm`` table (the controls' HoG-SVM curves).
        condition_of: ``trial_id → condition digest`` as given to the curves.
        n_perm, seed: of the trained − random-init tests.
        n_degenerate: rows left out as degenerate (for the summary's note).
        alpha: the family-wise level; floor: the distance from chance a mean must keep.
        baseline_patterns: :func:`analysis.effects.baseline_pattern_table` at the same level,
            when already computed (``saliency`` is then not read).
    """
    per = periodicity.copy() if len(periodicity) else pd.DataFrame(columns=[*KEYS, "init"])
    per["dataset"] = per["dataset"].astype(str)
    datasets = set(per["dataset"]) | (set(hog["dataset"].astype(str)) if hog is not None
                                      else set())
    kinds = control_kinds(datasets, trials)
    per = per[(per["metric"] != HOG_METRIC) & np.isfinite(per["periodic_p"].astype(float))]
    base = per["init"].map(is_baseline).astype(bool) if "init" in per else False
    control_table = _control_table(per, kinds, alpha)
    hog_controls = hog_control_rows(hog, kinds, alpha)
    broken = set(control_table.loc[~control_table["at_chance"].astype(bool), "metric"])
    if len(hog_controls) and not hog_controls["at_chance"].fillna(True).astype(bool).all():
        broken.add(HOG_METRIC)
    judged = per[~base & ~per["dataset"].isin(list(kinds))].copy()
    judged["p_holm"] = holm(judged["periodic_p"].to_numpy(dtype=np.float64))
    if "level" not in judged:  # tables from peak_table have it; else from the curves
        judged = judged.merge(_levels(curves), on=KEYS, how="left")
    patterns = (baseline_patterns.assign(dataset=baseline_patterns["dataset"].astype(str))
                if baseline_patterns is not None and len(baseline_patterns)
                else _baseline(saliency, judged, condition_of, n_perm, seed))
    table = _verdict_table(_with_baseline(judged, patterns, alpha), control_table, broken,
                           alpha, floor)
    return Verdicts(table=table, controls=control_table, hog_controls=hog_controls,
                    baseline_patterns=patterns, broken_metrics=tuple(sorted(broken)),
                    n_degenerate=n_degenerate, alpha=alpha)


def _with_baseline(judged: pd.DataFrame, patterns: pd.DataFrame, alpha: float
                   ) -> pd.DataFrame:
    # the trained − random-init p of each judged curve, Holm-adjusted over the same family
    if len(patterns):
        judged = judged.merge(patterns[[*KEYS, "p_vs_baseline"]], on=KEYS, how="left")
    else:
        judged["p_vs_baseline"] = np.nan
    judged["p_vs_baseline_holm"] = holm(judged["p_vs_baseline"].to_numpy(dtype=np.float64))
    judged["baseline"] = np.where(judged["p_vs_baseline"].isna(), "none", np.where(
        judged["p_vs_baseline_holm"] < alpha, "beyond", "same"))
    return judged


def _verdict_table(judged: pd.DataFrame, controls: pd.DataFrame, broken: set[str],
                   alpha: float, floor: float) -> pd.DataFrame:
    judged["control"] = [("broken" if m in broken else "at chance"
                          if (controls["metric"] == m).any() else "none")
                         for m in judged["metric"]]
    judged["label"] = (curve_labels(judged[[c for c in LABEL_COLUMNS if c in judged]])
                       .to_numpy() if len(judged) else [])
    verdicts = [_judge(r, controls, broken, alpha, floor) for r in judged.to_dict("records")]
    judged["verdict"] = [v for v, _ in verdicts]
    judged["reasons"] = [r for _, r in verdicts]
    judged = judged.rename(columns={"periodic_p": "p", "dominant_period": "period"})
    columns = ["dataset", "label", "trial_id", "metric", "level", "amplitude", "period", "p",
               "p_holm", "p_vs_baseline", "p_vs_baseline_holm", "baseline", "control",
               "verdict", "reasons"]
    return judged.reindex(columns=columns).reset_index(drop=True)


def _line(row: dict) -> str:
    head = (f"**{row['dataset']}**, {row['label']}: {row['metric']} has a "
            f"{row['period']:.0f}°-period pattern (amplitude {row['amplitude']:.3g} on a mean "
            f"of {row['level']:.3g}; p = {row['p']:.3g}, Holm {row['p_holm']:.3g})")
    if row["verdict"] == "finding":
        return (head + f", beyond the random-init network (Holm p = "
                f"{row['p_vs_baseline_holm']:.3g}), controls at chance: **finding**.")
    return head + f": **{row['verdict']}** — {row['reasons']}."


def summary_lines(v: Verdicts) -> list[str]:
    """See :meth:`Verdicts.lines`."""
    t = v.table
    lines: list[str] = []
    if len(t):
        significant = t[t["verdict"] != "no pattern"]
        order = significant["verdict"].map({"finding": 0, "unconfirmed": 1, "not a finding": 2})
        shown = significant.assign(_o=order).sort_values(["_o", "p_holm"]).head(MAX_LINES)
        lines += [_line(r) for r in shown.to_dict("records")]
        if len(significant) > len(shown):
            lines.append(f"… and {len(significant) - len(shown)} more significant patterns "
                         "(every row: `verdicts.csv`).")
        counts = t["verdict"].value_counts()
        lines.append(f"{len(t)} trained curve × metric tests: "
                     + ", ".join(f"{counts.get(k, 0)} {k}" for k in
                                 ("finding", "unconfirmed", "not a finding", "no pattern"))
                     + f" (Holm, α = {v.alpha}).")
    if len(v.controls):
        bad = v.controls[~v.controls["at_chance"].astype(bool)]
        lines.append("Negative controls: " + ("every control at chance in every metric."
                     if bad.empty else "not at chance: " + ", ".join(
                         f"{r['dataset']} ({r['kind']}) in {r['metric']} (Holm p = "
                         f"{r['min_p_holm']:.3g})" for r in bad.to_dict("records"))
                     + " — those metrics are broken for this study."))
    else:
        lines.append("No negative-control dataset (noise, discs) in this study: a pattern "
                     "made by the pipeline itself cannot be ruled out.")
    for r in v.hog_controls.to_dict("records"):
        if r["at_chance"] is not None and not pd.isna(r["at_chance"]) and not r["at_chance"]:
            lines.append(f"HoG-SVM on the control {r['dataset']} reaches {r['max_accuracy']:.2f}"
                         f" at {r['at_angle']:g}° (chance band ≤ {r['bound']:.2f}): the "
                         "HoG-SVM curves tell rotations apart by something other than content.")
    if v.n_degenerate:
        lines.append(f"{v.n_degenerate} degenerate saliency rows (e.g. pair_similarity at 0°) "
                     "left out of every test and summary.")
    return lines
