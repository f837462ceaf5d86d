"""`make demo`'s study, exactly as a user runs it: the console script in a fresh process, then
``rotsweep report``, which writes every report file (one run serves both checks: the smoke
study is the slow suite's most repeated cost)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from analysis.curves import present_metrics
from rotsweep.tables import read_table, table_exists

REPO = Path(__file__).resolve().parents[3]
REPORT_FILES = [
    "per_angle.csv", "per_angle.md", "per_angle.png", "peaks.csv", "curves.csv",
    "curves_by_condition.csv", "periodicity.csv", "seed000_table_i.csv",
    "hypothesis_a_hog_dice.csv", "hypothesis_b_orientation.csv", "orientation_summary.csv",
    "hypothesis_train_angle.csv", "seed002_rotation_accuracy.csv",
    "report.md", "report.html",
    *[f"{name}.{ext}" for name in ("dice_vs_angle", "dice_polar", "soft_dice_vs_angle",
                                   "auc_vs_angle", "hog_svm_vs_angle", "orientation")
      for ext in ("png", "svg")]]


@pytest.mark.slow
def test_smoke_study_runs_end_to_end_then_reports_every_file(smoke_study: Any) -> None:
    # the session's one smoke study (tests/conftest.py), also opened in a browser
    out, run, report = smoke_study.out, smoke_study.run, smoke_study.report
    wall = float(re.search(r"wall time: ([\d.]+) s", run.stdout).group(1))
    assert wall < 600
    assert "3/3 trials finished, 0 failed" in run.stdout
    sal = read_table(out / "results", "saliency")
    assert sal["trial_id"].nunique() == 3
    assert sal["image_id"].nunique() >= 16
    assert sorted(sal["eval_angle"].unique()) == list(range(0, 360, 15))
    assert len(read_table(out / "results", "hog_svm")) == 24
    assert table_exists(out / "results", "orientation")

    folder = out / "report"
    for name in REPORT_FILES:
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert len(list((folder / "examples").glob("*.png"))) == 3
    assert report.stdout.startswith(f"report: {folder / 'report.html'}\n")
    assert not report.stderr.strip(), report.stderr[-3000:]  # no warning, no error
    peaks = (folder / "peaks.csv").read_text().splitlines()
    assert peaks[0] == "dataset,trial_id,metric,maxima,minima,dominant_period,periodic_p"
    n_metrics = len(present_metrics(sal))  # metrics with values (q_bbox needs boxes)
    assert len(peaks) == 1 + 3 * n_metrics + 1  # 3 trials × metrics + the HoG curve
