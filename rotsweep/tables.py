"""Write and read the Parquet result tables, on a local path or any URI ``pyarrow.fs`` understands.

Writes are atomic and idempotent: a part is written under a hidden temporary name (which
pyarrow's dataset discovery ignores) and renamed over ``part-<key>.parquet``, so a retried or
resumed trial replaces its own part and a crash never leaves half a file in the table; after a
compaction (:mod:`rotsweep.compact`) the key's compacted copy is removed as well.

Reading scales with the data, not the number of files: the table's manifest says which schema
versions its files have, so only a sample of part footers is opened before the scan (every
compacted file's footer is read: there are few), and the scan gets the known schema instead of
inspecting each file. A damaged file still fails with one line naming it: any scan error, or a
row without a required value, makes the reader check every file to find which. Rows of an
older schema version come back as rows of this one (:func:`rotsweep.schema.upcast`), and
:func:`read_table` gives the dtypes plain ``pd.read_parquet`` gives (docs/tables.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rotsweep.compact import excise
from rotsweep.parts import (
    MANIFEST,
    MARKER,
    Partition,
    SchemaError,
    file_meta,
    list_partitions,
    live_rows,
    load_index,
    read_manifest,
    safe_name,
    write_manifest,
)
from rotsweep.schema import (
    PARTITION_COLUMNS,
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    TABLES,
    derived,
    required_columns,
    scan_schema,
    sources,
    table_schema,
    upcast,
)
from rotsweep.storage import resolve, write_atomic

__all__ = ["SchemaError", "delete_parts", "part_path", "read_arrow", "read_table", "safe_name",
           "table_exists", "to_pandas", "write_part"]

SAMPLE = 16  # part footers checked per read when the manifest vouches for the versions

Filters = list[Any]


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
    becomes nulls, an unknown column is an error. Where the partition was compacted, the key's
    rows in the compacted file are removed after the new part is in place.

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
    arrows = []
    for (study, dataset), group in frame.groupby(list(PARTITION_COLUMNS), sort=True):
        data = {name: group[name].tolist() if name in group else [None] * len(group)
                for name in stored.names}
        try:
            # derived columns the rows leave out are filled as a reader would (``network``
            # from ``init``, ``train_angle_set`` from ``train_angles``), so pandas sees them too
            arrow = upcast(pa.Table.from_pydict(data, schema=stored), stored)
            arrows.append((str(study), str(dataset), arrow))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            raise SchemaError(f"table {table!r}: {err}") from err
    fs, root = resolve(results_root)
    _note_version(fs, f"{root}/{table}", table)
    written = []
    for study, dataset, arrow in arrows:
        path = part_path(root, table, study, dataset, key)
        _atomic_write(fs, arrow, path)
        folder = path.rsplit("/", 1)[0]
        if fs.get_file_info(f"{folder}/{MARKER}").type == pafs.FileType.File:
            excise(fs, folder, table, safe_name(key))
        written.append(path)
    return written


def _note_version(fs: pafs.FileSystem, table_dir: str, table: str) -> None:
    """Keep the manifest true before a part of this version lands: a new table gets one; a
    table from before manifests (its folder exists, no manifest) is left without, so readers
    keep checking every file until a compaction has checked them and writes it."""
    if fs.get_file_info(f"{table_dir}/{MANIFEST}").type == pafs.FileType.NotFound:
        if fs.get_file_info(table_dir).type == pafs.FileType.NotFound:
            write_manifest(fs, table_dir, table, {SCHEMA_VERSION})
        return
    manifest = read_manifest(fs, table_dir)
    if manifest is not None and SCHEMA_VERSION not in manifest["versions"]:
        write_manifest(fs, table_dir, table, {*manifest["versions"], SCHEMA_VERSION})


def _atomic_write(fs: pafs.FileSystem, arrow: pa.Table, path: str) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(arrow, sink)
    write_atomic(fs, path, sink.getvalue().to_pybytes())


def delete_parts(results_root: str | os.PathLike[str], key: str,
                 tables: Iterable[str] | None = None) -> int:
    """Remove every part named ``key`` from ``tables`` (default: all), compacted copies too;
    returns the number of partitions it was removed from."""
    fs, root = resolve(results_root)
    target = safe_name(key)
    removed = 0
    for table in tables or TABLES:
        for part in list_partitions(fs, f"{root}/{table}").values():
            found = target in part.loose
            if found:
                fs.delete_file(part.loose[target].path)
            if part.has_marker and excise(fs, part.path, table, target, delete=True):
                found = True
            removed += found
    return removed


def table_exists(results_root: str | os.PathLike[str], table: str) -> bool:
    """Whether ``table`` has at least one visible Parquet file under ``results_root``."""
    fs, root = resolve(results_root)
    return any(p.loose or p.compact_infos for p in list_partitions(fs, f"{root}/{table}").values())


def read_table(
    results_root: str | os.PathLike[str],
    table: str,
    *,
    filters: Filters | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Read ``table`` into pandas: the live rows of every part and compacted file, upcast to the
    current schema; the dtypes plain ``pd.read_parquet`` gives (:func:`to_pandas`).

    Args:
        results_root: the study's results folder or URI.
        table: a table name.
        filters: pyarrow filters, pushed down to the partitions and row groups, e.g.
            ``[("dataset", "==", "kvasir_seg"), ("trial_id", "in", ["a", "b"])]``.
        columns: a subset of columns to read (only those are read from the files); they come
            back in the table's order.

    Raises:
        FileNotFoundError: the table has no part files.
        KeyError: a filter or a requested column names no column of the table.
        SchemaError: a file is broken, foreign or of a version this code does not read (the
            message starts with its path).
    """
    return to_pandas(read_arrow(results_root, table, filters=filters, columns=columns))


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """A result table in pandas with the dtypes plain ``pd.read_parquet(<results>/<table>)``
    gives: the partition columns ``study`` and ``dataset`` as ``category`` (pyarrow reads Hive
    partitions as dictionaries), everything else as Arrow converts it (float32 angles, list
    columns as object)."""
    for col in PARTITION_COLUMNS:
        if col in table.column_names and not pa.types.is_dictionary(table.schema.field(col).type):
            at = table.column_names.index(col)
            table = table.set_column(at, col, pc.dictionary_encode(table.column(col)))
    return table.to_pandas()


def read_arrow(
    results_root: str | os.PathLike[str],
    table: str,
    *,
    filters: Filters | None = None,
    columns: list[str] | None = None,
) -> pa.Table:
    """:func:`read_table` as an Arrow table, for work that is faster before pandas (grouping
    millions of rows, turning list columns into labels); same checks, filters and errors."""
    fs, root = resolve(results_root)
    table_dir = f"{root}/{table}"
    schema = table_schema(table)
    named = _check_names(table, schema, filters, columns)
    attempts = 3
    while True:
        partitions = list_partitions(fs, table_dir)
        if not any(p.loose or p.compact_infos for p in partitions.values()):
            raise FileNotFoundError(f"no {table!r} table under {results_root} "
                                    f"(looked in {table_dir})")
        try:
            return _read(fs, table_dir, table, partitions, filters, columns, named)
        except FileNotFoundError:  # a compaction retired a file after the listing: list again
            attempts -= 1
            if not attempts:
                raise


def _read(fs: pafs.FileSystem, table_dir: str, table: str, partitions: dict[str, Partition],
          filters: Filters | None, columns: list[str] | None, named: set[str]) -> pa.Table:
    schema, scan = table_schema(table), scan_schema(table)
    manifest = read_manifest(fs, table_dir)
    trusted = (manifest is not None and manifest.get("table") == table
               and set(manifest["versions"]) <= set(READABLE_VERSIONS))
    # a filter on a column that older files lack (it is derived on read) runs after the upcast
    late = bool(named & derived(table)) and not (
        trusted and set(manifest["versions"]) == {SCHEMA_VERSION})  # type: ignore[index]
    keep = schema.names if columns is None else \
        [c for c in schema.names if c in {*columns, *(named if late else ())}]
    wanted = None if columns is None else sorted(sources(table, set(keep)) & set(scan.names))
    loose = [info for p in partitions.values() for info in p.loose.values()]
    for info in loose if not trusted else _sample(loose):
        file_meta(fs, info.path, table)
    partitioning = ds.partitioning(
        pa.schema([schema.field(c) for c in PARTITION_COLUMNS]), flavor="hive")
    fmt = ds.ParquetFileFormat()
    whole, partial = [], []
    for part in partitions.values():
        load_index(fs, part, table)
        where = partitioning.parse(part.path[len(table_dir):] + "/file")  # the folders only
        view = live_rows(part)
        infos = [*part.loose.values(),
                 *(i for i in part.compact_infos if view[i.path] is None)]
        whole += [fmt.make_fragment(i.path, fs, where, file_size=i.size) for i in infos]
        partial += [(fmt.make_fragment(c.path, fs, where), view[c.path])
                    for c in part.compacted if view[c.path] is not None]
    expr = pq.filters_to_expression(filters) if filters else None
    early = None if late else expr
    try:
        pieces = [ds.FileSystemDataset(whole, scan, fmt, fs).to_table(filter=early,
                                                                       columns=wanted)]
        for fragment, ranges in partial:
            pieces.append(_live_part(fragment, ranges, scan, fmt, fs, early, wanted, named))
        out = upcast(pa.concat_tables(pieces),
                     pa.schema([schema.field(c) for c in keep], metadata=schema.metadata))
        if late:
            out = out.filter(expr)
        if columns is not None:  # the table's order, whatever order they were asked in
            out = out.select([c for c in keep if c in columns])
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as err:
        _diagnose(fs, partitions, table)
        raise SchemaError(f"{table_dir}: cannot read the table ({err})") from err
    for col in required_columns(table):
        if col in out.column_names and out.column(col).null_count:
            _diagnose(fs, partitions, table)
            raise SchemaError(f"{table_dir}: rows without a {col!r} value")
    return out


def _live_part(fragment: ds.Fragment, ranges: list[tuple[str, int, int]], schema: pa.Schema,
               fmt: ds.FileFormat, fs: pafs.FileSystem, expr: ds.Expression | None,
               columns: list[str] | None, named: set[str]) -> pa.Table:
    """The live rows of a compacted file that also holds dead ones (after a crash or a race:
    rare), filtered after the rows are chosen."""
    wanted = None if columns is None else sorted(named | set(columns))
    data = ds.FileSystemDataset([fragment], schema, fmt, fs).to_table(columns=wanted)
    rows = [i for _, a, b in ranges for i in range(a, b)]
    data = data.take(pa.array(rows, pa.int64()))
    if expr is not None:
        data = data.filter(expr)
    return data.select(columns) if columns is not None else data


def _sample(infos: list[pafs.FileInfo]) -> list[pafs.FileInfo]:
    if len(infos) <= SAMPLE:
        return infos
    return [infos[i * (len(infos) - 1) // (SAMPLE - 1)] for i in range(SAMPLE)]


def _diagnose(fs: pafs.FileSystem, partitions: dict[str, Partition], table: str) -> None:
    """Find the file behind a failed read: every footer, then every file's data; raises
    :class:`SchemaError` naming the first bad one (returns when none is bad)."""
    infos = [i for p in partitions.values() for i in (*p.loose.values(), *p.compact_infos)]
    for info in infos:
        file_meta(fs, info.path, table)
    for info in infos:
        try:
            with fs.open_input_file(info.path) as handle:
                pq.ParquetFile(handle).read()
        except (pa.ArrowInvalid, OSError) as err:
            raise SchemaError(f"{info.path}: not a readable Parquet file ({err})") from err


def _check_names(table: str, schema: pa.Schema, filters: Sequence[Any] | None,
                 columns: Sequence[str] | None) -> set[str]:
    # pyarrow's own message for an unknown name is the whole schema; say which name is wrong.
    filtered: set[str] = set()
    for item in filters or []:
        clauses = item if item and isinstance(item, list) else [item]  # DNF: list of lists
        filtered |= {clause[0] for clause in clauses}
    unknown = sorted((filtered | set(columns or [])) - set(schema.names))
    if unknown:
        raise KeyError(f"table {table!r} has no column {unknown[0]!r} (asked for in filters or "
                       f"columns); expected one of {schema.names}")
    return filtered
