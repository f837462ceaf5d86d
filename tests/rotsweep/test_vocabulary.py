"""One vocabulary (issue 21): the spellings of rotsweep/vocabulary.py, every table read alike by
``rotsweep.open_study`` and plain ``pd.read_parquet``, and schema-2 files upcast to schema 3
(renamed ``angle``, derived ``network``, ``train_angle_set`` and ``trials`` columns)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rotsweep
from rotsweep.compact import compact_results
from rotsweep.schema import TABLES, table_schema
from rotsweep.tables import read_table, write_part
from rotsweep.vocabulary import (
    angle_set,
    angle_set_text,
    network_of,
    parse_angle_set,
    trial_columns,
)
from tests.conftest import tiny_trial


def test_train_angles_have_one_text_and_one_tuple() -> None:
    assert angle_set_text([270, 0, 90.0, 180]) == "0,90,180,270"
    assert angle_set_text(np.array([359.9, 22.5], dtype=np.float32)) == "22.5,359.9"
    assert angle_set_text(None) == "" and angle_set_text(()) == ""
    assert angle_set_text("90/0") == "0,90" and angle_set_text("90, 0") == "0,90"
    assert angle_set([90, 0, 90]) == (0.0, 90.0) and angle_set(None) == ()
    assert angle_set(np.array([0.1], dtype=np.float32)) == (0.1,)  # not 0.10000000149
    for text in ("0,90,180,270", "22.5", ""):
        assert angle_set_text(parse_angle_set(text)) == text


def test_network_names_what_a_row_measures() -> None:
    assert network_of("random_baseline") == "untrained"
    assert network_of("torchvision_baseline") == "torchvision"
    assert {network_of(v) for v in ("random", "moco_v2", None)} == {"pretrained"}


def test_tables_and_mlflow_spell_a_trial_alike() -> None:
    from study.tracking.records import trial_info
    from trainables.spec import parse_trial
    from trainables.trial import meta_pick, trial_meta

    raw = tiny_trial(pretext={"name": "moco_rotation", "params": {"angles": [270, 0, 90, 180]}})
    meta = trial_meta(parse_trial(raw), "t1")
    assert meta["train_angles"] == [0.0, 90.0, 180.0, 270.0]
    assert meta["train_angle_set"] == "0,90,180,270"
    info = trial_info({"base": raw, "axes": {}}, "t1")
    assert info.tags["train_angles"] == meta["train_angle_set"]
    row = meta_pick(meta, "trials")  # what the driver's trials rows start from
    assert row == {**trial_columns(raw), "study": "test", "dataset": meta["dataset"],
                   "trial_id": "t1", "pretraining": meta["pretraining"]}
    assert row["pretraining"] and row["seed"] == 0 and row["backbone"] == "small_cnn"


def write_every_table(results: Path) -> None:
    """One part of each table through the project's writer, rows as the writers make them."""
    from trainables.spec import parse_trial
    from trainables.trial import meta_pick, trial_meta

    for k, (dataset, angles) in enumerate((("brats", [90]), ("kvasir_seg", [0, 180]))):
        raw = tiny_trial(pretext={"name": "moco_rotation", "params": {"angles": angles}})
        tid = f"t{k}"
        meta = {**trial_meta(parse_trial(raw), tid), "study": "s", "dataset": dataset}
        write_part(results, "saliency", [
            {**meta_pick(meta, "saliency"), "init": init, "network": network, "method": "grad",
             "target": "pair_similarity", "eval_angle": a, "image_id": f"i{i}", "dice": 0.5,
             "degenerate": a == 0, "threshold_rule": "otsu", "threshold": 0.1}
            for init, network in (("random", "pretrained"), ("random_baseline", "untrained"))
            for a in (0.0, 22.5) for i in range(2)], key=tid)
        write_part(results, "probe", [
            {**meta_pick(meta, "probe"), "init": "random", "network": "pretrained",
             "downstream": dataset, "probe": "linear", "block": "b1", "n_train": 4,
             "metric": "accuracy", "value": 0.75}], key=tid)
        write_part(results, "pretext", [{**meta_pick(meta, "pretext"), "epoch": e, "loss": 1.0}
                                        for e in (1, 2)], key=tid)
        write_part(results, "trials", [{**meta_pick(meta, "trials"), "status": "FINISHED",
                                        "config_json": json.dumps(raw), "wall_s": 1.5}],
                   key=tid)
        write_part(results, "hog_svm", [{"study": "s", "dataset": dataset, "eval_angle": a,
                                         "n_images": 8, "accuracy": 0.5}
                                        for a in (0.0, 22.5)], key=f"hog-{dataset}")
        write_part(results, "orientation", [{"study": "s", "dataset": dataset,
                                             "orientation": o, "weight": 0.5, "n_bins": 2}
                                            for o in (45.0, 135.0)], key=f"ori-{dataset}")


def assert_read_alike(folder: Path) -> None:
    study = rotsweep.open_study(folder)
    assert set(study.tables) == set(TABLES)
    for table in TABLES:
        plain = pd.read_parquet(folder / "results" / table)
        for ours in (study.table(table), read_table(folder / "results", table)):
            assert sorted(ours.columns) == sorted(plain.columns), table
            assert ours.dtypes.to_dict() == plain.dtypes.to_dict(), table
            assert len(ours) == len(plain), table
        for col in ("study", "dataset"):
            assert plain[col].dtype == "category", (table, col)
        for col in ("eval_angle", "orientation"):
            if col in plain:
                assert plain[col].dtype == "float32", (table, col)


def test_open_study_and_pandas_give_the_same_names_and_dtypes(tmp_path: Path) -> None:
    write_every_table(tmp_path / "results")
    assert_read_alike(tmp_path)
    s = rotsweep.open_study(tmp_path)
    # the tuple and the text of the train angles, in the tables and in the derived curves
    assert set(zip(s.saliency["train_angles"], s.saliency["train_angle_set"], strict=True)) \
        == {((90.0,), "90"), ((0.0, 180.0), "0,180")}
    trials = s.trials.set_index("trial_id")
    assert trials.loc["t1", "train_angle_set"] == "0,180" and trials.loc["t1", "seed"] == 0
    assert trials["pretraining"].notna().all() and set(trials["backbone"]) == {"small_cnn"}
    plain = pd.read_parquet(tmp_path / "results" / "saliency")
    assert plain.groupby("network", observed=True)["init"].unique().to_dict() == {
        "pretrained": ["random"], "untrained": ["random_baseline"]}


def write_version_2(results: Path) -> None:
    """Files as schema version 2 wrote them: ``hog_svm.angle``, no ``network`` nor
    ``train_angle_set``, a ``trials`` row whose trial columns are only in ``config_json``."""
    config = tiny_trial(pretext={"name": "moco_rotation", "params": {"angles": [180, 0]}})
    rows = {
        "saliency": [{"trial_id": "t", "train_angles": [0.0, 180.0], "init": init,
                      "eval_angle": 45.0, "image_id": "i", "dice": d}
                     for init, d in (("random", 0.6), ("random_baseline", 0.2))],
        "probe": [{"trial_id": "t", "train_angles": [0.0, 180.0], "init": init, "value": 0.5}
                  for init in ("random", "random_baseline", "torchvision_baseline")],
        "pretext": [{"trial_id": "t", "train_angles": None, "epoch": 1, "loss": 2.0}],
        "trials": [{"trial_id": "t", "status": "FINISHED", "config_json": json.dumps(config)}],
        "hog_svm": [{"angle": a, "accuracy": 0.5} for a in (0.0, 45.0)],
        "orientation": [{"orientation": 90.0, "weight": 1.0}],
    }
    for table, part in rows.items():
        folder = results / table / "study=s" / "dataset=d"
        folder.mkdir(parents=True)
        schema = table_schema(table, with_partitions=False, version=2)
        pq.write_table(pa.Table.from_pylist(part, schema=schema), folder / "part-old.parquet")


def test_version_2_files_are_upcast_on_read_and_by_compaction(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_version_2(results)
    hog = read_table(results, "hog_svm")
    assert "angle" not in hog and hog["eval_angle"].tolist() == [0.0, 45.0]
    assert read_table(results, "hog_svm", columns=["eval_angle"],
                      filters=[("eval_angle", ">", 10)])["eval_angle"].tolist() == [45.0]
    sal = read_table(results, "saliency")
    assert dict(zip(sal["init"], sal["network"], strict=True)) == {
        "random": "pretrained", "random_baseline": "untrained"}
    assert set(sal["train_angle_set"]) == {"0,180"}
    untrained = read_table(results, "saliency", columns=["dice"],
                           filters=[("network", "==", "untrained")])
    assert untrained["dice"].tolist() == [pytest.approx(0.2)]
    assert read_table(results, "probe")["network"].tolist() == [
        "pretrained", "untrained", "torchvision"]
    assert read_table(results, "pretext")["train_angle_set"].tolist() == [""]
    trial = read_table(results, "trials").iloc[0]
    assert (trial["backbone"], trial["pretext"], trial["seed"], trial["train_angle_set"]) == (
        "small_cnn", "moco_rotation", 0, "0,180")
    assert list(trial["train_angles"]) == [0.0, 180.0] and pd.isna(trial["pretraining"])
    # compaction rewrites them as version 3: then plain pandas reads what rotsweep reads
    compact_results(results)
    assert_read_alike(tmp_path)
    plain = pd.read_parquet(results / "saliency")
    assert set(plain["network"]) == {"pretrained", "untrained"}
    assert pd.read_parquet(results / "hog_svm")["eval_angle"].tolist() == [0.0, 45.0]
