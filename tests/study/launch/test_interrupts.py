"""Issue 18's Ctrl-C case and damaged-part case, with real processes: an 8-trial study
interrupted by SIGINT while some trials are done, one is part-way and at least two have written
nothing; ``status`` on the interrupted folder counts the trials that never started as such;
``--resume`` completes every trial's rows once; then a compacted table file replaced by random
bytes is named by ``status`` and ``--resume`` restores every row (study/folder/status.py,
study/launch/runner.py, rotsweep/parts.py)."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from engine_support import (
    REPO,
    ROTSWEEP,
    child_runs,
    end_session,
    epoch_study,
    epochs_done,
    finished,
    start_driver,
    wait_for,
)

from rotsweep.tables import read_table
from study.tracking.store import default_tracking_uri

EPOCHS, ANGLES, N_EVAL = 12, [0, 45, 90], 4  # 12: a window of seconds on fast CI
TRAIN_ANGLES = [[0], [30], [60], [90], [120], [150], [180], [210]]
SALIENCY_ROWS = len(TRAIN_ANGLES) * len(ANGLES) * N_EVAL  # no random-init rows in tiny trials
SALIENCY_KEY = ["trial_id", "init", "eval_angle", "image_id"]


def status(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROTSWEEP, "status", str(out)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def resume(args: list[str], log: Path) -> str:
    proc = start_driver([*args, "--resume"], log)
    try:
        assert proc.wait(timeout=500) == 0, log.read_text()[-3000:]
    finally:
        end_session(proc.pid)
    return log.read_text()


def assert_complete(out: Path) -> None:
    """Every planned trial's rows once, every trial FINISHED in the table and in MLflow."""
    results = out / "results"
    saliency = read_table(results, "saliency")
    assert len(saliency) == SALIENCY_ROWS, saliency.groupby("trial_id").size()
    assert not saliency.duplicated(SALIENCY_KEY).any()
    assert saliency.trial_id.nunique() == len(TRAIN_ANGLES)
    pretext = read_table(results, "pretext")
    assert len(pretext) == len(TRAIN_ANGLES) * EPOCHS
    assert not pretext.duplicated(["trial_id", "epoch"]).any()
    trials = read_table(results, "trials")
    assert len(trials) == len(TRAIN_ANGLES) and set(trials.status) == {"FINISHED"}
    runs = child_runs(default_tracking_uri(str(out)), "interrupted")
    assert len(runs) == len(TRAIN_ANGLES)
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    st = status(out)
    assert st.returncode == 0, st.stdout + st.stderr
    assert f"finished {len(TRAIN_ANGLES)}," in st.stdout


@pytest.mark.slow
def test_ctrl_c_with_trials_left_then_resume_then_a_damaged_part(tmp_path: Path,
                                                                 tiny: Any) -> None:
    out, results, args = epoch_study(tmp_path, tiny, "interrupted", EPOCHS, TRAIN_ANGLES)
    log = tmp_path / "first.log"
    # started from a shell script's background job, pytest ignores SIGINT and so would the
    # driver (exec keeps an ignored signal ignored): give it Ctrl-C as a terminal would
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        first = start_driver(args, log)
    finally:
        signal.signal(signal.SIGINT, before)
    try:
        # Ctrl-C once a trial is done, another is part-way through its epochs and at least two
        # have written nothing (with 2 trials at a time, one of those has not started). The
        # window is a few seconds wide on a fast machine: polled, not timed.
        def done_running_and_unstarted() -> bool:
            done, epochs = finished(out), epochs_done(results)
            partway = [t for t, n in epochs.items() if t not in done and 0 < n < EPOCHS]
            return bool(done) and bool(partway) and len(done | set(epochs)) <= 6

        wait_for(done_running_and_unstarted, 400, "a trial done, one part-way, two untouched",
                 first, log)
        os.kill(first.pid, signal.SIGINT)
        assert first.wait(timeout=120) == 130, log.read_text()[-3000:]
    finally:
        end_session(first.pid)
    done = finished(out)
    with_rows = done | set(epochs_done(results))
    assert len(with_rows) < len(TRAIN_ANGLES), (done, epochs_done(results))
    assert f"{len(done)}/{len(TRAIN_ANGLES)} trials finished" in log.read_text()

    # status: interrupted; the trials that never started are counted as such, none as finished
    st = status(out)
    assert st.returncode == 4, st.stdout + st.stderr
    counts = re.search(r"finished (\d+),.*interrupted (\d+),.*not started (\d+)", st.stdout)
    assert counts, st.stdout
    n_finished, n_interrupted, n_never = map(int, counts.groups())
    assert n_finished == len(done) and n_never >= 1, st.stdout
    assert n_finished + n_interrupted + n_never == len(TRAIN_ANGLES), st.stdout
    assert n_finished + n_interrupted >= len(with_rows), st.stdout  # a trial with rows started
    # the trials table marks no trial FINISHED that has no done record
    trials = read_table(results, "trials")
    assert set(trials[trials.status == "FINISHED"].trial_id) <= done

    log_text = resume(args, tmp_path / "second.log")
    assert f"{len(TRAIN_ANGLES)}/{len(TRAIN_ANGLES)} trials finished, 0 failed" in log_text
    assert_complete(out)

    # a compacted saliency file replaced by random bytes: named by status, re-run by --resume
    damaged = sorted((results / "saliency").glob("study=*/dataset=*/*.parquet"))[0]
    held = set(pq.read_table(damaged, columns=["trial_id"]).column("trial_id").to_pylist())
    damaged.write_bytes(random.Random(18).randbytes(damaged.stat().st_size))
    st = status(out)
    assert st.returncode != 0, st.stdout
    assert damaged.name in st.stdout + st.stderr
    resume(args, tmp_path / "third.log")
    assert_complete(out)
    assert held  # the damaged file held rows of at least one trial, all back now


@pytest.mark.slow
def test_a_closed_pipe_does_not_stop_a_launch_and_a_hangup_ends_it_gracefully(
        tmp_path: Path, tiny: Any) -> None:
    # `rotsweep run ... | head -1` ended the launch at its next progress line ("error: OUT:
    # Broken pipe", exit 2); a closed terminal's SIGHUP killed it on the spot (claim left)
    out, results, args = epoch_study(tmp_path, tiny, "hangup", EPOCHS,
                                     [[0], [45], [90], [135], [180], [225]])
    err = tmp_path / "stderr.log"
    proc = subprocess.Popen([*ROTSWEEP, *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=err.open("wb"), start_new_session=True)
    try:
        assert proc.stdout is not None
        assert b"'hangup': 6 trials" in proc.stdout.readline()
        proc.stdout.close()  # the reader is gone before the first trial starts

        # the launch goes on: trials end (and print their lines) after the reader left
        def one_done_one_partway() -> bool:
            done, epochs = finished(out), epochs_done(results)
            return bool(done) and any(0 < n < EPOCHS for t, n in epochs.items()
                                      if t not in done)

        wait_for(one_done_one_partway, 400, "a trial done after the pipe closed", proc, err)
        # then the terminal closes: its hang-up goes to the whole process group, the local
        # Ray's processes included (which ignore it, or the driver would wait a minute
        # for a dead GCS and be ended by Ray without writing anything)
        os.killpg(proc.pid, signal.SIGHUP)
        assert proc.wait(timeout=120) == 130, err.read_text()[-3000:]
    finally:
        end_session(proc.pid)
    assert "Broken pipe" not in err.read_text() and "Traceback" not in err.read_text()
    # ended through the launch's finally blocks: claim released, trials table and runs closed
    assert not (out / "claim.json").exists()
    trials = read_table(results, "trials")
    assert set(trials[trials.status == "FINISHED"].trial_id) == finished(out)
    runs = child_runs(default_tracking_uri(str(out)), "hangup")
    assert "RUNNING" not in {r.info.status for r in runs.values()}
    st = status(out)
    assert st.returncode == 4 and "not started" in st.stdout, st.stdout + st.stderr
