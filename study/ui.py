"""``rotsweep ui DIR``: MLflow's UI on a study folder's own store, wherever the folder now is.

A study folder keeps its MLflow store (``mlflow.db``) and the runs' artifacts
(``mlartifacts/``) side by side (docs/mlflow.md). MLflow records artifact locations as absolute
paths, so before the UI starts the store is re-pointed to the folder's present place
(:func:`study.tracking_store.relocate`): a copied or moved folder opens with its artifacts. The
UI then runs as ``mlflow ui --backend-store-uri sqlite:///<DIR>/mlflow.db --port N`` (one
worker; new artifacts, if any, under ``<DIR>/mlartifacts``), and the address printed opens the
study's experiment on the UI's "machine learning" view.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from rotsweep.storage import exists, join, read_bytes


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
    """

    uri: str
    url: str
    argv: list[str]
    moved: int


def _experiment_id(db: Path, storage: str, name: str | None) -> str | None:
    # the parent run's experiment (mlflow_runs/_parent.json), else the experiment named after
    # the study, else None (the UI's experiment list)
    from study.tracking_parent import PARENT_RECORD

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


def ui_plan(folder: str | Path, port: int = 5000) -> UiPlan:
    """Re-point the study's store to where ``folder`` is now and say how to open it.

    Args:
        folder: the study folder (``rotsweep run --out DIR``).
        port: the UI's port.

    Raises:
        UiError: no such folder, or no SQLite MLflow store in it (a study tracked on a server
            is opened there).
    """
    from study.meta import StudyError
    from study.tracking_parent import study_store
    from study.tracking_store import ARTIFACTS_DIR, relocate, sqlite_path, ui_url

    folder = Path(folder)
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
    url = ui_url(uri, _experiment_id(db, storage, name), host=f"http://127.0.0.1:{port}")
    # one worker: a UI for one reader starts in seconds, even on a busy machine
    argv = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--port",
            str(port), "--workers", "1", "--artifacts-destination",
            str(db.parent.absolute() / ARTIFACTS_DIR)]
    return UiPlan(uri=uri, url=url, argv=argv, moved=moved)
