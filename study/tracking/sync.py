"""MLflow is eventually complete: runs made or completed from the study's records in storage.

The Parquet tables, the trial book and the trials' *done* records and artifacts are the study's
truth; MLflow is a view of them that a dead server, a killed driver or a rebuilt store can leave
behind. :func:`complete` gives one trial's run everything its records hold (per-epoch metrics,
final metrics, per-angle curves, artifacts, status), logging only what the run lacks, and marks
it complete (``mlflow_runs/<trial_id>.complete``). :func:`sync` does that for every ended trial
without a mark: on ``--resume`` before trials run, and at the end of every launch. The closing
:func:`summary` counts the marks, so it never says more was logged than was.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.fs as pafs

from rotsweep.storage import exists, join, read_bytes, resolve, write_bytes
from study.folder.book import TERMINAL, TrialBook
from study.tracking.records import (
    TrialInfo,
    angle_metrics,
    done_result,
    epoch_metrics,
    final_metrics,
    trial_info,
    trial_rows,
)
from study.tracking.store import sqlite_path, ui_url

if TYPE_CHECKING:
    from study.tracking.tracker import Tracker

MLFLOW_STATUS = {"FINISHED": "FINISHED", "STOPPED": "FINISHED", "FAILED": "FAILED"}
TABLES = ("pretext", "saliency")
MARKER = ".complete"


def complete(tracker: Tracker, trial_id: str, run_id: str, status: str, *,
             result: dict[str, Any] | None = None, artifacts_root: str | None = None,
             info: TrialInfo | None = None, rows: dict[str, pd.DataFrame | None] | None = None
             ) -> bool:
    """Give ``run_id`` everything trial ``trial_id``'s records hold, end it as ``status`` and,
    when every call succeeded, mark it complete. Returns whether it is complete.

    Args:
        result: the trial's final result where it has no *done* record (which comes first).
        artifacts_root: the storage folder of trials' artifacts (None: upload none).
        info: the trial's run description (default: the one its run was opened with); its
            study and dataset locate the trial's table parts.
        rows: the trial's ``pretext`` and ``saliency`` rows when already read.
    """
    from study.tracking.store import COMPLETE_TAG

    failures = tracker.failures
    info = info or tracker.infos.get(trial_id)
    if rows is None:
        rows = read_rows(tracker.storage, {trial_id: info} if info else {},
                         scan=False).get(trial_id, {})
    result = done_result(join(tracker.storage, "done"), trial_id) or result or {}
    tracker.log_metrics(run_id, trial_id, epoch_metrics(rows.get("pretext")) +
                        final_metrics(result) + angle_metrics(rows.get("saliency")))
    if artifacts_root:
        upload(tracker, run_id, join(artifacts_root, trial_id))
    tracker._call("trial end", lambda: tracker.client.set_terminated(run_id, status) or True,
                  trial_id)
    if tracker.failures != failures or not tracker.note(run_id, trial_id,
                                                        {COMPLETE_TAG: "true"}):
        return False
    write_bytes(join(tracker.runs_root, f"{trial_id}{MARKER}"), run_id.encode())
    tracker._steps.pop(run_id, None)  # its steps are no longer needed in this launch
    return True


def upload(tracker: Tracker, run_id: str, folder: str) -> bool:
    """Log every file of the storage folder ``folder`` as the run's artifacts."""
    fs, path = resolve(folder)
    entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    files = [e.base_name for e in entries if e.type == pafs.FileType.File]
    if not files:
        return True

    def log() -> bool:
        with tempfile.TemporaryDirectory() as tmp:
            for name in files:
                (Path(tmp) / name).write_bytes(read_bytes(join(folder, name)))
            tracker.client.log_artifacts(run_id, tmp)
        return True

    return bool(tracker._call("artifacts", log))


def completed(runs_root: str) -> set[str]:
    """The trials whose run holds everything of the trial (``<trial_id>.complete``)."""
    fs, path = resolve(runs_root)
    entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return {e.base_name[:-len(MARKER)] for e in entries if e.base_name.endswith(MARKER)}


def forget_complete(runs_root: str) -> None:
    """Remove every complete mark (the store they describe is gone)."""
    fs, path = resolve(runs_root)
    for trial_id in completed(runs_root):
        fs.delete_file(f"{path}/{trial_id}{MARKER}")


def read_rows(storage: str, infos: dict[str, TrialInfo], scan: bool = True
              ) -> dict[str, dict[str, pd.DataFrame | None]]:
    """Each trial's ``pretext`` and ``saliency`` rows: its own parts, and (``scan``) one pass
    per table for all trials whose parts were compacted."""
    keys = [(i.study, i.dataset, t) for t, i in infos.items() if i.study]
    tables = {name: trial_rows(join(storage, "results"), name, keys, scan=scan)
              for name in TABLES}
    return {t: {name: tables[name].get(t) for name in TABLES} for t in infos}


def study_base(storage: str) -> dict[str, Any] | None:
    """The study's base trial config, from its ``study.json``."""
    path = join(storage, "study.json")
    return json.loads(read_bytes(path)).get("base") if exists(path) else None


def _info(tracker: Tracker, base: dict[str, Any] | None, axes: dict[str, Any],
          trial_id: str) -> TrialInfo:
    if trial_id in tracker.infos:
        return tracker.infos[trial_id]
    if base is None:
        return TrialInfo(trial_id)
    try:
        return trial_info({"base": base, "axes": axes}, trial_id)
    except Exception:  # a config this rotsweep no longer reads: the run gets the trial's id
        return TrialInfo(trial_id)


def sync(tracker: Tracker, statuses: dict[str, str] | None, end_unfinished: bool) -> int:
    """Create or complete the run of every ended trial without a complete mark, then (with
    ``end_unfinished``) end every other child run still RUNNING as its trial's status in
    ``statuses`` (KILLED when unknown). Returns how many runs were completed or ended."""
    from study.tracking.store import PARENT_TAG, TRIAL_TAG

    book = TrialBook.load(tracker.storage)
    statuses = statuses or {t: MLFLOW_STATUS.get(r.status, "KILLED")
                            for t, r in book.trials.items()}
    ended = {t for t, r in book.trials.items() if r.status in TERMINAL}
    done = completed(tracker.runs_root)
    todo = sorted(ended - done)
    changed = 0
    if todo and tracker.experiment_id is not None:
        base = study_base(tracker.storage)
        infos = {t: _info(tracker, base, book.trials[t].axes, t) for t in todo}
        rows = read_rows(tracker.storage, infos)
        for trial_id in todo:
            info = infos[trial_id]
            run_id = tracker.run_for(trial_id, info.params, info)
            if run_id and complete(tracker, trial_id, run_id, statuses.get(trial_id, "KILLED"),
                                   artifacts_root=join(tracker.storage, "artifacts"), info=info,
                                   rows=rows.get(trial_id)):
                done.add(trial_id)
                changed += 1
    if end_unfinished and tracker.parent_id and tracker.experiment_id:
        running = tracker._call("search", lambda: tracker.client.search_runs(
            [tracker.experiment_id], max_results=50_000,
            filter_string=f"tags.`{PARENT_TAG}` = '{tracker.parent_id}' and "
                          "attributes.status = 'RUNNING'")) or []
        for run in running:
            status = statuses.get(run.data.tags.get(TRIAL_TAG, ""), "KILLED")
            if tracker._call("trial end", lambda run=run, status=status:
                             tracker.client.set_terminated(run.info.run_id, status) or True):
                changed += 1
    tracker.state = {"ended": len(ended), "incomplete": sorted(ended - done),
                     "unfinished": len(book.trials) - len(ended)}
    return changed


def _listed(ids: list[str], limit: int = 10) -> str:
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def summary(tracker: Tracker) -> str:
    """The closing paragraph of a launch: complete runs, or which are not (from the marks the
    last :func:`sync` counted), store repairs, failed calls, and how to open the UI."""
    state = tracker.state
    lines = list(tracker.notes)
    incomplete = state.get("incomplete", sorted(tracker.untracked))
    if state and not incomplete and tracker.experiment_id is not None:
        lines.append(f"MLflow: all runs logged to {tracker.uri} "
                     f"({state['ended']} trial runs complete)")
    else:
        total = f" of {state['ended']}" if state else ""
        lines += [f"MLflow: {len(incomplete)}{total} ended trials' runs are NOT logged "
                  f"completely to {tracker.uri}",
                  f"  runs incomplete in MLflow for trials: {_listed(incomplete) or 'none'}",
                  "  (`rotsweep run ... --resume` creates or completes them from the study's "
                  "records; the Parquet tables are complete; they never depend on MLflow)"]
    if state.get("unfinished"):
        lines.append(f"  {state['unfinished']} trials have not ended (interrupted or not "
                     "started): a run still open was ended KILLED; --resume continues them")
    if tracker.failures:
        what = ", ".join(f"{n} {k}" for k, n in sorted(tracker.lost.items()))
        lines.append(f"  {tracker.failures} calls to the store failed or were skipped while it "
                     f"was unreachable ({what})")
        lines += [f"  {m}" for m in tracker.messages]
    if tracker.experiment_id is not None:
        url = ui_url(tracker.uri, tracker.experiment_id)
        how = (f"mlflow ui --backend-store-uri {tracker.uri}, then " if sqlite_path(tracker.uri)
               else "")
        lines.append(f"  MLflow UI: {how}{url}")
    return "\n".join(lines)
