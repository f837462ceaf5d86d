"""``rotsweep report DIR``: every table, test and figure of a study folder, in one report.

pandas in; CSV, PNG/SVG, ``report.md`` and ``report.html`` out, under ``DIR/report/`` (a
filtered report under a folder of its own: ``--out``, or ``DIR/report-<filter>/``). Works with
whichever tables are present: each section says what it needs. The report is written to a
temporary folder beside its target and swapped in at the end, so a failed report leaves the
previous one as it was and a new one never keeps stale figures of an earlier one. The
computing is in the modules named for it (curves, peaks, hypotheses, effects, seed_tables,
figures); this module decides what to compute and writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import figures
from analysis.curves import angle_label, curve_table
from analysis.degenerate import mask_degenerate
from analysis.effects import baseline_effects
from analysis.folder import (
    ReportError,
    StudyFolder,
    check_filters,
    copy_examples,
    locate,
    report_folder,
    staged,
)
from analysis.hypotheses import hog_dice_table, orientation_table, train_angle_table
from analysis.labels import config_differences
from analysis.orientation import orientation_summary
from analysis.peaks import peak_table, peaks_csv_rows
from analysis.per_angle import per_angle_figure, per_angle_table
from analysis.results import Results, condition_digests, load_results
from analysis.sections import build_document
from analysis.seed004 import seed004_table
from analysis.seed_tables import q_table, rotation_accuracy_table, rotation_set_table, table_one

__all__ = ["Analysis", "ReportError", "analyse", "angle_label", "make_report",
           "per_angle_figure", "per_angle_table", "report_folder"]


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
        if out.condition_curves["n_seeds"].max() > 1:
            out.condition_periodicity = peak_table(sal, by="condition", condition_of=digests,
                                                   n_perm=n_perm, seed=seed)
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
    "seed004": ("seed004_tasks.csv", True),
}


def write_tables(a: Analysis, out: Path) -> list[Path]:
    """The CSV of every non-empty derived table, ``peaks.csv`` and, with verdicts,
    ``verdicts.csv`` and ``verdict_controls.csv``."""
    written = []
    if a.verdicts is not None:
        for name, frame in (("verdicts.csv", a.verdicts.table),
                            ("verdict_controls.csv", a.verdicts.controls)):
            if len(frame):
                frame.to_csv(out / name, index=False)
                written.append(out / name)
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
    curves = a.condition_curves
    metrics = list(dict.fromkeys(curves["metric"])) if len(curves) else []
    planned = {f"{m}_vs_angle": lambda m=m: figures.curve_figure(
        curves, m, differences=a.differences) for m in metrics}
    if "dice" in metrics:
        planned["dice_polar"] = lambda: figures.curve_figure(curves, "dice", polar=True,
                                                             differences=a.differences)
    if r.hog_svm is not None:
        planned["hog_svm_vs_angle"] = lambda: figures.hog_figure(r.hog_svm)
    if r.orientation is not None:
        planned["orientation"] = lambda: figures.orientation_figure(
            r.orientation, r.hog_svm, a.curves if len(a.curves) else None)
    if "dice" in metrics:
        planned["dice_controls"] = lambda: _control_figure(a, "dice")
    for name, draw in planned.items():
        fig = draw()
        if fig is not None:
            made[name] = figures.save(fig, out / name)
    return made


def _control_figure(a: Analysis, metric: str) -> Any:
    # the verdicts' figure: each curve beside its random-init baseline and the negative
    # controls (analysis/controls.py); only where there is a baseline or a control to show
    try:
        from analysis.controls import control_figure, control_kinds
    except ImportError:
        return None
    curves = a.condition_curves
    kinds = control_kinds(set(curves["dataset"].astype(str)), a.results.trials)
    if not kinds and not figures.has_baseline(curves, metric):
        return None
    return control_figure(curves, metric, kinds)


def make_report(folder: str | Path, *, out: str | Path | None = None,
                study: str | None = None, datasets: Sequence[str] | None = None,
                trial_ids: Sequence[str] | None = None, n_boot: int = 1000, n_perm: int = 999,
                seed: int = 0) -> list[Path]:
    """Write a study's report: CSV tables, figures, ``report.md`` and ``report.html``.

    Always (with a ``saliency`` table): ``per_angle.csv``, ``per_angle.md``, ``per_angle.png``
    and ``peaks.csv``; the rest as the tables present allow.

    Args:
        folder: the study folder (``rotsweep run --out``) or a results root.
        out: the report's folder (default: :func:`report_folder`); replaced as a whole.
        study, datasets, trial_ids: read only these (filters pushed down to the files); each
            must name something the folder holds.
        n_boot, n_perm, seed: see :func:`analyse`.

    Returns:
        The files written (under the final folder).

    Raises:
        ReportError: no study in ``folder``, an unknown study/dataset/trial, nothing left
            after filtering, or an ``out`` that is not a report folder.
        rotsweep.tables.SchemaError: a table file is foreign, broken or of another version.
    """
    located = locate(folder)
    check_filters(located, study, datasets, trial_ids)
    results = load_results(located.results, study=study, datasets=datasets,
                           trial_ids=trial_ids)
    if results.saliency is None and results.hog_svm is None:
        raise ReportError(
            f"{located.folder}: no saliency or hog_svm rows to report (tables found: "
            f"{', '.join(results.present()) or 'none'}); a report needs at least one")
    target = Path(out) if out is not None else report_folder(located, study, datasets,
                                                              trial_ids)
    with staged(target, Path(located.folder), chosen=out is not None) as tmp:
        info = {**located.info, "restricted": _restriction(study, datasets, trial_ids)}
        written = _write(located, results, tmp, info, n_boot, n_perm, seed)
    return [target / p.relative_to(tmp) for p in written]


def _restriction(study: str | None, datasets: Sequence[str] | None,
                 trial_ids: Sequence[str] | None) -> str:
    # "datasets `brats`; trials `a1`, `a2`" for a filtered report's first lines
    parts = (("study", [study] if study else []), ("datasets", list(datasets or [])),
             ("trials", list(trial_ids or [])))
    return "; ".join(f"{kind} " + ", ".join(f"`{v}`" for v in values)
                     for kind, values in parts if values)


def _write(located: StudyFolder, results: Results, out: Path, info: dict[str, Any],
           n_boot: int, n_perm: int, seed: int) -> list[Path]:
    written: list[Path] = []
    if results.saliency is not None:
        table = per_angle_table(results.saliency, results.hog_svm)
        csv, md, png = out / "per_angle.csv", out / "per_angle.md", out / "per_angle.png"
        table.to_csv(csv, index=False)
        md.write_text("# Mean saliency metrics per evaluation angle\n\n"
                      + table.to_markdown(index=False, floatfmt=".4f") + "\n")
        per_angle_figure(table, results.hog_svm).savefig(png, dpi=figures.PNG_DPI)
        written += [csv, md, png]
    a = analyse(results, n_boot=n_boot, n_perm=n_perm, seed=seed)
    written += write_tables(a, out)
    made = write_figures(a, out)
    written += [p for paths in made.values() for p in paths]
    trials = sorted(a.curves["trial_id"].astype(str).unique()) if len(a.curves) else []
    examples = copy_examples(located.artifacts, trials, out)
    written += examples
    doc = build_document(a, made, examples, info, Path(located.folder), out)
    (out / "report.md").write_text(doc.to_markdown())
    (out / "report.html").write_text(doc.to_html(out))
    return [*written, out / "report.md", out / "report.html"]
