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
