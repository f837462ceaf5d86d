"""A two-node Ray cluster on loopback runs a study whose trials land on both nodes, with the
study's storage given as a ``file://`` URI apart from the study folder; Ray Client
(``--address ray://``) runs the study's Tune driver on the head node."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from engine_support import (
    REPO,
    ROTSWEEP,
    child_runs,
    end_session,
    free_port,
    mlflow_server,
    start_driver,
    tiny_study,
)

from rotsweep.tables import read_table
from study.launch.cluster import StudyError, check_client_options
from study.tracking.store import default_tracking_uri


@pytest.fixture
def two_nodes() -> Any:
    """A head and a worker node, one CPU each, started for this test only."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


@pytest.mark.slow
def test_trials_land_on_both_nodes_and_results_are_complete(two_nodes: Any, tmp_path: Path,
                                                            tiny: Any) -> None:
    # one CPU per node and per trial: two trials at a time can only run on two nodes
    study = tiny_study(tmp_path / "study.yaml", tiny, "cluster", epochs=3,
                       axes={"seed": [0, 1, 2, 3]})
    out, shared = tmp_path / "out", tmp_path / "shared"
    args = ["run", str(study), "--out", str(out), "--address", two_nodes.address,
            "--storage", f"file://{shared}"]
    driver = start_driver(args, tmp_path / "driver.log")
    try:
        assert driver.wait(timeout=500) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    finally:
        end_session(driver.pid)

    trials = read_table(shared / "results", "trials")
    assert len(trials) == 4 and set(trials.status) == {"FINISHED"}
    saliency = read_table(shared / "results", "saliency")
    assert len(saliency) == 4 * 4 * 3 and set(saliency.trial_id) == set(trials.trial_id)
    assert not (out / "results").exists()  # the tables went to the storage, not --out

    runs = child_runs(default_tracking_uri(str(out)), "cluster")
    node_ids = {r.data.tags["rotsweep.node_id"] for r in runs.values()}
    assert node_ids == {node.node_id for node in two_nodes.list_all_nodes()}
    for run in runs.values():
        assert run.info.status == "FINISHED" and run.data.tags["rotsweep.device"] == "cpu"
        assert run.info.run_id in set(saliency.mlflow_run_id)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(default_tracking_uri(str(out)))
    for trial_id, run in runs.items():  # made on either node, uploaded by the driver
        made = sorted(p.name for p in (shared / "artifacts" / trial_id).iterdir())
        assert {"saliency_examples.png", "trial_config.json"} <= set(made)
        assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == made

    assert json.loads((out / "study.json").read_text())["storage"] == f"file://{shared}"
    status = subprocess.run([*ROTSWEEP, "status", str(out)], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    assert "finished 4" in status and "saliency: 48 rows" in status


def test_ray_client_needs_shared_storage_and_a_tracking_server() -> None:
    with pytest.raises(StudyError, match="give --storage a shared path or URI"):
        check_client_options("ray://head:10001", None, "http://mlflow:5000")
    with pytest.raises(StudyError, match=r"cannot write 'sqlite:////x/mlflow\.db'"):
        check_client_options("ray://head:10001", "s3://b/s", "sqlite:////x/mlflow.db")
    check_client_options("ray://head:10001", "s3://b/s", "http://mlflow:5000")
    check_client_options("auto", None, "sqlite:////x/mlflow.db")  # the driver is here


@pytest.mark.slow
def test_ray_client_runs_the_tune_driver_on_the_head_node(tmp_path: Path, tiny: Any) -> None:
    from ray.cluster_utils import Cluster

    port = free_port()
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 2, "ray_client_server_port": port})
    try:
        with mlflow_server(tmp_path) as (_, url, db_uri):
            study = tiny_study(tmp_path / "study.yaml", tiny, "client", epochs=2,
                               axes={"seed": [0, 1]})
            out, shared = tmp_path / "out", tmp_path / "shared"
            driver = start_driver(["run", str(study), "--out", str(out), "--address",
                                   f"ray://127.0.0.1:{port}", "--storage", str(shared),
                                   "--tracking-uri", url], tmp_path / "driver.log")
            try:
                assert driver.wait(timeout=500) == 0, (tmp_path / "driver.log").read_text()[-3000:]
            finally:
                end_session(driver.pid)
            runs = child_runs(db_uri, "client")
    finally:
        cluster.shutdown()
    log = (tmp_path / "driver.log").read_text()
    assert "(TunerInternal pid=" in log and "| finished" in log  # progress from the head node
    assert "2/2 trials finished, 0 failed" in log and "all runs logged" in log
    trials = read_table(shared / "results", "trials")
    assert len(trials) == 2 and set(trials.status) == {"FINISHED"}
    parent = json.loads((shared / "mlflow_runs" / "_parent.json").read_text())["run_id"]
    assert len(runs) == 2
    assert all(r.info.status == "FINISHED" and r.data.tags["mlflow.parentRunId"] == parent
               for r in runs.values())
