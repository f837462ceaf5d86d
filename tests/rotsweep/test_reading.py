"""Reading at scale: the manifest spares most footers, a damaged file is still named in one
line, tables without a manifest or with an unknown version are checked file by file, and a
compaction retiring files under a reader does not break the read."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rotsweep import tables
from rotsweep.compact import compact_results
from rotsweep.schema import SCHEMA_VERSION, TABLE_KEY, VERSION_KEY, table_schema
from rotsweep.tables import SAMPLE, SchemaError, read_table, write_part

N_PARTS = 24


def fill(root: Path, n: int = N_PARTS) -> Path:
    for k in range(n):
        write_part(root, "pretext", [{"study": "s", "dataset": "d", "trial_id": f"t{k:02d}",
                                      "epoch": e, "loss": 1.0} for e in range(2)],
                   key=f"t{k:02d}")
    return root / "pretext" / "study=s" / "dataset=d"


@pytest.fixture
def footers(monkeypatch) -> list[str]:
    """The paths whose footers the reader opens before its scan."""
    opened: list[str] = []
    real = tables.file_meta

    def spy(fs, path, table):
        opened.append(path)
        return real(fs, path, table)

    monkeypatch.setattr(tables, "file_meta", spy)
    return opened


def test_a_table_with_a_manifest_opens_only_a_sample_of_footers(tmp_path: Path,
                                                                footers: list[str]) -> None:
    fill(tmp_path)
    assert json.loads((tmp_path / "pretext" / "_rotsweep.json").read_text()) == {
        "table": "pretext", "versions": [SCHEMA_VERSION]}
    assert len(read_table(tmp_path, "pretext", columns=["trial_id"])) == 2 * N_PARTS
    assert len(footers) == SAMPLE < N_PARTS


def test_a_truncated_part_outside_the_sample_is_named_in_one_line(tmp_path: Path,
                                                                  footers: list[str]) -> None:
    folder = fill(tmp_path)
    bad = folder / "part-t02.parquet"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(SchemaError) as err:
        read_table(tmp_path, "pretext")
    assert str(bad) not in footers[:SAMPLE]  # the scan met it, not the sample
    message = str(err.value)
    assert message.startswith(f"{bad}: not a readable Parquet file") and "\n" not in message


def test_a_foreign_file_without_required_columns_is_named(tmp_path: Path) -> None:
    folder = fill(tmp_path)
    pq.write_table(pa.table({"trial_id": ["x"], "loss": [1.0]}), folder / "part-t01b.parquet")
    with pytest.raises(SchemaError, match=r"part-t01b\.parquet: not a rotsweep table"):
        read_table(tmp_path, "pretext")


def test_without_a_manifest_every_footer_is_checked(tmp_path: Path,
                                                    footers: list[str]) -> None:
    fill(tmp_path)
    (tmp_path / "pretext" / "_rotsweep.json").unlink()  # as a table written before manifests
    read_table(tmp_path, "pretext")
    assert len(footers) == N_PARTS


def test_a_newer_version_in_the_table_is_refused_with_its_file(tmp_path: Path) -> None:
    folder = fill(tmp_path, n=20)
    stored = table_schema("pretext", with_partitions=False)
    newer = stored.with_metadata({VERSION_KEY: str(SCHEMA_VERSION + 1).encode(),
                                  TABLE_KEY: b"pretext"})
    pq.write_table(pa.table({"trial_id": ["x"], "epoch": [0]}).cast(
        pa.schema([newer.field("trial_id"), newer.field("epoch")])).replace_schema_metadata(
        newer.metadata), folder / "part-zz.parquet")
    (tmp_path / "pretext" / "_rotsweep.json").write_text(
        json.dumps({"table": "pretext", "versions": [SCHEMA_VERSION, SCHEMA_VERSION + 1]}))
    newest = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError, match=rf"part-zz\.parquet: schema version {newest}, this "
                                          r"rotsweep reads 1, 2, 3"):
        read_table(tmp_path, "pretext")


def test_a_compaction_under_a_reader_is_retried(tmp_path: Path, monkeypatch) -> None:
    fill(tmp_path)
    real = tables.list_partitions
    calls = {"n": 0}

    def stale_listing(fs, table_dir):
        listing = real(fs, table_dir)
        calls["n"] += 1
        if calls["n"] == 1:  # the parts are retired after the reader listed them
            compact_results(tmp_path)
        return listing

    monkeypatch.setattr(tables, "list_partitions", stale_listing)
    frame = read_table(tmp_path, "pretext")
    assert calls["n"] == 2 and len(frame) == 2 * N_PARTS
    assert frame.groupby("trial_id").size().eq(2).all()
