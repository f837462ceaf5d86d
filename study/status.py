"""``rotsweep status DIR``: a study's trials done / running / failed, while it runs or after.

Reads the trial book (``progress.json``, kept current by the driver at every trial event) from
the study's storage, which ``DIR/study.json`` names, so it works for a running study, one whose
driver was killed, and one stored on a URI. Trials the book calls RUNNING are shown as
interrupted when the driver is no longer alive.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from rotsweep.schema import TABLES, columns
from rotsweep.storage import join
from rotsweep.tables import read_table, table_exists
from study.book import TrialBook


def driver_state(book: TrialBook) -> tuple[str, bool]:
    """A phrase about the study's driver, and whether it may still be running."""
    d = book.driver
    if not d:
        return "no launch recorded", False
    if d.get("ended"):
        return "last launch ended", False
    age = time.time() - float(d.get("heartbeat", d.get("started", 0)))
    where = f"pid {d.get('pid')} on {d.get('host')}, last update {age:.0f} s ago"
    if d.get("host") == socket.gethostname():
        try:
            os.kill(int(d["pid"]), 0)
        except (ProcessLookupError, PermissionError, KeyError, ValueError):
            return f"driver gone ({where}): interrupted, continue with --resume", False
        return f"running ({where})", True
    return f"running on another host? ({where})", True


def study_status(folder: Path) -> str:
    """A few lines: the study, its driver, trials per status (and each running or failed one),
    table sizes."""
    meta_file = Path(folder) / "study.json"
    if not meta_file.exists():
        return f"{folder}: not a rotsweep study folder (no study.json)"
    meta = json.loads(meta_file.read_text())
    storage = meta.get("storage") or str(Path(folder).absolute())
    book = TrialBook.load(storage)
    phrase, alive = driver_state(book)
    lines = [f"study {meta['name']!r} ({meta['source']}): {meta['n_trials']} trials planned; "
             f"{phrase}"]
    counts = book.counts()
    running = counts.get("RUNNING", 0)
    lines.append(
        f"  finished {counts.get('FINISHED', 0)}, failed {counts.get('FAILED', 0)}, "
        f"{'running' if alive else 'interrupted'} {running + counts.get('INTERRUPTED', 0)}, "
        f"stopped early {counts.get('STOPPED', 0)}, "
        f"not started {max(meta['n_trials'] - len(book.trials), 0)}")
    for rec in book.trials.values():
        axes = ", ".join(f"{k}={v}" for k, v in rec.axes.items())
        if rec.status in ("RUNNING", "INTERRUPTED"):
            epoch = f" epoch {rec.epoch}" if rec.epoch else ""
            retried = f", {rec.failures} failure(s) so far" if rec.failures else ""
            lines.append(f"  {'RUNNING' if alive else 'INTERRUPTED'} {rec.trial_id} ({axes})"
                         f"{epoch}{retried}")
        elif rec.status == "FAILED":
            last = (rec.error or "").strip().splitlines()[-1:] or ["error"]
            lines.append(f"  FAILED {rec.trial_id} ({axes}) after {rec.failures} failure(s): "
                         f"{last[0][:200]}")
    results = join(storage, "results")
    for table in TABLES:
        if table_exists(results, table):  # one stored column is enough to count the rows
            n_rows = len(read_table(results, table, columns=[columns(table)[2]]))
            lines.append(f"  {table}: {n_rows} rows")
    return "\n".join(lines)
