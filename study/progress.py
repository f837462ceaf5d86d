"""A readable progress summary for ``rotsweep run`` (instead of Ray's full trial table)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ray import tune


class ProgressCallback(tune.Callback):
    """Prints one line when a trial starts, finishes or fails, with counts and elapsed time, and
    keeps every trial's final state for the ``trials`` table."""

    def __init__(self, n_trials: int, metric: str, stream: Any = None) -> None:
        self.n_trials = n_trials
        self.metric = metric
        self.stream = stream  # None: sys.stdout at print time (Tune pickles callbacks)
        self.start = time.perf_counter()
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.running: set[str] = set()
        self.trials: list[Any] = []

    def _line(self, text: str) -> None:
        t = time.perf_counter() - self.start
        counts = (f"{len(self.done)} done, {len(self.running)} running, "
                  f"{len(self.failed)} failed of {self.n_trials}")
        print(f"[{t:7.1f}s] {counts} | {text}", file=self.stream or sys.stdout, flush=True)

    @staticmethod
    def _label(trial: Any) -> str:
        axes = (trial.config or {}).get("axes", {})
        shown = ", ".join(f"{k}={v}" for k, v in axes.items())
        return f"{trial.trial_id} ({shown})" if shown else trial.trial_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.add(trial.trial_id)
        self._line(f"started {self._label(trial)}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.done.add(trial.trial_id)
        value = (trial.last_result or {}).get(self.metric)
        shown = f" {self.metric}={value:.4f}" if isinstance(value, float) else ""
        self._line(f"finished {self._label(trial)}{shown}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.running.discard(trial.trial_id)
        self.failed.add(trial.trial_id)
        self._line(f"FAILED {self._label(trial)}: {last_error_line(trial)}")

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.trials = list(trials)


def trial_error(trial: Any) -> str | None:
    """The error text Tune stored for a failed trial, if any."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).exists():
        return Path(path).read_text()
    return None


def last_error_line(trial: Any) -> str:
    text = trial_error(trial) or "error"
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "error"
