"""``rotsweep status DIR``: a study's trials done / running / failed, while it runs or after.

Reads the study folder's ``study.json``, the storage it names (relative to the folder; a copy of
a study folder is read from where it is), the trial book (``progress.json``, kept current by the
driver at every trial event) and the claim (``claim.json``, present while a launch runs; see
study/claim.py). Works for a running study, one whose driver was killed, and one stored on a
URI. Counts cover the study's planned trials only. Imports neither torch nor Ray.

A local study folder that was moved or copied (and that no launch runs now) gets its MLflow
store re-pointed to where it is (study/tracking_store.py ``relocate``), so a plain
``mlflow ui`` on the copy shows the copy's artifacts; this is the one thing ``status`` writes.

Exit codes (:func:`status_report`), for scripts that wait on a study:

* 0 finished: every planned trial ended (finished or stopped early), none failed;
* 1 damaged: a table part or the trial book cannot be read (one line names the file);
* 2 not a study: the folder holds no ``study.json``;
* 3 running: a live launch holds the study;
* 4 interrupted: no launch runs and trials are left (continue with ``--resume``);
* 5 failed: no launch runs, nothing is left to run, and some trials failed.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

from rotsweep.schema import TABLES, columns
from rotsweep.storage import join
from rotsweep.tables import read_table, table_exists
from study.book import TrialBook, axes_text
from study.claim import Holder, pid_alive, read_holder
from study.messages import error_message
from study.meta import StudyError, read_meta, storage_of

FINISHED, DAMAGED, NOT_A_STUDY, RUNNING, INTERRUPTED, FAILED = 0, 1, 2, 3, 4, 5


def plan_ids(meta: dict) -> list[str] | None:
    """The trial ids of the study's plan (study/plan.py), None for an older study folder."""
    prefix, n = meta.get("trial_prefix"), meta.get("n_trials")
    if not prefix or not isinstance(n, int):
        return None
    width = max(5, len(str(n - 1)))
    return [f"{prefix}_{i:0{width}d}" for i in range(n)]


def driver_state(book: TrialBook, holder: Holder | None = None) -> tuple[str, bool]:
    """A phrase about the study's driver, and whether it may still be running."""
    if holder is not None:
        if holder.alive():
            return f"running ({holder.describe()})", True
        return (f"driver gone ({holder.describe()}): interrupted, continue with --resume",
                False)
    d = book.driver
    if not d:
        return "no launch recorded", False
    if d.get("ended"):
        return "last launch ended", False
    # no claim: a launch of an older rotsweep, or one whose claim was removed by hand
    age = time.time() - float(d.get("heartbeat", d.get("started", 0)))
    where = f"pid {d.get('pid')} on {d.get('host')}, last update {age:.0f} s ago"
    pid = int(d.get("pid") or 0)
    if d.get("host") == socket.gethostname() and pid > 0 and pid_alive(pid):
        return f"running ({where})", True
    return f"driver gone ({where}): interrupted, continue with --resume", False


def status_report(folder: Path) -> tuple[str, int]:
    """The lines of ``rotsweep status`` and its exit code (see the module docstring)."""
    where = str(folder)
    try:
        meta = read_meta(where) if Path(where).is_dir() or "://" in where else None
    except StudyError as err:
        return f"error: {err}", DAMAGED
    if meta is None:
        return (f"{folder}: not a rotsweep study folder (no study.json); give the folder that "
                "`rotsweep run --out DIR` wrote"), NOT_A_STUDY
    storage = storage_of(where, meta)
    try:
        book = TrialBook.load(storage)
    except (ValueError, TypeError, KeyError) as err:
        return f"error: {join(storage, 'progress.json')}: damaged trial book ({err})", DAMAGED
    phrase, alive = driver_state(book, read_holder(storage))
    planned = plan_ids(meta)
    trials = ({t: book.trials[t] for t in planned if t in book.trials} if planned is not None
              else dict(list(book.trials.items())[:int(meta.get("n_trials", 0))]))
    n_planned = int(meta.get("n_trials", len(trials)))
    counts: dict[str, int] = {}
    for rec in trials.values():
        counts[rec.status] = counts.get(rec.status, 0) + 1
    lines = [f"study {meta['name']!r} ({meta.get('source', '?')}): {n_planned} trials planned; "
             f"{phrase}"]
    left = n_planned - counts.get("FINISHED", 0) - counts.get("STOPPED", 0) - counts.get(
        "FAILED", 0)
    lines.append(
        f"  finished {counts.get('FINISHED', 0)}, failed {counts.get('FAILED', 0)}, "
        f"{'running' if alive else 'interrupted'} "
        f"{counts.get('RUNNING', 0) + counts.get('INTERRUPTED', 0)}, "
        f"stopped early {counts.get('STOPPED', 0)}, "
        f"not started {max(n_planned - len(trials), 0)}")
    lines += trial_lines(trials, alive)
    moved = None if alive else relocate_store(where)
    if moved:
        lines.append(moved)
    if len(book.trials) > len(trials):
        lines.append(f"  ({len(book.trials) - len(trials)} records of trials outside the plan "
                     "not counted)")
    damaged = table_lines(join(storage, "results"), lines)
    if damaged:
        return "\n".join(lines), DAMAGED
    if alive:
        return "\n".join(lines), RUNNING
    if left > 0:
        return "\n".join(lines), INTERRUPTED
    return "\n".join(lines), FAILED if counts.get("FAILED") else FINISHED


def trial_lines(trials: dict, alive: bool) -> list[str]:
    """One line per running, interrupted or failed trial."""
    lines = []
    for rec in trials.values():
        axes = axes_text(rec.axes)
        if rec.status in ("RUNNING", "INTERRUPTED"):
            epoch = f" epoch {rec.epoch}" if rec.epoch else ""
            retried = f", {rec.failures} failure(s) so far" if rec.failures else ""
            lines.append(f"  {'RUNNING' if alive else 'INTERRUPTED'} {rec.trial_id} ({axes})"
                         f"{epoch}{retried}")
        elif rec.status == "FAILED":
            lines.append(f"  FAILED {rec.trial_id} ({axes}) after {rec.failures} failure(s): "
                         f"{error_message(rec.error)[:2000]}")
    return lines


def relocate_store(folder: str) -> str | None:
    """Re-point the MLflow store of a moved or copied local study folder to where it is now;
    a line saying so (or why it could not), None when there was nothing to do."""
    db = Path(folder) / "mlflow.db"
    if "://" in folder or not db.is_file():
        return None
    from study.tracking_store import relocate

    try:
        moved = relocate(f"sqlite:///{db.absolute()}")
    except (sqlite3.Error, OSError) as err:  # a read-only copy: the UI shows the old paths
        return f"  note: {db}: MLflow artifact locations not re-pointed here ({err})"
    if not moved:
        return None
    return (f"  MLflow: artifact locations re-pointed to {db.parent.absolute() / 'mlartifacts'} "
            "(the folder was moved or copied)")


def table_lines(results: str, lines: list[str]) -> bool:
    """Append one line per table (its rows) to ``lines``, or one naming a damaged part file;
    whether a part was damaged."""
    for table in TABLES:
        if not table_exists(results, table):
            continue
        try:  # one stored column is enough to count the rows
            n_rows = len(read_table(results, table, columns=[columns(table)[2]]))
        except (OSError, ValueError) as err:  # pyarrow's errors are both
            lines.append(f"error: table {table!r}: damaged part file: {one_line(str(err))}")
            return True
        lines.append(f"  {table}: {n_rows} rows")
    return False


def one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def study_status(folder: Path) -> str:
    """The lines of ``rotsweep status`` (see :func:`status_report`)."""
    return status_report(folder)[0]
