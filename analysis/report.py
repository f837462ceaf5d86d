"""``rotsweep report DIR``: every table, test and figure of a study folder, in one report.

pandas in; CSV, PNG/SVG, ``report.md`` and ``report.html`` out, under ``DIR/report/`` (a
filtered report under a folder of its own: ``--out``, or ``DIR/report-<filter>/``). Works with
whichever tables are present: each section says what it needs. The report is written to a
temporary folder beside its target and swapped in at the end, so a failed report leaves the
previous one as it was and a new one never keeps stale figures of an earlier one. The
computing is in the modules named for it (:mod:`analysis.derived` computes every table once,
from curves, peaks, hypotheses, effects, replication, train_angle, seed_tables, verdicts);
this module writes the files and has the sections (:mod:`analysis.sections`) assemble the
text. No section imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analysis import figures
from analysis.curves import angle_label
from analysis.degenerate import mask_degenerate
from analysis.derived import Analysis, analyse
from analysis.folder import (
    MAX_EXAMPLE_TRIALS,
    ReportError,
    StudyFolder,
    check_filters,
    copy_examples,
    locate,
    report_folder,
    staged,
)
from analysis.peaks import peaks_csv_rows
from analysis.per_angle import per_angle_figure, per_angle_table
from analysis.results import Results, load_results
from analysis.sections import build_document
from analysis.sections_more import example_stems

__all__ = ["Analysis", "ReportError", "analyse", "angle_label", "make_report",
           "per_angle_figure", "per_angle_table", "report_folder"]


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
    "train_angle_tests": ("train_angle_test.csv", False),
    "train_angle_effects": ("train_angle_effects.csv", False),
    "replication": ("replication.csv", False),
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
    made_first: dict[str, list[Path]] = {}
    if results.saliency is not None:
        # degenerate points (pair_similarity at 0°) are left out here as everywhere
        table = per_angle_table(mask_degenerate(results.saliency)[0], results.hog_svm)
        csv, md, png = out / "per_angle.csv", out / "per_angle.md", out / "per_angle.png"
        table.to_csv(csv, index=False)
        md.write_text("# Mean saliency metrics per evaluation angle\n\n"
                      + table.to_markdown(index=False, floatfmt=".4f") + "\n")
        per_angle_figure(table, results.hog_svm).savefig(png, dpi=figures.PNG_DPI)
        written += [csv, md, png]
        made_first["per_angle"] = [png]
    a = analyse(results, n_boot=n_boot, n_perm=n_perm, seed=seed)
    written += write_tables(a, out)
    made = {**made_first, **write_figures(a, out)}
    written += [p for paths in made.values() for p in paths]
    trials = sorted(a.curves["trial_id"].astype(str).unique()) if len(a.curves) else []
    stems = example_stems(a, trials[:MAX_EXAMPLE_TRIALS])
    examples = copy_examples(located.artifacts, trials, out, stems)
    written += examples
    doc = build_document(a, made, examples, info, Path(located.folder), out, stems)
    (out / "report.md").write_text(doc.to_markdown())
    (out / "report.html").write_text(doc.to_html(out))
    return [*written, out / "report.md", out / "report.html"]
