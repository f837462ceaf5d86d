"""`make demo` then the report: the smoke study's output gives every report file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis.curves import present_metrics
from rotsweep.tables import read_table, table_exists

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_report_on_the_smoke_study_writes_every_file(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "rotsweep"
    out = tmp_path / "smoke"
    study = REPO / "conf/studies/smoke.yaml"
    run = subprocess.run([str(exe), "run", str(study), "--out", str(out)], capture_output=True,
                         text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    if not table_exists(out / "results", "orientation"):
        # until study/runner.py launches the orientation jobs, run them as it would
        from study.config import load_study
        from study.orientation import orientation_jobs, run_orientation_job

        cfg = load_study(study)
        paths = {"results_root": str(out / "results"), "cache_root": str(out / "cache")}
        for job in orientation_jobs(cfg):
            run_orientation_job(job, cfg.name, paths)
    report = subprocess.run([str(exe), "report", str(out)], capture_output=True, text=True,
                            timeout=600, cwd=REPO)
    assert report.returncode == 0, report.stderr[-3000:]
    folder = out / "report"
    expected = [
        "per_angle.csv", "per_angle.md", "per_angle.png", "peaks.csv", "curves.csv",
        "curves_by_condition.csv", "periodicity.csv", "seed000_table_i.csv",
        "hypothesis_a_hog_dice.csv", "hypothesis_b_orientation.csv", "orientation_summary.csv",
        "hypothesis_train_angle.csv", "seed002_rotation_accuracy.csv",
        "report.md", "report.html",
        *[f"{name}.{ext}" for name in ("dice_vs_angle", "dice_polar", "soft_dice_vs_angle",
                                       "auc_vs_angle", "hog_svm_vs_angle", "orientation")
          for ext in ("png", "svg")]]
    for name in expected:
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert len(list((folder / "examples").glob("*.png"))) == 3
    assert report.stdout.startswith(f"report: {folder / 'report.html'}\n")
    assert not report.stderr.strip(), report.stderr[-3000:]  # no warning, no error
    peaks = (folder / "peaks.csv").read_text().splitlines()
    assert peaks[0] == "dataset,trial_id,metric,maxima,minima,dominant_period,periodic_p"
    sal = read_table(out / "results", "saliency")
    n_metrics = len(present_metrics(sal))  # metrics with values (q_bbox needs boxes)
    assert len(peaks) == 1 + 3 * n_metrics + 1  # 3 trials × metrics + the HoG curve
