"""``make_report`` on result folders written with the real table writer: every file, the
peaks of known curves, filters pushed down, a readable HTML page with a table of contents,
clear errors."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from result_tables import saliency_frame
from study_folder import GRID, four_fold, write_study

from analysis.report import ReportError, make_report
from analysis.results import load_results
from rotsweep.tables import SchemaError, write_part


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """One study folder and its report, shared by the tests that only read them."""
    root = tmp_path_factory.mktemp("study")
    write_study(root, saliency_frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report leaks no warning (numpy's empty slices)
        written = make_report(root, n_boot=200, n_perm=199)
    return root, written


def test_report_writes_every_file(reported: tuple[Path, list[Path]]) -> None:
    study_dir, written = reported
    out = study_dir / "report"
    names = {p.relative_to(out).as_posix() for p in written}
    expected = {
        "per_angle.csv", "per_angle.md", "per_angle.png", "peaks.csv", "curves.csv",
        "curves_by_condition.csv", "periodicity.csv", "periodicity_by_condition.csv",
        "seed000_table_i.csv", "hypothesis_a_hog_dice.csv", "hypothesis_b_orientation.csv",
        "orientation_summary.csv", "hypothesis_c_trained_vs_random.csv",
        "seed002_rotation_accuracy.csv", "seed003_rotation_sets.csv",
        "dice_vs_angle.png", "dice_vs_angle.svg", "dice_polar.png", "dice_polar.svg",
        "soft_dice_vs_angle.svg", "auc_vs_angle.png", "hog_svm_vs_angle.png",
        "hog_svm_vs_angle.svg", "orientation.png", "orientation.svg",
        "examples/brats_theta_90_seed_0_saliency_examples.png", "report.md", "report.html",
        "q_bbox_vs_angle.png", "verdicts.csv", "dice_controls.png"}
    assert expected <= names, sorted(expected - names)
    for path in written:
        assert path.is_file() and path.stat().st_size > 0, path


def test_peaks_csv_finds_each_datasets_maxima(reported: tuple[Path, list[Path]]) -> None:
    study_dir, _ = reported
    peaks = pd.read_csv(study_dir / "report" / "peaks.csv", keep_default_na=False)
    assert list(peaks.columns) == ["dataset", "trial_id", "metric", "maxima", "minima",
                                   "dominant_period", "periodic_p"]
    dice = peaks[peaks["metric"] == "dice"].set_index("trial_id")
    for trial in ("b0", "b1"):
        assert dice.loc[trial, "maxima"] == "0;90;180;270"
        assert dice.loc[trial, "dominant_period"] == 90.0
        assert float(dice.loc[trial, "periodic_p"]) < 0.01  # HoG rows: blank (untested)
    assert dice.loc["k0", "maxima"] == "45;135;225;315"
    # 3 trials × 3 metrics, Q(S, B) of the one trial with boxes, 2 HoG curves; no baseline rows
    assert len(peaks) == 3 * 3 + 1 + 2
    pooled = pd.read_csv(study_dir / "report" / "periodicity_by_condition.csv")
    brats = pooled[(pooled["dataset"] == "brats") & (pooled["metric"] == "dice")].iloc[0]
    assert brats["n_trials"] == 2 and brats["maxima"] == "0;90;180;270"


def test_report_html_has_contents_and_embedded_linked_figures(
        reported: tuple[Path, list[Path]]) -> None:
    study_dir, _ = reported
    html = (study_dir / "report" / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/jpeg;base64,"))
                           for s in sources)
    links = re.findall(r'<a href="([^"#]*)"><img', html)
    assert len(links) == len(sources)  # each figure links to its full-size file
    assert all((study_dir / "report" / link).is_file() for link in links)
    md = (study_dir / "report" / "report.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:5] == ["## The answer", "## What was run", "## Summary", "## Findings",
                            "## 1. Saliency vs. evaluation angle"]
    for section in ("Hypothesis (a)", "Hypothesis (b)", "Hypothesis (c)", "Seed 002",
                    "Seed 003", "Methods"):
        assert any(section in h for h in headings), section
        assert section in html
    assert "trained − random-init Dice" in md  # hypothesis (c) summarised
    # a table of contents whose links reach every heading, in Markdown and in HTML
    toc = re.findall(r"^\s*- \[(.+)\]\(#([\w-]+)\)$", md, flags=re.M)
    assert [t for t, _ in toc if not t.startswith(("Extrema", "Across", "Negative"))] == \
        [h.removeprefix("## ") for h in headings]
    for _, anchor in toc:
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    # baselines are captioned where drawn: Kvasir has one, so Dice figures say "Dashed"
    assert "Dashed: untrained baseline." in md


def test_pretrained_networks_are_named_for_what_they_are(
        reported: tuple[Path, list[Path]]) -> None:
    study_dir, _ = reported
    md = (study_dir / "report" / "report.md").read_text()
    assert "pre-trained (from random init)" in md  # the network column of the tables
    assert not re.search(r"\| (random|random_baseline) +\|", md)  # raw init values


def test_filters_are_pushed_down(tmp_path: Path,
                                 make_saliency: Callable[..., pd.DataFrame]) -> None:
    write_study(tmp_path, make_saliency)
    kvasir = load_results(tmp_path, datasets=["kvasir_seg"])
    for name in kvasir.present():
        assert set(getattr(kvasir, name)["dataset"]) == {"kvasir_seg"}, name
    one = load_results(tmp_path, study="demo", trial_ids=["b1"])
    assert set(one.saliency["trial_id"]) == {"b1"} and set(one.trials["trial_id"]) == {"b1"}
    assert set(one.saliency["train_angles"]) == {"90"}  # lists come back as labels
    assert one.probe is None  # the probe rows belong to b0
    assert len(one.hog_svm) == 2 * len(GRID)  # no trial column: every dataset's curve
    assert load_results(tmp_path, study="other").present() == []


def test_a_saliency_table_alone_is_enough(tmp_path: Path,
                                          make_saliency: Callable[..., pd.DataFrame]) -> None:
    for trial in ("t0", "t1"):
        write_part(tmp_path / "results", "saliency",
                   make_saliency(four_fold(0), n_images=10, trial_id=trial), key=trial)
    written = make_report(tmp_path, trial_ids=["t1"], n_boot=50, n_perm=49)
    names = {p.name for p in written}
    assert {"per_angle.csv", "per_angle.md", "per_angle.png", "peaks.csv", "report.md",
            "report.html"} <= names
    out = tmp_path / "report-trial=t1"  # a filtered report has a folder of its own
    assert {p.parent for p in written if p.suffix == ".md"} == {out}
    assert "Seed 003" not in (out / "report.md").read_text()  # no probe table: left out
    assert set(pd.read_csv(out / "peaks.csv")["trial_id"]) == {"t1"}
    assert not (tmp_path / "report").exists()
    md = (out / "report.md").read_text()
    assert "Dashed" not in md  # no baseline rows: none drawn, none captioned


def test_missing_and_broken_tables_are_clear_errors(
        tmp_path: Path, make_saliency: Callable[..., pd.DataFrame]) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    with pytest.raises(ReportError, match="holds no study; `rotsweep report` needs a study"):
        make_report(empty)
    with pytest.raises(ReportError, match="no such folder"):
        make_report(tmp_path / "absent")
    write_part(tmp_path / "results", "saliency", make_saliency(four_fold(0), trial_id="b0"),
               key="b0")
    part = next((tmp_path / "results" / "saliency").rglob("part-b0.parquet"))
    part.write_bytes(b"garbage")
    with pytest.raises(SchemaError, match=r"part-b0\.parquet: not a readable Parquet file"):
        make_report(tmp_path)


def test_a_large_study_is_summarised_per_dataset() -> None:
    from analysis.report import Analysis
    from analysis.results import Results
    from analysis.sections import build_document

    n = 20
    periodicity = pd.DataFrame({
        "dataset": "brats", "train_angles": [str(15 * k) for k in range(n)],
        "trial_id": [f"t{k}" for k in range(n)], "init": "random", "metric": "dice",
        "maxima": "0;90;180;270", "minima": "45;135;225;315",
        "dominant_period": [90.0] * 15 + [180.0] * 5,
        "periodic_p": [0.001] * 7 + [0.5] * 13, "test": "circular_shift"})
    a = Analysis(results=Results(root="x"), periodicity=periodicity)
    md = build_document(a, {}, [], {}, Path("x"), Path("x")).to_markdown()
    assert "7 of 20 trial curves have a significant common angular pattern" in md
    assert "dominant periods: 90° (15), 180° (5)" in md
    assert "`t3`" not in md.split("## 1.")[0]  # no per-trial lines in the summary
