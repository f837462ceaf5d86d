"""The driver's MLflow tracker against a real SQLite store (and an unreachable server): runs
named and tagged for comparison, per-angle curves, completion from the study's records, a
half-built store rebuilt, a copied study folder, the report on the parent run."""

from __future__ import annotations

import json
import pickle
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from rotsweep.tables import write_part
from study.folder.book import TrialBook
from study.tracking.callback import MlflowCallback
from study.tracking.parent import attach_report
from study.tracking.records import angle_metrics, trial_info
from study.tracking.store import (
    ARTIFACTS_DIR,
    KIND_ML,
    KIND_TAG,
    PARENT_TAG,
    TRIAL_TAG,
    default_tracking_uri,
)
from study.tracking.tracker import Tracker

ANGLES = (0, 45, 90)
# per trial: the image Dice at each angle for two images (the curve logged is their mean)
DICE = {"t0": [(0.2, 0.4), (0.6, 0.8), (0.1, 0.3)], "t1": [(0.5, 0.5), (0.0, 1.0), (0.9, 0.7)]}
LOSS = {"t0": [2.0, 1.5], "t1": [2.5, 1.0], "t2": [3.0]}
STATUS = {"t0": "FINISHED", "t1": "FINISHED", "t2": "FAILED", "t3": "INTERRUPTED"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the module (creating one takes seconds); tests use their own
    experiment names."""
    return default_tracking_uri(str(tmp_path_factory.mktemp("mlflow")))


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every test runs in an empty working directory, which must stay empty (no ``mlruns``)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert sorted(p.name for p in cwd.iterdir()) == []


def trial_configs(tiny: Any, name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    base = tiny(study=name, saliency={"n_samples": 2, "eval_angles": list(ANGLES)})
    return base, {t: {"seed": i} for i, t in enumerate(STATUS)}


def write_records(storage: Path, tiny: Any, name: str) -> dict[str, dict[str, Any]]:
    """A study's records as a launch leaves them, without MLflow: study.json, the trial book,
    done records, ``pretext`` and ``saliency`` parts and artifacts of 4 trials (t0, t1
    finished, t2 failed after one epoch, t3 interrupted before it started). Returns the trials'
    Tune configs."""
    from trainables.tune import trial_config

    base, axes = trial_configs(tiny, name)
    (storage / "study.json").parent.mkdir(parents=True, exist_ok=True)
    (storage / "study.json").write_text(json.dumps({"name": name, "base": base}))
    book = TrialBook(str(storage))
    results = str(storage / "results")
    for trial_id, status in STATUS.items():
        book.record(trial_id, status=status, axes=axes[trial_id])
        cfg = trial_config({"base": base, "axes": axes[trial_id]})
        meta = {"study": name, "dataset": cfg.data.tag, "trial_id": trial_id}
        if trial_id in LOSS:
            write_part(results, "pretext", [{**meta, "epoch": e + 1, "loss": v, "lr": 0.1}
                                            for e, v in enumerate(LOSS[trial_id])], key=trial_id)
        if trial_id in DICE:
            rows = [{**meta, "init": "random", "eval_angle": a, "image_id": f"i{k}", "dice": d,
                     "auc": 0.5} for a, pair in zip(ANGLES, DICE[trial_id], strict=True)
                    for k, d in enumerate(pair)]
            write_part(results, "saliency", rows, key=trial_id)
            done = {"done": True, "dice_mean": 0.4, "final_loss": LOSS[trial_id][-1]}
            (storage / "done").mkdir(exist_ok=True)
            (storage / "done" / f"{trial_id}.json").write_text(json.dumps({"result": done}))
            art = storage / "artifacts" / trial_id
            art.mkdir(parents=True)
            (art / "trial_config.json").write_text(json.dumps({"trial": trial_id}))
    book.save(ended=True)
    return {t: {"base": base, "axes": a} for t, a in axes.items()}


def runs_of(uri: str, experiment: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000)


def children(uri: str, experiment: str) -> dict[str, Any]:
    return {r.data.tags[TRIAL_TAG]: r for r in runs_of(uri, experiment)
            if TRIAL_TAG in r.data.tags}


def history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, round(m.value, 6)) for m in
                  MlflowClient(uri).get_metric_history(run_id, key))


def expected_dice(trial_id: str) -> list[tuple[int, float]]:
    """The known answer: the mean Dice over the two images at step = angle in 0.1°."""
    return [(a * 10, round(sum(p) / 2, 6)) for a, p in zip(ANGLES, DICE[trial_id], strict=True)]


def test_live_trial_run_named_tagged_with_curves_and_artifacts(
        database: str, tmp_path: Path, tiny: Any) -> None:
    configs = write_records(tmp_path, tiny, "live")
    tracker = Tracker.shared(database, "live", str(tmp_path / "mlflow_runs"), fresh=True)
    tracker.start_parent("live launch", {"study.n_trials": 4}, str(tmp_path))
    info = trial_info(configs["t0"], "t0")
    run_id = tracker.run_for("t0", info.params, info)
    assert json.loads((tmp_path / "mlflow_runs" / "t0.json").read_text())["run_id"] == run_id
    for epoch, loss in [(1, 2.0), (2, 1.5), (2, 1.5)]:  # epoch 2 twice: a replayed result
        tracker.log_result(run_id, "t0", {"epoch": epoch, "loss": loss, "lr": 0.1,
                                          "pretext_accuracy": None, "time_this_iter_s": 3.0})
    final = {"dice_mean": 0.4, "wall_s": 4.0, "done": True, "training_iteration": 3}
    tracker.log_result(run_id, "t0", final)
    assert tracker.finish(run_id, "t0", str(tmp_path / "artifacts"), "FINISHED", final)
    tracker.reconcile(None)
    tracker.end_parent("FINISHED")

    client = MlflowClient(database)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "synthetic moco_rotation θ=90° seed 0"
    tags = run.data.tags
    assert tags[PARENT_TAG] == tracker.parent_id and tags[TRIAL_TAG] == "t0"
    assert (tags["dataset"], tags["backbone"], tags["pretext"], tags["seed"]) == (
        "synthetic", "small_cnn", "moco_rotation", "0")
    assert tags["pretraining"] == "moco_rotation θ=90°" and tags["rotsweep.complete"] == "true"
    assert "tenths of a degree" in tags["rotsweep.angle_step"]
    assert history(database, run_id, "loss") == [(1, 2.0), (2, 1.5)]  # no step twice
    assert history(database, run_id, "dice_by_angle") == expected_dice("t0")
    assert history(database, run_id, "auc_by_angle") == [(0, 0.5), (450, 0.5), (900, 0.5)]
    assert history(database, run_id, "dice_mean") == [(0, 0.4)]  # a bar, not a dot at step 3
    assert [a.path for a in client.list_artifacts(run_id)] == ["trial_config.json"]
    exp = client.get_experiment(tracker.experiment_id)
    assert exp.tags[KIND_TAG] == KIND_ML
    store_dir = Path(database.removeprefix("sqlite:///")).parent
    assert exp.artifact_location == str(store_dir / ARTIFACTS_DIR / "live")
    assert run.info.artifact_uri.startswith(exp.artifact_location)
    parent = client.get_run(tracker.parent_id)
    assert parent.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(tracker.parent_id, "study")] == [
        "study/study.json"]
    # t0 logged live; t1 and t2 completed from their records at the end; t3 never started
    assert set(children(database, "live")) == {"t0", "t1", "t2"}
    assert tracker.summary().startswith(f"MLflow: all runs logged to {database} (3 trial runs")


def test_ended_trials_are_completed_from_records_once(database: str, tmp_path: Path,
                                                      tiny: Any) -> None:
    """No run was logged live (a dead server): the end of the launch makes every ended trial's
    run from its records; a later sync adds nothing twice and fills what a run lacks."""
    write_records(tmp_path, tiny, "recorded")
    runs_root = str(tmp_path / "mlflow_runs")
    tracker = Tracker.shared(database, "recorded", runs_root, fresh=True)
    tracker.start_parent("recorded launch", {}, str(tmp_path))
    assert tracker.reconcile({t: "FINISHED" for t in ("t0", "t1")} | {"t2": "FAILED"}) == 3
    runs = children(database, "recorded")
    assert {t: r.info.status for t, r in runs.items()} == {
        "t0": "FINISHED", "t1": "FINISHED", "t2": "FAILED"}
    for trial_id in ("t0", "t1"):
        run_id = runs[trial_id].info.run_id
        assert history(database, run_id, "dice_by_angle") == expected_dice(trial_id)
        assert history(database, run_id, "loss") == list(enumerate(LOSS[trial_id], 1))
        assert history(database, run_id, "final_loss") == [(0, LOSS[trial_id][-1])]
        assert runs[trial_id].info.run_name == f"synthetic moco_rotation θ=90° seed {trial_id[1]}"
    assert history(database, runs["t2"].info.run_id, "loss") == [(1, 3.0)]
    summary = tracker.summary()
    assert "all runs logged" in summary and "1 trials have not ended" in summary

    # t1's run loses its mark and its last loss point is missing: a resumed launch fills the
    # gap without logging a step twice, and leaves complete runs alone
    (tmp_path / "mlflow_runs" / "t1.complete").unlink()
    resumed = Tracker.shared(database, "recorded", runs_root, fresh=True, resuming=True)
    resumed.start_parent("recorded launch", {}, str(tmp_path))
    after = children(database, "recorded")
    assert {t: r.info.run_id for t, r in after.items()} == {
        t: r.info.run_id for t, r in runs.items()}
    for trial_id in ("t0", "t1"):
        run_id = after[trial_id].info.run_id
        assert history(database, run_id, "loss") == list(enumerate(LOSS[trial_id], 1))
        assert history(database, run_id, "dice_by_angle") == expected_dice(trial_id)
    assert (tmp_path / "mlflow_runs" / "t1.complete").exists()


def test_resume_reattaches_instead_of_duplicating(database: str, tmp_path: Path) -> None:
    runs_root = str(tmp_path / "mlflow_runs")
    first = Tracker.shared(database, "resumed", runs_root, fresh=True)
    first.start_parent("launch", {}, str(tmp_path))
    recorded = first.run_for("t1", {"a": 1})
    # a run the killed driver opened but never recorded in the map
    orphan = first.client.create_run(first.experiment_id, run_name="t2", tags={
        TRIAL_TAG: "t2", PARENT_TAG: first.parent_id}).info.run_id

    second = Tracker.shared(database, "resumed", runs_root, fresh=True, resuming=True)
    assert second is not first
    second.start_parent("launch", {}, str(tmp_path))
    assert second.parent_id == first.parent_id
    assert second.run_for("t1", {"a": 1}) == recorded
    assert second.run_for("t2", {"a": 2}) == orphan
    new = second.run_for("t3", {"a": 3})
    assert len(runs_of(database, "resumed")) == 4  # parent + t1, t2, t3: nothing doubled

    ended = second.reconcile({"t1": "FINISHED", "t2": "FAILED"})
    assert ended == 3
    status = {r.data.tags.get(TRIAL_TAG): r.info.status for r in runs_of(database, "resumed")}
    assert status == {"t1": "FINISHED", "t2": "FAILED", "t3": "KILLED", None: "RUNNING"}
    assert MlflowClient(database).get_run(new).data.tags[PARENT_TAG] == first.parent_id


def test_callback_pickles_without_client_and_finds_the_launch_tracker(
        database: str, tmp_path: Path) -> None:
    """Tune restores callbacks from the experiment's pickle on resume (with the paths of the
    launch that made them: a moved folder's old ones)."""
    tracker = Tracker.shared(database, "pickled", str(tmp_path / "mlflow_runs"), fresh=True)
    callback = MlflowCallback(database, "pickled", "/old/place/mlflow_runs", None)
    callback._run_ids["t"] = "x"
    restored = pickle.loads(pickle.dumps(callback))
    assert restored._run_ids == {} and restored.tracker is tracker


def test_angle_curves_fractional_angles_and_baseline() -> None:
    rows = pd.DataFrame({
        "init": ["random"] * 4 + ["random_baseline"] * 2,
        "eval_angle": [0.0, 22.5, 22.5, 359.9, 22.5, 22.5],
        "dice": [0.1, 0.2, 0.4, 0.5, 0.0, 1.0],
        "degenerate": [True, False, False, False, False, False]})
    got = sorted((m.key, m.step, round(m.value, 6)) for m in angle_metrics(rows))
    assert got == [("dice_by_angle", 225, 0.3), ("dice_by_angle", 3599, 0.5),
                   ("random_baseline_dice_by_angle", 225, 0.5)]
    assert angle_metrics(rows.iloc[0:0]) == [] and angle_metrics(None) == []


def test_run_name_shows_every_varying_axis(tiny: Any) -> None:
    base = tiny(study="named")
    info = trial_info({"base": base, "axes": {"seed": 3, "train.lr": 0.0123456}}, "x")
    assert info.name == "synthetic moco_rotation θ=90° seed 3 lr=0.01235"
    assert info.study == "named" and info.params["seed"] == 3


def half_built(uri: str) -> None:
    """A store whose creation ran out of space (SQLite's page limit: the disk is "full")."""
    import sqlalchemy
    from sqlalchemy import event

    path = uri.removeprefix("sqlite:///")

    def small_disk(dbapi_connection: Any, _record: Any) -> None:
        files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list")]
        if path in files:
            dbapi_connection.execute("PRAGMA max_page_count = 60")

    event.listen(sqlalchemy.engine.Engine, "connect", small_disk)
    try:
        with pytest.raises(Exception, match="full"):
            MlflowClient(uri).search_experiments(max_results=1)
    finally:
        event.remove(sqlalchemy.engine.Engine, "connect", small_disk)


def test_a_half_built_store_is_set_aside_and_rebuilt_from_records(tmp_path: Path,
                                                                  tiny: Any) -> None:
    folder = tmp_path / "study"
    write_records(folder, tiny, "rebuilt")
    uri = default_tracking_uri(str(folder))
    half_built(uri)
    # the records of a launch whose store is gone: its parent, a map entry, a complete mark
    runs = folder / "mlflow_runs"
    runs.mkdir()
    (runs / "_parent.json").write_text(json.dumps({"run_id": "f" * 32}))
    (runs / "t0.json").write_text(json.dumps({"run_id": "e" * 32, "trial_id": "t0"}))
    (runs / "t0.complete").write_text("e" * 32)

    tracker = Tracker.shared(uri, "rebuilt", str(runs), fresh=True, resuming=True)
    assert tracker.notes and "unusable (half-built" in tracker.notes[0]
    assert len(list(folder.glob("mlflow.db.broken-*"))) == 1
    tracker.start_parent("rebuilt launch", {}, str(folder))  # resume: completes from records
    tracker.reconcile(None)
    tracker.end_parent("FINISHED")
    rebuilt = children(uri, "rebuilt")
    assert {t: r.info.status for t, r in rebuilt.items()} == {
        "t0": "FINISHED", "t1": "FINISHED", "t2": "FAILED"}
    assert history(uri, rebuilt["t0"].info.run_id, "dice_by_angle") == expected_dice("t0")
    assert json.loads((runs / "t0.json").read_text())["run_id"] == rebuilt["t0"].info.run_id
    summary = tracker.summary()
    assert "was unusable" in summary and "all runs logged" in summary
    # the next launch opens the new store as it is
    assert Tracker.shared(uri, "rebuilt", str(runs), fresh=True).notes == []


def test_a_copied_study_folder_opens_with_its_artifacts_and_gets_the_report(
        database: str, tmp_path: Path, tiny: Any) -> None:
    original, copy = tmp_path / "original", tmp_path / "elsewhere" / "copy"
    write_records(original, tiny, "copied")
    shutil.copy(database.removeprefix("sqlite:///"), original / "mlflow.db")  # a ready store
    tracker = Tracker.shared(default_tracking_uri(str(original)), "copied",
                             str(original / "mlflow_runs"), fresh=True)
    tracker.start_parent("copied launch", {}, str(original))
    tracker.reconcile(None)
    tracker.end_parent("FINISHED")
    assert (original / ARTIFACTS_DIR / "copied").is_dir()

    shutil.copytree(original, copy)
    shutil.rmtree(original)  # the copy alone
    report = copy / "report"
    (report / "figures").mkdir(parents=True)
    (report / "report.html").write_text("<html>report</html>")
    (report / "figures" / "per_angle.png").write_bytes(b"png")
    note = attach_report(copy, report)  # opening the copied store re-points its artifacts
    assert note.startswith("MLflow: report attached"), note

    uri = default_tracking_uri(str(copy))
    client = MlflowClient(uri)
    run = children(uri, "copied")["t0"]
    got = client.download_artifacts(run.info.run_id, "trial_config.json", str(tmp_path))
    assert json.loads(Path(got).read_text()) == {"trial": "t0"}
    parent = json.loads((copy / "mlflow_runs" / "_parent.json").read_text())["run_id"]
    assert sorted(a.path for a in client.list_artifacts(parent, "report")) == [
        "report/figures", "report/report.html"]
    assert client.get_run(parent).data.tags["rotsweep.report"] == "report/report.html"
    assert Path(client.get_experiment_by_name("copied").artifact_location).is_relative_to(copy)


def test_report_without_a_tracking_store_is_said_not_attached(tmp_path: Path) -> None:
    (tmp_path / "report").mkdir()
    assert "not attached" in attach_report(tmp_path, tmp_path / "report")


def test_system_metrics_on_the_parent(database: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    tracker = Tracker.shared(database, "system", str(tmp_path / "mlflow_runs"), fresh=True)
    tracker.start_parent("system launch", {}, str(tmp_path))
    time.sleep(2.5)
    tracker.end_parent("FINISHED")
    metrics = MlflowClient(database).get_run(tracker.parent_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics
    assert metrics["system/system_memory_usage_megabytes"] > 0


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
    book = TrialBook(str(tmp_path))
    for i in range(20):
        book.record(f"t{i}", status="FINISHED")
    book.save(ended=True)
    start = time.perf_counter()
    tracker = Tracker.shared(f"http://127.0.0.1:{free_port()}", "exp", runs_root, fresh=True)
    tracker.start_parent("launch", {}, str(tmp_path))
    for i in range(20):
        run_id = tracker.run_for(f"t{i}", {"a": i})
        tracker.log_result(run_id, f"t{i}", {"epoch": 1, "loss": 1.0})
        tracker.finish(run_id, f"t{i}", None, "FINISHED")
    tracker.reconcile(None)
    tracker.end_parent("FINISHED")
    elapsed = time.perf_counter() - start
    assert elapsed < 20, elapsed  # 3 failed calls, then a pause instead of 60 more failures
    # every trial still finds its map entry (no run): trials never wait for it
    assert json.loads((Path(runs_root) / "t7.json").read_text()) == {"run_id": None,
                                                                     "trial_id": "t7"}
    summary = tracker.summary()
    assert "20 of 20 ended trials' runs are NOT logged" in summary
    assert "t0, t1" in summary and "and 10 more" in summary and "--resume" in summary


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
