"""MLflow from the driver: one parent run per study, one child run per trial.

**Who talks to MLflow.** Only the driver (the process running the Tune controller). Trials never
import MLflow; they write their artifacts to the study's storage and the driver uploads them when
the trial ends, so artifacts made on any node reach the tracking server, and a local SQLite store
(one writer) is safe even on a multi-node cluster. Nothing needs a worker-side tracking store.

**The store.** By default SQLite in the study folder, its artifacts beside it
(study/tracking/store.py), so the folder is the whole study; a half-built store is rebuilt.
What a run holds (names, tags, metric keys and steps) is in study/tracking/records.py and
docs/mlflow.md.

**Eventually complete.** The trial → run map is kept in the study's storage
(``<storage>/mlflow_runs/<trial_id>.json``, written before the trial starts, so the trial reads
its run id from there), and ``<trial_id>.complete`` marks a run that holds everything of its
trial. On ``--resume`` and at the end of every launch, runs of ended trials that are missing or
incomplete are created or completed from the trial's records in storage (study/tracking/sync.py);
metrics already on the store are never logged again (no step twice), and the summary names the
runs still incomplete. Every child carries ``mlflow.parentRunId``; metrics go in batches.

**A server that goes away.** Requests time out after a few seconds with one retry
(``MLFLOW_HTTP_REQUEST_TIMEOUT``/``MAX_RETRIES``/``BACKOFF_FACTOR``, unless set by the user), and
after three failures in a row the tracker stops calling for 30 s (then tries once again), so a
dead server costs the study seconds, not minutes. The Parquet tables never depend on MLflow.

**Off Tune's event loop.** A launch's tracker (``background=True``) creates its store, opens the
parent run and serves every callback hook on one worker thread (study/tracking/worker.py), in
order; :meth:`Tracker.reconcile`, :meth:`Tracker.end_parent` and :meth:`Tracker.summary` wait
for it first. Importing this module imports neither torch nor the trainables' registries.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rotsweep.storage import exists, join, read_bytes, write_bytes
from study.tracking.records import (
    ANGLE_STEP_NOTE,
    ANGLE_STEP_TAG,
    TrialInfo,
    final_metrics,
)
from study.tracking.store import (
    HTTP_DEFAULTS,
    KIND_ML,
    KIND_TAG,
    PARENT_TAG,
    TRIAL_TAG,
    artifact_root,
    open_sqlite,
)
from study.tracking.worker import Job, JobQueue

if TYPE_CHECKING:  # MLflow is imported on the tracker's worker thread (seconds: not at startup)
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

BATCH = 1000  # MLflow's limit of metrics per log_batch
FAILURES_BEFORE_PAUSE = 3
PAUSE_S = 30.0
EXPERIMENT_NOTE = (
    "A rotsweep study: the parent run (rotsweep.role = study) holds the study file, system "
    "metrics and the report; one child run per trial, named dataset, pre-training, seed. "
    "Per-angle curves (dice_by_angle, auc_by_angle, ...) are logged at step = evaluation angle "
    "in tenths of a degree (450 = 45°); final metrics at step 0. See docs/mlflow.md.")
_SHARED: dict[str, Tracker] = {}


def _parent_folder(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0]


class Tracker:
    """The driver's MLflow client for one study launch; use :meth:`shared`.

    Args:
        tracking_uri: where runs go (``sqlite:///...`` or ``http://host:port``).
        experiment: the experiment name (the study's name).
        runs_root: storage folder of the trial → run map (``<storage>/mlflow_runs``).
        resuming: look for runs a killed launch opened but never recorded, and complete the
            runs of trials that ended while the store was unreachable.
        background: create the store and serve :meth:`submit` on a worker thread (a launch's
            driver); otherwise every call runs at once in the caller's thread.
    """

    def __init__(self, tracking_uri: str, experiment: str, runs_root: str,
                 resuming: bool = False, background: bool = False) -> None:
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        # each failed request would also log urllib3's retry warning; the summary says it all
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating ..."
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.uri = tracking_uri
        self.experiment = experiment
        self.runs_root = runs_root
        self.storage = _parent_folder(runs_root)
        self.resuming = resuming
        self.notes: list[str] = []
        self._client: MlflowClient | None = None
        self.experiment_id: str | None = None
        self.jobs = JobQueue() if background else None
        self.lost: Counter[str] = Counter()
        self.messages: list[str] = []
        self.untracked: set[str] = set()
        self.failures = 0
        self._in_a_row = 0
        self._paused_until = 0.0
        self.parent_id: str | None = None
        self.store_new = False  # the recorded runs are not on this store (it was rebuilt)
        self.monitor: Any = None
        self.state: dict[str, Any] = {}  # the last sync's findings (for the summary)
        self.infos: dict[str, TrialInfo] = {}
        self._steps: dict[str, dict[str, set[int]]] = {}  # run → key → steps on the store
        self._created: set[str] = set()
        self.submit(self._connect, urgent=True)

    def _connect(self) -> None:
        """Create (or rebuild) the store and find or make the study's experiment (on the worker
        thread, a store that cannot be made is counted and named in the summary instead)."""
        try:
            from mlflow.tracking import MlflowClient

            self.notes += [n for n in [open_sqlite(self.uri)] if n]
            self._client = MlflowClient(self.uri)
        except Exception as err:
            if self.jobs is None:
                raise
            self._lose("store", None, f"store: {type(err).__name__}: {str(err)[:200]}")
            return
        self.experiment_id = self._call("experiment", lambda: self._experiment(self.experiment))

    @property
    def client(self) -> MlflowClient:
        """The store's client (waits for the worker thread to create it)."""
        if self._client is None:
            self.drain()
        if self._client is None:
            raise RuntimeError(f"no MLflow client for {self.uri}: its creation failed")
        return self._client

    def submit(self, job: Job, urgent: bool = False) -> None:
        """Run ``job`` on the worker thread after every earlier one, ``urgent`` ones first (at
        once without a worker thread)."""
        if self.jobs is None:
            job()
        else:
            self.jobs.submit(job, urgent)

    def drain(self) -> None:
        """Wait until every submitted job ran."""
        if self.jobs is not None:
            self.jobs.drain()

    @classmethod
    def shared(cls, tracking_uri: str, experiment: str, runs_root: str,
               fresh: bool = False, resuming: bool = False, background: bool = False
               ) -> Tracker:
        """This process's tracker of study ``experiment``; ``fresh`` starts a new one (a new
        launch).

        Tune restores its callbacks from a pickle on resume, with the paths of the launch that
        made them (a moved study folder's old ones); they find the launch's tracker here by
        the study's name instead of carrying a client (and a stale parent) of their own."""
        if fresh or experiment not in _SHARED:
            _SHARED[experiment] = cls(tracking_uri, experiment, runs_root, resuming, background)
        return _SHARED[experiment]

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            root = artifact_root(self.uri)
            return self.client.create_experiment(
                name, artifact_location=f"{root}/{name}" if root else None,
                tags={KIND_TAG: KIND_ML, "mlflow.note.content": EXPERIMENT_NOTE})
        if found.tags.get(KIND_TAG) is None:
            self.client.set_experiment_tag(found.experiment_id, KIND_TAG, KIND_ML)
        return found.experiment_id

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
        self.failures += 1
        self.lost[what] += 1
        if trial_id:
            self.untracked.add(trial_id)
        kind = message.split(" failed with exception")[0] if message else ""
        if message and len(self.messages) < 5 and not any(
                m.startswith(kind) for m in self.messages):
            self.messages.append(message)

    def _exists(self, run_id: str, trial_id: str | None = None) -> bool | None:
        """Whether ``run_id`` is on this store (None: the store did not answer)."""
        from mlflow.exceptions import MlflowException

        def lookup() -> bool:
            try:
                self.client.get_run(run_id)
            except MlflowException as err:
                if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return False
                raise
            return True

        return self._call("lookup", lookup, trial_id)

    # -- parent -------------------------------------------------------------------------------
    def attach_parent(self) -> bool:
        """Adopt the parent run recorded in storage when this store has it; a record this
        store does not know means the store is new (rebuilt, or another one): every recorded
        run is then made again from the study's records."""
        record = join(self.runs_root, "_parent.json")
        if self.parent_id is None and exists(record):
            run_id = json.loads(read_bytes(record))["run_id"]
            known = self._exists(run_id)
            if known is False:
                from study.tracking.sync import forget_complete

                self.store_new = True
                forget_complete(self.runs_root)
            else:
                self.parent_id = run_id
        return self.parent_id is not None

    def start_parent(self, name: str, params: dict[str, Any], storage: str) -> None:
        """Open the study's parent run, or re-open the one recorded in storage (resume); attach
        the study file, start the system metrics and, on resume, complete the runs of trials
        that ended while the store was unreachable (on the worker thread, when there is one)."""
        self.submit(lambda: self._start_parent(name, params, storage), urgent=True)

    def _start_parent(self, name: str, params: dict[str, Any], storage: str) -> None:
        tags = {"rotsweep.role": "study", "rotsweep.storage": storage,
                "rotsweep.study": self.experiment}
        if self.attach_parent():
            parent = self.parent_id
            self._call("parent", lambda: self.client.update_run(parent, status="RUNNING"))
            self.note(parent, None, tags)
        elif self.experiment_id is not None:
            run = self._call("parent", lambda: self.client.create_run(
                self.experiment_id, run_name=name, tags=tags))
            if run is not None:
                self.parent_id = run.info.run_id
                self._created.add(self.parent_id)
                self._log_params(self.parent_id, params, None)
        if self.parent_id is None:
            return
        write_bytes(join(self.runs_root, "_parent.json"), json.dumps(
            {"run_id": self.parent_id, "experiment_id": self.experiment_id,
             "tracking_uri": self.uri}).encode())
        from study.tracking.parent import log_files, start_system_metrics, study_files

        files = study_files(str(params.get("study.source") or ""), storage)
        self._call("study file", lambda: log_files(self.client, self.parent_id, files, "study"))
        self.monitor = start_system_metrics(self.uri, self.parent_id)
        self.note(self.parent_id, None, {"rotsweep.system_metrics": "every 10 s" if self.monitor
                                         else "off (psutil not available)"})
        if self.resuming:
            self.reconcile(None, end_unfinished=False)

    def end_parent(self, status: str) -> None:
        from study.tracking.parent import stop_system_metrics

        self.drain()
        stop_system_metrics(self.monitor)
        self.monitor = None
        if self.parent_id:
            parent = self.parent_id
            self._call("parent end", lambda: self.client.set_terminated(parent, status))

    # -- children -----------------------------------------------------------------------------
    def run_for(self, trial_id: str, params: dict[str, Any], info: TrialInfo | None = None
                ) -> str | None:
        """The trial's child run: the recorded one (when it is on this store), else a new one
        named and tagged from ``info``. The map entry is written either way (``run_id`` null
        while the store is unreachable), so the trial never waits for it."""
        if info is not None:
            self.infos[trial_id] = info
        path = join(self.runs_root, f"{trial_id}.json")
        run_id = json.loads(read_bytes(path)).get("run_id") if exists(path) else None
        if run_id is not None and run_id not in self._created and (
                self.store_new or (self.resuming and self._exists(run_id, trial_id) is False)):
            run_id = None
        if run_id is None and self.resuming:
            run_id = self._orphan(trial_id)
        if run_id is not None:
            name = info.name if info else None
            self._call("trial restart", lambda: self.client.update_run(
                run_id, status="RUNNING", name=name), trial_id)
        elif self.experiment_id is not None:
            run_id = self._create_child(trial_id, params, info)
        else:
            self._lose("trial start", trial_id, None)
        write_bytes(path, json.dumps({"run_id": run_id, "trial_id": trial_id}).encode())
        return run_id

    def _create_child(self, trial_id: str, params: dict[str, Any], info: TrialInfo | None
                      ) -> str | None:
        tags = {**(info.tags if info else {}), TRIAL_TAG: trial_id, "rotsweep.role": "trial",
                "rotsweep.study": self.experiment, ANGLE_STEP_TAG: ANGLE_STEP_NOTE}
        if self.parent_id:
            tags[PARENT_TAG] = self.parent_id
        name = info.name if info else trial_id
        run = self._call("trial start", lambda: self.client.create_run(
            self.experiment_id, run_name=name, tags=tags), trial_id)
        if run is None:
            return None
        self._created.add(run.info.run_id)
        self._steps[run.info.run_id] = {}
        self._log_params(run.info.run_id, params, trial_id)
        return run.info.run_id

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
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            chunk = items[i:i + 100]
            self._call("params", lambda chunk=chunk: self.client.log_batch(run_id, params=chunk),
                       trial_id)

    # -- metrics ------------------------------------------------------------------------------
    def log_result(self, run_id: str | None, trial_id: str, result: dict[str, Any]) -> None:
        """Per-epoch metrics at step = epoch, probe curves at step = probe epoch, the final
        metrics at step 0 (see study/tracking/records.py)."""
        if run_id is None:
            return
        now = int(time.time() * 1000)
        from mlflow.entities import Metric

        from study.metrics import EPOCH_METRICS
        from trainables.probes.stage import METRIC_PREFIX, PROBE_EPOCH  # imports torch

        if "epoch" in result or PROBE_EPOCH in result:
            step_key = "epoch" if "epoch" in result else PROBE_EPOCH
            keys = EPOCH_METRICS if step_key == "epoch" else tuple(
                k for k in result if k.startswith(METRIC_PREFIX))
            metrics = [Metric(k, float(result[k]), now, int(result[step_key])) for k in keys
                       if isinstance(result.get(k), (int, float))
                       and not isinstance(result[k], bool)]
        else:
            metrics = final_metrics(result)
        self.log_metrics(run_id, trial_id, metrics)

    def log_metrics(self, run_id: str, trial_id: str | None, metrics: Sequence[Metric]) -> bool:
        """Log the ``metrics`` whose (key, step) the run does not have yet; False when the
        store failed (then the run's steps are read again from the store before the next
        log, in case a timed-out call was committed after all)."""
        known = self._known(run_id, trial_id)
        if known is None:
            return False
        fresh: dict[tuple[str, int], Metric] = {}
        for m in metrics:
            if m.step not in known.get(m.key, ()):
                fresh.setdefault((m.key, m.step), m)
        todo = list(fresh.values())
        for i in range(0, len(todo), BATCH):
            chunk = todo[i:i + BATCH]
            if not self._call("metrics", lambda chunk=chunk: self.client.log_batch(
                    run_id, metrics=chunk) or True, trial_id):
                self._steps.pop(run_id, None)
                return False
            for m in chunk:
                known.setdefault(m.key, set()).add(m.step)
        return True

    def _known(self, run_id: str, trial_id: str | None) -> dict[str, set[int]] | None:
        """The steps of each metric ``run_id`` holds (read from the store once per launch)."""
        if run_id not in self._steps:
            def read() -> dict[str, set[int]]:
                run = self.client.get_run(run_id)
                return {key: {m.step for m in self.client.get_metric_history(run_id, key)}
                        for key in run.data.metrics}

            steps = self._call("metrics", read, trial_id)
            if steps is None:
                return None
            self._steps[run_id] = steps
        return self._steps[run_id]

    def note(self, run_id: str | None, trial_id: str | None, tags: dict[str, Any]) -> bool:
        """Set tags on a run (placement, failures, errors); False when the store failed."""
        if run_id is None or not tags:
            return run_id is not None
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
        return bool(self._call("tags", lambda: self.client.log_batch(run_id, tags=batch) or True,
                               trial_id))

    # -- ending a trial -----------------------------------------------------------------------
    def finish(self, run_id: str | None, trial_id: str, artifacts: str | None, status: str,
               result: dict[str, Any] | None = None) -> bool:
        """Complete the trial's run from its records (:meth:`complete`) and end it as
        ``status``; ``artifacts``: the storage folder of trials' artifacts (None: none)."""
        from study.tracking.sync import complete

        if run_id is None:
            return False
        return complete(self, trial_id, run_id, status, result=result, artifacts_root=artifacts)

    def reconcile(self, statuses: dict[str, str] | None, end_unfinished: bool = True) -> int:
        """Create or complete, from the study's records, the runs of every ended trial that
        the store lacks or holds incomplete, and (``end_unfinished``) end every other child
        still RUNNING with its trial's MLflow status from ``statuses`` (``trial_id ->
        FINISHED/FAILED/KILLED``), KILLED when unknown. Returns how many runs were completed or
        ended."""
        from study.tracking.sync import sync

        self.drain()  # the hooks' jobs first: what they completed is not done twice
        try:
            return sync(self, statuses, end_unfinished)
        except Exception as err:  # never in the way of the launch's own end (the tables)
            self._lose("sync", None, f"sync: {type(err).__name__}: {str(err)[:200]}")
            return 0

    def summary(self) -> str:
        """The closing paragraph of ``rotsweep run``: what is in MLflow, and what is not."""
        from study.tracking.sync import summary

        self.drain()
        return summary(self)
