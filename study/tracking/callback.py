"""The Tune callback that drives the launch's MLflow tracker (study/tracking/tracker.py) from trial
events: a run when a trial starts, metrics as results arrive, the run completed from the trial's
records when it ends.

Each hook reads what it needs from the trial at once (Tune changes the trial afterwards) and
hands the MLflow work to the tracker's worker thread (study/tracking/worker.py), so Tune's event
loop never waits for the store; the hooks' jobs are drained at the end of every Tune experiment.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ray import tune

from rotsweep.storage import join
from study.folder.book import tune_status
from study.tracking.records import trial_info

if TYPE_CHECKING:  # study.tracking.tracker imports this module
    from study.tracking.tracker import Tracker


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

    def _shared(self) -> Tracker:
        """The launch's tracker, as it is (a lookup: no call to the store)."""
        from study.tracking.tracker import Tracker

        return Tracker.shared(self.tracking_uri, self.experiment, self.runs_root)

    @property
    def tracker(self) -> Tracker:
        """The launch's tracker, attached to the study's parent run (used in the jobs)."""
        tracker = self._shared()
        if not self._attached:  # not the driver's process (Ray Client): find the parent
            self._attached = tracker.parent_id is not None or tracker.attach_parent() or True
        return tracker

    def _artifacts(self) -> str | None:
        """The launch's artifacts folder (the tracker's storage: a restored callback may hold a
        moved folder's old path)."""
        return join(self.tracker.storage, "artifacts") if self.artifacts_root else None

    def _run(self, trial_id: str, config: dict[str, Any]) -> str | None:
        if trial_id not in self._run_ids:
            info = trial_info(config, trial_id)
            self._run_ids[trial_id] = self.tracker.run_for(trial_id, info.params, info)
        return self._run_ids[trial_id]

    def _submit(self, hook: str, trial: Any, work: Callable[[str | None], None],
                urgent: bool = False) -> None:
        """Run ``work(run_id)`` on the tracker's worker thread, after the trial's run exists
        (``urgent``: before the queued jobs of other trials). An error in it never stops the
        study: it is counted and shown in the launch's summary (the tables never depend on
        MLflow)."""
        trial_id, config = trial.trial_id, dict(trial.config or {})

        def job() -> None:
            try:
                work(self._run(trial_id, config))
            except Exception as err:
                where = traceback.extract_tb(err.__traceback__)[-1]
                self.tracker._lose("internal", trial_id, f"internal error in {hook}: "
                                   f"{type(err).__name__}: {err} ({where.filename}:"
                                   f"{where.lineno})")

        self._shared().submit(job, urgent)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # urgent: the trial polls the trial → run map for its run id (trainables/tune.py)
        self._submit("on_trial_start", trial, lambda run_id: None, urgent=True)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        trial_id, result = trial.trial_id, dict(result)
        self._submit("on_trial_result", trial,
                     lambda run_id: self.tracker.log_result(run_id, trial_id, result))

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.launch.progress import last_line, trial_error

        trial_id = trial.trial_id
        tags = {"rotsweep.failures": trial.num_failures,
                "rotsweep.last_error": last_line(trial_error(trial))}
        self._submit("on_trial_recover", trial,
                     lambda run_id: self.tracker.note(run_id, trial_id, tags) and None)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last, trial_id = dict(trial.last_result or {}), trial.trial_id
        tags = {f"rotsweep.{k}": last[k] for k in ("node_id", "node_ip", "device") if k in last}
        if tune_status("TERMINATED", last) == "STOPPED":
            tags["rotsweep.stopped_early"] = "true"

        def work(run_id: str | None) -> None:
            self.tracker.note(run_id, trial_id, tags)
            self.tracker.finish(run_id, trial_id, self._artifacts(), "FINISHED", last)

        self._submit("on_trial_complete", trial, work)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.launch.progress import trial_error

        trial_id = trial.trial_id
        tags = {"rotsweep.error": trial_error(trial) or "",
                "rotsweep.failures": trial.num_failures}

        def work(run_id: str | None) -> None:
            self.tracker.note(run_id, trial_id, tags)
            self.tracker.finish(run_id, trial_id, self._artifacts(), "FAILED")

        self._submit("on_trial_error", trial, work)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """Wait for the hooks' jobs (a later batch's Tune experiment starts with none)."""
        self._shared().drain()
