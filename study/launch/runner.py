"""Run a validated study on Ray Tune: claim, layout, checks, HoG, batches, MLflow, trials table.

One launch of ``rotsweep run``::

    storage/                    --storage (a shared path or URI; default: --out)
      claim.json                who runs the study now (study/folder/claim.py); gone when it ends
      study.json                what the study is (study/folder/meta.py); paths relative to it
      progress.json             the trial book (study/folder/book.py): every trial's state
      tune/launch-L-batch-B/    one Tune experiment per batch of trials (study/launch/plan.py),
                                removed once its trials ended
      results/<table>/...       the Parquet tables (trials write theirs; the driver `trials`)
      artifacts/<trial_id>/     figures and configs made by trials (the driver uploads them)
      mlflow_runs/<trial>.json  the trial → MLflow run map (and the parent run)
      done/<trial_id>.json      final results of finished trials (replayed on resume)
      state/<trial_id>.pt       pre-training state after the last epoch of running trials
      cache/                    content-addressed pre-training checkpoints and HoG curves
    out/study.json, out/mlflow.db   (local: what `status` and the default MLflow store use)

Every launch plans the study's unfinished trials from the trial book and runs them in fresh,
bounded Tune experiments under stable trial ids (study/launch/plan.py): nothing of an earlier
launch's Tune state is restored, so the storage roots a trial and the callbacks use are always the
current ones, and a study folder moved or copied elsewhere resumes where it is now.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import ray

from rotsweep.storage import exists, join, read_bytes
from rotsweep.tables import write_part
from study.config.load import StudyConfig
from study.folder.book import TrialBook, TrialRecord
from study.folder.claim import Claim, ClaimError
from study.folder.completeness import (
    check_data,
    expected_rows,
    forget_done,
    set_damaged_aside,
    settle,
    trial_states,
)
from study.folder.meta import check_component, check_continues, is_local, layout, write_meta
from study.launch.cluster import (
    StudyError,
    check_client_options,
    check_local_auth,
    check_resources,
    check_storage_visible,
    start_ray,
)
from study.launch.compaction import finish_storage
from study.launch.hog import hog_jobs, run_hog_job
from study.launch.orientation import orientation_jobs, run_orientation_job
from study.launch.plan import (
    BATCH_SIZE,
    pending,
    plan_ids,
)
from study.launch.progress import LaunchClock, error_message
from study.launch.reaper import start_reaper
from study.launch.tuning import quiet_tune as quiet_tune  # bench/overhead.py imports it from here
from study.launch.tuning import run_batches
from study.launch.tuning import tune_env as tune_env
from study.signals import STOP_SIGNALS, handled, hangup_ignored
from study.tracking.run_ids import follow_run_ids
from study.tracking.store import default_tracking_uri
from study.tracking.tracker import Tracker
from trainables.config import to_dict
from trainables.trial import meta_pick, trial_meta
from trainables.tune import trial_config

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
        batch_size: trials per Tune experiment (study/launch/plan.py).
        allow_no_auth: start a local Ray instance even with ``RAY_AUTH_MODE=disabled``.
    """

    out: str
    storage: str | None = None
    address: str | None = None
    tracking_uri: str | None = None
    resume: bool = False
    verbose: bool = False
    num_cpus: int | None = None
    trainable: Callable[[dict[str, Any]], None] | None = None
    batch_size: int = BATCH_SIZE
    allow_no_auth: bool = False


@dataclass
class StudyResult:
    """What a launch reports back: trial counts by status, where things went, what failed."""

    n_trials: int
    counts: dict[str, int]
    wall_s: float
    results_root: str
    tracking_uri: str
    mlflow_note: str
    # compaction and the checkpoint cache's size (study/launch/compaction.py)
    storage_note: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return self.counts.get("FAILED", 0)

    @property
    def n_finished(self) -> int:
        return self.counts.get("FINISHED", 0)

    @property
    def n_left(self) -> int:
        """Trials that ``--resume`` would run: interrupted (or incomplete) and never started."""
        return sum(self.counts.get(s, 0) for s in ("INTERRUPTED", "RUNNING", "NOT_STARTED"))


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
                            f"{error_message(str(err))}")
    return problems


def run_study(study: StudyConfig, opts: RunOptions, stream: Any = None) -> StudyResult:
    """Run every trial of ``study`` and write its tables; see :class:`RunOptions`.

    Prints one line before anything starts (the study, its trials, its storage). The study's
    storage (and ``out``, when apart) is claimed before Ray starts and released however the
    launch ends (study/folder/claim.py).

    Raises:
        StudyError: the launch cannot start as asked (the storage is in use by another launch
            or holds another study, a storage some node cannot see, resources no node has, Ray
            Client with SQLite, a local Ray without authentication).
    """
    start = time.time()
    check_component(study.name, "study name")
    storage = opts.storage or os.path.abspath(opts.out)
    uri = opts.tracking_uri or default_tracking_uri(opts.out)
    # "resuming" only where there is a study to resume (the first `make demo` starts one)
    resuming = opts.resume and exists(join(storage, "study.json"))
    print(f"study {study.name!r}: {study.n_trials()} trials, storage {storage}"
          + (" (resuming)" if resuming else ""), file=stream or sys.stdout, flush=True)
    check_client_options(opts.address, opts.storage, uri)
    check_local_auth(opts.address, opts.allow_no_auth)
    claims = []
    with exit_on_sigterm():
        try:
            for where in owned_places(opts.out, storage):
                claim = Claim(where)
                claim.acquire(opts.resume)
                claims.append(claim)
                claim.start_heartbeat()
                if claim.taken_over is not None:
                    print(f"  took over {where} from a killed launch: "
                          f"{claim.taken_over.describe()}", file=stream or sys.stdout,
                          flush=True)
            return run_claimed(study, opts, storage, uri, claims[0].holder.launch, start)
        except ClaimError as err:
            raise StudyError(str(err)) from None
        finally:
            for claim in reversed(claims):
                claim.release()


def exit_on_sigterm() -> contextlib.AbstractContextManager[None]:
    """SIGTERM (``kill PID``) and SIGHUP (the terminal closed) end the launch as Ctrl-C does
    (:func:`sigterm_as_sigint`), through its ``finally`` blocks, which write the ``trials``
    table and release the claim (Python's default would stop the process on the spot). Only
    in the main thread, where signals go; the handlers before the launch are put back after."""
    return handled(STOP_SIGNALS, sigterm_as_sigint)


def sigterm_as_sigint(signum: int, frame: Any) -> None:
    """SIGTERM or SIGHUP handled as SIGINT: while Tune runs, its SIGINT handler (the running
    trials stop, the launch ends with them marked interrupted; a second signal stops at once),
    else the launch's ``finally`` blocks through :class:`SystemExit` (``128 + signum``).
    ``ray.init`` installs its own SIGTERM handler (``sys.exit``), so :func:`run_claimed` installs
    this one again after it."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
        return
    raise SystemExit(128 + signum)


def owned_places(out: str, storage: str) -> list[str]:
    """Where a launch writes: the storage, and ``out`` when it is a folder apart (MLflow's
    SQLite file and the copy of ``study.json``)."""
    places = [storage]
    if not is_local(storage) or os.path.abspath(out) != os.path.abspath(storage):
        places.append(os.path.abspath(out))
    return places


def run_claimed(study: StudyConfig, opts: RunOptions, storage: str, uri: str, launch: str,
                start: float) -> StudyResult:
    """:func:`run_study` once the study is claimed."""
    paths = layout(storage)
    check_continues(study, storage, opts.resume)
    env = quiet_tune(opts.verbose)
    ray_here = not opts.address and not ray.is_initialized()
    # a local Ray's processes (and the reaper) start with SIGHUP ignored, which they keep: a
    # closed terminal hangs up its whole process group, and Ray killed under the launch would
    # leave it waiting a minute for the GCS instead of stopping gracefully through the driver
    with hangup_ignored():
        start_ray(opts.address, opts.num_cpus, env)
        if ray_here:  # its agents would outlive a killed driver (study/launch/reaper.py)
            start_reaper()
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:  # ray.init replaced SIGTERM's
            signal.signal(sig, sigterm_as_sigint)
    warnings = [w for w in [check_resources(
        {"cpu": study.keys.resources.cpu, "gpu": study.keys.resources.gpu},
        local=not opts.address)] if w]
    if opts.address:
        check_storage_visible(storage)
    # written once every check passed: a refused launch leaves no study behind
    write_meta(study, opts.out, storage)
    book = TrialBook.load(storage)
    book.start_launch(launch)
    states = plan_from_data(study, storage, book)
    book.save()
    todo = pending(study, book, states)
    # the store is made, and the parent run opened, on the tracker's worker thread while Tune
    # starts the first trials (study/tracking/worker.py)
    tracker = Tracker.shared(uri, study.name, paths["runs_root"], fresh=True,
                             resuming=opts.resume, background=True)
    tracker.start_parent(f"{study.name} launch", {"study.source": study.source,
                                                  "study.n_trials": study.n_trials()}, storage)
    hog_refs = run_hog(study, storage)
    try:
        run_batches(study, storage, uri, todo, book.launches, LaunchClock(start, todo=len(todo)),
                    opts.batch_size, opts.trainable, opts.verbose)
        warnings += wait_hog(hog_refs)
    finally:  # even when Tune itself fails: the table of what ran, and no run left RUNNING
        book = finish_launch(study, storage, tracker)
        storage_note = finish_storage(storage, book)
    counts = launch_counts(study, storage, book)
    return StudyResult(
        n_trials=study.n_trials(), counts=counts, wall_s=time.time() - start,
        results_root=paths["results_root"], tracking_uri=uri, mlflow_note=tracker.summary(),
        storage_note=storage_note,
        errors={t: r.error or "error" for t, r in book.trials.items() if r.status == "FAILED"},
        warnings=warnings)


def plan_from_data(study: StudyConfig, storage: str, book: TrialBook,
                   stream: Any = None) -> dict[str, str]:
    """Before a launch plans: every planned trial's verdict from the data in storage
    (study/folder/completeness.py). Damaged table files are set aside (one line each), done records
    of trials whose rows are missing are deleted (so they run again instead of replaying), the
    rows each grid trial must write are recorded, and the book is made to agree."""
    ids = plan_ids(study)
    if study.keys.search.algorithm != "optuna":  # an Optuna trial's, when it starts
        for tid, point in zip(ids, study.grid(), strict=True):
            rec = book.trials.get(tid)
            book.record(tid, axes=dict(rec.axes) if rec is not None and rec.axes
                        else dict(point), expected=expected_rows(study.trial(point)))
    data = check_data(storage, ids, book)
    if data.damaged:
        for line in set_damaged_aside(storage, data):
            print(line, file=stream or sys.stdout, flush=True)
        data = check_data(storage, ids, book)
    forget_done(storage, data)
    settle(book, data)
    return trial_states(book, data)


def launch_counts(study: StudyConfig, storage: str, book: TrialBook) -> dict[str, int]:
    """The closing line's counts: every planned trial's verdict from the data (the book's
    statuses when storage cannot be read now)."""
    try:
        states = trial_states(book, check_data(storage, plan_ids(study), book))
    except (OSError, ValueError):
        return book.counts()
    counts: dict[str, int] = {}
    for state in states.values():
        state = "INTERRUPTED" if state == "INCOMPLETE" else state
        counts[state] = counts.get(state, 0) + 1
    return counts


def finish_launch(study: StudyConfig, storage: str, tracker: Tracker) -> TrialBook:
    """Make the book agree with the data, write the ``trials`` table from it, end the MLflow
    runs; returns the book."""
    book = TrialBook.load(storage)
    with contextlib.suppress(OSError, ValueError):  # unreadable now: the next launch checks
        settle(book, check_data(storage, plan_ids(study), book))
    # the launch ends here, however it ran: also one with nothing left to run, whose Tune
    # callbacks never saved the book (status then says "last launch ended", not "killed")
    book.save(ended=True)
    statuses = {tid: MLFLOW_STATUS.get(rec.status, "KILLED") for tid, rec in book.trials.items()}
    tracker.reconcile(statuses)
    try:  # a rebuilt store made the runs again under new ids: the tables follow them
        follow_run_ids(storage, bool(getattr(tracker, "store_new", False)))
    except (OSError, ValueError) as err:  # the next launch tries again (its marker stays)
        print(f"  note: MLflow run ids in the tables not updated ({err})", file=sys.stderr)
    counts = book.counts()
    stopped_short = sum(counts.get(s, 0) for s in ("INTERRUPTED", "RUNNING", "PENDING"))
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
        # the trial's columns (dataset, backbone, pretext, pretraining, train angles, seed)
        rows.append({**meta_pick(trial_meta(cfg, rec.trial_id), "trials"),
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
    extra = "".join(f", {c[s]} {s.lower().replace('_', ' ')}"
                    for s in ("STOPPED", "INTERRUPTED", "RUNNING", "NOT_STARTED") if c.get(s))
    print(f"{res.n_finished}/{res.n_trials} trials finished, {res.n_failed} failed{extra}; "
          f"tables in {res.results_root}", file=stream)
    for trial_id, err in res.errors.items():
        print(f"  FAILED {trial_id}: {error_message(err)}", file=stream)
    for warning in res.warnings:
        print(f"  warning: {warning}", file=stream)
    if c.get("INTERRUPTED") or c.get("RUNNING") or c.get("NOT_STARTED"):
        print("  interrupted: continue with the same command and --resume", file=stream)
    if res.storage_note:
        print(res.storage_note, file=stream)
    print(res.mlflow_note, file=stream)
    print(f"wall time: {res.wall_s:.1f} s", file=stream)
