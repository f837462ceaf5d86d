"""The driver's MLflow tracker against a real SQLite store (and an unreachable server)."""

from __future__ import annotations

import json
import pickle
import socket
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.tracking import PARENT_TAG, TRIAL_TAG, MlflowCallback, Tracker, default_tracking_uri


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (creating one takes seconds); tests use their own
    experiment names."""
    return default_tracking_uri(str(tmp_path_factory.mktemp("mlflow")))


@pytest.fixture
def store(database: str, tmp_path: Path) -> tuple[str, str]:
    """(tracking URI, runs map folder of a fresh study folder)."""
    return database, str(tmp_path / "mlflow_runs")


def runs_of(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def test_parent_children_metrics_artifacts(store: tuple[str, str], tmp_path: Path) -> None:
    uri, runs_root = store
    tracker = Tracker.shared(uri, "logged", runs_root, fresh=True)
    tracker.start_parent("logged launch", {"study.n_trials": 1}, str(tmp_path))
    params = {f"p{i:03d}": i for i in range(130)}  # more than one log_batch (100 params)
    run_id = tracker.run_for("t1", params)
    assert json.loads((Path(runs_root) / "t1.json").read_text())["run_id"] == run_id
    for epoch, loss in [(1, 2.0), (2, 1.5)]:
        tracker.log_result(run_id, "t1", {"epoch": epoch, "loss": loss, "lr": 0.1,
                                          "pretext_accuracy": None, "time_this_iter_s": 3.0})
    tracker.log_result(run_id, "t1", {"dice_mean": 0.25, "wall_s": 4.0, "done": True,
                                      "training_iteration": 3, "node_ip": "127.0.0.1"})
    art = tmp_path / "artifacts" / "t1"
    art.mkdir(parents=True)
    (art / "trial_config.json").write_text("{}")
    tracker.finish(run_id, "t1", str(tmp_path / "artifacts"), "FINISHED")
    tracker.end_parent("FINISHED")

    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[PARENT_TAG] == tracker.parent_id and run.data.tags[TRIAL_TAG] == "t1"
    assert len(run.data.params) == 130
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [
        (1, 2.0), (2, 1.5)]
    assert set(run.data.metrics) == {"loss", "lr", "dice_mean", "wall_s"}
    assert [a.path for a in client.list_artifacts(run_id)] == ["trial_config.json"]
    assert client.get_run(tracker.parent_id).info.status == "FINISHED"
    assert tracker.summary() == f"MLflow: all runs logged to {uri}"


def test_resume_reattaches_instead_of_duplicating(store: tuple[str, str], tmp_path: Path
                                                  ) -> None:
    uri, runs_root = store
    first = Tracker.shared(uri, "resumed", runs_root, fresh=True)
    first.start_parent("launch", {}, str(tmp_path))
    recorded = first.run_for("t1", {"a": 1})
    # a run the killed driver opened but never recorded in the map
    orphan = first.client.create_run(first.experiment_id, run_name="t2", tags={
        TRIAL_TAG: "t2", PARENT_TAG: first.parent_id}).info.run_id

    second = Tracker.shared(uri, "resumed", runs_root, fresh=True, resuming=True)
    assert second is not first
    second.start_parent("launch", {}, str(tmp_path))
    assert second.parent_id == first.parent_id
    assert second.run_for("t1", {"a": 1}) == recorded
    assert second.run_for("t2", {"a": 2}) == orphan
    new = second.run_for("t3", {"a": 3})
    assert len(runs_of(uri, "resumed")) == 4  # parent + t1, t2, t3: nothing doubled

    ended = second.reconcile({"t1": "FINISHED", "t2": "FAILED"})
    assert ended == 3
    status = {r.data.tags.get(TRIAL_TAG): r.info.status for r in runs_of(uri, "resumed")}
    assert status == {"t1": "FINISHED", "t2": "FAILED", "t3": "KILLED", None: "RUNNING"}
    assert MlflowClient(uri).get_run(new).data.tags[PARENT_TAG] == first.parent_id


def test_callback_pickles_without_client_and_finds_the_launch_tracker(
        store: tuple[str, str], tmp_path: Path) -> None:
    """Tune restores callbacks from the experiment's pickle on resume."""
    uri, runs_root = store
    tracker = Tracker.shared(uri, "pickled", runs_root, fresh=True)
    callback = MlflowCallback(uri, "pickled", runs_root, None)
    callback._run_ids["t"] = "x"
    restored = pickle.loads(pickle.dumps(callback))
    assert restored._run_ids == {} and restored.tracker is tracker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_costs_seconds_and_is_reported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    runs_root = str(tmp_path / "mlflow_runs")
    start = time.perf_counter()
    tracker = Tracker.shared(f"http://127.0.0.1:{free_port()}", "exp", runs_root, fresh=True)
    tracker.start_parent("launch", {}, str(tmp_path))
    for i in range(20):
        run_id = tracker.run_for(f"t{i}", {"a": i})
        tracker.log_result(run_id, f"t{i}", {"epoch": 1, "loss": 1.0})
        tracker.finish(run_id, f"t{i}", None, "FINISHED")
    tracker.end_parent("FINISHED")
    elapsed = time.perf_counter() - start
    assert elapsed < 20, elapsed  # 3 failed calls, then a pause instead of 60 more failures
    # every trial still finds its map entry (no run): trials never wait for it
    assert json.loads((Path(runs_root) / "t7.json").read_text()) == {"run_id": None,
                                                                     "trial_id": "t7"}
    summary = tracker.summary()
    assert "NOT logged" in summary and "20 trial start" in summary
    assert "t0, t1" in summary and "and 10 more" in summary


@pytest.mark.slow
def test_a_server_that_never_answers_is_paused_not_waited_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that accepts connections and never answers (the worst case: every request waits
    for its timeout). After three timeouts in a row the tracker stops calling."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections queue up; nobody reads them
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.perf_counter()
        tracker = Tracker.shared(uri, "exp", str(tmp_path / "runs"), fresh=True)
        for i in range(20):
            run_id = tracker.run_for(f"t{i}", {"a": i})
            tracker.log_result(run_id, f"t{i}", {"epoch": 1, "loss": 1.0})
        elapsed = time.perf_counter() - start
    assert sum(tracker.lost.values()) == 21  # the experiment and 20 trial starts
    assert elapsed < 15, elapsed  # 3 timeouts of ~1 s, not 21
