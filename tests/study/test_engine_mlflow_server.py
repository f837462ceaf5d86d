"""A real ``mlflow server`` on a loopback port as the tracking URI, stopped mid-study."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from engine_support import (
    child_runs,
    end_session,
    mlflow_server,
    start_driver,
    tiny_study,
    wait_for,
)

from rotsweep.tables import read_table

EPOCHS = 4


@pytest.fixture
def tracking_server(tmp_path: Path) -> Any:
    with mlflow_server(tmp_path) as running:
        yield running


@pytest.mark.slow
def test_server_logs_then_its_outage_loses_only_mlflow(tracking_server: Any, tmp_path: Path,
                                                       tiny: Any) -> None:
    server, url, db_uri = tracking_server
    study = tiny_study(tmp_path / "study.yaml", tiny, "served", epochs=EPOCHS, max_concurrent=1,
                       axes={"seed": [0, 1, 2, 3]},
                       data={"n_train": 64, "params": {"kind": "rectangles", "n_images": 96}})
    out = tmp_path / "out"
    log = tmp_path / "driver.log"
    driver = start_driver(["run", str(study), "--out", str(out), "--tracking-uri", url,
                           "--num-cpus", "2"], log)
    try:
        # the progress line of a finished trial comes after its MLflow run was ended
        wait_for(lambda: "| finished " in log.read_text(), 400, "the first trial", driver, log)
        logged_before = set(re.findall(r"\| finished (\S+)", log.read_text()))
        start = time.monotonic()
        server.send_signal(signal.SIGTERM)  # the tracking server goes away mid-study
        end_session(server.pid)
        assert driver.wait(timeout=400) == 0, log.read_text()[-3000:]
        after_outage_s = time.monotonic() - start
    finally:
        end_session(driver.pid)
    text = log.read_text()

    # the study completed and its tables are whole
    trials = read_table(out / "results", "trials")
    assert len(trials) == 4 and set(trials.status) == {"FINISHED"}
    assert len(read_table(out / "results", "pretext")) == 4 * EPOCHS
    assert len(read_table(out / "results", "saliency")) == 4 * 4 * 3
    assert "4/4 trials finished, 0 failed" in text
    # ... it said what MLflow is missing, and a dead server cost it seconds, not minutes
    assert "NOT logged" in text and "the Parquet tables are complete" in text
    missing = text.split("runs incomplete in MLflow for trials:")[1].splitlines()[0]
    assert set(trials.trial_id) - logged_before <= {t.strip() for t in missing.split(",")}
    assert after_outage_s < 200, after_outage_s

    # what reached the server before the outage is there, through the server's own store
    runs = child_runs(db_uri, "served")
    for trial_id in logged_before:
        run = runs[trial_id]
        assert run.info.status == "FINISHED" and "dice_mean" in run.data.metrics
        stored = list((tmp_path / "server-artifacts").rglob(f"{run.info.run_id}/**/*.png"))
        assert any(p.name == "saliency_examples.png" for p in stored)
