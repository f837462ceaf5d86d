"""`make demo`'s study, exactly as a user runs it: the console script in a fresh process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rotsweep.tables import read_table

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_study_runs_end_to_end_under_ten_minutes(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "rotsweep"
    out = tmp_path / "smoke"
    run = subprocess.run([str(exe), "run", str(REPO / "conf/studies/smoke.yaml"), "--out",
                          str(out)], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    wall = float(re.search(r"wall time: ([\d.]+) s", run.stdout).group(1))
    assert wall < 600
    assert "3/3 trials finished, 0 failed" in run.stdout
    sal = read_table(out / "results", "saliency")
    assert sal["trial_id"].nunique() == 3
    assert sal["image_id"].nunique() >= 16
    assert sorted(sal["eval_angle"].unique()) == list(range(0, 360, 15))
    assert len(read_table(out / "results", "hog_svm")) == 24
    report = subprocess.run([str(exe), "report", str(out)], capture_output=True, text=True,
                            timeout=300, cwd=REPO)
    assert report.returncode == 0, report.stderr[-3000:]
    assert (out / "report" / "per_angle.png").exists()
