"""The report's later sections: hypotheses (a)–(c), seeds 002 and 003's tables, the saliency
examples, and how every number was computed (see :mod:`analysis.sections` for the order)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.curves import BASELINE_INIT
from analysis.derived import Analysis
from analysis.document import Document
from analysis.labels import joined_name, network_label, with_network
from analysis.seed004 import seed004_section
from analysis.text import capped


def _hypothesis_table(doc: Document, frame: pd.DataFrame, csv: str, names: dict[str, str]
                      ) -> None:
    cols = [c for c in ("dataset", "train_angles", "trial_id", "init", "metric", "n_angles",
                        "rho", "p_shift") if c in frame]
    capped(doc, frame[cols], csv, names=names)


def hypotheses_section(doc: Document, a: Analysis, made: dict[str, list[Path]], out: Path
                       ) -> None:
    """Hypotheses (a), (b), (c); each only where the study has its inputs (a section about
    something the study did not run is left out, not printed empty)."""
    if len(a.hypothesis_a):
        doc.heading("3. Hypothesis (a): HoG-SVM accuracy vs. saliency across angles")
        doc.paragraph("Seed 000's shortcut story predicts worse saliency where HoG features "
                      "tell the rotation apart (ρ < 0); seed 000 saw minima coincide on Kvasir "
                      "(ρ > 0). Spearman's ρ per trial over the shared angles; `p_shift` is the "
                      "circular-shift permutation p (keeps both curves' autocorrelation; "
                      "smallest possible p = 1/number of angles).")
        _hypothesis_table(doc, a.hypothesis_a, "hypothesis_a_hog_dice.csv", a.names)
    if len(a.orientation):
        doc.heading("4. Hypothesis (b): the gradient-orientation shortcut", 2)
        doc.paragraph("Each dataset's magnitude-weighted histogram of gradient orientation mod "
                      "180° inside the field of view. k-fold strength: 0 = no k-fold structure, "
                      "1 = all gradient mass on k/2 axes 360°/k apart. S(θ) = share of "
                      "gradient mass that still matches after rotating by θ; a HoG-like "
                      "shortcut can tell θ from 0° only where S(θ) < 1, so the story predicts "
                      "ρ(S, HoG-SVM) < 0 and ρ(S, Dice) > 0.")
        if "orientation" in made:
            doc.figure(made["orientation"][0].relative_to(out),
                       "Orientation histograms (top); below, S(θ) and HoG-SVM accuracy (left "
                       "axis, raw) beside the pre-trained networks' mean Dice (right axis, "
                       "raw).")
        doc.table(a.orientation, floatfmt=".3g")
        if len(a.hypothesis_b):
            _hypothesis_table(doc, a.hypothesis_b, "hypothesis_b_orientation.csv",
                              a.names)
    if len(a.train_angle):
        doc.heading("Across training angles: the shortcut story", 3)
        doc.paragraph("Trials trained on one angle θ each: the trial's mean metric vs. the "
                      "HoG-SVM accuracy and S at θ (the shortcut story in its own terms). "
                      "`p_perm` permutes the pairing of trials (exact for ≤ 8 trials). Whether "
                      "θ changes the metric at all is the opening section's test "
                      "(`train_angle_test.csv`).")
        capped(doc, a.train_angle, "hypothesis_train_angle.csv")
    if len(a.hypothesis_c):
        doc.heading("5. Hypothesis (c): trained vs. random-init saliency", 2)
        doc.paragraph("Per image (metric averaged over angles), trained minus random-init, "
                      "paired by image: mean difference with a 95 % bootstrap CI, Cohen's d_z, "
                      "Hedges' g, sign-flip permutation p and Wilcoxon p.")
        capped(doc, a.hypothesis_c.drop(columns=["backbone", "pretext"], errors="ignore"),
               "hypothesis_c_trained_vs_random.csv", names=a.names)


def other_seeds_section(doc: Document, a: Analysis) -> None:
    """Seeds 002, 003 and 004's tables, each only where the study ran it."""
    if len(a.rotation_accuracy) or len(a.q):
        doc.heading("6. Seed 002: rotation accuracy and Q(S, B), backbone × dataset")
        if len(a.rotation_accuracy):
            doc.paragraph("Pretext accuracy at each trial's last epoch, mean over seeds.")
            doc.table(a.rotation_accuracy, floatfmt=".3f", index=True)
        if len(a.q):
            doc.paragraph("Goodness Q(S, B) of thresholded saliency vs. bounding boxes at 0°.")
            doc.table(a.q, floatfmt=".3f", index=True)
    if len(a.rotation_sets):
        doc.heading("7. Seed 003: rotation set → downstream accuracy per block")
        doc.table(with_network(a.rotation_sets), floatfmt=".3f", index=True)
    if len(a.seed004):
        seed004_section(doc, a.seed004)


def example_stems(a: Analysis, trial_ids: list[str]) -> dict[str, str]:
    """``trial_id → file-name stem`` of its copied example grids, named by what differs
    (``kvasir_seg_theta45_seed0``), never by id; unique (a number is added on a clash)."""
    out: dict[str, str] = {}
    datasets = (a.curves.drop_duplicates("trial_id").set_index("trial_id")["dataset"]
                .astype(str).to_dict() if len(a.curves) else {})
    for trial in trial_ids:
        name = f"{datasets.get(trial, 'trial')} {a.names.get(trial, '')}"
        stem = re.sub(r"[^A-Za-z0-9]+", "_", name.replace("θ", "theta").replace("°", ""))
        stem = stem.strip("_") or "trial"
        base, k = stem, 2
        while stem in out.values():
            stem, k = f"{base}_{k}", k + 1
        out[trial] = stem
    return out


def _example_caption(path: Path, a: Analysis, stems: dict[str, str]) -> str:
    stem, _, kind = path.stem.partition("_saliency_examples")
    trial = {v: k for k, v in stems.items()}.get(stem, stem)
    rows = a.curves[a.curves["trial_id"].astype(str) == trial] if len(a.curves) else a.curves
    trained = rows[rows["init"].astype(str) != BASELINE_INIT] if "init" in rows else rows
    if kind.endswith("baseline"):
        network = network_label(kind.lstrip("_"))
    else:
        network = network_label(trained["init"].iloc[0]) if len(trained) and "init" in trained \
            else "pre-trained"
    what = [f"**{rows.iloc[0]['dataset']}**"] if len(rows) else []
    what.append(joined_name(trial, a.names))
    return (", ".join(what) + f", {network}: one column per evaluation angle; per image, the "
            "rotated image with the rotated mask's outline (top) and the saliency map "
            "normalised to [0, 1] (bottom, colour bar).")


def examples_section(doc: Document, a: Analysis, examples: list[Path], out: Path,
                     stems: dict[str, str] | None = None) -> None:
    """The trials' saliency example grids (file names from :func:`example_stems`)."""
    stems = stems or {}
    if not examples:
        return
    doc.heading("8. Saliency examples")
    n_trials = a.curves["trial_id"].nunique() if len(a.curves) else 0
    shown = len({p.stem.partition("_saliency_examples")[0] for p in examples})
    if examples and shown < n_trials:
        doc.paragraph(f"Grids of the first {shown} of {n_trials} trials; every trial's are in "
                      "`artifacts/<trial>/` of the study folder.")
    for path in examples:
        doc.figure(path.relative_to(out), _example_caption(path, a, stems))


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
        "Train angle (the opening section, `train_angle_test.csv`): the trials' mean metric "
        "(over the same images and angles: images paired), one-way F with θ as the factor, θ "
        "labels permuted among the trials; seeds are the replicates (3 θ need 3 seeds each to "
        "reach p < 0.05). Effects: each θ minus the first, 95 % t interval over seeds "
        "(`train_angle_effects.csv`).",
        "Replication (`replication.csv`): each seed's curve on its own images (a disjoint "
        "split), mean cross-seed correlation, every combination of circular shifts per seed.",
        "p-values are per test and not adjusted for the number of curves, except the "
        "verdicts' Holm correction.",
    ])
