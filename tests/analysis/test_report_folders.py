"""Where a report goes: filtered reports in folders of their own, unknown filters refused with
the known values, no stale files, nothing half-written, ``--out`` that never deletes data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from study_folder import write_light_study

import analysis.report
from analysis.report import ReportError, make_report

FAST = {"n_boot": 20, "n_perm": 19}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("study")
    write_light_study(root)
    make_report(root, **FAST)
    return root


@pytest.fixture
def fresh(study: Path, tmp_path: Path) -> Path:
    """A copy of the study folder with its full report, for tests that change it."""
    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    return copy


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"trial_ids": ["nosuch"]}, r"unknown trial 'nosuch' in .*; known: b0, b1, k0$"),
    ({"datasets": ["X"]}, r"unknown dataset 'X' in .*; known: brats, kvasir_seg$"),
    ({"study": "other"}, r"unknown study 'other' in .*; known: demo$"),
])
def test_an_unknown_filter_is_refused_with_the_known_values(
        study: Path, kwargs: dict, message: str) -> None:
    before = {p: p.stat().st_mtime_ns for p in (study / "report").rglob("*")}
    with pytest.raises(ReportError, match=message):
        make_report(study, **kwargs, **FAST)
    after = {p: p.stat().st_mtime_ns for p in (study / "report").rglob("*")}
    assert after == before  # the full report is untouched
    assert sorted(p.name for p in study.iterdir() if p.name.startswith(("report", "."))) == \
        ["report"]  # no empty report folder, no temporary left


def test_filtered_reports_get_folders_of_their_own(fresh: Path) -> None:
    full = (fresh / "report" / "report.md").read_text()
    by_dataset = make_report(fresh, datasets=["kvasir_seg"], **FAST)
    by_trials = make_report(fresh, trial_ids=["b1", "b0"], **FAST)
    chosen = make_report(fresh, trial_ids=["k0"], out=fresh / "mine", **FAST)
    assert by_dataset[-1] == fresh / "report-dataset=kvasir_seg" / "report.html"
    assert by_trials[-1] == fresh / "report-trial=b0+b1" / "report.html"
    assert chosen[-1] == fresh / "mine" / "report.html"
    assert (fresh / "report" / "report.md").read_text() == full
    md = (fresh / "report-dataset=kvasir_seg" / "report.md").read_text()
    assert "kvasir_seg" in md and "brats" not in md


def test_a_new_report_leaves_no_stale_file(fresh: Path) -> None:
    out = fresh / "report"
    assert (out / "hog_svm_vs_angle.png").is_file()
    (out / "stale_figure.png").write_bytes(b"old")
    shutil.rmtree(fresh / "results" / "hog_svm" / "study=demo" / "dataset=brats")
    written = make_report(fresh, **FAST)
    assert not (out / "stale_figure.png").exists()
    assert "brats: HoG-SVM" not in (out / "report.md").read_text()
    assert {p for p in out.rglob("*") if p.is_file()} == set(written)


def test_a_failed_report_leaves_the_previous_one(fresh: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = (fresh / "report" / "report.md").read_text()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(analysis.report, "build_document", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        make_report(fresh, **FAST)
    assert (fresh / "report" / "report.md").read_text() == before
    assert not [p for p in fresh.iterdir() if p.name.startswith(".")]


def test_out_never_replaces_data(fresh: Path) -> None:
    other = fresh / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(ReportError, match="exists and is not a rotsweep report folder"):
        make_report(fresh, out=other, **FAST)
    with pytest.raises(ReportError, match="would replace the study folder"):
        make_report(fresh, out=fresh, **FAST)
    with pytest.raises(ReportError, match="would replace the study folder"):
        make_report(fresh / "results", out=fresh, **FAST)
    assert (other / "mine.txt").read_text() == "keep"
    assert (fresh / "results").is_dir()


def test_a_moved_study_folder_reports_its_own_tables(fresh: Path, tmp_path: Path) -> None:
    # study.json may still name the storage the study ran with; the folder's tables win
    import json

    meta = json.loads((fresh / "study.json").read_text())
    (fresh / "study.json").write_text(json.dumps({**meta, "storage": str(tmp_path / "gone")}))
    written = make_report(fresh, **FAST)
    assert written[-1] == fresh / "report" / "report.html"
