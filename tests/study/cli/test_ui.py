"""``rotsweep ui DIR``: a copied study folder opens in MLflow's UI with its artifacts and its
parent run's storage tag re-pointed, on the experiment's machine-learning view; the address is
printed once the server answers; a folder without a store, a taken port or a server that never
answers gets one line (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.cli.main import main
from study.cli.ui import STORAGE_TAG, UiError, UiPlan, serve, ui_plan
from study.tracking.store import ARTIFACTS_DIR, default_tracking_uri

NAME = "uistudy"


def write_tracked_study(folder: Path) -> str:
    """A study folder as a launch leaves it for MLflow: ``mlflow.db``, the artifacts beside it,
    ``mlflow_runs/_parent.json`` and ``study.json``; returns the parent run's id."""
    folder.mkdir(parents=True)
    uri = default_tracking_uri(str(folder))
    client = MlflowClient(uri)
    client.create_experiment("other", artifact_location=str(folder / ARTIFACTS_DIR / "other"))
    exp = client.create_experiment(NAME, artifact_location=str(folder / ARTIFACTS_DIR / NAME))
    run = client.create_run(exp, run_name="study", tags={STORAGE_TAG: str(folder)})
    note = folder / "note.txt"
    note.write_text("the study's artifact")
    client.log_artifact(run.info.run_id, str(note), "study")
    client.set_terminated(run.info.run_id)
    note.unlink()
    (folder / "mlflow_runs").mkdir()
    (folder / "mlflow_runs" / "_parent.json").write_text(
        json.dumps({"run_id": run.info.run_id, "tracking_uri": uri}))
    (folder / "study.json").write_text(json.dumps({"name": NAME, "storage": "."}))
    return run.info.run_id


@pytest.fixture(scope="module")
def copied(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A tracked study folder, copied elsewhere, the original deleted."""
    root = tmp_path_factory.mktemp("ui")
    run_id = write_tracked_study(root / "original")
    shutil.copytree(root / "original", root / "elsewhere" / "copy")
    shutil.rmtree(root / "original")
    return root / "elsewhere" / "copy", run_id


def test_plan_repoints_the_copy_and_names_the_ml_view(copied: tuple[Path, str]) -> None:
    folder, run_id = copied
    plan = ui_plan(folder, port=5123)
    assert plan.moved == 2  # both experiments (the study's is not the first)
    client = MlflowClient(plan.uri)
    exp = client.get_experiment_by_name(NAME)
    assert plan.url == (f"http://127.0.0.1:5123/#/experiments/{exp.experiment_id}/runs"
                        "?workflowType=machine_learning")
    assert exp.experiment_id != "0" and Path(exp.artifact_location).is_relative_to(folder)
    assert Path(client.get_run(run_id).info.artifact_uri).is_relative_to(folder)
    assert plan.retagged == 1 and client.get_run(run_id).data.tags[STORAGE_TAG] == str(folder)
    assert plan.argv[1:] == ["-m", "mlflow", "ui", "--backend-store-uri", plan.uri, "--port",
                             "5123", "--workers", "1", "--artifacts-destination",
                             str(folder / ARTIFACTS_DIR)]
    again = ui_plan(folder, port=5123)
    assert (again.moved, again.retagged) == (0, 0)  # in place now


def test_a_storage_elsewhere_keeps_its_tag(tmp_path: Path) -> None:
    # --storage URI: the folder holds the store only; the tag names the storage, not the folder
    run_id = write_tracked_study(tmp_path / "original")
    meta = tmp_path / "original" / "study.json"
    meta.write_text(json.dumps({"name": NAME, "storage": "file:///shared/study"}))
    shutil.copytree(tmp_path / "original", tmp_path / "copy")
    plan = ui_plan(tmp_path / "copy")
    assert plan.moved == 2 and plan.retagged == 0
    tag = MlflowClient(plan.uri).get_run(run_id).data.tags[STORAGE_TAG]
    assert tag == str(tmp_path / "original")


def test_a_folder_without_a_store_is_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for folder in (tmp_path, tmp_path / "absent"):
        assert main(["ui", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {folder}: ")
        assert "rotsweep run --out DIR" in err[0]


def test_a_taken_port_is_one_line(copied: tuple[Path, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder, _ = copied
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", str(folder), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --port {port}: in use by another program; pass a free port"]


def _plan(argv: list[str]) -> UiPlan:
    return UiPlan(uri="sqlite:///x.db", url="http://127.0.0.1/#/x", argv=argv, moved=0,
                  port=_free_port())


def test_no_address_before_the_server_answers(capsys: pytest.CaptureFixture[str]) -> None:
    # a server that dies at once, and one that never answers: no address, the child stopped
    with pytest.raises(UiError, match="exited with status 3 before answering"):
        serve(_plan([sys.executable, "-c", "raise SystemExit(3)"]))
    start = time.monotonic()
    with pytest.raises(UiError, match=r"did not answer on port \d+ within 2 s; stopped it"):
        serve(_plan([sys.executable, "-c", "import time; time.sleep(60)"]), timeout_s=2)
    assert time.monotonic() - start < 20  # stopped, not waited for
    assert capsys.readouterr().out == ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_ui_serves_the_copied_folders_artifacts(copied: tuple[Path, str],
                                                    tmp_path: Path) -> None:
    folder, run_id = copied
    port = _free_port()
    exe = Path(sys.executable).parent / "rotsweep"
    proc = subprocess.Popen([str(exe), "ui", str(folder), "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # its own group: the server goes with it
    url = f"http://127.0.0.1:{port}/get-artifact?path=study/note.txt&run_uuid={run_id}"
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        if first.startswith("MLflow store re-pointed"):  # the copy's first opening
            first = proc.stdout.readline() if proc.stdout else ""
        assert first.startswith(f"MLflow UI: http://127.0.0.1:{port}/#/experiments/")
        assert "workflowType=machine_learning" in first
        # printed once the server answers: the first request succeeds
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read() == b"the study's artifact"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert not any(tmp_path.iterdir())  # nothing written where it was started
