"""The study engine in-process on the shared local Ray: retries, failures, a worker killed
mid-trial, ASHA with Optuna, resources, resuming a finished study."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from engine_support import child_runs, loss_steps, tiny_study
from ray import cloudpickle, tune

from rotsweep.tables import read_table
from study.config.load import load_study
from study.folder.status import study_status
from study.launch.cluster import StudyError, check_storage_visible
from study.launch.runner import RunOptions, run_study
from study.tracking.store import default_tracking_uri
from trainables.tune import run_tune_trial

# the test trainables below are shipped to Ray's workers by value (tests/ is not a package)
cloudpickle.register_pickle_by_value(__import__(__name__))


def run(tmp_path: Path, study_path: Path, **opts: Any) -> Any:
    out = tmp_path / "out"
    return run_study(load_study(study_path), RunOptions(out=str(out), **opts)), out


@pytest.mark.ray
def test_gpu_request_on_a_cpu_only_instance_is_refused(ray_local: Any, tmp_path: Path,
                                                       tiny: Any) -> None:
    path = tiny_study(tmp_path / "s.yaml", tiny, "gpu", resources={"cpu": 1, "gpu": 0.5})
    with pytest.raises(StudyError, match=r"0.5 GPU, but the largest node has 2.0 CPU and 0 GPU"):
        run(tmp_path, path)
    assert not (tmp_path / "out" / "mlflow.db").exists()  # refused before anything started


@pytest.mark.ray
def test_storage_some_node_cannot_see_is_refused(ray_local: Any, tmp_path: Path) -> None:
    check_storage_visible(str(tmp_path))  # one machine: its disk is every node's disk
    # an in-memory filesystem lives in one process: the driver's probe is invisible elsewhere
    with pytest.raises(StudyError, match=r"--storage mock:///study: not visible from node"):
        check_storage_visible("mock:///study")


@pytest.mark.slow
@pytest.mark.ray
def test_failing_trial_is_retried_then_failed_and_the_study_goes_on(
        ray_local: Any, tmp_path: Path, tiny: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # lr = 1e30 makes the loss NaN at the first step: a real error raised inside the trial
    path = tiny_study(tmp_path / "s.yaml", tiny, "fails", epochs=2, max_failures=1,
                      axes={"train.lr": [0.03, 1.0e30]})
    result, out = run(tmp_path, path)
    printed = capsys.readouterr().out
    assert result.counts == {"FINISHED": 1, "FAILED": 1} and result.n_failed == 1

    trials = read_table(out / "results", "trials").set_index("trial_id")
    failed = trials[trials.status == "FAILED"]
    assert len(trials) == 2 and len(failed) == 1
    error = failed.error.iloc[0]
    assert "NonFiniteLossError" in error and error.count("Failure #") == 2  # tried twice
    assert printed.count(f"retrying {failed.index[0]}") == 1
    assert f"FAILED {failed.index[0]}" in printed

    runs = child_runs(default_tracking_uri(str(out)), "fails")
    bad, good = runs[failed.index[0]], runs[trials.index[trials.status == "FINISHED"][0]]
    assert bad.info.status == "FAILED" and "NonFiniteLossError" in bad.data.tags["rotsweep.error"]
    assert bad.data.tags["rotsweep.failures"] == "2"
    assert good.info.status == "FINISHED" and loss_steps(default_tracking_uri(str(out)),
                                                         good.info.run_id) == [1, 2]
    assert "failed 1" in study_status(out)


def killed_after_first_epoch(config: dict[str, Any]) -> None:
    """The rotsweep trial, whose worker process is SIGKILLed once, right after epoch 1 was
    reported (a marker file in the study's storage says it happened)."""
    marker = Path(config["runtime"]["done_root"]).parent / "killed-once"

    def report(metrics: dict[str, Any]) -> None:
        tune.report(metrics)
        if metrics.get("epoch") == 1 and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)

    run_tune_trial(config, report)


@pytest.mark.slow
@pytest.mark.ray
def test_worker_killed_mid_trial_is_retried_from_its_checkpoint(
        ray_local: Any, tmp_path: Path, tiny: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_study(tmp_path / "s.yaml", tiny, "killed", epochs=3, max_failures=1)
    result, out = run(tmp_path, path, trainable=killed_after_first_epoch)
    assert (out / "killed-once").exists()
    assert result.counts == {"FINISHED": 1}
    (trial_id, mlrun), = child_runs(default_tracking_uri(str(out)), "killed").items()
    assert f"retrying {trial_id}" in capsys.readouterr().out
    # epochs 2 and 3 ran in the new process from epoch 1's saved state: no epoch twice
    assert loss_steps(default_tracking_uri(str(out)), mlrun.info.run_id) == [1, 2, 3]
    assert not list((out / "state").glob("*.pt"))  # removed once the trial ended
    assert mlrun.info.status == "FINISHED" and mlrun.data.tags["rotsweep.failures"] == "1"
    assert len(read_table(out / "results", "pretext")) == 3


@pytest.mark.slow
@pytest.mark.ray
def test_optuna_with_asha_covers_the_grid_and_stops_trials_early(
        ray_local: Any, tmp_path: Path, tiny: Any) -> None:
    path = tiny_study(
        tmp_path / "s.yaml", tiny, "asha", epochs=4, max_concurrent=1,
        axes={"seed": [0, 1]},
        search={"algorithm": "optuna", "num_samples": 3, "metric": "dice_mean",
                "params": {"train.lr": {"kind": "loguniform", "low": 1e-5, "high": 1.0}},
                "scheduler": "asha", "scheduler_metric": "loss", "scheduler_mode": "min",
                "grace_period": 1, "reduction_factor": 2})
    result, out = run(tmp_path, path)
    assert result.n_failed == 0
    trials = read_table(out / "results", "trials").set_index("trial_id")
    assert len(trials) == 6 and set(trials.status) <= {"FINISHED", "STOPPED"}
    assert trials.status.value_counts().get("STOPPED", 0) >= 1
    seeds = trials.config_json.map(lambda c: __import__("json").loads(c)["seed"])
    assert sorted(seeds) == [0, 0, 0, 1, 1, 1]  # num_samples per grid point

    epochs = read_table(out / "results", "pretext").groupby("trial_id").epoch.max()
    saliency = set(read_table(out / "results", "saliency").trial_id)
    runs = child_runs(default_tracking_uri(str(out)), "asha")
    for trial_id, row in trials.iterrows():
        if row.status == "FINISHED":
            assert epochs[trial_id] == 4 and trial_id in saliency
        else:  # stopped at a rung: its epochs so far are kept, it was never evaluated
            assert 1 <= epochs[trial_id] < 4 and trial_id not in saliency
            assert runs[trial_id].data.tags["rotsweep.stopped_early"] == "true"
        assert runs[trial_id].info.status == "FINISHED"
    assert set(epochs.index) == set(trials.index)  # every trial's epochs, stopped ones too


@pytest.mark.slow
@pytest.mark.ray
def test_a_finished_study_is_not_rerun_and_not_doubled(ray_local: Any, tmp_path: Path,
                                                       tiny: Any) -> None:
    path = tiny_study(tmp_path / "s.yaml", tiny, "twice", epochs=1, axes={"seed": [0, 1]})
    first, out = run(tmp_path, path)
    assert first.counts == {"FINISHED": 2}
    with pytest.raises(StudyError, match="already holds study 'twice'; pass --resume"):
        run(tmp_path, path)
    before = {t: r.info.run_id for t, r in child_runs(default_tracking_uri(str(out)),
                                                       "twice").items()}
    again, _ = run(tmp_path, path, resume=True)
    assert again.counts == {"FINISHED": 2}
    after = {t: r.info.run_id for t, r in child_runs(default_tracking_uri(str(out)),
                                                      "twice").items()}
    assert after == before
    assert len(read_table(out / "results", "trials")) == 2
    assert len(read_table(out / "results", "saliency")) == 2 * 4 * 3  # trials × images × angles
