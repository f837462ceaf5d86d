"""Run a validated study on Ray Tune: layout, checks, HoG, the Tuner, MLflow, the trials table.

One launch of ``rotsweep run``::

    storage/                    --storage (a shared path or URI; default: --out)
      study.json                what the study is
      progress.json             the trial book (study/book.py): every trial's state
      tune/<name>/              Tune's experiment state and per-trial checkpoints
      results/<table>/...       the Parquet tables (trials write theirs; the driver `trials`)
      artifacts/<trial_id>/     figures and configs made by trials (the driver uploads them)
      mlflow_runs/<trial>.json  the trial → MLflow run map (and the parent run)
      done/<trial_id>.json      final results of finished trials (replayed on resume)
      state/<trial_id>.pt       pre-training state after the last epoch of running trials
      cache/                    content-addressed pre-training checkpoints and HoG curves
    out/study.json, out/mlflow.db   (local: what `status` and the default MLflow store use)

``--resume`` restores Tune's experiment (finished trials stay finished, unfinished ones continue
from their saved state, the Optuna searcher's state comes back with it) and re-attaches MLflow
runs; see trainables/tune.py and study/tracking.py.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import ray
from ray import tune

from rotsweep.storage import exists, join, read_bytes, write_bytes
from rotsweep.tables import write_part
from study.book import TrialBook, TrialRecord
from study.cluster import (
    StudyError,
    check_client_options,
    check_resources,
    check_storage_visible,
    start_ray,
)
from study.config import StudyConfig
from study.hog import hog_jobs, run_hog_job
from study.orientation import orientation_jobs, run_orientation_job
from study.progress import ProgressCallback, last_line
from study.search import build_tune_config, param_space_axes
from study.tracking import MlflowCallback, Tracker, default_tracking_uri
from trainables.config import to_dict
from trainables.tune import rotsweep_trainable, trial_config

MLFLOW_STATUS = {"FINISHED": "FINISHED", "STOPPED": "FINISHED", "FAILED": "FAILED"}


@dataclass(frozen=True)
class RunOptions:
    """How and where a study runs (the command line's options).

    Attributes:
        out: the study folder (local): ``study.json``, MLflow's SQLite file, the report.
        storage: where Tune state, checkpoints, artifacts and tables go (a shared path or a
            ``pyarrow.fs`` URI); defaults to ``out``.
        address: an existing Ray cluster (``auto``, ``host:port``, ``ray://host:port``); a
            local Ray instance if None.
        tracking_uri: MLflow tracking URI; SQLite in ``out`` if None.
        resume: continue the study found in ``storage``.
        verbose: show Ray Tune's own progress table as well.
        num_cpus: CPUs of a local Ray instance (all of this machine's by default).
        trainable: the Tune function trainable (default: the rotsweep trial); the overhead
            benchmark and fault-injection tests pass their own.
    """

    out: str
    storage: str | None = None
    address: str | None = None
    tracking_uri: str | None = None
    resume: bool = False
    verbose: bool = False
    num_cpus: int | None = None
    trainable: Callable[[dict[str, Any]], None] | None = None


@dataclass
class StudyResult:
    """What a launch reports back: trial counts by status, where things went, what failed."""

    n_trials: int
    counts: dict[str, int]
    wall_s: float
    results_root: str
    tracking_uri: str
    mlflow_note: str
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return self.counts.get("FAILED", 0)

    @property
    def n_finished(self) -> int:
        return self.counts.get("FINISHED", 0)


def layout(storage: str) -> dict[str, str]:
    """The folders of a study under its storage root."""
    names = {"results_root": "results", "cache_root": "cache", "artifacts_root": "artifacts",
             "runs_root": "mlflow_runs", "done_root": "done", "state_root": "state",
             "tune_root": "tune"}
    return {key: join(storage, name) for key, name in names.items()}


def study_meta(study: StudyConfig, storage: str) -> bytes:
    """``study.json``: the study, its axes, its base trial and where its storage is."""
    return json.dumps({"name": study.name, "source": study.source, "n_trials": study.n_trials(),
                       "storage": storage, "axes": {k: list(v) for k, v in study.keys.axes.items()},
                       "base": to_dict(study.base)}, indent=2).encode()


def check_fresh(study: StudyConfig, storage: str, resume: bool) -> None:
    """Refuse to start a second, unrelated sweep over an existing one's tables and runs."""
    if resume or not exists(join(storage, "study.json")):
        return
    name = json.loads(read_bytes(join(storage, "study.json"))).get("name")
    raise StudyError(f"{storage} already holds study {name!r}; pass --resume to continue it "
                     "(finished trials are kept), or choose another --out/--storage")


def build_tuner(study: StudyConfig, opts: RunOptions, storage: str, uri: str) -> tune.Tuner:
    """A new Tuner, or the restored one with ``opts.resume`` when an experiment exists."""
    paths = layout(storage)
    trainable = tune.with_resources(
        opts.trainable or rotsweep_trainable,
        {"cpu": study.keys.resources.cpu, "gpu": study.keys.resources.gpu})
    param_space = {"base": to_dict(study.base), "axes": param_space_axes(study),
                   "runtime": {k: v for k, v in paths.items() if k != "tune_root"}}
    experiment = join(paths["tune_root"], study.name)
    if opts.resume and tune.Tuner.can_restore(experiment):
        # callbacks, searcher and scheduler come back from the experiment's pickle
        return tune.Tuner.restore(experiment, trainable, resume_unfinished=True,
                                  resume_errored=True, param_space=param_space)
    callbacks = [
        MlflowCallback(uri, study.name, paths["runs_root"], paths["artifacts_root"]),
        ProgressCallback(storage, study.n_trials(), study.keys.search.metrics[0]),
    ]
    run_config = tune.RunConfig(
        name=study.name,
        storage_path=paths["tune_root"],
        failure_config=tune.FailureConfig(max_failures=study.keys.max_failures),
        callbacks=callbacks,
        verbose=1 if opts.verbose else 0,
    )
    return tune.Tuner(trainable, param_space=param_space, tune_config=build_tune_config(study),
                      run_config=run_config)


def tune_env(verbose: bool) -> dict[str, str]:
    """Environment of Ray Tune's driver for a study (set here and, under Ray Client, on the
    head node where the driver runs)."""
    env = {
        # per-epoch checkpoints of small trials are cheap; Tune's warning about them is noise
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
        # a trial reports per-epoch results and one final result with other keys; Tune's check
        # that every result carries every metric would reject that, so the study's metrics are
        # checked against what trials report when the study file is validated instead
        "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    }
    if not verbose:
        # the new output engine prints an experiment header even at verbose=0, and a failed
        # trial gets one progress line and a row in `trials`, not Tune's tracebacks
        env.update(RAY_AIR_NEW_OUTPUT="0", TUNE_PRINT_ALL_TRIAL_ERRORS="0")
    return env


def quiet_tune(verbose: bool) -> dict[str, str]:
    """Apply :func:`tune_env` here (the user's own settings win) and mute Tune's log lines that
    the progress summary replaces; returns the environment."""
    env = tune_env(verbose)
    for key, value in env.items():
        os.environ.setdefault(key, value)
    if not verbose:
        # on resume, Tune warns about trials that never reported (they simply had not started)
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
        if _DROP_INCOMPLETE not in logging.getLogger("ray.tune.tune").filters:
            logging.getLogger("ray.tune.tune").addFilter(_DROP_INCOMPLETE)
    return {key: os.environ[key] for key in env}


class _DropIncomplete(logging.Filter):
    """Drops Tune's closing "Trials did not complete: [...]" (the summary lists failures)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Trials did not complete")


_DROP_INCOMPLETE = _DropIncomplete()


def run_hog(study: StudyConfig, storage: str) -> list[Any]:
    """Start the study's data-only jobs as Ray tasks beside the trials: the HoG-SVM curves and
    the gradient-orientation histograms, one per distinct dataset, both cached."""
    paths = layout(storage)
    # an orientation histogram is a few seconds of numpy: it reserves no core, so it never
    # holds a node's only CPU while trials wait for one
    orientation = ray.remote(num_cpus=0)(run_orientation_job)
    refs = [orientation.remote(job, study.name, paths) for job in orientation_jobs(study)]
    hog_axes = [k for k in study.keys.axes if k == "hog" or k.startswith("hog.")]
    if not study.base.hog.enabled and not hog_axes:
        return refs  # without parsing every grid point to find out
    # a HoG job reserves the cores its joblib workers use (hog.n_jobs)
    return refs + [ray.remote(num_cpus=job["hog"]["n_jobs"])(run_hog_job).remote(
        job, study.name, paths) for job in hog_jobs(study)]


def wait_hog(refs: list[Any]) -> list[str]:
    """Wait for the HoG jobs; their errors as messages (the study's trials are unaffected)."""
    problems = []
    for ref in refs:
        try:
            ray.get(ref)
        except Exception as err:  # a failed job must not lose the trials' tables
            problems.append(f"data job (HoG-SVM or orientation) failed: "
                            f"{last_line(str(err))}")
    return problems


def run_study(study: StudyConfig, opts: RunOptions) -> StudyResult:
    """Run every trial of ``study`` and write its tables; see :class:`RunOptions`.

    Raises:
        StudyError: the launch cannot start as asked (existing study without ``resume``, a
            storage some node cannot see, resources no node has, Ray Client with SQLite).
    """
    start = time.perf_counter()
    storage = opts.storage or os.path.abspath(opts.out)
    paths = layout(storage)
    uri = opts.tracking_uri or default_tracking_uri(opts.out)
    check_client_options(opts.address, opts.storage, uri)
    check_fresh(study, storage, opts.resume)
    env = quiet_tune(opts.verbose)
    start_ray(opts.address, opts.num_cpus, env)
    warnings = [w for w in [check_resources(
        {"cpu": study.keys.resources.cpu, "gpu": study.keys.resources.gpu},
        local=not opts.address)] if w]
    if opts.address:
        check_storage_visible(storage)

    os.makedirs(opts.out, exist_ok=True)
    meta = study_meta(study, storage)
    write_bytes(join(storage, "study.json"), meta)
    if os.path.abspath(opts.out) != os.path.abspath(storage):
        write_bytes(os.path.join(os.path.abspath(opts.out), "study.json"), meta)
    tracker = Tracker.shared(uri, study.name, paths["runs_root"], fresh=True,
                             resuming=opts.resume)
    tracker.start_parent(f"{study.name} launch", {"study.source": study.source,
                                                  "study.n_trials": study.n_trials()}, storage)
    hog_refs = run_hog(study, storage)
    try:
        build_tuner(study, opts, storage, uri).fit()
        warnings += wait_hog(hog_refs)
    finally:  # even when Tune itself fails: the table of what ran, and no run left RUNNING
        book = finish_launch(study, storage, tracker)
    counts = book.counts()
    return StudyResult(
        n_trials=len(book.trials), counts=counts, wall_s=time.perf_counter() - start,
        results_root=paths["results_root"], tracking_uri=uri, mlflow_note=tracker.summary(),
        errors={t: r.error or "error" for t, r in book.trials.items() if r.status == "FAILED"},
        warnings=warnings)


def finish_launch(study: StudyConfig, storage: str, tracker: Tracker) -> TrialBook:
    """Write the ``trials`` table from the book, end the MLflow runs; returns the book."""
    book = TrialBook.load(storage)
    statuses = {tid: MLFLOW_STATUS.get(rec.status, "KILLED") for tid, rec in book.trials.items()}
    tracker.reconcile(statuses)
    counts = book.counts()
    stopped_short = counts.get("INTERRUPTED", 0) + counts.get("RUNNING", 0)
    failed_all = bool(book.trials) and counts.get("FAILED", 0) == len(book.trials)
    tracker.end_parent("KILLED" if stopped_short else "FAILED" if failed_all else "FINISHED")
    write_trials_table(book, study, layout(storage))
    return book


def trials_rows(book: TrialBook, study: StudyConfig, paths: dict[str, str]
                ) -> list[dict[str, Any]]:
    """One ``trials`` row per trial of the book: status, error, config, MLflow run, wall time."""
    base = to_dict(study.base)
    rows = []
    for rec in book.trials.values():
        cfg = trial_config({"base": base, "axes": rec.axes})
        rows.append({"study": study.name, "dataset": cfg.data.tag, "trial_id": rec.trial_id,
                     "status": rec.status, "error": rec.error if rec.status == "FAILED" else None,
                     "config_json": json.dumps(to_dict(cfg), sort_keys=True),
                     "mlflow_run_id": run_id_of(paths["runs_root"], rec),
                     "wall_s": rec.wall_s})
    return rows


def run_id_of(runs_root: str, rec: TrialRecord) -> str | None:
    path = join(runs_root, f"{rec.trial_id}.json")
    return json.loads(read_bytes(path)).get("run_id") if exists(path) else None


def write_trials_table(book: TrialBook, study: StudyConfig, paths: dict[str, str]) -> None:
    """The ``trials`` table: one part per dataset, rewritten whole at the end of each launch
    (the book holds every trial of every launch, so nothing is lost or doubled)."""
    rows = trials_rows(book, study, paths)
    if rows:
        # object columns: pandas would turn the None of a string column into NaN
        write_part(paths["results_root"], "trials", pd.DataFrame(rows, dtype=object),
                   key="trials")


def print_result(res: StudyResult, stream: Any = None) -> None:
    """The closing lines of ``rotsweep run`` (to ``sys.stdout`` as it is at call time)."""
    stream = stream or sys.stdout
    c = res.counts
    extra = "".join(f", {c[s]} {s.lower()}" for s in ("STOPPED", "INTERRUPTED", "RUNNING")
                    if c.get(s))
    print(f"{res.n_finished}/{res.n_trials} trials finished, {res.n_failed} failed{extra}; "
          f"tables in {res.results_root}", file=stream)
    for trial_id, err in res.errors.items():
        print(f"  FAILED {trial_id}: {last_line(err)}", file=stream)
    for warning in res.warnings:
        print(f"  warning: {warning}", file=stream)
    if c.get("INTERRUPTED") or c.get("RUNNING"):
        print("  interrupted: continue with the same command and --resume", file=stream)
    print(res.mlflow_note, file=stream)
    print(f"wall time: {res.wall_s:.1f} s", file=stream)
