"""The MLflow store of a study: artifacts beside a SQLite store, moved folders, half-built files.

**Artifacts beside the store.** A SQLite store keeps its runs' artifacts in ``mlartifacts/``
next to the database file (``<study>/mlflow.db`` and ``<study>/mlartifacts/<experiment>/``
for the default store of a study folder), never in the working directory (MLflow's own default
for SQLite is ``./mlruns`` of whichever process created the experiment). MLflow records
artifact locations as absolute paths, so a study folder that was moved or copied is re-pointed
(:func:`relocate`) whenever rotsweep opens its store: ``run``/``--resume`` and ``report``.

**Half-built stores.** A SQLite file whose creation (or schema upgrade) was cut short, by a
full disk for example, holds some of MLflow's tables and an intermediate schema revision, and
every later open fails ("table ... already exists"). :func:`open_sqlite` recognises a file this
MLflow cannot open and that is not simply busy or from a newer MLflow, keeps it aside as
``mlflow.db.broken-<time>`` and lets MLflow create a fresh one; the tracker then rebuilds every
run from the study's records (study/tracking/sync.py).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import unquote

ARTIFACTS_DIR = "mlartifacts"
# tags every tracking module reads or writes
PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "rotsweep.trial_id"
COMPLETE_TAG = "rotsweep.complete"
# an unreachable server costs seconds, not minutes
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 # else every ended run costs one more request and prints "View run ... at"
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
#: The experiment tag that MLflow 3's UI reads as the experiment's kind ("Machine learning"
#: rather than "GenAI apps & agents").
KIND_TAG = "mlflow.experimentKind"
KIND_ML = "custom_model_development"


def default_tracking_uri(out: str) -> str:
    """SQLite in the study folder (local studies)."""
    return f"sqlite:///{Path(out).absolute() / 'mlflow.db'}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI, None for any other store."""
    if not uri.startswith("sqlite:///"):
        return None  # another store, or SQLite in memory
    path = unquote(uri.removeprefix("sqlite:///").split("?", 1)[0])
    return Path(path) if path else None


def artifact_root(uri: str) -> str | None:
    """Where a new experiment of the store at ``uri`` keeps its artifacts: ``mlartifacts/``
    beside a SQLite file; None (the server's choice) for a tracking server."""
    db = sqlite_path(uri)
    return str(db.parent.absolute() / ARTIFACTS_DIR) if db else None


def ui_url(uri: str, experiment_id: str | None, host: str = "http://127.0.0.1:5000") -> str:
    """The experiment's runs page on the ML view of MLflow 3's UI (``workflowType`` in the URL
    wins over the UI's remembered GenAI/ML switch)."""
    base = uri.rstrip("/") if uri.startswith("http") else host
    page = f"/#/experiments/{experiment_id}/runs" if experiment_id else "/#/experiments"
    return f"{base}{page}?workflowType=machine_learning"


def relocate(uri: str) -> int:
    """Re-point the artifact locations of a SQLite store whose folder was moved or copied:
    every experiment whose location is ``<old>/mlartifacts/<name>`` (and its runs) is made
    ``<here>/mlartifacts/<name>``. Returns how many experiments were re-pointed."""
    db = sqlite_path(uri)
    if db is None or not db.is_file():
        return 0
    here = str(db.parent.absolute() / ARTIFACTS_DIR)
    marker = f"/{ARTIFACTS_DIR}/"
    moved = 0
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con, con:
        try:
            rows = con.execute("SELECT experiment_id, artifact_location FROM experiments")
            rows = rows.fetchall()
        except sqlite3.DatabaseError:
            return 0  # not (yet) a store: open_sqlite deals with it
        for exp_id, location in rows:
            _, sep, name = (location or "").rpartition(marker)
            new = f"{here}/{name}"
            if not sep or "/" in name or location == new:
                continue
            con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                        (new, exp_id))
            con.execute("UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                        "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                        (new, len(location) + 1, exp_id, len(location), location))
            moved += 1
    if moved:  # MLflow caches each run's artifact repository, with the old location
        from mlflow.tracking._tracking_service import utils

        getattr(utils, "_artifact_repos_cache", {}).clear()
    return moved


def known_revision(revision: str) -> bool:
    """Whether this MLflow's migrations know schema ``revision`` (a newer MLflow's do not)."""
    import mlflow

    versions = Path(mlflow.__file__).parent / "store" / "db_migrations" / "versions"
    return any(p.name.startswith(f"{revision}_") for p in versions.glob("*.py"))


def schema_revision(db: Path) -> str | None:
    """The store's recorded schema revision (None: none recorded, creation never finished).

    Raises:
        sqlite3.DatabaseError: the file is not a readable SQLite database.
    """
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "alembic_version" not in tables:
            return None
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def why_unusable(db: Path, error: Exception) -> str | None:
    """Why the SQLite file ``db`` that MLflow failed to open with ``error`` should be rebuilt,
    or None when it should be left alone (busy, or written by a newer MLflow)."""
    text = str(error)
    if "database is locked" in text:
        return None
    try:
        revision = schema_revision(db)
    except sqlite3.DatabaseError as err:
        return f"not a readable SQLite database ({err})"
    if revision is None:
        return "half-built: MLflow's schema was never completed"
    if not known_revision(revision):
        return None
    return f"half-built or damaged at schema revision {revision} ({text.splitlines()[0][:150]})"


def set_aside(db: Path) -> Path:
    """Rename ``db`` (and its journal files) to ``<name>.broken-<time>``; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    aside = db.with_name(f"{db.name}.broken-{stamp}")
    for suffix in ("", "-journal", "-wal", "-shm"):
        source = Path(f"{db}{suffix}")
        if source.exists():
            os.replace(source, f"{aside}{suffix}")
    return aside


def forget_engine(uri: str) -> None:
    """Drop MLflow's cached SQLAlchemy engine for ``uri`` (its connections would keep writing
    to the file that was set aside)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engines = getattr(SqlAlchemyStore, "_engine_map", {})
    for key in [k for k in engines if k == uri or sqlite_path(k) == sqlite_path(uri)]:
        engines.pop(key).dispose()


def open_sqlite(uri: str) -> str | None:
    """Make sure the SQLite store at ``uri`` opens: relocate a moved one, rebuild a half-built
    one. Returns a note for the launch's summary when something was repaired, else None.

    A store that cannot be opened for another reason (busy, a newer MLflow's schema) is left
    as it is: the tracker's calls then fail and its summary says so."""
    from mlflow.tracking import MlflowClient

    db = sqlite_path(uri)
    if db is None or not db.is_file() or db.stat().st_size == 0:
        return None
    relocate(uri)
    try:
        MlflowClient(uri).search_experiments(max_results=1)
        return None
    except Exception as err:  # whatever MLflow raises for a store it cannot use
        reason = why_unusable(db, err)
        if reason is None:
            return None
    forget_engine(uri)
    aside = set_aside(db)
    return (f"MLflow: the store {db} was unusable ({reason}); it was kept as {aside.name} "
            "and a new store is rebuilt from the study's records")
