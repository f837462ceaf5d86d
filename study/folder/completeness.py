"""Which trials of a study are complete, from the data in its storage rather than from Tune's
bookkeeping: the one answer that ``rotsweep status`` (study/folder/status.py), ``--resume``
(``pending`` in study/launch/plan.py, study/launch/runner.py) and the end of a launch
(study/launch/progress.py) give.

A trial is **complete** when its done record (``done/<trial_id>.json``, written by the trial
after its last table part: trainables/trial.py, trainables/tune.py) is in storage and every
table it must write holds its rows there (:func:`expected_rows`, counted from the Parquet
footers by rotsweep/parts.py ``inventory``; a file pyarrow cannot read counts for nothing). The
trial book (``progress.json``, study/folder/book.py) only adds what the data cannot say: that a
trial failed, was stopped early by the scheduler, or was started.

:func:`trial_states` is the public verdict, one per planned trial:

* ``FINISHED``: complete;
* ``STOPPED``: stopped early by the scheduler (the book says so; its epochs are its data);
* ``FAILED``: failed after its retries (the book says so) and not complete;
* ``INCOMPLETE``: it ended once, but rows it wrote are missing now (a damaged or deleted file);
* ``INTERRUPTED``: started (a running record, a saved state, rows) and not ended;
* ``NOT_STARTED``: nothing of it in storage, whatever Tune or an older book recorded.

Imports neither torch nor Ray (``status`` reads a study while it runs).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow.fs as pafs

from rotsweep.parts import inventory, set_aside
from rotsweep.schema import TABLES
from rotsweep.storage import join, resolve
from study.folder.book import TrialBook, TrialRecord
from study.metrics import final_result_keys

if TYPE_CHECKING:
    from trainables.config import TrialConfig

#: the tables a trial writes (keyed by its trial id); the others belong to the driver or to
#: per-dataset jobs
TRIAL_TABLES = ("pretext", "saliency", "probe")
#: a book record without an expectation (written by an older rotsweep): rows in ``saliency``
DEFAULT_EXPECTED: dict[str, int | None] = {"saliency": None}
VERDICTS = ("FINISHED", "STOPPED", "FAILED", "INCOMPLETE", "INTERRUPTED", "NOT_STARTED")


def expected_rows(cfg: TrialConfig) -> dict[str, int | None]:
    """The rows a finished trial of ``cfg`` holds per table (trainables/trial.py ``run_trial``):
    ``None`` where only "at least one" is known without the data.

    * ``pretext``: one per epoch (``train.epochs``; a reused checkpoint's history has as many);
    * ``saliency``: one per (image, eval angle) of each evaluated model:
      ``data.n_eval × len(saliency.eval_angles) × (2 with saliency.random_init_baseline)``
      (``n_eval`` null: every image of the evaluation split, known only from the data);
    * ``probe``: at least one when ``probe.probes`` is set (the count depends on the blocks the
      backbone has and the downstream sets).
    """
    models = 2 if cfg.saliency.random_init_baseline else 1
    n_eval = cfg.data.n_eval
    out: dict[str, int | None] = {
        "pretext": cfg.train.epochs,
        "saliency": None if n_eval is None else n_eval * len(cfg.saliency.eval_angles) * models,
    }
    if cfg.probe.probes:
        out["probe"] = None
    return out


@dataclass(frozen=True)
class TrialData:
    """One trial's data in storage.

    Attributes:
        trial_id: the trial.
        done: its done record is there.
        state: its saved pre-training state is there (it was interrupted mid-way).
        rows: its live rows per table.
        expected: the rows it must hold per table (see :func:`expected_rows`).
    """

    trial_id: str
    done: bool
    state: bool
    rows: Mapping[str, int]
    expected: Mapping[str, int | None]

    def missing(self) -> list[str]:
        """What it lacks to be complete (``[]``: complete), e.g. ``saliency 0/96 rows``."""
        out = [] if self.done else ["no done record"]
        for table, n in self.expected.items():
            have = self.rows.get(table, 0)
            if (have < 1) if n is None else (have != n):
                out.append(f"{table} {have}/{'≥1' if n is None else n} rows")
        return out

    @property
    def complete(self) -> bool:
        return not self.missing()

    @property
    def touched(self) -> bool:
        """Whether anything of it is in storage."""
        return self.done or self.state or any(self.rows.values())


@dataclass
class StudyData:
    """A study's data in storage: every planned trial's, and the damaged files.

    Attributes:
        trials: by trial id, in plan order.
        damaged: each unreadable file of any table → (the trial ids whose rows it held, as far
            as known; the reason).
        rows: live rows per table (all keys).
    """

    trials: dict[str, TrialData]
    damaged: dict[str, tuple[list[str], str]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def complete(self) -> set[str]:
        return {t for t, d in self.trials.items() if d.complete}


def check_data(storage: str, ids: Iterable[str], book: TrialBook | None = None) -> StudyData:
    """The data of the trials ``ids`` in ``storage`` (one listing of ``done/`` and ``state/``,
    one footer read per table file; nothing else is read). Expectations come from the book's
    records (:func:`expected_rows`, recorded by the driver); :data:`DEFAULT_EXPECTED` for a
    record without one."""
    book = book if book is not None else TrialBook.load(storage)
    done = _names(join(storage, "done"), ".json")
    state = _names(join(storage, "state"), ".pt")
    fs, root = resolve(join(storage, "results"))
    per_table: dict[str, dict[str, int]] = {}
    data = StudyData({})
    for table in TABLES:
        inv = inventory(fs, f"{root}/{table}", table)
        per_table[table] = inv.rows
        data.rows[table] = sum(inv.rows.values())
        data.damaged.update(inv.damaged)
    for tid in ids:
        rec = book.trials.get(tid)
        expected = dict(rec.expected) if rec is not None and rec.expected else DEFAULT_EXPECTED
        data.trials[tid] = TrialData(
            tid, tid in done, tid in state,
            {t: per_table[t][tid] for t in TRIAL_TABLES if tid in per_table[t]}, expected)
    return data


def _names(folder: str, suffix: str) -> set[str]:
    """The stems of the files ``*<suffix>`` directly in ``folder`` (none when it is absent)."""
    fs, path = resolve(folder)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return {i.base_name[:-len(suffix)] for i in infos
            if i.type == pafs.FileType.File and i.base_name.endswith(suffix)}


def verdict(rec: TrialRecord | None, data: TrialData) -> str:
    """One trial's state (see the module docstring) from its book record and its data."""
    status = rec.status if rec is not None else "PENDING"
    if data.complete:
        return "STOPPED" if status == "STOPPED" else "FINISHED"
    if status in ("STOPPED", "FAILED"):
        return status
    if data.done or (status == "FINISHED" and any(data.rows.values())):
        return "INCOMPLETE"
    if status in ("RUNNING", "INTERRUPTED") or data.touched:
        return "INTERRUPTED"
    return "NOT_STARTED"  # an older book may say FINISHED: Tune's mark on a trial never run


def trial_states(book: TrialBook, data: StudyData) -> dict[str, str]:
    """Every planned trial's verdict (plan order): what ``status`` shows, what ``--resume``
    runs (all but ``FINISHED`` and ``STOPPED``) and what a launch's closing line counts."""
    return {tid: verdict(book.trials.get(tid), d) for tid, d in data.trials.items()}


def settle(book: TrialBook, data: StudyData) -> list[str]:
    """Make the book agree with the data (before planning, and at the end of a launch): a
    complete trial is FINISHED (its final metrics from its done record), a trial the book
    calls FINISHED without its data is INTERRUPTED (started) or PENDING (never started).
    Returns the trial ids changed; the caller saves the book."""
    changed = []
    for tid, state in trial_states(book, data).items():
        rec = book.trials.get(tid)
        now = rec.status if rec is not None else "PENDING"
        if state == "FINISHED" and now != "FINISHED":
            book.record(tid, status="FINISHED", error=None, **done_numbers(book, tid))
        elif now == "FINISHED" and state != "FINISHED":
            book.record(tid, status="PENDING" if state == "NOT_STARTED" else "INTERRUPTED",
                        metrics={}, wall_s=None)
        else:
            continue
        changed.append(tid)
    return changed


def done_numbers(book: TrialBook, trial_id: str) -> dict[str, Any]:
    """``metrics`` and ``wall_s`` of a trial's done record, for its book record (``{}`` when
    unreadable: the data decides that the trial is complete, not these numbers)."""
    try:
        path = join(book.path.rsplit("/", 1)[0], "done", f"{trial_id}.json")
        fs, inner = resolve(path)
        with fs.open_input_stream(inner) as src:
            result = json.loads(src.read())["result"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    numbers = {k: float(v) for k, v in result.items() if k in final_result_keys()
               and isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {"metrics": numbers, "wall_s": numbers.get("wall_s")}


def set_damaged_aside(storage: str, data: StudyData) -> list[str]:
    """Move every damaged table file out of the tables (rotsweep/parts.py ``set_aside``): the
    trials whose rows it held then lack them, and ``--resume`` runs them again. Returns one
    line per file moved."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    fs, _ = resolve(join(storage, "results"))
    lines = []
    for path, (trials, _) in sorted(data.damaged.items()):
        moved = set_aside(fs, path, stamp)
        held = ", ".join(trials) if trials else "trials unknown (no key list)"
        lines.append(f"  moved damaged {path} aside to {moved.rsplit('/', 1)[-1]} "
                     f"(held {held}): those trials run again")
    return lines


def forget_done(storage: str, data: StudyData) -> list[str]:
    """Delete the done record of every trial that has one but lacks rows, so that its re-run
    writes its tables instead of replaying its final result; returns their ids."""
    gone = []
    for tid, d in data.trials.items():
        if d.done and not d.complete:
            fs, path = resolve(join(storage, "done", f"{tid}.json"))
            with contextlib.suppress(FileNotFoundError):
                fs.delete_file(path)
            gone.append(tid)
    return gone
