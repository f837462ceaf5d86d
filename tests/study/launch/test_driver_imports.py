"""The driver is quick to start and light per trial (issue 20): its command line and MLflow
tracker import no torch, and the MLflow callback's hooks return before the store is touched,
the work done in order on the tracker's worker thread (study/tracking/worker.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from study.tracking.callback import MlflowCallback
from study.tracking.store import COMPLETE_TAG, TRIAL_TAG, default_tracking_uri
from study.tracking.tracker import Tracker
from study.tracking.worker import JobQueue

ROOT = Path(__file__).resolve().parents[3]


def loaded_after(statement: str, modules: tuple[str, ...]) -> dict[str, bool]:
    """Which of ``modules`` a fresh interpreter holds after running ``statement``."""
    probe = f"import sys; {statement}; print([m in sys.modules for m in {modules!r}])"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return dict(zip(modules, eval(out.strip().splitlines()[-1]), strict=True))


@pytest.mark.parametrize("statement", ["import study.cli.main", "import study.tracking.tracker"])
def test_driver_modules_import_no_torch(statement: str) -> None:
    heavy = ("torch", "torchvision", "trainables.data", "trainables.models", "matplotlib")
    assert loaded_after(statement, heavy) == dict.fromkeys(heavy, False)


def test_the_launch_modules_import_only_what_validation_needs() -> None:
    # what `rotsweep run` imports before Ray starts: validation needs torch (the dataset
    # registry), nothing else heavy; the workers import the rest where it is used
    later = ("torchvision", "sklearn", "matplotlib", "optuna")
    loaded = loaded_after("import study.config.load, study.config.datasets, study.launch.runner",
                          ("torch", *later))
    assert loaded == {"torch": True, **dict.fromkeys(later, False)}


def test_negative_control_the_probe_sees_torch() -> None:
    assert loaded_after("import trainables.models", ("torch",)) == {"torch": True}


def test_job_queue_runs_in_order_keeps_errors_and_drains() -> None:
    jobs = JobQueue()
    done: list[int] = []
    gate = threading.Event()
    jobs.submit(lambda: gate.wait(10))
    for k in range(5):
        jobs.submit(lambda k=k: done.append(k))
    jobs.submit(lambda: 1 / 0)
    jobs.submit(lambda: done.append(99))
    assert done == [] and jobs.pending() == 8
    gate.set()
    jobs.drain()
    assert done == [0, 1, 2, 3, 4, 99] and jobs.pending() == 0
    assert [type(e) for e in jobs.errors] == [ZeroDivisionError]
    jobs.drain()  # nothing pending: at once


def test_urgent_jobs_go_before_queued_ones_in_their_own_order() -> None:
    jobs = JobQueue()
    done: list[str] = []
    gate = threading.Event()
    jobs.submit(lambda: gate.wait(10))
    for name in ("complete t0", "result t1"):
        jobs.submit(lambda name=name: done.append(name))
    for name in ("start t2", "start t3"):
        jobs.submit(lambda name=name: done.append(name), urgent=True)
    gate.set()
    jobs.drain()
    assert done == ["start t2", "start t3", "complete t0", "result t1"]


@dataclass
class Ended:
    """What the callback reads of a Tune trial (its id, config, last result, failures)."""

    trial_id: str
    config: dict[str, Any]
    last_result: dict[str, Any] = field(default_factory=dict)
    num_failures: int = 0


def test_hooks_return_before_the_store_and_complete_after_drain(
        tmp_path: Path, tiny: Any) -> None:
    uri = default_tracking_uri(str(tmp_path))
    runs_root = str(tmp_path / "mlflow_runs")
    tracker = Tracker.shared(uri, "queued", runs_root, fresh=True, background=True)
    gate = threading.Event()
    tracker.submit(lambda: gate.wait(30))  # the store stays busy until the gate opens
    tracker.start_parent("queued launch", {}, str(tmp_path))
    callback = MlflowCallback(uri, "queued", runs_root, None)
    trial = Ended("t0", {"base": tiny(study="queued"), "axes": {"seed": 0}})
    start = time.perf_counter()
    callback.on_trial_start(0, [], trial)
    for epoch, loss in [(1, 2.0), (2, 1.5)]:
        callback.on_trial_result(0, [], trial, {"epoch": epoch, "loss": loss, "lr": 0.1})
    trial.last_result = {"dice_mean": 0.4, "wall_s": 1.0, "done": True}
    callback.on_trial_complete(0, [], trial)
    hooks_s = time.perf_counter() - start
    assert hooks_s < 1.0, hooks_s  # the store was blocked: no hook waited for it
    assert not (tmp_path / "mlflow_runs" / "t0.json").exists()
    trial.last_result = {}  # Tune changes the trial later: the jobs hold what the hook saw
    gate.set()
    tracker.reconcile({"t0": "FINISHED"})  # drains the hooks' jobs first
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("queued")
    (run,) = [r for r in client.search_runs([exp.experiment_id]) if TRIAL_TAG in r.data.tags]
    assert run.info.status == "FINISHED" and run.data.tags[COMPLETE_TAG] == "true"
    assert sorted((m.step, m.value) for m in client.get_metric_history(
        run.info.run_id, "loss")) == [(1, 2.0), (2, 1.5)]
    assert run.data.metrics["dice_mean"] == 0.4
    tracker.end_parent("FINISHED")
    assert client.get_run(tracker.parent_id).info.status == "FINISHED"
    assert tracker.failures == 0 and tracker.jobs is not None and tracker.jobs.errors == []
