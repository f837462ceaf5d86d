"""A readable progress summary for ``rotsweep run`` (instead of Ray's full trial table), and the
trial book (``progress.json``) that ``rotsweep status`` and the ``trials`` table read.

One line per event: time since the launch started, trials done / running / failed of the
study's total, the rate of this launch (trials ended per minute) and the time left at that rate::

    [   12.8s] 2 done, 1 running, 0 failed of 4 | 9.4/min, ETA 13s | finished 1bdd5_00001 ...

A failed trial's line carries its whole error message (every line of a data error's list of
problems, joined with " | "), not only the last line of the traceback.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from study.folder.book import TrialBook, axes_text, tune_status
from study.folder.completeness import check_data, done_numbers, expected_rows
from study.messages import clip, error_message, rate_and_eta
from study.messages import last_line as last_line  # study/tracking/tracker.py imports it from here
from study.metrics import final_result_keys

#: Seconds between two writes of the book while trials run (the end of a launch always writes):
#: a killed driver's book may miss the last seconds, which the next launch's events restore.
BOOK_INTERVAL_S = 2.0
FINAL_KEYS = final_result_keys()


@dataclass(frozen=True)
class LaunchClock:
    """This launch's pace so far, given to each of its Tune experiments' callbacks.

    Attributes:
        started: when the launch started (wall clock: a callback may run on another node).
        todo: trials this launch runs (0: unknown, then the study's not yet ended ones).
        ended: trials this launch already ended in its earlier Tune experiments.
    """

    started: float
    todo: int = 0
    ended: int = 0


class ProgressCallback(tune.Callback):
    """Prints one line when a trial starts, finishes, fails or is retried, with counts and
    elapsed time, and keeps the trial book in the study's storage.

    Tune pickles its callbacks with the experiment (and ships them to the head node under Ray
    Client), so this holds only plain settings; the book is re-read from storage when the
    experiment starts.

    Args:
        storage: the study's storage root (the book's home).
        n_trials: trials planned (for the counts).
        metric: the final metric shown for a finished trial.
        stream: where lines go (stdout by default).
        clock: the launch's start and the trials ended before it (for rate and ETA); a
            launch runs its trials in several Tune experiments, each with its own callback.
    """

    def __init__(self, storage: str, n_trials: int, metric: str, stream: Any = None,
                 clock: LaunchClock | None = None) -> None:
        self.storage = storage
        self.n_trials = n_trials
        self.metric = metric
        self.stream = stream
        self.clock = clock or LaunchClock(time.time())
        self._book: TrialBook | None = None
        self._saved = 0.0

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "stream": None, "_book": None}

    @property
    def book(self) -> TrialBook:
        if self._book is None:  # the launch (study/launch/runner.py) recorded itself as the driver
            self._book = TrialBook.load(self.storage)
        return self._book

    def setup(self, **info: Any) -> None:
        self.book.save()
        self._started: set[str] = set()  # trials this experiment started
        self._ended: set[str] = set()  # trials whose end this experiment saw

    def _save(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._saved > BOOK_INTERVAL_S:
            self.book.save()
            self._saved = now

    def _line(self, text: str) -> None:
        counts = self.book.counts()
        t = time.time() - self.clock.started
        done = counts.get("FINISHED", 0) + counts.get("STOPPED", 0)
        failed = counts.get("FAILED", 0)
        shown = (f"{done} done, {counts.get('RUNNING', 0)} running, {failed} failed "
                 f"of {self.n_trials}")
        ended = self.clock.ended + len(getattr(self, "_ended", ()))
        left = (self.clock.todo or self.n_trials - done - failed + ended) - ended
        pace = rate_and_eta(ended, t, left)
        print(f"[{t:7.1f}s] {shown} | {pace} | {text}", file=self.stream or sys.stdout,
              flush=True)

    @staticmethod
    def _label(trial: Any) -> str:
        axes = (trial.config or {}).get("axes", {})
        shown = axes_text(axes)
        return f"{trial.trial_id} ({shown})" if shown else trial.trial_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        getattr(self, "_started", set()).add(trial.trial_id)
        axes = dict((trial.config or {}).get("axes", {}))
        rec = self.book.record(trial.trial_id, status="RUNNING", axes=axes)
        if not rec.expected and "base" in (trial.config or {}):
            rec.expected = trial_expectation(trial.config)
        self._save()
        self._line(f"started {self._label(trial)}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        if "epoch" in result:
            self.book.record(trial.trial_id, status="RUNNING", epoch=int(result["epoch"]))
            self._save()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        status = tune_status("TERMINATED", last)
        self._finish(trial, status)
        value = last.get(self.metric)
        shown = f" {self.metric}={value:.4f}" if isinstance(value, float) else ""
        verb = "finished" if status == "FINISHED" else "stopped early (scheduler)"
        self._line(f"{verb} {self._label(trial)}{shown}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = trial_error(trial)
        self.book.record(trial.trial_id, status="RUNNING", failures=trial.num_failures,
                         error=error)
        self._save()
        self._line(f"retrying {self._label(trial)} after failure {trial.num_failures}: "
                   f"{error_message(error)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "FAILED")
        self._line(f"FAILED {self._label(trial)}: {error_message(trial_error(trial))}")

    def _finish(self, trial: Any, status: str) -> None:
        if status in ("FINISHED", "STOPPED", "FAILED"):
            self._ended.add(trial.trial_id)
        last = trial.last_result or {}
        numbers = {k: float(v) for k, v in last.items() if k in FINAL_KEYS
                   and isinstance(v, (int, float)) and not isinstance(v, bool)}
        placement = {k: str(last[k]) for k in ("node_id", "node_ip", "device") if k in last}
        self.book.record(
            trial.trial_id, status=status, axes=dict((trial.config or {}).get("axes", {})),
            failures=trial.num_failures,
            error=trial_error(trial) if status == "FAILED" else None,
            metrics=numbers if status == "FINISHED" else {}, placement=placement,
            wall_s=last.get("wall_s"))
        self._save()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Every trial's last state goes into the book, from the data where Tune did not say
        (on Ctrl-C Tune stops running trials on its way out, as TERMINATED, without telling
        callbacks, and marks the trials it never started TERMINATED too): a trial whose done
        record and rows are in storage finished (also during the shutdown), one started and
        not ended was interrupted, one never started stays as it was (not started)."""
        ended, started = getattr(self, "_ended", set()), getattr(self, "_started", set())
        left = [t for t in trials if t.trial_id not in ended]
        try:
            data = check_data(self.storage, [t.trial_id for t in left], self.book).trials
        except (OSError, ValueError):  # storage unreadable now: the next launch checks
            data = {}
        for trial in left:
            tid = trial.trial_id
            rec = self.book.trials.get(tid)
            if tid in data and data[tid].complete:
                self.book.record(tid, status="FINISHED", error=None,
                                 **done_numbers(self.book, tid))
            elif trial.status == "ERROR":
                self._finish(trial, "FAILED")
            elif tid in started or (rec is not None and rec.status == "RUNNING"):
                self.book.record(tid, status="INTERRUPTED")
        self.book.save(ended=True)


def trial_error(trial: Any) -> str | None:
    """The error text Tune stored for a trial: the driver's copy, else the one in storage."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).exists():
        return clip(Path(path).read_text())
    try:
        text = trial.get_error()
    except Exception:  # storage unreachable: the status still says FAILED
        return None
    return clip(str(text)) if text else None


def trial_expectation(config: dict[str, Any]) -> dict[str, int | None]:
    """The rows a trial of Tune ``config`` must write (study/folder/completeness.py), ``{}`` when
    its config cannot be built here (the trial itself reports why)."""
    from trainables.tune import trial_config

    try:
        return expected_rows(trial_config(config))
    except Exception:  # a config error fails the trial with its own message
        return {}
