"""The study's parent run: its study file, its system metrics, and the report attached to it.

The parent run is the place to start in MLflow's UI: it carries the study file as launched
(``study/<file>.yaml`` and the resolved ``study/study.json``), the host's CPU, memory, disk
and network use while the study ran (MLflow's system metrics, ``system/*``, sampled every
10 s by default, ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` to change it), and, once
``rotsweep report`` has run, the report (``report/report.html`` and its figures).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from rotsweep.storage import exists, join, read_bytes

SAMPLING_S = 10.0
REPORT_SUFFIXES = (".html", ".png", ".svg", ".csv", ".md")
PARENT_RECORD = "_parent.json"


def start_system_metrics(uri: str, run_id: str) -> Any | None:
    """MLflow's system-metrics monitor on ``run_id`` (continuing its steps after a resume), or
    None where it cannot run (psutil is missing: Ray ships one, imported with Ray)."""
    import ray  # noqa: F401  (puts Ray's bundled psutil on the path)

    try:
        import psutil  # noqa: F401
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError:
        return None
    logging.getLogger("mlflow.system_metrics").setLevel(logging.ERROR)
    try:
        monitor = SystemMetricsMonitor(run_id, sampling_interval=SAMPLING_S,
                                       resume_logging=True, tracking_uri=uri)
        monitor.start()
    except Exception:  # an unreachable store: the study goes on without system metrics
        return None
    return monitor


def stop_system_metrics(monitor: Any | None, wait_s: float = 5.0) -> None:
    """Stop the monitor (its last request may hang on a dead server: wait at most ``wait_s``)."""
    if monitor is None:
        return
    stopper = threading.Thread(target=monitor.finish, daemon=True)
    stopper.start()
    stopper.join(wait_s)


def study_files(source: str, storage: str) -> dict[str, bytes]:
    """The study file as launched and the resolved ``study.json``, by file name."""
    files = {}
    if source and Path(source).is_file():
        files[Path(source).name] = Path(source).read_bytes()
    meta = join(storage, "study.json")
    if exists(meta):
        files["study.json"] = read_bytes(meta)
    return files


def log_files(client: Any, run_id: str, files: dict[str, bytes], artifact_path: str) -> None:
    """Log in-memory ``files`` (relative path → bytes) as ``run_id``'s artifacts."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if files:
            client.log_artifacts(run_id, tmp, artifact_path)


def report_files(report_dir: Path) -> dict[str, bytes]:
    """The report's HTML and key files: every HTML, PNG and SVG figure (sub-folders kept) and
    the CSV/Markdown tables at its top."""
    files = {}
    for path in sorted(report_dir.rglob("*")):
        rel = path.relative_to(report_dir)
        top = len(rel.parts) == 1
        if path.is_file() and path.suffix in REPORT_SUFFIXES and (
                top or path.suffix in (".html", ".png", ".svg")):
            files[rel.as_posix()] = path.read_bytes()
    return files


def study_store(study_dir: Path) -> tuple[str, str | None]:
    """``(storage, tracking URI)`` of a study folder: its storage as ``study.json`` names it,
    and its own ``mlflow.db`` where it has one, else the tracking URI its launch recorded."""
    from study.tracking.store import default_tracking_uri

    storage = str(study_dir)
    try:
        from study.folder.meta import read_meta, storage_of

        meta = read_meta(str(study_dir))
        if meta is not None:
            storage = storage_of(str(study_dir), meta)
    except ImportError:  # an older study package: study.json names an absolute storage
        meta_file = study_dir / "study.json"
        if meta_file.is_file():
            storage = json.loads(meta_file.read_text()).get("storage") or storage
    if (study_dir / "mlflow.db").is_file():
        return storage, default_tracking_uri(str(study_dir))
    record = join(storage, "mlflow_runs", PARENT_RECORD)
    uri = json.loads(read_bytes(record)).get("tracking_uri") if exists(record) else None
    return storage, uri


def attach_report(study_dir: str | os.PathLike[str], report_dir: str | os.PathLike[str],
                  artifact_path: str | None = None) -> str:
    """Attach a written report to the study's parent run; returns one line for the user.

    Never raises for MLflow's sake: a study without a parent run, or whose tracking store is
    unreachable, gets the report on disk only, and the line says so.

    Args:
        study_dir: the study folder (``--out``).
        report_dir: the folder the report was written to.
        artifact_path: where under the parent's artifacts; ``report`` for the study's own
            ``report/`` folder, ``reports/<folder name>`` for any other (a filtered report).
    """
    from mlflow.tracking import MlflowClient

    from study.tracking.store import HTTP_DEFAULTS, relocate

    study_dir, report_dir = Path(study_dir), Path(report_dir)
    if artifact_path is None:
        inside = report_dir.resolve() == (study_dir / "report").resolve()
        artifact_path = "report" if inside else f"reports/{report_dir.name}"
    storage, uri = study_store(study_dir)
    record = join(storage, "mlflow_runs", PARENT_RECORD)
    if uri is None or not exists(record):
        return "MLflow: this study has no parent run; the report was not attached"
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    parent = json.loads(read_bytes(record))["run_id"]
    files = report_files(report_dir)
    try:
        relocate(uri)
        client = MlflowClient(uri)
        run = client.get_run(parent)
        root = run.info.artifact_uri
        if "://" not in root or root.startswith("file:"):  # a local store: no stale figures
            shutil.rmtree(Path(root.removeprefix("file://")) / artifact_path,
                          ignore_errors=True)
        log_files(client, parent, files, artifact_path)
        client.set_tag(parent, "rotsweep.report", f"{artifact_path}/report.html")
    except Exception as err:  # unreachable or refusing: the report on disk is what counts
        return (f"MLflow: report not attached to the study's run in {uri} "
                f"({type(err).__name__}: {str(err).splitlines()[0][:160]})")
    return f"MLflow: report attached to the study's run ({len(files)} files, {artifact_path}/)"
