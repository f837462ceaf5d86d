"""Write and read the Parquet result tables, on a local path or any URI ``pyarrow.fs`` understands.

Writes are atomic and idempotent: a part is written under a hidden temporary name (which
pyarrow's dataset discovery ignores) and renamed over ``part-<key>.parquet``, so a retried or
resumed trial replaces its own part and a crash never leaves half a file in the table.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rotsweep.schema import (
    PARTITION_COLUMNS,
    SCHEMA_VERSION,
    TABLE_KEY,
    VERSION_KEY,
    table_schema,
)
from rotsweep.storage import resolve

_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


class SchemaError(ValueError):
    """A Parquet file that is not a rotsweep table of the expected name and version."""



def safe_name(value: str) -> str:
    """A path component for ``value``: partition values and part keys must not contain '/'."""
    return _SAFE.sub("_", value)


def part_path(root: str, table: str, study: str, dataset: str, key: str) -> str:
    """Where the part ``key`` of ``table`` lives under ``root`` (a path inside its filesystem)."""
    return "/".join(
        [root.rstrip("/"), table, f"study={safe_name(study)}", f"dataset={safe_name(dataset)}",
         f"part-{safe_name(key)}.parquet"]
    )


def write_part(
    results_root: str | os.PathLike[str],
    table: str,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    key: str,
) -> list[str]:
    """Write ``rows`` as the part ``key`` of ``table``, replacing an earlier part of that key.

    Rows are split by their ``study`` and ``dataset`` values (the Hive partitions); each
    partition gets one file. Columns are cast to the table's schema: a missing nullable column
    becomes nulls, an unknown column is an error.

    Args:
        results_root: the study's results folder or URI.
        table: a table name from :data:`rotsweep.schema.TABLES`.
        rows: a DataFrame or a list of dicts, one per observation.
        key: the part's identity, normally the trial id; writing the same key again replaces it.

    Returns:
        The paths written.

    Raises:
        SchemaError: a column is not in the table, or a value does not fit its type.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    full = table_schema(table)
    unknown = sorted(set(frame.columns) - set(full.names))
    if unknown:
        raise SchemaError(f"table {table!r}: unknown columns {unknown}; expected {full.names}")
    for col in PARTITION_COLUMNS:
        if col not in frame.columns or frame[col].isna().any():
            raise SchemaError(f"table {table!r}: every row needs a {col!r} value")
    stored = table_schema(table, with_partitions=False)
    fs, root = resolve(results_root)
    written = []
    for (study, dataset), group in frame.groupby(list(PARTITION_COLUMNS), sort=True):
        data = {name: group[name].tolist() if name in group else [None] * len(group)
                for name in stored.names}
        try:
            arrow = pa.Table.from_pydict(data, schema=stored)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            raise SchemaError(f"table {table!r}: {err}") from err
        path = part_path(root, table, str(study), str(dataset), key)
        _atomic_write(fs, arrow, path)
        written.append(path)
    return written


def _atomic_write(fs: pafs.FileSystem, arrow: pa.Table, path: str) -> None:
    parent, name = path.rsplit("/", 1)
    fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open_output_stream(tmp) as sink:
            pq.write_table(arrow, sink)
        fs.move(tmp, path)
    finally:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)


def delete_parts(results_root: str | os.PathLike[str], key: str,
                 tables: Iterable[str] | None = None) -> int:
    """Remove every part named ``key`` from ``tables`` (default: all); returns the count."""
    from rotsweep.schema import TABLES

    fs, root = resolve(results_root)
    target = f"part-{safe_name(key)}.parquet"
    removed = 0
    for table in tables or TABLES:
        info = fs.get_file_info(pafs.FileSelector(f"{root}/{table}", recursive=True,
                                                  allow_not_found=True))
        for entry in info:
            if entry.type == pafs.FileType.File and entry.base_name == target:
                fs.delete_file(entry.path)
                removed += 1
    return removed


def table_exists(results_root: str | os.PathLike[str], table: str) -> bool:
    """Whether ``table`` has at least one part file under ``results_root``."""
    fs, root = resolve(results_root)
    info = fs.get_file_info(pafs.FileSelector(f"{root}/{table}", recursive=True,
                                              allow_not_found=True))
    return any(e.type == pafs.FileType.File and e.base_name.endswith(".parquet")
               and not e.base_name.startswith((".", "_")) for e in info)


def read_table(
    results_root: str | os.PathLike[str],
    table: str,
    *,
    filters: list[tuple[str, str, Any]] | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read ``table`` into pandas, checking every file's schema version first.

    Args:
        results_root: the study's results folder or URI.
        table: a table name.
        filters: pyarrow filters, pushed down to the partitions and row groups, e.g.
            ``[("dataset", "==", "kvasir_seg"), ("trial_id", "in", ["a", "b"])]``.
        columns: a subset of columns to read.

    Raises:
        FileNotFoundError: the table has no part files.
        KeyError: a filter or a requested column names no column of the table.
        SchemaError: a file is not a rotsweep ``table`` of a version this code reads.
    """
    return read_arrow(results_root, table, filters=filters, columns=columns).to_pandas()


def read_arrow(
    results_root: str | os.PathLike[str],
    table: str,
    *,
    filters: list[tuple[str, str, Any]] | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """:func:`read_table` as an Arrow table, for work that is faster before pandas (grouping
    millions of rows, turning list columns into labels); same checks, filters and errors."""
    fs, root = resolve(results_root)
    path = f"{root}/{table}"
    if not table_exists(results_root, table):
        raise FileNotFoundError(f"no {table!r} table under {results_root} (looked in {path})")
    schema = table_schema(table)
    _check_names(table, schema, filters, columns)
    partitioning = ds.partitioning(
        pa.schema([schema.field(c) for c in PARTITION_COLUMNS]), flavor="hive"
    )
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning=partitioning,
                         schema=schema)
    for fragment in dataset.get_fragments():
        _check_file(fs, fragment.path, table)
    expr = pq.filters_to_expression(filters) if filters else None
    return dataset.to_table(filter=expr, columns=columns)


def _check_names(table: str, schema: pa.Schema, filters: Sequence[Any] | None,
                 columns: Sequence[str] | None) -> None:
    # pyarrow's own message for an unknown name is the whole schema; say which name is wrong.
    named: set[str] = set(columns or [])
    for item in filters or []:
        clauses = item if item and isinstance(item, list) else [item]  # DNF: list of lists
        named |= {clause[0] for clause in clauses}
    unknown = sorted(named - set(schema.names))
    if unknown:
        raise KeyError(f"table {table!r} has no column {unknown[0]!r} (asked for in filters or "
                       f"columns); expected one of {schema.names}")


def _check_file(fs: pafs.FileSystem, path: str, table: str) -> None:
    try:
        with fs.open_input_file(path) as handle:
            meta = pq.read_schema(handle).metadata or {}
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaError(f"{path}: not a readable Parquet file ({err})") from err
    version = meta.get(VERSION_KEY)
    name = meta.get(TABLE_KEY)
    if version is None or name is None:
        raise SchemaError(f"{path}: not a rotsweep table (no {VERSION_KEY.decode()} metadata)")
    if name.decode() != table:
        raise SchemaError(f"{path}: holds table {name.decode()!r}, expected {table!r}")
    if int(version) != SCHEMA_VERSION:
        raise SchemaError(
            f"{path}: schema version {int(version)}, this rotsweep reads {SCHEMA_VERSION}"
        )
