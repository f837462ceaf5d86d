"""The report's opening section: the study's question answered, per dataset and metric.

A study exists to say whether the train angle θ changes a saliency metric, and whether the
evaluation angle does; each answer counts only if it survives the random-init baseline and
the negative controls (issue 19). This section says so in sentences a reader can quote, from
tables computed elsewhere:

* the train angle: :mod:`analysis.train_angle` (seeds as replicates, images paired; effect
  sizes with bootstrap CIs), the same test on the untrained networks of the same trials (they
  never saw θ: a difference there is not the training's) and on the negative controls; a
  design that cannot reach α says why, with the seeds it would need, instead of a p of 1;
* the evaluation angle: the verdicts of :mod:`analysis.verdicts` (periodicity after Holm,
  near chance, beyond the random-init network, controls at chance), and, where a condition
  has several seeds, whether its pattern replicates across seeds (:mod:`analysis.replication`).

Trials are named by what differs (dataset, θ, seed: :func:`analysis.labels.trial_names`),
never by id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis.controls import control_kinds
from analysis.curves import METRICS
from analysis.derived import Analysis
from analysis.document import Document
from analysis.figures import METRIC_NAMES
from analysis.labels import is_baseline, joined_name
from analysis.text import ALPHA, p_text


def _untrained(frame: pd.DataFrame) -> pd.Series:
    if not len(frame) or "init" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["init"].map(is_baseline).astype(bool)


def _rows(frame: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    if not len(frame):
        return frame
    return frame[(frame["dataset"].astype(str) == dataset) & (frame["metric"] == metric)]


def _effects_text(effects: pd.DataFrame, head: dict[str, Any], seeds: bool) -> str:
    keys = [k for k in ("backbone", "pretext", "init", "method", "target", "threshold_rule")
            if k in effects and k in head]
    mine = effects
    for k in keys:
        mine = mine[mine[k].astype(str) == str(head[k])]
    if not len(mine):
        return ""
    means = ", ".join(f"{r['theta']}° {r['mean']:.3f}" for r in mine.to_dict("records"))
    diffs = "; ".join(f"{r['theta']}° − {r['reference']}° = {r['diff']:+.3f} "
                      f"[{r['diff_ci_low']:+.3f}, {r['diff_ci_high']:+.3f}]"
                      for r in mine.to_dict("records")[1:])
    over = ("95 % t interval, seeds as replicates, images paired" if seeds else
            "95 % bootstrap CI over images only: about these networks, not about θ")
    return f"means by θ: {means}; {diffs} ({over})"


def train_angle_sentence(a: Analysis, dataset: str, metric: str, controls: dict[str, str]
                         ) -> str:
    """Does θ change ``metric`` on ``dataset``? The test, its effect sizes, the untrained
    networks and the controls, in one sentence."""
    tests = _rows(a.train_angle_tests, dataset, metric)
    if not len(tests):
        angles = sorted({str(x) for x in a.curves.loc[
            a.curves["dataset"].astype(str) == dataset, "train_angles"]}) \
            if len(a.curves) and "train_angles" in a.curves else []
        which = f" (θ = {', '.join(f'{x}°' for x in angles)})" if angles else ""
        return (f"Train angle: one train angle in this study{which}, so whether θ changes "
                "the metric is not asked.")
    base = _untrained(tests)
    trained, untrained = tests[~base], tests[base]
    if not len(trained):
        return "Train angle: only untrained networks have several θ; nothing to test."
    parts = []
    for head in trained.to_dict("records"):
        seeds = any(int(n) > 1 for n in str(head["seeds_per_angle"]).split("/"))
        effects = _effects_text(a.train_angle_effects[
            (a.train_angle_effects["dataset"].astype(str) == dataset)
            & (a.train_angle_effects["metric"] == metric)], head, seeds) \
            if len(a.train_angle_effects) else ""
        if head["note"]:
            text = (f"Train angle (θ = {head['angles'].replace('; ', ', ')}): **cannot be "
                    f"tested** — {head['note']}")
        elif head["p_train_angle"] < ALPHA:
            text = (f"Train angle: **θ changes it** (permutation p = "
                    f"{p_text(head['p_train_angle'])}, {head['n_trials']} trials, seeds per "
                    f"θ {head['seeds_per_angle']})")
            text += _beyond(untrained, controls, a, metric)
        else:
            text = (f"Train angle: **no detectable change** (permutation p = "
                    f"{p_text(head['p_train_angle'])}, {head['n_trials']} trials, seeds per "
                    f"θ {head['seeds_per_angle']})")
        parts.append(text + (f"; {effects}." if effects else "."))
    return " ".join(parts)


def _beyond(untrained: pd.DataFrame, controls: dict[str, str], a: Analysis, metric: str
            ) -> str:
    # whether a θ difference survives the untrained networks and the negative controls
    out = []
    if len(untrained) and np.isfinite(untrained["p_train_angle"]).any():
        p = float(untrained["p_train_angle"].min())
        out.append(f"the same trials' untrained networks differ as much (p = {p_text(p)}): "
                   "not the training's" if p < ALPHA else
                   f"beyond the untrained networks (their p = {p_text(p)})")
    else:
        out.append("no untrained baseline to rule out differences between the trials' "
                   "initial networks")
    hits = []
    for dataset in controls:
        rows = _rows(a.train_angle_tests, dataset, metric)
        rows = rows[~_untrained(rows)] if len(rows) else rows
        if len(rows) and np.isfinite(rows["p_train_angle"]).any():
            hits.append((dataset, float(rows["p_train_angle"].min())))
    if hits:
        bad = [f"{d} (p = {p_text(p)})" for d, p in hits if p < ALPHA]
        out.append("θ also changes it on the negative control " + ", ".join(bad)
                   + ", which has no orientation: suspect" if bad else
                   "no θ difference on the negative controls")
    elif controls:
        out.append("the negative controls cannot test θ")
    else:
        out.append("no negative control")
    return "; " + "; ".join(out)


def evaluation_sentence(a: Analysis, dataset: str, metric: str) -> str:
    """Does the evaluation angle change ``metric`` on ``dataset``? The verdicts per curve and,
    where seeds were run, whether the pattern replicates."""
    v = a.verdicts
    if v is not None and len(v.controls):
        ctl = _rows(v.controls, dataset, metric)
        if len(ctl):
            r = ctl.iloc[0]
            return (f"Evaluation angle: at chance, as a control must be (smallest Holm p = "
                    f"{p_text(r['min_p_holm'])} over its {int(r['n_curves'])} curves)."
                    if bool(r["at_chance"]) else
                    f"Evaluation angle: **not at chance** (Holm p = {p_text(r['min_p_holm'])})"
                    f" on data without orientation: the pipeline makes angle patterns in "
                    f"this metric, so it is broken for the whole study.")
    rows = _rows(v.table, dataset, metric) if v is not None and len(v.table) else pd.DataFrame()
    if not len(rows):
        return "Evaluation angle: not tested (no full-circle grid of evaluation angles)."
    named = sorted(((joined_name(r["trial_id"], a.names), r) for r in rows.to_dict("records")),
                   key=lambda pair: _order(pair[0]))
    found = [(n, r) for n, r in named if r["verdict"] == "finding"]
    flagged = [(n, r) for n, r in named if r["verdict"] in ("unconfirmed", "not a finding")]
    quiet = [n for n, r in named if r["verdict"] == "no pattern"]
    if found:
        text = "Evaluation angle: **it changes the metric** — " + "; ".join(
            f"{n}: {r['period']:.0f}°-period pattern, amplitude {r['amplitude']:.3g} on a mean "
            f"of {r['level']:.3g} (Holm p = {p_text(r['p_holm'])}), beyond the random-init "
            "network and with the controls at chance" for n, r in found) + "."
    else:
        text = "Evaluation angle: **no finding**."
    if flagged:
        text += " " + " ".join(
            f"{n}: a {r['period']:.0f}°-period pattern (Holm p = {p_text(r['p_holm'])}), "
            f"{r['verdict']} — {r['reasons']}." for n, r in flagged)
    if quiet:
        smallest = float(np.nanmin([r["p_holm"] for _, r in named if r["verdict"] ==
                                    "no pattern"] or [np.nan]))
        text += (f" No pattern after Holm for {'; '.join(quiet)} (smallest Holm p = "
                 f"{p_text(smallest)}).")
    return text + replication_sentence(a, dataset, metric)


def _order(name: str) -> tuple[float, str]:
    # "θ = 45°, seed 0" sorts by its first angle, then by the text
    head = name.removeprefix("θ = ").split("°")[0].replace("/", ",").split(",")[0]
    try:
        return float(head), name
    except ValueError:
        return float("inf"), name


def replication_sentence(a: Analysis, dataset: str, metric: str) -> str:
    """Does another seed give the same pattern? Empty when no condition has seeds."""
    rows = _rows(a.replication, dataset, metric)
    rows = rows[~_untrained(rows)] if len(rows) else rows
    parts = []
    for r in rows.to_dict("records"):
        name = joined_name(r["trial_id"], a.names)
        if r["note"]:
            parts.append(f"{name}: replication not tested ({r['note']})")
        else:
            said = ("**replicates**" if r["p_replication"] < ALPHA
                    else "does not replicate beyond chance")
            parts.append(f"{name}: the pattern {said} across seeds (mean cross-seed "
                         f"correlation {r['r_mean']:.2f}, each seed on its own "
                         f"{r['n_images_per_seed']} images, p = {p_text(r['p_replication'])})")
    return (" Across seeds: " + "; ".join(parts) + ".") if parts else ""


def answer_section(doc: Document, a: Analysis) -> None:
    """The opening section: per dataset (controls last) and metric, does the train angle change
    the metric, does the evaluation angle, and does either survive the baseline and the
    controls."""
    doc.heading("The answer")
    if not len(a.curves):
        doc.paragraph("No saliency curves in this folder: the study's question (does the "
                      "train angle or the evaluation angle change the saliency metrics?) "
                      "cannot be answered here.")
        return
    datasets = sorted(a.curves["dataset"].astype(str).unique())
    controls = control_kinds(datasets, a.results.trials)
    doc.paragraph(
        "Does the train angle θ change each saliency metric, and does the evaluation angle? "
        f"Each answer at α = {ALPHA}, and only where it survives the same networks untrained "
        "(random init) and the negative controls (noise, discs); trials are named by "
        "dataset, θ and seed. How each test works, its size and power: docs/statistics.md.")
    items = []
    for dataset in sorted(datasets, key=lambda d: (d in controls, d)):
        here = a.curves[a.curves["dataset"].astype(str) == dataset]
        metrics = [m for m in METRICS if m in set(here["metric"]) and here.loc[
            here["metric"] == m, "mean"].notna().any()]
        role = f" (negative control: {controls[dataset]})" if dataset in controls else ""
        for metric in metrics:
            name = METRIC_NAMES.get(metric, metric)
            items.append(f"**{dataset}**{role}, {name}. "
                         f"{train_angle_sentence(a, dataset, metric, controls)} "
                         f"{evaluation_sentence(a, dataset, metric)}")
    doc.bullets(items)
