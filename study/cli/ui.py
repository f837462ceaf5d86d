"""``rotsweep ui DIR``: MLflow's UI on a study folder's own store, wherever the folder now is.

A study folder keeps its MLflow store (``mlflow.db``) and the runs' artifacts
(``mlartifacts/``) side by side (docs/mlflow.md). MLflow records artifact locations as absolute
paths, so before the UI starts the store is re-pointed to the folder's present place
(:func:`study.tracking.store.relocate`): a copied or moved folder opens with its artifacts. The
parent run's ``rotsweep.storage`` tag, which names the study's storage, is re-pointed the same
way when the folder is its own storage (:func:`repoint_storage_tag`).

The UI then runs as ``mlflow ui --backend-store-uri sqlite:///<DIR>/mlflow.db --port N`` (one
worker; new artifacts, if any, under ``<DIR>/mlartifacts``) in a child process (:func:`serve`).
The address, which opens the study's experiment on the UI's "machine learning" view, is printed
only once the server answers its ``/health`` check: MLflow's UI can take most of a minute to
start on a busy machine, and a printed address that does not open looks broken.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from rotsweep.storage import exists, join, read_bytes

#: The parent run's tag naming the study's storage (study/tracking/tracker.py).
STORAGE_TAG = "rotsweep.storage"
#: How long ``rotsweep ui`` waits for MLflow's UI to answer (seen: ~54 s on 2 busy cores).
READY_TIMEOUT_S = 300.0


class UiError(ValueError):
    """A folder without a local MLflow store (one line, saying what is needed)."""


@dataclass(frozen=True)
class UiPlan:
    """What ``rotsweep ui`` runs.

    Attributes:
        uri: the study's tracking URI (``sqlite:///...``).
        url: the experiment's runs page on the ML view.
        argv: the ``mlflow ui`` command line.
        moved: experiments re-pointed to the folder's present place (0: it had not moved).
        retagged: runs whose ``rotsweep.storage`` tag was re-pointed there.
        port: the UI's port.
    """

    uri: str
    url: str
    argv: list[str]
    moved: int
    retagged: int = 0
    port: int = 5000


def _experiment_id(db: Path, storage: str, name: str | None) -> str | None:
    # the parent run's experiment (mlflow_runs/_parent.json), else the experiment named after
    # the study, else None (the UI's experiment list)
    from study.tracking.parent import PARENT_RECORD

    record = join(storage, "mlflow_runs", PARENT_RECORD)
    run_id = json.loads(read_bytes(record)).get("run_id") if exists(record) else None
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        try:
            for query, value in (("SELECT experiment_id FROM runs WHERE run_uuid = ?", run_id),
                                 ("SELECT experiment_id FROM experiments WHERE name = ?", name)):
                row = con.execute(query, (value,)).fetchone() if value else None
                if row:
                    return str(row[0])
        except sqlite3.DatabaseError:
            return None
    return None


def repoint_storage_tag(db: Path, experiment_id: str | None, storage: str) -> int:
    """Make the ``rotsweep.storage`` tag of the experiment's runs name ``storage``, the study's
    storage as seen from where the folder is now; returns how many tags changed.

    A copied folder holds its own trial book, so its storage is the folder itself
    (:func:`study.folder.meta.storage_of`), while the parent run's tag still names the original
    folder; a study whose storage lies elsewhere (``--storage URI``) keeps the tag it had."""
    if experiment_id is None:
        return 0
    with closing(sqlite3.connect(db, timeout=30)) as con, con:
        try:
            cursor = con.execute(
                "UPDATE tags SET value = ? WHERE key = ? AND value != ? AND run_uuid IN "
                "(SELECT run_uuid FROM runs WHERE experiment_id = ?)",
                (storage, STORAGE_TAG, storage, experiment_id))
        except sqlite3.DatabaseError:
            return 0
        return max(cursor.rowcount, 0)


def ui_plan(folder: str | Path, port: int = 5000) -> UiPlan:
    """Re-point the study's store to where ``folder`` is now and say how to open it.

    Args:
        folder: the study folder (``rotsweep run --out DIR``).
        port: the UI's port.

    Raises:
        UiError: no such folder, or no SQLite MLflow store in it (a study tracked on a server
            is opened there).
    """
    from study.folder.meta import StudyError, is_local
    from study.tracking.parent import study_store
    from study.tracking.store import ARTIFACTS_DIR, relocate, sqlite_path, ui_url

    folder = Path(folder).absolute()
    if not folder.is_dir():
        raise UiError(f"{folder}: no such folder; give the study folder that `rotsweep run "
                      "--out DIR` wrote")
    try:
        storage, uri = study_store(folder)
    except StudyError as err:
        raise UiError(" ".join(str(err).split())) from err
    db = sqlite_path(uri) if uri else None
    if db is None or not db.is_file():
        where = f"its runs are on {uri}: open that server's UI" if uri else \
            "`rotsweep run --out DIR` writes DIR/mlflow.db"
        raise UiError(f"{folder}: no MLflow store (mlflow.db) in this folder; {where}")
    moved = relocate(uri)
    name = None
    if (folder / "study.json").is_file():
        try:
            name = json.loads((folder / "study.json").read_text()).get("name")
        except (OSError, ValueError, AttributeError):
            name = None
    experiment_id = _experiment_id(db, storage, name)
    # also when an earlier `status` or `report` on the copy re-pointed its artifacts already
    retagged = repoint_storage_tag(db, experiment_id, storage) if is_local(storage) else 0
    url = ui_url(uri, experiment_id, host=f"http://127.0.0.1:{port}")
    # one worker: a UI for one reader starts in seconds, even on a busy machine
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--port",
            str(port), "--workers", "1", "--artifacts-destination",
            str(db.parent.absolute() / ARTIFACTS_DIR)]
    return UiPlan(uri=uri, url=url, argv=argv, moved=moved, retagged=retagged, port=port)


def _port_taken(port: int) -> bool:
    # as the server binds it (SO_REUSEADDR): connections of a UI just stopped, waiting out
    # TIME_WAIT, do not count; a listening program does
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def serve(plan: UiPlan, timeout_s: float = READY_TIMEOUT_S, out: TextIO = sys.stdout) -> int:
    """Run ``plan``'s ``mlflow ui`` until it ends or this process is interrupted (Ctrl-C,
    SIGTERM), printing the address on ``out`` once the server answers.

    The server's own log goes to stderr, so ``out`` holds rotsweep's lines only.

    Returns:
        0 after Ctrl-C or SIGTERM, else the server's exit status.

    Raises:
        UiError: the port is taken, or the server exited or stayed silent for ``timeout_s``
            seconds before answering (it is stopped then).
    """
    if _port_taken(plan.port):
        raise UiError(f"--port {plan.port}: in use by another program; pass a free port")
    health = f"http://127.0.0.1:{plan.port}/health"
    proc = subprocess.Popen(plan.argv, stdout=2)  # fd 2: stderr, also under capture
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        deadline = time.monotonic() + timeout_s
        while not _answers(health):
            if proc.poll() is not None:
                raise UiError(f"mlflow ui exited with status {proc.returncode} before "
                              f"answering on port {plan.port} (its log is above)")
            if time.monotonic() > deadline:
                raise UiError(f"mlflow ui did not answer on port {plan.port} within "
                              f"{timeout_s:.0f} s; stopped it")
            time.sleep(0.5)
        print(f"MLflow UI: {plan.url}  (Ctrl-C stops it)", file=out, flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # the UI's workers are its children: SIGTERM lets it end them
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
