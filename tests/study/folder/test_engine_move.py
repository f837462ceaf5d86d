"""A study folder moved elsewhere is the whole study: a launch killed mid-way, its folder moved,
``--resume`` from the new place and ``report`` there give complete tables in the new folder,
and nothing is written to the old path (which is not even recreated)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import (
    REPO,
    ROTSWEEP,
    child_runs,
    end_session,
    start_driver,
    tiny_study,
    wait_for,
)

from rotsweep.tables import read_table
from study.tracking.store import default_tracking_uri


@pytest.mark.slow
def test_a_moved_study_resumes_and_reports_where_it_is(tmp_path: Path, tiny: Any) -> None:
    study = tiny_study(tmp_path / "study.yaml", tiny, "moved", epochs=3,
                       axes={"seed": [0, 1, 2]})
    old, new = tmp_path / "first" / "out", tmp_path / "second" / "out"
    args = ["run", str(study), "--num-cpus", "2"]
    first = start_driver([*args, "--out", str(old)], tmp_path / "first.log")
    try:
        wait_for(lambda: len(list((old / "done").glob("*.json"))) >= 1, 400,
                 "a finished trial", first, tmp_path / "first.log")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        end_session(first.pid)
    new.parent.mkdir()
    shutil.move(old, new)
    shutil.rmtree(tmp_path / "first")

    second = start_driver([*args, "--out", str(new), "--resume"], tmp_path / "second.log")
    try:
        assert second.wait(timeout=500) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        end_session(second.pid)
    log = (tmp_path / "second.log").read_text()
    assert "3/3 trials finished, 0 failed" in log
    report = subprocess.run([*ROTSWEEP, "report", str(new)], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    status = subprocess.run([*ROTSWEEP, "status", str(new)], cwd=REPO, capture_output=True,
                            text=True)
    assert status.returncode == 0 and "finished 3," in status.stdout, status.stdout

    assert not (tmp_path / "first").exists()  # nothing went to the old path
    results = new / "results"
    trials = read_table(results, "trials")
    assert len(trials) == 3 and set(trials.status) == {"FINISHED"}
    saliency = read_table(results, "saliency")
    assert len(saliency) == 3 * 4 * 3
    assert not saliency.duplicated(["trial_id", "eval_angle", "image_id"]).any()
    pretext = read_table(results, "pretext")
    assert len(pretext) == 3 * 3 and not pretext.duplicated(["trial_id", "epoch"]).any()
    assert len(read_table(results, "orientation")) == 180  # once, though run by both launches
    runs = child_runs(default_tracking_uri(str(new)), "moved")
    assert sorted(runs) == sorted(trials.trial_id)
    assert any((new / "report").rglob("report.html"))
