"""The trial book: every trial's state, kept in the study's storage as ``progress.json``.

Written by the driver at each trial event (start, epoch, finish, failure, retry), read by
``rotsweep status`` while a study runs or after it was interrupted, and by the driver at the end
of a launch to write the ``trials`` table. It lives in storage rather than in the driver's
memory because each batch of trials has its own Tune experiment and callbacks (run on the head
node under Ray Client), and because the next launch (``--resume``) plans from it
(study/launch/plan.py): in-memory state would reach neither.

Statuses: ``PENDING``, ``RUNNING``, ``FINISHED``, ``STOPPED`` (early-stopped by the scheduler),
``FAILED`` (after its retries), ``INTERRUPTED`` (the launch ended before the trial did).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from rotsweep.storage import exists, join, read_bytes, write_bytes

BOOK_FILE = "progress.json"
TERMINAL = ("FINISHED", "STOPPED", "FAILED")


@dataclass
class TrialRecord:
    """One trial as the book knows it.

    Attributes:
        trial_id: Tune's trial id (the key of the trial's table parts and MLflow run).
        status: see the module docstring.
        axes: the trial's grid and searched values, by dotted key.
        epoch: the last epoch reported.
        failures: failures so far (each one retried while ``max_failures`` allows).
        error: the last error's text (traceback tail) for a failed or retried trial.
        metrics: the final metrics (numbers) of a finished trial.
        placement: node id, node IP, device of the final result.
        wall_s: the trial's own run time.
        expected: the rows it must write per table (study/folder/completeness.py ``expected_rows``),
            recorded by the driver when it plans or starts the trial.
    """

    trial_id: str
    status: str = "PENDING"
    axes: dict[str, Any] = field(default_factory=dict)
    epoch: int | None = None
    failures: int = 0
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    placement: dict[str, str] = field(default_factory=dict)
    wall_s: float | None = None
    expected: dict[str, int | None] = field(default_factory=dict)


def axes_text(axes: dict[str, Any]) -> str:
    """A trial's axis values in one short line for progress and status: a dataset (or any
    value with a ``name``) by its label or name, lists and numbers as written
    (``data=kvasir_seg, pretext.params.angles=[90]``)."""
    return ", ".join(f"{key}={_value_text(value)}" for key, value in axes.items())


def _value_text(value: Any) -> str:
    if isinstance(value, dict) and ("label" in value or "name" in value):
        return str(value.get("label") or value["name"])
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def tune_status(status: str, last_result: dict[str, Any] | None) -> str:
    """The book's status for a trial Tune reports as ``status`` (after the launch ends).

    Tune marks a trial its scheduler stopped TERMINATED and ``done`` like one that ended, so
    the last result tells them apart: a trial ends with its final (evaluation) result, one that
    was stopped with a per-epoch result (it has ``epoch``).
    """
    if status == "ERROR":
        return "FAILED"
    if status == "TERMINATED":
        return "STOPPED" if "epoch" in (last_result or {}) else "FINISHED"
    return "INTERRUPTED"


class TrialBook:
    """The ``progress.json`` of a study's storage.

    Args:
        storage: the study's storage root (path or URI).
    """

    def __init__(self, storage: str) -> None:
        self.path = join(storage, BOOK_FILE)
        self.trials: dict[str, TrialRecord] = {}
        self.driver: dict[str, Any] = {}
        self.launches = 0

    @classmethod
    def load(cls, storage: str) -> TrialBook:
        """The stored book, or an empty one."""
        book = cls(storage)
        if exists(book.path):
            data = json.loads(read_bytes(book.path))
            book.trials = {t["trial_id"]: TrialRecord(**t) for t in data.get("trials", [])}
            book.driver = data.get("driver", {})
            book.launches = int(data.get("launches", 0))
        return book

    def start_launch(self, launch: str | None = None) -> None:
        """Record this process as the study's driver (``status`` checks it is alive), with the
        launch id of its claim (study/folder/claim.py)."""
        self.launches += 1
        self.driver = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
                       "launch": launch}

    def record(self, trial_id: str, **changes: Any) -> TrialRecord:
        """Update (or add) one trial's record."""
        rec = self.trials.setdefault(trial_id, TrialRecord(trial_id))
        for key, value in changes.items():
            setattr(rec, key, value)
        return rec

    def save(self, ended: bool = False) -> None:
        """Write the book atomically; ``ended`` marks the launch finished."""
        self.driver = {**self.driver, "heartbeat": time.time(), "ended": ended}
        data = {"launches": self.launches, "driver": self.driver,
                "trials": [vars(t) for t in self.trials.values()]}  # asdict: 10× slower
        write_bytes(self.path, json.dumps(data, default=str).encode())

    def counts(self) -> dict[str, int]:
        """Trials per status."""
        out: dict[str, int] = {}
        for rec in self.trials.values():
            out[rec.status] = out.get(rec.status, 0) + 1
        return out
