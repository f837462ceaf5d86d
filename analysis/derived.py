"""Every derived table of a study's results, computed once: :class:`Analysis` and
:func:`analyse`.

The report (:mod:`analysis.report`) writes these tables and figures and assembles its
sections (:mod:`analysis.sections`, :mod:`analysis.sections_more`, :mod:`analysis.answer`),
which read an :class:`Analysis`; this module imports none of them, so the report's modules
form no import circle. The computing is in the modules named for it (curves, peaks,
hypotheses, effects, replication, train_angle, seed_tables, verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.curves import curve_table
from analysis.degenerate import mask_degenerate
from analysis.effects import baseline_effects
from analysis.hypotheses import hog_dice_table, orientation_table, train_angle_table
from analysis.labels import config_differences, trial_names
from analysis.orientation import orientation_summary
from analysis.peaks import peak_table
from analysis.replication import replication_table
from analysis.results import Results, condition_digests
from analysis.seed004 import seed004_table
from analysis.seed_tables import q_table, rotation_accuracy_table, rotation_set_table, table_one
from analysis.train_angle import train_angle_table as train_angle_tests


@dataclass
class Analysis:
    """Every derived table of a results root (empty DataFrames where inputs are missing).

    Attributes:
        results: the tables read.
        n_boot, n_perm: bootstrap replicates and permutations used.
        differences: ``trial_id → config differences`` (:func:`config_differences`).
        curves: per-trial curves with CIs over images (:func:`analysis.curves.curve_table`).
        condition_curves: per-condition curves, seeds pooled (CI over seeds and images).
        periodicity: per-trial extrema, fold strengths and periodicity tests, HoG rows included.
        condition_periodicity: the same per condition (only when some condition has seeds).
        table_i, hypothesis_a, hypothesis_b, orientation, train_angle, hypothesis_c,
        rotation_accuracy, q, rotation_sets, seed004: see the modules that compute them.
        train_angle_tests, train_angle_effects: does the train angle change the metric?
            (:func:`analysis.train_angle.train_angle_table`; seeds as replicates).
        replication: does another seed give the same angle pattern?
            (:func:`analysis.replication.replication_table`; conditions with seeds only).
        names: ``trial_id → "θ = 45°, seed 0"`` (:func:`analysis.labels.trial_names`): the
            report names trials by what differs, never by id.
        n_degenerate: saliency rows whose metrics were blanked as degenerate by construction
            (:mod:`analysis.degenerate`).
        verdicts: :func:`analysis.verdicts.study_verdicts` (None without periodicity rows).
    """

    results: Results
    n_boot: int = 1000
    n_perm: int = 999
    differences: dict[str, str] = field(default_factory=dict)
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
    seed004: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_angle_tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_angle_effects: pd.DataFrame = field(default_factory=pd.DataFrame)
    replication: pd.DataFrame = field(default_factory=pd.DataFrame)
    names: dict[str, str] = field(default_factory=dict)
    n_degenerate: int = 0
    verdicts: Any = None

    @property
    def pooled(self) -> bool:
        """Whether conditions have several seeds (tests and verdicts are then per condition)."""
        return len(self.condition_periodicity) > 0


def analyse(results: Results, n_boot: int = 1000, n_perm: int = 999, seed: int = 0
            ) -> Analysis:
    """Compute every table the present inputs allow.

    Args:
        results: the loaded tables.
        n_boot: bootstrap replicates per CI.
        n_perm: permutations per periodicity test.
        seed: the generators' seed (the report is reproducible).
    """
    r = results
    out = Analysis(results=r, n_boot=n_boot, n_perm=n_perm,
                   differences=config_differences(r.trials))
    sal, hog, ori = r.saliency, r.hog_svm, r.orientation
    digests = condition_digests(r.trials)
    if sal is not None:
        sal, out.n_degenerate = mask_degenerate(sal)
        out.curves = curve_table(sal, n_boot=n_boot, seed=seed)
        out.condition_curves = curve_table(sal, by="condition", condition_of=digests,
                                           n_boot=n_boot, seed=seed)
        out.hypothesis_c = baseline_effects(sal, seed=seed)
        out.q = q_table(sal)
        out.names = trial_names(sal, r.trials)
        out.train_angle_tests, out.train_angle_effects = train_angle_tests(
            sal, n_perm=max(n_perm, 999), n_boot=n_boot, seed=seed)
        if out.condition_curves["n_seeds"].max() > 1:
            out.condition_periodicity = peak_table(sal, by="condition", condition_of=digests,
                                                   n_perm=n_perm, seed=seed)
            out.replication = replication_table(sal, condition_of=digests, n_perm=n_perm,
                                                seed=seed)
    if sal is not None or hog is not None:
        out.periodicity = peak_table(sal, hog, n_perm=n_perm, seed=seed)
        out.table_i = table_one(out.condition_curves, hog, differences=out.differences)
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
        out.seed004 = seed004_table(r.probe, r.trials)
    out.verdicts = _verdicts(out, sal, digests, n_perm, seed)
    return out


def _verdicts(a: Analysis, saliency: pd.DataFrame | None, digests: dict[str, str] | None,
              n_perm: int, seed: int) -> Any:
    # the findings (analysis/verdicts.py), judged at the level the tests were run: per
    # condition when conditions have seeds, else per trial
    try:
        from analysis.verdicts import study_verdicts
    except ImportError:
        return None
    periodicity = a.condition_periodicity if a.pooled else a.periodicity
    if not len(periodicity):
        return None
    r = a.results
    return study_verdicts(saliency, periodicity, a.condition_curves if a.pooled else a.curves,
                          trials=r.trials, hog=r.hog_svm,
                          condition_of=digests if a.pooled else None, n_perm=n_perm,
                          seed=seed, n_degenerate=a.n_degenerate)


