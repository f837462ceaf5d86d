"""Run a validated study on Ray Tune: layout, HoG tasks, the Tuner, MLflow, the trials table."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ray
from ray import tune

from analysis.tables import write_part
from study.config import StudyConfig
from study.hog import hog_jobs, run_hog_job
from study.progress import ProgressCallback, trial_error
from study.tracking import MlflowCallback, Tracker, default_tracking_uri
from trainables.config import parse_trial, to_dict
from trainables.config.overrides import apply_overrides
from trainables.storage import exists, join, read_bytes, write_bytes
from trainables.trial import trial_params
from trainables.tune import rotsweep_trainable


@dataclass(frozen=True)
class RunOptions:
    """How and where a study runs (the command line's options).

    Attributes:
        out: the study folder (local): MLflow's SQLite file and the report go here.
        storage: where Tune state, checkpoints, artifacts and tables go (a shared path or a
            ``pyarrow.fs`` URI); defaults to ``out``.
        address: an existing Ray cluster (``auto``, ``ray://host:port``); local Ray if None.
        tracking_uri: MLflow tracking URI; SQLite in ``out`` if None.
        resume: continue the study found in ``storage``.
        verbose: show Ray Tune's own progress table as well.
        num_cpus: CPUs of a local Ray instance (all of this machine's by default).
    """

    out: str
    storage: str | None = None
    address: str | None = None
    tracking_uri: str | None = None
    resume: bool = False
    verbose: bool = False
    num_cpus: int | None = None


@dataclass
class StudyResult:
    """What a finished launch reports back."""

    n_trials: int
    n_finished: int
    n_failed: int
    wall_s: float
    results_root: str
    tracking_uri: str
    mlflow_note: str
    errors: dict[str, str] = field(default_factory=dict)


def layout(storage: str) -> dict[str, str]:
    """The folders of a study under its storage root."""
    return {
        "results_root": join(storage, "results"),
        "cache_root": join(storage, "cache"),
        "artifacts_root": join(storage, "artifacts"),
        "runs_root": join(storage, "mlflow_runs"),
        "tune_root": join(storage, "tune"),
    }


def search_space(study: StudyConfig) -> dict[str, Any]:
    """Tune's ``axes`` sub-space: grid axes and searched hyper-parameters, by dotted key."""
    space: dict[str, Any] = {k: tune.grid_search(list(v)) for k, v in study.keys.axes.items()}
    for key, p in study.params.items():
        if p.kind == "uniform":
            space[key] = tune.uniform(p.low, p.high)
        elif p.kind == "loguniform":
            space[key] = tune.loguniform(p.low, p.high)
        elif p.kind == "randint":
            space[key] = tune.randint(int(p.low), int(p.high))  # type: ignore[arg-type]
        else:
            space[key] = tune.choice(list(p.values))
    return space


def tune_config(study: StudyConfig) -> tune.TuneConfig:
    """Search algorithm, scheduler and concurrency from ``search`` and ``max_concurrent``."""
    s = study.keys.search
    search_alg = scheduler = None
    if s.algorithm == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(metric=s.metric, mode=s.mode, seed=study.base.seed)
    if s.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="epoch", grace_period=s.grace_period,
                                  max_t=max(study.base.train.epochs, s.grace_period))
    needs_metric = search_alg is not None or scheduler is not None
    return tune.TuneConfig(
        metric=s.metric if needs_metric else None,
        mode=s.mode if needs_metric else None,
        num_samples=s.num_samples,
        search_alg=search_alg,
        scheduler=scheduler,
        max_concurrent_trials=study.keys.max_concurrent or None,
    )


def start_ray(opts: RunOptions) -> None:
    """Join ``opts.address`` or start a local instance (quietly)."""
    if ray.is_initialized():
        return
    # per-epoch checkpoints of small trials are cheap; Tune's warning about them is noise
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    quiet = ray.LoggingConfig(log_level="WARNING")
    if opts.address:
        ray.init(address=opts.address, logging_config=quiet)
    else:
        ray.init(num_cpus=opts.num_cpus or os.cpu_count(), include_dashboard=False,
                 logging_config=quiet)


def run_study(study: StudyConfig, opts: RunOptions) -> StudyResult:
    """Run every trial of ``study`` and write its tables; see :class:`RunOptions`."""
    start = time.perf_counter()
    storage = opts.storage or os.path.abspath(opts.out)
    paths = layout(storage)
    os.makedirs(opts.out, exist_ok=True)
    write_bytes(join(storage, "study.json"), json.dumps(
        {"name": study.name, "source": study.source, "n_trials": study.n_trials(),
         "axes": {k: list(v) for k, v in study.keys.axes.items()},
         "base": to_dict(study.base)}, indent=2).encode())
    uri = opts.tracking_uri or default_tracking_uri(opts.out)
    tracker = Tracker(uri, study.name, paths["runs_root"])
    parent_file = join(paths["runs_root"], "_parent.json")
    parent_id = json.loads(read_bytes(parent_file))["run_id"] if (
        opts.resume and exists(parent_file)) else None
    tracker.start_parent(f"{study.name} launch", {"study.source": study.source,
                                                  "study.n_trials": study.n_trials()}, parent_id)
    if tracker.parent_id and not parent_id:
        write_bytes(parent_file, json.dumps({"run_id": tracker.parent_id}).encode())

    start_ray(opts)
    hog_refs = [ray.remote(num_cpus=1)(run_hog_job).remote(job, study.name, paths)
                for job in hog_jobs(study)]

    base = to_dict(study.base)

    def params_of(config: Mapping[str, Any]) -> dict[str, Any]:
        return trial_params(parse_trial(apply_overrides(config["base"], config.get("axes", {}))))

    progress = ProgressCallback(study.n_trials(), study.keys.search.metric)
    mlflow_cb = MlflowCallback(tracker, params_of, paths["artifacts_root"])
    callbacks = [mlflow_cb, progress]
    trainable = tune.with_resources(
        rotsweep_trainable, {"cpu": study.keys.resources.cpu, "gpu": study.keys.resources.gpu})
    param_space = {"base": base, "axes": search_space(study),
                   "runtime": {k: v for k, v in paths.items() if k != "tune_root"}}
    run_config = tune.RunConfig(
        name=study.name,
        storage_path=paths["tune_root"],
        failure_config=tune.FailureConfig(max_failures=study.keys.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        callbacks=callbacks,
        verbose=1 if opts.verbose else 0,
    )
    experiment = join(paths["tune_root"], study.name)
    if opts.resume and tune.Tuner.can_restore(experiment):
        tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True,
                                   resume_errored=True, param_space=param_space)
    else:
        tuner = tune.Tuner(trainable, param_space=param_space, tune_config=tune_config(study),
                           run_config=run_config)
    tuner.fit()
    ray.get(hog_refs)

    errors = write_trials_table(progress.trials, study, paths["results_root"], mlflow_cb.run_ids)
    n, n_failed = len(progress.trials), len(errors)
    tracker.end_parent("FAILED" if n and n_failed == n else "FINISHED")
    return StudyResult(
        n_trials=n, n_finished=n - n_failed, n_failed=n_failed,
        wall_s=time.perf_counter() - start, results_root=paths["results_root"],
        tracking_uri=uri, mlflow_note=tracker.summary(), errors=errors)


def write_trials_table(trials: list[Any], study: StudyConfig, results_root: str,
                       run_ids: Mapping[str, str | None]) -> dict[str, str]:
    """One ``trials`` row per Tune trial (status, error, config); returns ``trial_id -> error``."""
    errors: dict[str, str] = {}
    for trial in trials:
        config = trial.config or {}
        cfg = parse_trial(apply_overrides(config.get("base", {}), config.get("axes", {})))
        error = trial_error(trial) if trial.status == "ERROR" else None
        if error:
            errors[trial.trial_id] = error
        last = trial.last_result or {}
        row = {"study": study.name, "dataset": cfg.data.name, "trial_id": trial.trial_id,
               "status": "FAILED" if trial.status == "ERROR" else "FINISHED"
               if last.get("done") else str(trial.status),
               "error": error, "config_json": json.dumps(to_dict(cfg), sort_keys=True),
               "mlflow_run_id": run_ids.get(trial.trial_id), "wall_s": last.get("wall_s")}
        write_part(results_root, "trials", [row], key=trial.trial_id)
    return errors


def print_result(res: StudyResult, stream: Any = sys.stdout) -> None:
    """The closing lines of ``rotsweep run``."""
    print(f"{res.n_finished}/{res.n_trials} trials finished, {res.n_failed} failed; "
          f"tables in {res.results_root}", file=stream)
    for trial_id, err in res.errors.items():
        print(f"  FAILED {trial_id}: {err.splitlines()[-1][:300]}", file=stream)
    print(res.mlflow_note, file=stream)
    print(f"wall time: {res.wall_s:.1f} s", file=stream)
