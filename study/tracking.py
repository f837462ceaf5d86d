"""MLflow from the driver: one parent run per study, one child run per trial.

**Who talks to MLflow.** Only the driver (the process running the Tune controller). Trials never
import MLflow; they write their artifacts to the study's storage and the driver uploads them when
the trial ends, so artifacts made on any node reach the tracking server, and a local SQLite store
(one writer) is safe even on a multi-node cluster. Nothing needs a worker-side tracking store.

**Resume without duplicates.** The trial → run map is kept in the study's storage
(``<storage>/mlflow_runs/<trial_id>.json``, written before the trial starts, so the trial reads
its run id from there). A resumed launch re-attaches to the recorded runs (and, for a run whose
map entry a killed driver never wrote, finds it by its ``rotsweep.trial_id`` tag under the
parent); at the end every child run still RUNNING is ended with its trial's status, so none is
left RUNNING by a crash. Every child carries ``mlflow.parentRunId``; metrics go in batches.

**A server that goes away.** Requests time out after a few seconds with one retry
(``MLFLOW_HTTP_REQUEST_TIMEOUT``/``MAX_RETRIES``/``BACKOFF_FACTOR``, unless set by the user), and
after three failures in a row the tracker stops calling for 30 s (then tries once again), so a
dead server costs the study seconds, not minutes. What was not logged is counted, and the
study's closing summary says so; the Parquet tables never depend on MLflow.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from ray import tune

from rotsweep.storage import exists, join, read_bytes, write_bytes
from study.book import tune_status
from study.metrics import EPOCH_METRICS, final_result_keys
from trainables.probes.stage import METRIC_PREFIX, PROBE_EPOCH

PARENT_TAG = "mlflow.parentRunId"
TRIAL_TAG = "rotsweep.trial_id"
FAILURES_BEFORE_PAUSE = 3
PAUSE_S = 30.0
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 # else every ended run costs one more request and prints "View run ... at"
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
LOGGED_FINAL = final_result_keys()
_SHARED: dict[str, Tracker] = {}


def default_tracking_uri(out: str) -> str:
    """SQLite in the study folder (local studies)."""
    return f"sqlite:///{Path(out).absolute() / 'mlflow.db'}"


class Tracker:
    """The driver's MLflow client for one study launch; use :meth:`shared`.

    Args:
        tracking_uri: where runs go (``sqlite:///...`` or ``http://host:port``).
        experiment: the experiment name (the study's name).
        runs_root: storage folder of the trial → run map.
        resuming: look for runs a killed launch opened but never recorded.
    """

    def __init__(self, tracking_uri: str, experiment: str, runs_root: str,
                 resuming: bool = False) -> None:
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        # each failed request would also log urllib3's retry warning; the summary says it all
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating ..."
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.runs_root = runs_root
        self.resuming = resuming
        self.lost: Counter[str] = Counter()
        self.messages: list[str] = []
        self.untracked: set[str] = set()
        self._in_a_row = 0
        self._paused_until = 0.0
        self.parent_id: str | None = None
        self.experiment_id = self._call("experiment", lambda: self._experiment(experiment))

    @classmethod
    def shared(cls, tracking_uri: str, experiment: str, runs_root: str,
               fresh: bool = False, resuming: bool = False) -> Tracker:
        """This process's tracker of a study; ``fresh`` starts a new one (a new launch).

        Tune restores its callbacks from a pickle on resume; they find the launch's tracker here
        instead of carrying a client (and a stale parent) of their own."""
        if fresh or runs_root not in _SHARED:
            _SHARED[runs_root] = cls(tracking_uri, experiment, runs_root, resuming)
        return _SHARED[runs_root]

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found else self.client.create_experiment(name)

    def _call(self, what: str, fn: Callable[[], Any], trial_id: str | None = None) -> Any:
        """``fn()``, or ``None`` when the store fails (counted; a run of failures pauses calls)."""
        if time.monotonic() < self._paused_until:
            self._lose(what, trial_id, None)
            return None
        try:
            out = fn()
        except Exception as err:  # the server is down, or the store refused: keep going
            self._in_a_row += 1
            if self._in_a_row >= FAILURES_BEFORE_PAUSE:
                self._paused_until = time.monotonic() + PAUSE_S
            self._lose(what, trial_id, f"{what}: {type(err).__name__}: {str(err)[:200]}")
            return None
        self._in_a_row = 0
        return out

    def _lose(self, what: str, trial_id: str | None, message: str | None) -> None:
        self.lost[what] += 1
        if trial_id:
            self.untracked.add(trial_id)
        if message and len(self.messages) < 5:
            self.messages.append(message)

    # -- parent -------------------------------------------------------------------------------
    def attach_parent(self) -> bool:
        """Adopt the parent run recorded in storage, if any."""
        record = join(self.runs_root, "_parent.json")
        if exists(record):
            self.parent_id = json.loads(read_bytes(record))["run_id"]
        return self.parent_id is not None

    def start_parent(self, name: str, params: dict[str, Any], storage: str) -> None:
        """Open the study's parent run, or re-open the one recorded in storage (resume)."""
        if self.attach_parent():
            self._call("parent", lambda: self.client.update_run(self.parent_id, status="RUNNING"))
            return
        if self.experiment_id is None:
            return
        run = self._call("parent", lambda: self.client.create_run(
            self.experiment_id, run_name=name,
            tags={"rotsweep.role": "study", "rotsweep.storage": storage}))
        if run is not None:
            self.parent_id = run.info.run_id
            write_bytes(join(self.runs_root, "_parent.json"),
                        json.dumps({"run_id": self.parent_id}).encode())
            self._log_params(self.parent_id, params, None)

    def end_parent(self, status: str) -> None:
        if self.parent_id:
            self._call("parent end", lambda: self.client.set_terminated(self.parent_id, status))

    # -- children -----------------------------------------------------------------------------
    def run_for(self, trial_id: str, params: dict[str, Any]) -> str | None:
        """The trial's child run: the recorded one when resuming, else a new one. The map entry
        is written either way (``run_id`` null while the store is unreachable), so the trial
        never waits for it."""
        path = join(self.runs_root, f"{trial_id}.json")
        run_id = json.loads(read_bytes(path)).get("run_id") if exists(path) else None
        if run_id is None and self.resuming:
            run_id = self._orphan(trial_id)
        if run_id is not None:
            self._call("trial restart", lambda: self.client.update_run(run_id, status="RUNNING"),
                       trial_id)
        elif self.experiment_id is not None:
            tags = {TRIAL_TAG: trial_id, "rotsweep.role": "trial"}
            if self.parent_id:
                tags[PARENT_TAG] = self.parent_id
            run = self._call("trial start", lambda: self.client.create_run(
                self.experiment_id, run_name=trial_id, tags=tags), trial_id)
            if run is not None:
                run_id = run.info.run_id
                self._log_params(run_id, params, trial_id)
        else:
            self._lose("trial start", trial_id, None)
        write_bytes(path, json.dumps({"run_id": run_id, "trial_id": trial_id}).encode())
        return run_id

    def _orphan(self, trial_id: str) -> str | None:
        """A child run of this parent for ``trial_id`` that no map entry records."""
        if not (self.parent_id and self.experiment_id):
            return None
        found = self._call("search", lambda: self.client.search_runs(
            [self.experiment_id], max_results=1,
            filter_string=f"tags.{TRIAL_TAG} = '{trial_id}' and "
                          f"tags.`{PARENT_TAG}` = '{self.parent_id}'"), trial_id)
        return found[0].info.run_id if found else None

    def _log_params(self, run_id: str, params: dict[str, Any], trial_id: str | None) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            chunk = items[i:i + 100]
            self._call("params", lambda chunk=chunk: self.client.log_batch(run_id, params=chunk),
                       trial_id)

    def log_result(self, run_id: str | None, trial_id: str, result: dict[str, Any]) -> None:
        """Per-epoch metrics at step = epoch; the final metrics at the final step."""
        if run_id is None:
            return
        now = int(time.time() * 1000)
        if "epoch" in result:
            step, keys = int(result["epoch"]), EPOCH_METRICS
        elif PROBE_EPOCH in result:  # one result per probe epoch carries every probe's curves
            step = int(result[PROBE_EPOCH])
            keys = tuple(k for k in result if k.startswith(METRIC_PREFIX))
        else:
            step, keys = int(result.get("training_iteration") or 0), LOGGED_FINAL
        metrics = [Metric(k, float(result[k]), now, step) for k in keys
                   if isinstance(result.get(k), (int, float)) and not isinstance(result[k], bool)]
        if metrics:
            self._call("metrics", lambda: self.client.log_batch(run_id, metrics=metrics),
                       trial_id)

    def note(self, run_id: str | None, trial_id: str, tags: dict[str, Any]) -> None:
        """Set tags on a trial's run (placement, failures, errors)."""
        if run_id is None or not tags:
            return
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
        self._call("tags", lambda: self.client.log_batch(run_id, tags=batch), trial_id)

    def finish(self, run_id: str | None, trial_id: str, artifacts: str | None, status: str
               ) -> None:
        """Upload the trial's artifacts from storage and end its run as ``status``."""
        if run_id is None:
            return
        if artifacts:
            self._call("artifacts", lambda: self._upload(run_id, join(artifacts, trial_id)),
                       trial_id)
        self._call("trial end", lambda: self.client.set_terminated(run_id, status), trial_id)

    def _upload(self, run_id: str, folder: str) -> None:
        import pyarrow.fs as pafs

        from rotsweep.storage import resolve

        fs, path = resolve(folder)
        entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        with tempfile.TemporaryDirectory() as tmp:
            for entry in entries:
                if entry.type == pafs.FileType.File:
                    local = Path(tmp) / entry.base_name
                    local.write_bytes(read_bytes(join(folder, entry.base_name)))
            if any(Path(tmp).iterdir()):
                self.client.log_artifacts(run_id, tmp)

    def reconcile(self, statuses: dict[str, str]) -> int:
        """End every child run of the parent still RUNNING: with its trial's MLflow status from
        ``statuses`` (``trial_id -> FINISHED/FAILED/KILLED``), KILLED when unknown. Returns how
        many were ended."""
        if not (self.parent_id and self.experiment_id):
            return 0
        runs = self._call("search", lambda: self.client.search_runs(
            [self.experiment_id], max_results=50_000,
            filter_string=f"tags.`{PARENT_TAG}` = '{self.parent_id}' and "
                          "attributes.status = 'RUNNING'")) or []
        for run in runs:
            status = statuses.get(run.data.tags.get(TRIAL_TAG, ""), "KILLED")
            self._call("trial end", lambda run=run, status=status: self.client.set_terminated(
                run.info.run_id, status))
        return len(runs)

    def summary(self) -> str:
        """One paragraph for the end of ``rotsweep run``: all logged, or what was not."""
        if not self.lost:
            return f"MLflow: all runs logged to {self.uri}"
        what = ", ".join(f"{n} {k}" for k, n in sorted(self.lost.items()))
        trials = sorted(self.untracked)
        shown = ", ".join(trials[:10]) + (f" and {len(trials) - 10} more" if len(trials) > 10
                                           else "")
        lines = [f"MLflow: {sum(self.lost.values())} calls to {self.uri} failed or were "
                 f"skipped while it was unreachable, so these were NOT logged: {what}.",
                 f"  runs incomplete in MLflow for trials: {shown or 'none'}",
                 "  (the Parquet tables are complete; they never depend on MLflow)"]
        lines += [f"  {m}" for m in self.messages]
        return "\n".join(lines)


def trial_params_of(config: dict[str, Any]) -> dict[str, Any]:
    """MLflow params of a trial: its flattened trial config (any other config: flattened)."""
    from ray.tune.utils import flatten_dict

    if "base" not in config:
        return flatten_dict(dict(config), delimiter=".")
    from trainables.trial import trial_params
    from trainables.tune import trial_config

    return trial_params(trial_config(config))


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
        tracker = Tracker.shared(self.tracking_uri, self.experiment, self.runs_root)
        if not self._attached:  # not the driver's process (Ray Client): find the parent
            self._attached = tracker.parent_id is not None or tracker.attach_parent() or True
        return tracker

    def _run(self, trial: Any) -> str | None:
        if trial.trial_id not in self._run_ids:
            self._run_ids[trial.trial_id] = self.tracker.run_for(
                trial.trial_id, trial_params_of(trial.config or {}))
        return self._run_ids[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._run(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self.tracker.log_result(self._run(trial), trial.trial_id, result)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.progress import last_line, trial_error

        self.tracker.note(self._run(trial), trial.trial_id, {
            "rotsweep.failures": trial.num_failures,
            "rotsweep.last_error": last_line(trial_error(trial))})

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        last = trial.last_result or {}
        run_id = self._run(trial)
        tags = {f"rotsweep.{k}": last[k] for k in ("node_id", "node_ip", "device") if k in last}
        if tune_status("TERMINATED", last) == "STOPPED":
            tags["rotsweep.stopped_early"] = "true"
        self.tracker.note(run_id, trial.trial_id, tags)
        self.tracker.finish(run_id, trial.trial_id, self.artifacts_root, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from study.progress import trial_error

        run_id = self._run(trial)
        self.tracker.note(run_id, trial.trial_id, {"rotsweep.error": trial_error(trial) or "",
                                                   "rotsweep.failures": trial.num_failures})
        self.tracker.finish(run_id, trial.trial_id, None, "FAILED")
