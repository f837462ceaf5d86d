"""The driver killed with SIGKILL mid-study, then ``rotsweep run FILE --out DIR --resume``."""

from __future__ import annotations

import json
import os
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
    epoch_study,
    epochs_done,
    finished,
    loss_steps,
    mlflow_runs,
    start_driver,
    wait_for,
)

from rotsweep.tables import read_table
from study.tracking.store import default_tracking_uri

EPOCHS, ANGLES, N_EVAL = 12, [0, 45, 90], 4  # 12: a window of seconds on fast CI
TRAIN_ANGLES = [[0], [45], [90], [180]]


@pytest.mark.slow
def test_sigkilled_driver_resumes_without_reruns_or_duplicates(tmp_path: Path,
                                                               tiny: Any) -> None:
    out, results, args = epoch_study(tmp_path, tiny, "resumed", EPOCHS, TRAIN_ANGLES)
    first = start_driver(args, tmp_path / "first.log")
    try:
        # kill once a trial has finished and another is part-way through its epochs
        def mid_study() -> bool:
            done, epochs = finished(out), epochs_done(results)
            return bool(done) and any(0 < n < EPOCHS for t, n in epochs.items() if t not in done)

        wait_for(mid_study, 400, "a finished trial and one mid-way", first, tmp_path / "first.log")
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        end_session(first.pid)  # the killed driver's local Ray processes
    done_before = finished(out)
    partial = {t for t, n in epochs_done(results).items() if 0 < n < EPOCHS} - done_before
    done_mtimes = {p.stem: p.stat().st_mtime_ns for p in (out / "done").glob("*.json")}
    status = subprocess.run([*ROTSWEEP, "status", str(out)], cwd=REPO, capture_output=True,
                            text=True)
    assert status.returncode == 4, status.stdout  # interrupted
    assert "no launch running (killed: pid" in status.stdout
    assert "continue with the same command and --resume" in status.stdout
    # the killed driver's claim is stale: a plain launch is told to resume, --resume takes it
    killed = json.loads((out / "claim.json").read_text())
    assert killed["pid"] == first.pid
    plain = subprocess.run([*ROTSWEEP, *args], cwd=REPO, capture_output=True, text=True)
    assert plain.returncode == 2 and "continue it with --resume" in plain.stderr, plain.stderr

    second = start_driver([*args, "--resume"], tmp_path / "second.log")
    try:
        assert second.wait(timeout=500) == 0, (tmp_path / "second.log").read_text()[-3000:]
    finally:
        end_session(second.pid)
    log = (tmp_path / "second.log").read_text()
    assert f"took over {out} from a killed launch: pid {first.pid}" in log
    assert "4/4 trials finished, 0 failed" in log
    assert not (out / "claim.json").exists()

    # the tables: exactly one set of rows per trial, as many as a clean run writes
    trials = read_table(results, "trials")
    assert len(trials) == 4 and set(trials.status) == {"FINISHED"}
    pretext = read_table(results, "pretext")
    assert len(pretext) == 4 * EPOCHS and not pretext.duplicated(["trial_id", "epoch"]).any()
    saliency = read_table(results, "saliency")
    assert len(saliency) == 4 * len(ANGLES) * N_EVAL
    assert not saliency.duplicated(["trial_id", "eval_angle", "image_id"]).any()
    assert sorted(map(list, read_table(results, "pretext").drop_duplicates(
        "trial_id").train_angles)) == TRAIN_ANGLES

    # finished trials were not run again: their done records are the first launch's files
    # (the end of a launch compacts the tables' parts, so their files are no witness)
    for trial_id in done_before:
        assert (out / "done" / f"{trial_id}.json").stat().st_mtime_ns == done_mtimes[trial_id]

    # MLflow: one parent, one child per trial, none left RUNNING, the interrupted trial's
    # epochs logged once each (it went on from its checkpoint instead of starting over)
    uri = default_tracking_uri(str(out))
    runs = child_runs(uri, "resumed")
    assert len(runs) == 4 and {r.info.status for r in runs.values()} == {"FINISHED"}
    parents = [r for r in mlflow_runs(uri, "resumed") if r.data.tags.get("rotsweep.role") ==
               "study"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert partial, "the driver was killed with no trial mid-way"
    for trial_id in partial:
        steps = loss_steps(uri, runs[trial_id].info.run_id)
        assert len(steps) == len(set(steps)) and max(steps) == EPOCHS, steps

