"""The Tune callback that drives the launch's MLflow tracker (study/tracking.py) from trial
events: a run when a trial starts, metrics as results arrive, the run completed from the trial's
records when it ends."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ray import tune

from rotsweep.storage import join
from study.book import tune_status
from study.tracking_records import trial_info

if TYPE_CHECKING:  # study.tracking imports this module
    from study.tracking import Tracker


def guarded(hook: Callable[..., None]) -> Callable[..., None]:
    """A hook that never stops the study: an error in the MLflow code is counted and shown in
    the launch's summary (the tables never depend on MLflow)."""

    @functools.wraps(hook)
    def run(self: MlflowCallback, iteration: int, trials: list, trial: Any, *args: Any,
            **kwargs: Any) -> None:
        try:
            hook(self, iteration, trials, trial, *args, **kwargs)
        except Exception as err:
            where = traceback.extract_tb(err.__traceback__)[-1]
            self.tracker._lose("internal", trial.trial_id, f"internal error in {hook.__name__}: "
                               f"{type(err).__name__}: {err} ({where.filename}:{where.lineno})")

    return run


class MlflowCallback(tune.Callback):
    """Tune callback that drives the launch's :class:`Tracker` from trial events.

    Holds only plain settings (Tune pickles it with the experiment and restores that copy on
    resume); the tracker is looked up with :meth:`Tracker.shared`.

    Args:
        tracking_uri, experiment, runs_root: identify the launch's tracker.
        artifacts_root: the storage folder of the trials' artifacts (``<root>/<trial_id>/``).
    """

    def __init__(self, tracking_uri: str, experiment: str, runs_root: str,
                 artifacts_root: str | None) -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.runs_root = runs_root
        self.artifacts_root = artifacts_root
        self._run_ids: dict[str, str | None] = {}
        self._attached = False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_run_ids": {}, "_attached": False}

    @property
    def tracker(self) -> Tracker:
        from study.tracking import Tracker

        tracker = Tracker.shared(self.tracking_uri, self.experiment, self.runs_root)
        if not self._attached:  # not the driver's process (Ray Client): find the parent
            self._attached = tracker.parent_id is not None or tracker.attach_parent() or True
        return tracker

    def _artifacts(self) -> str | None:
        """The launch's artifacts folder (the tracker's storage: a restored callback may hold a
        moved folder's old path)."""
        return join(self.tracker.storage, "artifacts") if self.artifacts_root else None

    def _run(self, trial: Any) -> str | None:
        if trial.trial_id not in self._run_ids:
            info = trial_info(trial.config or {}, trial.trial_id)
            self._run_ids[trial.trial_id] = self.tracker.run_for(trial.trial_id, info.params,
                                                                 info)
        return self._run_ids[trial.trial_id]

    @guarded
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._run(trial)

    @guarded
    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self.tracker.log_result(self._run(trial), trial.trial_id, result)

    @guarded
    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.progress import last_line, trial_error

        self.tracker.note(self._run(trial), trial.trial_id, {
            "rotsweep.failures": trial.num_failures,
            "rotsweep.last_error": last_line(trial_error(trial))})

    @guarded
    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        run_id = self._run(trial)
        tags = {f"rotsweep.{k}": last[k] for k in ("node_id", "node_ip", "device") if k in last}
        if tune_status("TERMINATED", last) == "STOPPED":
            tags["rotsweep.stopped_early"] = "true"
        self.tracker.note(run_id, trial.trial_id, tags)
        self.tracker.finish(run_id, trial.trial_id, self._artifacts(), "FINISHED", last)

    @guarded
    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.progress import trial_error

        run_id = self._run(trial)
        self.tracker.note(run_id, trial.trial_id, {"rotsweep.error": trial_error(trial) or "",
                                                   "rotsweep.failures": trial.num_failures})
        self.tracker.finish(run_id, trial.trial_id, self._artifacts(), "FAILED")
