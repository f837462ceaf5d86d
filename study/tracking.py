"""MLflow from the driver: one parent run per launch, one child run per trial.

Only the driver talks to the tracking store (so SQLite, which wants one writer, is safe). The
trial → run map is kept in the study's storage (``<out>/mlflow_runs/<trial_id>.json``), so a
resumed study re-attaches to its runs instead of opening duplicates, and trials read their own
run id from there. Artifacts that trials write to shared storage are uploaded by the driver when
the trial ends. Metrics go in batches (``log_batch``), one call per reported result.

A tracking server that stops answering does not stop the study: every failed call is counted
and the study's summary says what was not logged.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from ray import tune

from trainables.storage import exists, join, read_bytes, write_bytes

EPOCH_METRICS = ("loss", "pretext_accuracy", "lr")
PARENT_TAG = "mlflow.parentRunId"


def default_tracking_uri(out: str) -> str:
    """SQLite in the study folder (local studies)."""
    return f"sqlite:///{Path(out).absolute() / 'mlflow.db'}"


class Tracker:
    """The driver's MLflow client for one study launch.

    Args:
        tracking_uri: where runs go (``sqlite:///...`` or ``http://host:port``).
        experiment: the experiment name (the study's name).
        runs_root: storage folder of the trial → run map.
    """

    def __init__(self, tracking_uri: str, experiment: str, runs_root: str) -> None:
        # fail fast instead of minutes of retries when a server is down
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        self.runs_root = runs_root
        self.failures: list[str] = []
        self.experiment_id = self._call("experiment", lambda: self._experiment(experiment))
        self.parent_id: str | None = None

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        return found.experiment_id if found else self.client.create_experiment(name)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as err:  # the server is down, or the store refused: keep going
            self.failures.append(f"{what}: {type(err).__name__}: {str(err)[:200]}")
            return None

    # -- parent -------------------------------------------------------------------------------
    def start_parent(self, name: str, params: dict[str, Any], resume_id: str | None) -> None:
        """Open (or, on resume, re-open) the launch's parent run."""
        if self.experiment_id is None:
            return
        if resume_id:
            self.parent_id = resume_id
            self._call("parent", lambda: self.client.update_run(resume_id, status="RUNNING"))
            return
        run = self._call("parent", lambda: self.client.create_run(
            self.experiment_id, run_name=name, tags={"rotsweep.role": "study"}))
        if run is not None:
            self.parent_id = run.info.run_id
            self._log_params(self.parent_id, params)

    def end_parent(self, status: str) -> None:
        if self.parent_id:
            self._call("parent end", lambda: self.client.set_terminated(self.parent_id, status))

    # -- children -----------------------------------------------------------------------------
    def run_for(self, trial_id: str, params: dict[str, Any]) -> str | None:
        """The trial's child run: the recorded one when resuming, else a new one."""
        path = join(self.runs_root, f"{trial_id}.json")
        if exists(path):
            run_id = json.loads(read_bytes(path))["run_id"]
            self._call("resume", lambda: self.client.update_run(run_id, status="RUNNING"))
            return run_id
        if self.experiment_id is None:
            return None
        tags = {"rotsweep.trial_id": trial_id, "rotsweep.role": "trial"}
        if self.parent_id:
            tags[PARENT_TAG] = self.parent_id
        run = self._call(f"trial {trial_id} start", lambda: self.client.create_run(
            self.experiment_id, run_name=trial_id, tags=tags))
        if run is None:
            return None
        run_id = run.info.run_id
        write_bytes(path, json.dumps({"run_id": run_id, "trial_id": trial_id}).encode())
        self._log_params(run_id, params)
        return run_id

    def _log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            chunk = items[i:i + 100]
            self._call("params", lambda chunk=chunk: self.client.log_batch(run_id, params=chunk))

    def log_result(self, run_id: str | None, result: dict[str, Any]) -> None:
        """Per-epoch metrics at step = epoch; the final summary at the last step."""
        if run_id is None:
            return
        now = int(time.time() * 1000)
        step = int(result.get("epoch", result.get("training_iteration", 0)) or 0)
        keys = EPOCH_METRICS if "epoch" in result else [
            k for k, v in result.items()
            if k.endswith(("_mean", "_loss", "_accuracy", "wall_s")) and isinstance(v, float)]
        metrics = [Metric(k, float(result[k]), now, step) for k in keys
                   if isinstance(result.get(k), (int, float)) and result.get(k) is not None]
        if metrics:
            self._call("metrics", lambda: self.client.log_batch(run_id, metrics=metrics))

    def finish(self, run_id: str | None, trial_id: str, artifacts: str | None, status: str,
               error: str | None = None) -> None:
        """Upload the trial's artifacts from storage and end its run as ``status``."""
        if run_id is None:
            return
        if artifacts:
            self._call("artifacts", lambda: self._upload(run_id, join(artifacts, trial_id)))
        if error:
            self._call("error tag", lambda: self.client.set_tag(
                run_id, "rotsweep.error", error[:5000]))
        self._call(f"trial {trial_id} end", lambda: self.client.set_terminated(run_id, status))

    def _upload(self, run_id: str, folder: str) -> None:
        import pyarrow.fs as pafs

        from analysis.tables import resolve

        fs, path = resolve(folder)
        entries = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        with tempfile.TemporaryDirectory() as tmp:
            for entry in entries:
                if entry.type == pafs.FileType.File:
                    local = Path(tmp) / entry.base_name
                    local.write_bytes(read_bytes(join(folder, entry.base_name)))
            if any(Path(tmp).iterdir()):
                self.client.log_artifacts(run_id, tmp)

    def summary(self) -> str:
        if not self.failures:
            return f"MLflow: all runs logged to {self.uri}"
        head = "\n  ".join(self.failures[:10])
        more = f"\n  ... and {len(self.failures) - 10} more" if len(self.failures) > 10 else ""
        return (f"MLflow: {len(self.failures)} calls to {self.uri} failed; what they carried "
                f"was not logged (the Parquet tables are complete):\n  {head}{more}")


class MlflowCallback(tune.Callback):
    """Tune callback that drives a :class:`Tracker` from trial events on the driver."""

    def __init__(self, tracker: Tracker, params_of: Callable[[dict[str, Any]], dict[str, Any]],
                 artifacts_root: str) -> None:
        self.tracker = tracker
        self.params_of = params_of
        self.artifacts_root = artifacts_root
        self.run_ids: dict[str, str | None] = {}

    def _run(self, trial: Any) -> str | None:
        if trial.trial_id not in self.run_ids:
            self.run_ids[trial.trial_id] = self.tracker.run_for(
                trial.trial_id, self.params_of(trial.config))
        return self.run_ids[trial.trial_id]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._run(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        self.tracker.log_result(self._run(trial), result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.tracker.finish(self._run(trial), trial.trial_id, self.artifacts_root, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = None
        if getattr(trial, "error_file", None) and os.path.exists(trial.error_file):
            error = Path(trial.error_file).read_text()[-5000:]
        self.tracker.finish(self._run(trial), trial.trial_id, None, "FAILED", error)


__all__ = ["MlflowCallback", "Tracker", "default_tracking_uri", "mlflow"]
