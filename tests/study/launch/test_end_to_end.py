"""A tiny study through real Ray, a real MLflow SQLite store and real Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from analysis.report import make_report
from rotsweep.tables import read_table
from study.config.load import validate_raw
from study.launch.runner import RunOptions, run_study

EPOCHS = 2
ANGLES = [0, 45, 90, 180]
N_EVAL = 4


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, ray_local: Any, tiny: Any) -> dict:
    out = tmp_path_factory.mktemp("study")
    raw = {**tiny(train={"epochs": EPOCHS}, saliency={"eval_angles": ANGLES},
                  data={"n_eval": N_EVAL}),
           "name": "e2e", "axes": {"pretext.params.angles": [[0], [45], [90]]}}
    raw.pop("study")
    study = validate_raw(raw, source="test")
    result = run_study(study, RunOptions(out=str(out)))
    return {"out": out, "result": result, "study": study}


@pytest.mark.ray
def test_every_trial_finishes_and_tables_have_one_row_per_observation(finished: dict) -> None:
    res, out = finished["result"], finished["out"]
    assert (res.n_trials, res.n_finished, res.n_failed) == (3, 3, 0)
    results = out / "results"
    sal = read_table(results, "saliency")
    assert len(sal) == 3 * len(ANGLES) * N_EVAL
    assert not sal.duplicated(["trial_id", "eval_angle", "image_id", "init"]).any()
    assert sorted(sal["eval_angle"].unique()) == ANGLES
    assert sorted({tuple(a) for a in sal["train_angles"]}) == [(0,), (45,), (90,)]
    for col in ("dice", "soft_dice", "auc", "mass_in_mask"):
        assert sal[col].between(0, 1).all(), col
    hog = read_table(results, "hog_svm")
    assert sorted(hog["eval_angle"]) == ANGLES  # one curve for the one dataset, shared by trials
    # 90 and 180 degrees are exact rotations of a 90-invariant dataset: chance level
    acc = hog.set_index("eval_angle")["accuracy"]
    assert acc[0] == pytest.approx(0.5, abs=0.2) and acc[90] < 0.8
    pre = read_table(results, "pretext")
    assert len(pre) == 3 * EPOCHS and sorted(pre["epoch"].unique()) == [1, 2]
    trials = read_table(results, "trials")
    assert sorted(trials["status"]) == ["FINISHED"] * 3
    # the trials table names each trial's pre-training, angles and seed (issue 21)
    assert sorted(trials["train_angle_set"]) == ["0", "45", "90"]
    assert trials["pretraining"].notna().all() and set(trials["seed"]) == {0}
    assert set(trials["backbone"]) == {"small_cnn"}
    assert set(sal["network"]) == {"pretrained"} and set(sal["train_angle_set"]) == {"0", "45",
                                                                                      "90"}


@pytest.mark.ray
def test_mlflow_has_a_parent_and_one_finished_child_per_trial(finished: dict) -> None:
    out = finished["out"]
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    exp = client.get_experiment_by_name("e2e")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 3
    assert all(r.info.status == "FINISHED" for r in runs)
    parent_id = parents[0].info.run_id
    sal = read_table(out / "results", "saliency")
    assert set(sal["mlflow_run_id"]) == {c.info.run_id for c in children}
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent_id
        assert child.data.params["train.epochs"] == str(EPOCHS)
        assert child.data.params["pretext.params.angles"] in ("[0.0]", "[45.0]", "[90.0]")
        history = client.get_metric_history(child.info.run_id, "loss")
        assert sorted(m.step for m in history) == [1, 2]
        assert "dice_mean" in child.data.metrics
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"saliency_examples.png", "trial_config.json"} <= names
    assert mlflow.get_tracking_uri()  # the global client was not needed by the driver


@pytest.mark.ray
def test_report_reads_the_tables(finished: dict) -> None:
    written = make_report(finished["out"])
    names = {p.name for p in written}
    assert {"per_angle.csv", "per_angle.md", "per_angle.png"} <= names
    for p in written:
        assert p.stat().st_size > 0
    csv = (finished["out"] / "report" / "per_angle.csv").read_text().splitlines()
    assert len(csv) == 1 + 3 * len(ANGLES)


def test_status_reads_a_finished_folder(finished: dict) -> None:
    from study.folder.status import study_status

    text = study_status(Path(finished["out"]))
    assert "finished 3," in text and "failed 0" in text and "interrupted 0" in text
