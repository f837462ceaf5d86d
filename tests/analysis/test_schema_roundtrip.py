"""Parquet parts: round trip with the schema, Hive partitions, idempotent replace, bad files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rotsweep.schema import SCHEMA_VERSION, TABLES, VERSION_KEY, columns, table_schema
from rotsweep.tables import SchemaError, delete_parts, read_table, write_part


def saliency_rows(trial: str, dataset: str = "synthetic", n_angles: int = 3) -> list[dict]:
    return [
        {"study": "s", "dataset": dataset, "trial_id": trial, "backbone": "small_cnn",
         "pretext": "moco_rotation", "train_angles": [0, 90], "init": "random", "seed": 1,
         "method": "smoothgrad", "target": "pair_similarity", "eval_angle": a * 15,
         "image_id": f"img{i}", "dice": 0.25 * i, "iou": 0.1, "soft_dice": 0.3, "auc": 0.7,
         "mass_in_mask": 0.4, "q_bbox": None, "threshold_rule": "otsu", "threshold": 0.5,
         "mlflow_run_id": "abc"}
        for a in range(n_angles) for i in range(2)
    ]


def test_round_trip_keeps_values_types_and_partitions(tmp_path: Path) -> None:
    write_part(tmp_path, "saliency", saliency_rows("t1"), key="t1")
    write_part(tmp_path, "saliency", saliency_rows("t2", dataset="kvasir_seg"), key="t2")
    df = read_table(tmp_path, "saliency")
    assert len(df) == 12
    assert set(df.columns) == set(columns("saliency"))
    assert sorted(df["dataset"].astype(str).unique()) == ["kvasir_seg", "synthetic"]
    row = df[(df.trial_id == "t1") & (df.eval_angle == 15) & (df.image_id == "img1")].iloc[0]
    assert list(row["train_angles"]) == [0, 90]
    assert row["dice"] == pytest.approx(0.25)
    assert pd.isna(row["q_bbox"])
    # plain pandas reads the same folder, with filters pushed down to the partitions
    plain = pd.read_parquet(tmp_path / "saliency", filters=[("dataset", "==", "kvasir_seg")])
    assert len(plain) == 6 and set(plain["trial_id"]) == {"t2"}
    files = list((tmp_path / "saliency").rglob("*.parquet"))
    assert {f.parent.name for f in files} == {"dataset=synthetic", "dataset=kvasir_seg"}
    meta = pq.read_schema(files[0]).metadata
    assert int(meta[VERSION_KEY]) == SCHEMA_VERSION


def test_rewriting_a_part_replaces_it(tmp_path: Path) -> None:
    write_part(tmp_path, "saliency", saliency_rows("t1"), key="t1")
    write_part(tmp_path, "saliency", saliency_rows("t1", n_angles=2), key="t1")
    df = read_table(tmp_path, "saliency")
    assert len(df) == 4
    assert not any(p.name.startswith(".") for p in (tmp_path / "saliency").rglob("*"))
    assert delete_parts(tmp_path, "t1") == 1
    with pytest.raises(FileNotFoundError, match="no 'saliency' table"):
        read_table(tmp_path, "saliency")


@pytest.mark.parametrize("table", TABLES)
def test_every_table_has_partitions_and_a_version(table: str) -> None:
    schema = table_schema(table)
    assert schema.names[:2] == ["study", "dataset"]
    assert "study" not in table_schema(table, with_partitions=False).names
    assert int(schema.metadata[VERSION_KEY]) == SCHEMA_VERSION


def test_bad_rows_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="unknown columns \\['colour'\\]"):
        write_part(tmp_path, "saliency", [{**saliency_rows("t")[0], "colour": 1}], key="t")
    with pytest.raises(SchemaError, match="needs a 'dataset' value"):
        write_part(tmp_path, "pretext", [{"study": "s", "trial_id": "t", "epoch": 1}], key="t")
    with pytest.raises(SchemaError, match="table 'pretext'"):
        write_part(tmp_path, "pretext", [{"study": "s", "dataset": "d", "trial_id": "t",
                                          "epoch": "one"}], key="t")
    assert not list(tmp_path.rglob("*.parquet"))


def test_foreign_and_broken_files_are_named(tmp_path: Path) -> None:
    write_part(tmp_path, "pretext", [{"study": "s", "dataset": "d", "trial_id": "t",
                                      "epoch": 1, "loss": 1.0}], key="t")
    folder = tmp_path / "pretext" / "study=s" / "dataset=d"
    foreign = folder / "part-foreign.parquet"
    pq.write_table(pa.table({"trial_id": ["x"], "epoch": [1]}), foreign)
    with pytest.raises(SchemaError, match=r"part-foreign\.parquet: not a rotsweep table"):
        read_table(tmp_path, "pretext")
    foreign.write_bytes(b"not parquet at all")
    with pytest.raises(SchemaError, match=r"part-foreign\.parquet: not a readable Parquet file"):
        read_table(tmp_path, "pretext")


def v1_saliency(trial: str, angles: list[int]) -> pa.Table:
    """Rows as rotsweep's schema version 1 stored them: int16 angles, no ``pretraining`` nor
    ``degenerate`` column, version 1 in the footer."""
    v1 = table_schema("saliency", with_partitions=False, version=1)
    assert v1.field("eval_angle").type == pa.int16() and "pretraining" not in v1.names
    rows = [{**{k: v for k, v in r.items() if k not in ("study", "dataset")},
             "eval_angle": a, "train_angles": [0, 90]}
            for a in angles for r in saliency_rows(trial, n_angles=1)]
    return pa.Table.from_pylist(rows, schema=v1)


def test_version_1_tables_still_read_upcast(tmp_path: Path) -> None:
    from rotsweep.compact import compact_results

    folder = tmp_path / "saliency" / "study=s" / "dataset=synthetic"
    folder.mkdir(parents=True)
    pq.write_table(v1_saliency("old1", [0, 15]), folder / "part-old1.parquet")
    pq.write_table(v1_saliency("old2", [30]), folder / "part-old2.parquet")
    assert int(pq.read_schema(folder / "part-old1.parquet").metadata[VERSION_KEY]) == 1
    # a current-version trial written into the same table (a v1 study resumed by this version)
    write_part(tmp_path, "saliency", [{**saliency_rows("new")[0], "eval_angle": 22.5,
                                       "pretraining": "moco_rotation θ=90",
                                       "degenerate": False}], key="new")
    assert not (tmp_path / "saliency" / "_rotsweep.json").exists()  # versions unknown: checked
    df = read_table(tmp_path, "saliency")
    assert str(df["eval_angle"].dtype) == "float32"
    assert sorted(df["eval_angle"]) == [0.0, 0.0, 15.0, 15.0, 22.5, 30.0, 30.0]
    old = df[df.trial_id == "old1"]
    assert old["pretraining"].isna().all() and old["degenerate"].isna().all()
    assert list(old["train_angles"].iloc[0]) == [0.0, 90.0]
    new = df[df.trial_id == "new"].iloc[0]
    assert new["pretraining"] == "moco_rotation θ=90" and not new["degenerate"]
    half = read_table(tmp_path, "saliency", filters=[("eval_angle", ">", 10)],
                      columns=["trial_id", "eval_angle"])
    assert sorted(half["eval_angle"]) == [15.0, 15.0, 22.5, 30.0, 30.0]
    assert set(old["network"]) == {"pretrained"} and set(old["train_angle_set"]) == {"0,90"}
    # compaction rewrites everything as the current version and records it; pandas then reads
    # floats
    compact_results(tmp_path)
    manifest = (tmp_path / "saliency" / "_rotsweep.json").read_text()
    assert f'"versions": [{SCHEMA_VERSION}]' in manifest
    plain = pd.read_parquet(tmp_path / "saliency", filters=[("dataset", "==", "synthetic")])
    assert sorted(plain["eval_angle"]) == sorted(df["eval_angle"])
    assert plain["pretraining"].notna().sum() == 1


def test_fractional_angles_round_trip(tmp_path: Path) -> None:
    write_part(tmp_path, "hog_svm", [{"study": "s", "dataset": "d", "eval_angle": a,
                                      "accuracy": 0.5} for a in (0.1, 45.5, 359.9)], key="h")
    angles = read_table(tmp_path, "hog_svm")["eval_angle"].to_numpy()
    assert angles.dtype.name == "float32"
    assert abs(angles - [0.1, 45.5, 359.9]).max() < 1e-4  # 0.1° steps survive float32


def test_compaction_upgrades_lone_old_parts_so_pandas_reads_the_table(
        tmp_path: Path) -> None:
    from rotsweep.compact import compact_results

    old = tmp_path / "hog_svm" / "study=s" / "dataset=a"
    old.mkdir(parents=True)
    v1 = table_schema("hog_svm", with_partitions=False, version=1)
    pq.write_table(pa.Table.from_pylist([{"angle": 15, "accuracy": 0.5}], schema=v1),
                   old / "part-h1.parquet")
    # a version-2 part beside it (float32 ``angle``, the column's name before version 3)
    new = tmp_path / "hog_svm" / "study=s" / "dataset=b"
    new.mkdir(parents=True)
    v2 = table_schema("hog_svm", with_partitions=False, version=2)
    pq.write_table(pa.Table.from_pylist([{"angle": 22.5, "accuracy": 0.75}], schema=v2),
                   new / "part-h2.parquet")
    # plain pandas takes its schema from one file: int16 from the version-1 part refuses 22.5
    with pytest.raises(pa.ArrowInvalid, match="truncated"):
        pd.read_parquet(tmp_path / "hog_svm")
    stats = compact_results(tmp_path)
    assert stats.parts_merged == 2
    assert (tmp_path / "hog_svm" / "_rotsweep.json").read_text().endswith(
        f'"versions": [{SCHEMA_VERSION}]}}')
    plain = pd.read_parquet(tmp_path / "hog_svm").sort_values("eval_angle")
    assert plain["eval_angle"].dtype.name == "float32" and "angle" not in plain
    assert plain["eval_angle"].tolist() == [15.0, 22.5]
    assert plain["accuracy"].tolist() == [0.5, 0.75]
    assert compact_results(tmp_path).partitions == 0  # nothing old left
