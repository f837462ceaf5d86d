"""``rotsweep status DIR``: a study's trials done / running / failed, while it runs or after.

Reads the study folder's ``study.json``, the storage it names (relative to the folder; a copy of
a study folder is read from where it is), the trial book (``progress.json``, kept current by the
driver at every trial event) and the claim (``claim.json``, present while a launch runs; see
study/folder/claim.py). Works for a running study, one whose driver was killed, and one stored on a
URI. Counts cover the study's planned trials only. Imports neither torch nor Ray.

**From the data.** Each trial's state is the verdict of study/folder/completeness.py
``trial_states``: finished only when its done record and every row its config implies are in
storage, however the book or Tune marked it; the same function decides what ``--resume`` runs.
Every trial that is not done is named by its axis values (a trial that never started, by its
grid point from ``study.json``), and every table file pyarrow cannot read by its path and the
trials whose rows it held (``--resume`` sets it aside and runs them again).

A local study folder that was moved or copied (and that no launch runs now) gets its MLflow
store re-pointed to where it is (study/tracking/store.py ``relocate``), so a plain
``mlflow ui`` on the copy shows the copy's artifacts; this is the one thing ``status`` writes.

Exit codes (:func:`status_report`), for scripts that wait on a study:

* 0 finished: every planned trial is complete (or stopped early), none failed;
* 1 damaged: a table file or the trial book cannot be read (one line names the file);
* 2 not a study: the folder holds no ``study.json`` (nor the claim of a launch killed while it
  started: that is 4, as ``run`` says);
* 3 running: a live launch holds the study;
* 4 interrupted: no launch runs and trials lack their data, or the ``trials`` table is behind
  the data (a launch killed after its trials ended; continue with ``--resume``);
* 5 failed: no launch runs, nothing is left to run, and some trials failed.
"""

from __future__ import annotations

import itertools
import socket
import sqlite3
import time
from pathlib import Path

from rotsweep.storage import join
from rotsweep.tables import read_table
from study.folder.book import TERMINAL, TrialBook, axes_text
from study.folder.claim import Holder, pid_alive, read_holder
from study.folder.completeness import VERDICTS, StudyData, check_data, trial_states
from study.folder.meta import StudyError, layout, read_meta, storage_of
from study.messages import error_message

FINISHED, DAMAGED, NOT_A_STUDY, RUNNING, INTERRUPTED, FAILED = 0, 1, 2, 3, 4, 5


def plan_ids(meta: dict) -> list[str] | None:
    """The trial ids of the study's plan (study/launch/plan.py), None for an older study folder."""
    prefix, n = meta.get("trial_prefix"), meta.get("n_trials")
    if not prefix or not isinstance(n, int):
        return None
    width = max(5, len(str(n - 1)))
    return [f"{prefix}_{i:0{width}d}" for i in range(n)]


def driver_state(book: TrialBook, holder: Holder | None = None) -> tuple[str, bool]:
    """A phrase about the study's driver, and whether it may still be running. A dead holder's
    claim (a killed launch or ``rotsweep compact``) says nothing of the trials: whether any are
    left, and the advice, come from the data (:func:`status_report`)."""
    if holder is not None:
        if holder.alive():
            return f"running ({holder.describe()})", True
        return f"no launch running (killed: {holder.describe()})", False
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
    return f"no launch running (killed: {where})", False


def status_report(folder: Path) -> tuple[str, int]:
    """The lines of ``rotsweep status`` and its exit code (see the module docstring)."""
    where = str(folder)
    try:
        meta = read_meta(where) if Path(where).is_dir() or "://" in where else None
    except StudyError as err:
        return f"error: {err}", DAMAGED
    if meta is None:
        return not_a_study(folder)
    storage = storage_of(where, meta)
    try:
        book = TrialBook.load(storage)
    except (ValueError, TypeError, KeyError) as err:
        return f"error: {join(storage, 'progress.json')}: damaged trial book ({err})", DAMAGED
    phrase, alive = driver_state(book, read_holder(storage))
    planned = plan_ids(meta) or list(book.trials)[:int(meta.get("n_trials", 0))]
    try:
        data = check_data(storage, planned, book)
    except (OSError, ValueError) as err:
        return f"error: {join(storage, 'results')}: cannot read the tables ({err})", DAMAGED
    states = trial_states(book, data)
    counts = {v: 0 for v in VERDICTS}
    for state in states.values():
        counts[state] += 1
    n_planned = len(planned) if plan_ids(meta) else int(meta.get("n_trials", len(planned)))
    lines = [f"study {meta['name']!r} ({meta.get('source', '?')}): {n_planned} trials "
             f"planned; {phrase}"]
    left = len(planned) - counts["FINISHED"] - counts["STOPPED"] - counts["FAILED"]
    lines.append(
        f"  finished {counts['FINISHED']}, failed {counts['FAILED']}, "
        f"{'running' if alive else 'interrupted'} {counts['INTERRUPTED']}, "
        f"stopped early {counts['STOPPED']}, not started {counts['NOT_STARTED']}"
        + (f", incomplete {counts['INCOMPLETE']}" if counts["INCOMPLETE"] else ""))
    axes = grid_axes(meta, planned)
    lines += trial_lines(book, data, states, alive, axes)
    moved = None if alive else relocate_store(where)
    if moved:
        lines.append(moved)
    outside = len(set(book.trials) - set(planned))
    if outside:
        lines.append(f"  ({outside} records of trials outside the plan not counted)")
    lines += [f"  {table}: {n} rows" for table, n in data.rows.items() if n]
    lines += damaged_lines(data, book, axes)
    if not alive and (left or data.damaged):
        lines.append("  interrupted: continue with the same command and --resume"
                     + (" (damaged files are set aside and their trials run again)"
                        if data.damaged else ""))
    if data.damaged:
        return "\n".join(lines), DAMAGED
    if alive:
        return "\n".join(lines), RUNNING
    if left > 0:
        return "\n".join(lines), INTERRUPTED
    stale = stale_trials_rows(storage, meta["name"], states)
    if stale:  # every trial's data is there, the summary table is not (bench/faults.py)
        lines.append(f"  the trials table is out of date for {len(stale)} trials (the last "
                     "launch ended before writing it): continue with the same command and "
                     "--resume, which rewrites it and runs nothing")
        return "\n".join(lines), INTERRUPTED
    return "\n".join(lines), FAILED if counts["FAILED"] else FINISHED


def stale_trials_rows(storage: str, study: str, states: dict[str, str]) -> list[str]:
    """The trials that ended (finished, stopped early, failed) whose ``trials`` table row is
    missing or says otherwise: the table is written at the end of a launch, so a launch killed
    after its trials ended and before that leaves it behind the data."""
    ended = {tid: state for tid, state in states.items() if state in TERMINAL}
    if not ended:
        return []
    try:
        table = read_table(layout(storage)["results_root"], "trials",
                           filters=[("study", "==", study)], columns=["trial_id", "status"])
        rows = dict(zip(table.trial_id, table.status, strict=True))
    except FileNotFoundError:
        rows = {}
    except (OSError, KeyError, ValueError):  # unreadable: named by the data check if damaged
        return []
    return sorted(tid for tid, state in ended.items() if rows.get(tid) != state)


def not_a_study(folder: Path) -> tuple[str, int]:
    """A folder without ``study.json``: not a study, or one whose launch was killed while it
    started (its claim is there), which ``run --resume`` continues as ``run`` says."""
    holder = read_holder(str(folder)) if Path(folder).is_dir() else None
    if holder is not None and not holder.alive():
        return (f"{folder}: a launch was killed while starting ({holder.describe()}), before "
                "it wrote study.json; interrupted: continue with the same command and "
                "--resume"), INTERRUPTED
    if holder is not None:
        return f"{folder}: a launch is starting here ({holder.describe()})", RUNNING
    return (f"{folder}: not a rotsweep study folder (no study.json); give the folder that "
            "`rotsweep run --out DIR` wrote"), NOT_A_STUDY


def grid_axes(meta: dict, planned: list[str]) -> dict[str, dict]:
    """Each planned trial's grid point from ``study.json`` (a grid study's trial ``i`` is grid
    point ``i``: study/launch/plan.py), to name a trial that never started by what differs."""
    axes = meta.get("axes") or {}
    search = meta.get("search") or {}
    if not isinstance(axes, dict) or search.get("algorithm") == "optuna":
        return {}
    points = [dict(zip(axes, combo, strict=True))
              for combo in itertools.product(*(axes[k] for k in axes))]
    return dict(zip(planned, points, strict=False)) if len(points) == len(planned) else {}


#: trials that never started named one per line up to this many (then a count)
MAX_NOT_STARTED = 20


def trial_lines(book: TrialBook, data: StudyData, states: dict[str, str], alive: bool,
                grid: dict[str, dict]) -> list[str]:
    """One line per trial that is not done: running or interrupted (with its epoch), failed
    (with its error), incomplete (what it lacks), not started (after the others, up to
    :data:`MAX_NOT_STARTED`); each named by its axis values."""
    lines, waiting = [], []
    for tid, state in states.items():
        rec = book.trials.get(tid)
        axes = axes_text(rec.axes if rec is not None and rec.axes else grid.get(tid, {}))
        label = f"{tid} ({axes})" if axes else tid
        if state == "INTERRUPTED":
            epoch = f" epoch {rec.epoch}" if rec is not None and rec.epoch else ""
            retried = f", {rec.failures} failure(s) so far" if rec and rec.failures else ""
            lines.append(f"  {'RUNNING' if alive else 'INTERRUPTED'} {label}{epoch}{retried}")
        elif state == "FAILED" and rec is not None:
            lines.append(f"  FAILED {label} after {rec.failures} failure(s): "
                         f"{error_message(rec.error)[:2000]}")
        elif state == "INCOMPLETE":
            lines.append(f"  INCOMPLETE {label}: {', '.join(data.trials[tid].missing())}")
        elif state == "NOT_STARTED" and not alive:
            waiting.append(f"  NOT STARTED {label}")
    if len(waiting) > MAX_NOT_STARTED:
        waiting = [*waiting[:MAX_NOT_STARTED],
                   f"  ... and {len(waiting) - MAX_NOT_STARTED} more not started"]
    return lines + waiting


def damaged_lines(data: StudyData, book: TrialBook, grid: dict[str, dict]) -> list[str]:
    """One ``error:`` line per damaged table file, naming it and the trials whose rows it held
    (by their axis values)."""
    lines = []
    for path, (trials, reason) in sorted(data.damaged.items()):
        named = []
        for tid in trials:
            rec = book.trials.get(tid)
            axes = axes_text(rec.axes if rec is not None and rec.axes else grid.get(tid, {}))
            named.append(f"{tid} ({axes})" if axes else tid)
        held = f"; held the rows of {', '.join(named)}" if named else \
            "; the trials whose rows it held are unknown (no key list)"
        reason = reason.removeprefix(f"{path}: ")  # the reader's message starts with it
        lines.append(f"error: damaged table file {path}: {one_line(reason)}{held}")
    return lines


def relocate_store(folder: str) -> str | None:
    """Re-point the MLflow store of a moved or copied local study folder to where it is now;
    a line saying so (or why it could not), None when there was nothing to do."""
    db = Path(folder) / "mlflow.db"
    if "://" in folder or not db.is_file():
        return None
    from study.tracking.store import relocate

    try:
        moved = relocate(f"sqlite:///{db.absolute()}")
    except (sqlite3.Error, OSError) as err:  # a read-only copy: the UI shows the old paths
        return f"  note: {db}: MLflow artifact locations not re-pointed here ({err})"
    if not moved:
        return None
    return (f"  MLflow: artifact locations re-pointed to {db.parent.absolute() / 'mlartifacts'} "
            "(the folder was moved or copied)")


def one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def study_status(folder: Path) -> str:
    """The lines of ``rotsweep status`` (see :func:`status_report`)."""
    return status_report(folder)[0]


def plan_check(folder: Path) -> tuple[str, int] | None:
    """For ``rotsweep report``: a warning line and the status code (1 damaged, 3 running, 4
    interrupted, 5 failed) when the study's tables do not hold every planned trial's rows; None
    when they do, or when ``folder`` is not a study folder (a bare results folder)."""
    text, code = status_report(folder)
    if code in (FINISHED, NOT_A_STUDY):
        return None
    counts = next((ln.strip() for ln in text.splitlines() if ln.startswith("  finished ")), "")
    what = {DAMAGED: "a table file is damaged", RUNNING: "a launch is still running",
            INTERRUPTED: "the trials table is out of date" if "trials table is out of date"
            in text else "trials lack their rows", FAILED: "failed trials have no rows"}
    return (f"the tables do not match the study's plan: {what.get(code, 'see status')} "
            f"({counts}); `rotsweep status {folder}` names the trials"), code
