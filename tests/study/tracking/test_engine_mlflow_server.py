"""A real ``mlflow server`` on a loopback port as the tracking URI, killed mid-study, restarted,
and the study resumed: MLflow ends up complete, with nothing logged twice."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import (
    child_runs,
    end_session,
    free_port,
    healthy,
    mlflow_runs,
    start_driver,
    tiny_study,
    wait_for,
)
from mlflow.tracking import MlflowClient

from rotsweep.tables import read_table

EPOCHS = 4
EVAL_ANGLES = (0, 45, 90)


@contextlib.contextmanager
def served(folder: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``mlflow server`` on ``port`` with its SQLite store and proxied artifacts in ``folder``
    (the same store each time it is started), in its own session."""
    url = f"http://127.0.0.1:{port}"
    log = folder / f"server-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
         "--artifacts-destination", str(folder / "server-artifacts")],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: healthy(url), 180, "mlflow server", proc, log)
        yield proc
    finally:
        end_session(proc.pid)


def dice_curves(results: Path) -> dict[str, dict[int, float]]:
    """The known answer, from the ``saliency`` table: each trial's mean Dice over its images at
    each evaluation angle (step = angle in tenths of a degree), leaving out the angles whose
    maps are degenerate by construction (pair similarity at 0°)."""
    rows = read_table(results, "saliency")
    rows = rows[~rows["degenerate"].fillna(False).astype(bool)]
    means = rows.groupby(["trial_id", "eval_angle"])["dice"].mean()
    curves: dict[str, dict[int, float]] = {}
    for (trial_id, angle), value in means.items():
        curves.setdefault(trial_id, {})[round(angle * 10)] = float(value)
    assert all(len(c) >= len(EVAL_ANGLES) - 1 for c in curves.values())
    return curves


def run_study(args: list[str], log: Path, timeout_s: float = 600) -> str:
    driver = start_driver(args, log)
    try:
        assert driver.wait(timeout=timeout_s) == 0, log.read_text()[-3000:]
    finally:
        end_session(driver.pid)
    return log.read_text()


@pytest.mark.slow
@pytest.mark.timeout(1200)  # two launches and two server starts: ~4 min on an idle 2-core box
def test_server_killed_mid_study_then_resume_completes_every_run(tmp_path: Path,
                                                                 tiny: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db_uri = f"sqlite:///{tmp_path / 'server.db'}"
    study = tiny_study(tmp_path / "study.yaml", tiny, "served", epochs=EPOCHS, max_concurrent=1,
                       axes={"seed": [0, 1, 2, 3]},
                       saliency={"n_samples": 2, "eval_angles": list(EVAL_ANGLES)},
                       data={"n_train": 64, "params": {"kind": "rectangles", "n_images": 96}})
    out = tmp_path / "out"
    args = ["run", str(study), "--out", str(out), "--tracking-uri", url, "--num-cpus", "2"]
    first_log = tmp_path / "first.log"
    with served(tmp_path, port) as server:
        driver = start_driver(args, first_log)
        try:
            # the progress line of a finished trial comes after its MLflow run was completed
            wait_for(lambda: "| finished " in first_log.read_text(), 400, "the first trial",
                     driver, first_log)
            logged_before = set(re.findall(r"\| finished (\S+)", first_log.read_text()))
            start = time.monotonic()
            end_session(server.pid)  # SIGKILL: the tracking server (and its workers) dies
            assert driver.wait(timeout=400) == 0, first_log.read_text()[-3000:]
            after_outage_s = time.monotonic() - start
        finally:
            end_session(driver.pid)
    first = first_log.read_text()

    # the study completed and its tables are whole; the summary names what MLflow lacks
    trials = read_table(out / "results", "trials")
    assert len(trials) == 4 and set(trials.status) == {"FINISHED"}
    assert len(read_table(out / "results", "pretext")) == 4 * EPOCHS
    assert "4/4 trials finished, 0 failed" in first
    assert "NOT logged completely" in first and "the Parquet tables are complete" in first
    missing = first.split("runs incomplete in MLflow for trials:")[1].splitlines()[0]
    missing_ids = {t.strip() for t in missing.split(",")}
    assert set(trials.trial_id) - logged_before <= missing_ids
    assert "all runs logged" not in first
    assert after_outage_s < 200, after_outage_s  # a dead server costs seconds, not minutes
    parent_id = next(r.info.run_id for r in mlflow_runs(db_uri, "served")
                     if r.data.tags.get("rotsweep.role") == "study")
    assert MlflowClient(db_uri).get_run(parent_id).info.status == "RUNNING"  # left behind

    # the server is back (same store); --resume runs no trial again and completes MLflow
    with served(tmp_path, port):
        second = run_study([*args, "--resume"], tmp_path / "second.log")
        client = MlflowClient(url)
        runs = child_runs(db_uri, "served")
        artifacts = {t: {a.path for a in client.list_artifacts(r.info.run_id)}
                     for t, r in runs.items()}
    assert "4/4 trials finished, 0 failed" in second
    assert "all runs logged" in second and "NOT logged" not in second, second[-2000:]
    assert MlflowClient(db_uri).get_run(parent_id).info.status == "FINISHED"
    assert set(runs) == set(trials.trial_id)
    curves = dice_curves(out / "results")
    local = MlflowClient(db_uri)
    for trial_id, run in runs.items():
        assert run.info.status == "FINISHED", trial_id
        assert run.data.tags["rotsweep.complete"] == "true"
        loss = [m.step for m in local.get_metric_history(run.info.run_id, "loss")]
        assert sorted(loss) == list(range(1, EPOCHS + 1)), (trial_id, loss)  # none twice
        dice = {m.step: m.value for m in local.get_metric_history(run.info.run_id,
                                                                   "dice_by_angle")}
        assert len(dice) == len(curves[trial_id]), (trial_id, dice)  # one point per angle
        assert dice == pytest.approx(curves[trial_id]), trial_id
        assert [m.step for m in local.get_metric_history(run.info.run_id, "dice_mean")] == [0]
        assert {"saliency_examples.png", "trial_config.json"} <= artifacts[trial_id]
