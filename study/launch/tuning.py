"""Ray Tune for a study: its environment, and the bounded experiments a launch runs its trials in
(one per batch of planned trials; see study/launch/plan.py for why and how)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow.fs as pafs
from ray import tune

from rotsweep.storage import resolve
from study.config.load import StudyConfig
from study.folder.book import TERMINAL, TrialBook, TrialRecord
from study.folder.meta import inside, layout
from study.launch.plan import BATCH_SIZE, PlanGenerator, Planned, PlanSearch, batches, study_search
from study.launch.progress import LaunchClock, ProgressCallback
from study.launch.search import build_scheduler
from study.tracking.callback import MlflowCallback
from trainables.config import to_dict

Trainable = Callable[[dict[str, Any]], None]


def build_tuner(study: StudyConfig, storage: str, uri: str, batch: list[Planned], name: str,
                clock: LaunchClock, trainable: Trainable | None = None,
                verbose: bool = False) -> tune.Tuner:
    """A new Tune experiment ``name`` for the trials of ``batch`` (see study/launch/plan.py), run by
    ``trainable`` (default: the rotsweep trial)."""
    # the trial code (torch, matplotlib) is imported here, once Ray and the MLflow thread
    # started, not when the driver starts
    from trainables.tune import rotsweep_trainable

    paths = layout(storage)
    resources = tune.with_resources(
        trainable or rotsweep_trainable,
        {"cpu": study.keys.resources.cpu, "gpu": study.keys.resources.gpu})
    param_space = {"base": to_dict(study.base),
                   "runtime": {k: v for k, v in paths.items() if k != "tune_root"}}
    searcher = PlanSearch(batch, study_search(study, TrialBook.load(storage)),
                          study.keys.max_concurrent)
    tune_config = tune.TuneConfig(
        num_samples=len(batch), search_alg=PlanGenerator(searcher),
        scheduler=build_scheduler(study),
        # a trial's process is reused by the next one with the same resources: starting a
        # process that imports torch costs seconds, more than a small trial (see
        # trainables/tune.py for the per-trial state that is reset)
        reuse_actors=True)
    callbacks = [
        MlflowCallback(uri, study.name, paths["runs_root"], paths["artifacts_root"]),
        ProgressCallback(storage, study.n_trials(), study.keys.search.metrics[0], clock=clock),
    ]
    run_config = tune.RunConfig(
        name=name, storage_path=paths["tune_root"],
        failure_config=tune.FailureConfig(max_failures=study.keys.max_failures),
        callbacks=callbacks, verbose=1 if verbose else 0)
    return tune.Tuner(resources, param_space=param_space, tune_config=tune_config,
                      run_config=run_config)


@contextlib.contextmanager
def pending_trials(study: StudyConfig, batch: list[Planned]) -> Iterator[None]:
    """Let Tune queue a grid batch's trials ahead of free resources, as it does for its own
    grid (it queues one trial at a time for a searcher, which is right for Optuna, whose next
    suggestion should see as many results as possible). A user's own
    ``TUNE_MAX_PENDING_TRIALS_PG`` wins."""
    key = "TUNE_MAX_PENDING_TRIALS_PG"
    if key in os.environ or study.keys.search.algorithm == "optuna":
        yield
        return
    os.environ[key] = str(min(len(batch), 200))
    try:
        yield
    finally:
        os.environ.pop(key, None)


def run_batches(study: StudyConfig, storage: str, uri: str, todo: list[Planned], launch: int,
                clock: LaunchClock, batch_size: int = BATCH_SIZE,
                trainable: Trainable | None = None, verbose: bool = False) -> None:
    """Run ``todo`` batch after batch; stop after a batch during which a stop was asked for
    (Ctrl-C, SIGTERM) or whose trials did not all end. A batch's Tune experiment is removed
    once all its trials ended."""
    tune_root = layout(storage)["tune_root"]
    for k, batch in enumerate(batches(todo, batch_size)):
        name = f"launch-{launch:03d}-batch-{k:05d}"
        with pending_trials(study, batch), TuneSigint() as sigint:
            grid = build_tuner(study, storage, uri, batch, name, clock, trainable, verbose).fit()
        book = TrialBook.load(storage)
        ended = sum(book.trials.get(p.trial_id, TrialRecord(p.trial_id)).status in TERMINAL
                    for p in batch)
        # interrupted: a stop was asked for (even if every trial then ended), Tune stopped before
        # creating every trial, or some did not end (the progress callback marks those it
        # started and did not see end)
        if sigint.stopped or len(grid) < len(batch) or ended < len(batch):
            return
        remove_folder(inside(tune_root, name))
        clock = LaunchClock(clock.started, clock.todo, clock.ended + ended)


class TuneSigint:
    """Around one Tune run: puts back the SIGINT handler of before it afterwards (Tune installs
    its own, which stops the running trials, and leaves it after the run, where a Ctrl-C between
    batches, during the launch's MLflow completion or its compaction would only set an event
    nobody reads), and says whether a stop was asked for during the run.

    Tune's handler puts the handler of before back when it receives the first SIGINT (or a
    SIGTERM, study/launch/runner.py ``sigterm_as_sigint``), so a handler equal to the one of
    before after the run means a stop was asked for, even when every trial of the batch then
    ended normally and the launch would otherwise go on to the next batch.
    """

    def __init__(self) -> None:
        self.stopped = False
        self._before: Any = None
        self._watching = False

    def __enter__(self) -> TuneSigint:
        import signal
        import threading

        from ray.util.client import ray as client

        # only the main thread receives signals, and only there does Tune install its handler;
        # under Ray Client the Tune run is a task on the head node (ray/tune/tuner.py), which
        # leaves this process's handler alone (a Ctrl-C here is a KeyboardInterrupt)
        self._watching = (threading.current_thread() is threading.main_thread()
                          and not int(os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0"))
                          and not client.is_connected())
        if self._watching:
            self._before = signal.getsignal(signal.SIGINT)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._watching:
            self.stopped = signal.getsignal(signal.SIGINT) is self._before
            signal.signal(signal.SIGINT, self._before)


def remove_folder(target: str) -> None:
    """Delete a folder of the storage and everything in it (absent: nothing to do)."""
    fs, path = resolve(target)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        with contextlib.suppress(OSError):  # only space: a later launch never reads it
            fs.delete_dir(path)


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
        # the trial book and the tables hold every result: Tune's per-trial result.json,
        # progress.csv and TensorBoard files would only add files to the storage
        "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
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
    if _OWN_ADVICE not in logging.getLogger("ray.tune.tune").filters:  # verbose or not
        logging.getLogger("ray.tune.tune").addFilter(_OWN_ADVICE)
    return {key: os.environ[key] for key in env}


class _OwnAdvice(logging.Filter):
    """Ray Tune's advice on Ctrl-C (ray/tune/tune.py: "Resume experiment with:
    Tuner.restore(...)", and the checkpoint talk of its SIGINT handler) contradicts rotsweep's
    (``continue with the same command and --resume``, study/launch/runner.py ``print_result``): the
    first is dropped, the second said in rotsweep's words."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith("Stop signal received"):  # Ray's handler would add its job-id noise
            print("stopping: the running trials end here and keep their state; a second "
                  "Ctrl-C stops at once", file=sys.stderr, flush=True)
            return False
        return not text.startswith(("Experiment has been interrupted",
                                    "Training has been interrupted"))


_OWN_ADVICE = _OwnAdvice()


class _DropIncomplete(logging.Filter):
    """Drops Tune's closing "Trials did not complete: [...]" (the summary lists failures)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Trials did not complete")


_DROP_INCOMPLETE = _DropIncomplete()
