"""Helpers of the study-engine tests: tiny study files, subprocess drivers and their clean-up,
and readers of what a study left in its tables and in MLflow."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

REPO = Path(__file__).resolve().parents[2]
ROTSWEEP = [sys.executable, "-m", "study.cli.main"]


def tiny_study(path: Path, tiny: Callable[..., dict[str, Any]], name: str, epochs: int = 1,
               **keys: Any) -> Path:
    """Write a study file: the tiny trial (no HoG) with ``epochs`` and study ``keys``."""
    trial = {k: v for k, v in tiny().items() if k != "study"}
    trial["train"] = {**trial["train"], "epochs": epochs, "num_threads": 1}
    trial["hog"] = {**trial["hog"], "enabled": False}
    for section, values in list(keys.items()):
        if section in trial and isinstance(values, dict):
            trial[section] = {**trial[section], **keys.pop(section)}
    path.write_text(yaml.safe_dump({"name": name, **trial, **keys}))
    return path


def epoch_study(tmp_path: Path, tiny: Callable[..., dict[str, Any]], name: str, epochs: int,
                train_angles: list[list[int]]) -> tuple[Path, Path, list[str]]:
    """A study of one trial per train angle set, long enough per epoch to be interrupted
    part-way: its output folder, results folder and the ``rotsweep`` arguments that run it."""
    study = tiny_study(tmp_path / "study.yaml", tiny, name, epochs=epochs,
                       axes={"pretext.params.angles": train_angles},
                       data={"n_train": 64, "params": {"kind": "rectangles", "n_images": 96}})
    out = tmp_path / "out"
    return out, out / "results", ["run", str(study), "--out", str(out), "--num-cpus", "2"]


def start_driver(args: list[str], log: Path, env: dict[str, str] | None = None
                 ) -> subprocess.Popen[bytes]:
    """``rotsweep`` as a subprocess in its own session (so everything it starts, a local Ray
    instance included, can be found by session id and ended after a SIGKILL)."""
    return subprocess.Popen(
        [*ROTSWEEP, *args], cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True, env={**os.environ, **(env or {})})


def end_session(sid: int) -> None:
    """SIGKILL every process of session ``sid`` (one this test started), by pid."""
    for _ in range(3):
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _sid(int(p)) == sid]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str,
             proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll ``condition`` every 0.5 s; fail naming ``what`` (and the driver's log) on timeout
    or when ``proc`` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def book(storage: Path) -> dict[str, Any]:
    """The trial book (``progress.json``) of a study's storage, or ``{}``."""
    path = storage / "progress.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def parts(results: Path, table: str) -> list[Path]:
    """The part files of ``table``."""
    return sorted((results / table).glob("study=*/dataset=*/part-*.parquet"))


def epochs_done(results: Path) -> dict[str, int]:
    """Epochs in each trial's ``pretext`` part (rewritten by the trial after every epoch)."""
    out = {}
    for part in parts(results, "pretext"):
        with contextlib.suppress(OSError):  # being replaced right now
            out[part.stem.removeprefix("part-")] = pq.read_metadata(part).num_rows
    return out


def finished(storage: Path) -> set[str]:
    """The trials with a done record."""
    return {p.stem for p in (storage / "done").glob("*.json")}


def mlflow_runs(uri: str, experiment: str) -> list[Any]:
    """Every run of ``experiment`` at ``uri``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], max_results=1000) if exp else []


def child_runs(uri: str, experiment: str) -> dict[str, Any]:
    """The trial runs of ``experiment`` by trial id (fails on a duplicate)."""
    children: dict[str, Any] = {}
    for run in mlflow_runs(uri, experiment):
        trial_id = run.data.tags.get("rotsweep.trial_id")
        if trial_id:
            assert trial_id not in children, f"two MLflow runs for trial {trial_id}"
            children[trial_id] = run
    return children


def loss_steps(uri: str, run_id: str) -> list[int]:
    """The steps of a run's per-epoch ``loss`` metric, in logging order."""
    from mlflow.tracking import MlflowClient

    return [m.step for m in MlflowClient(uri).get_metric_history(run_id, "loss")]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    """Whether an MLflow server answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, str]]:
    """``mlflow server`` on a loopback port with a SQLite store and proxied artifacts under
    ``folder``, in its own session; yields (process, its URL, its store's URI)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = folder / "server.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{db}",
         "--artifacts-destination", str(folder / "server-artifacts")],
        stdout=(folder / "server.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        wait_for(lambda: healthy(url), 180, "mlflow server", proc, folder / "server.log")
        yield proc, url, f"sqlite:///{db}"
    finally:
        end_session(proc.pid)
