"""Compaction: a table's many per-trial parts merged into few large files, losing and doubling
nothing, even when it is killed between any two steps.

Per partition folder, the loose parts (and compacted files that are small or hold dead rows) are
streamed into new ``compact-<seq>-<id>.parquet`` files of up to ``target_rows`` rows, each
key's rows kept contiguous and indexed in the footer (:mod:`rotsweep.parts`). The order is:

1. mark the folder (``_compacted``), so writers know to look for compacted copies;
2. write each new file under a hidden temporary name (invisible to every reader);
3. publish it by rename (its ``seq`` is higher than every file it merges);
4. only when all are published, delete the merged files (a loose part only if it is still the
   file that was read).

A crash before 3 leaves hidden garbage (removed by the next compaction); a crash after 3 leaves
old and new copies side by side, which readers resolve by the rules of :mod:`rotsweep.parts`
(a loose part or the higher ``seq`` wins) and the next compaction retires. A part rewritten
after compaction (a resumed trial, a HoG job run again) replaces its rows: ``write_part``
removes the key from the compacted file that holds it (:func:`excise`).

Compaction assumes it is the table's only compactor (the study's owner runs it: at the end of a
launch, or ``rotsweep compact`` when none runs); writers may run beside it.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rotsweep.parts import (
    INDEX_KEY,
    KEYS_SUFFIX,
    MARKER,
    Compacted,
    Partition,
    SchemaError,
    file_meta,
    index_bytes,
    keys_path,
    list_partition,
    list_partitions,
    live_rows,
    load_index,
    read_manifest,
    safe_name,
    tombstones,
    write_keys,
    write_manifest,
)
from rotsweep.schema import SCHEMA_VERSION, TABLES, VERSION_KEY, table_schema, upcast
from rotsweep.storage import resolve

TARGET_ROWS = 4_000_000  # rows per compacted file: ~150 of seed 000's 27,000-row trials
ROW_GROUP_ROWS = 262_144  # rows held in memory while writing, and a Parquet row group
MIN_PARTS = 2  # a folder with fewer loose parts (and nothing dirty) is left as it is

STALE_TMP_S = 3600  # a hidden compaction file this old belongs to a killed process

# (path, start, stop, key): one key's rows in a source file
Segment = tuple[str, int, int, str]


@dataclass
class CompactStats:
    """What one compaction did (all tables, all partitions)."""

    partitions: int = 0
    parts_merged: int = 0
    files_merged: int = 0
    files_written: int = 0
    rows: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One line for the end of a launch or ``rotsweep compact``."""
        if not self.partitions:
            text = "compaction: nothing to merge"
        else:
            text = (f"compaction: {self.parts_merged} parts and {self.files_merged} compacted "
                    f"files -> {self.files_written} files ({self.rows:,} rows) in "
                    f"{self.partitions} partitions, {self.seconds:.1f} s")
        return text + "".join(f"; skipped: {p}" for p in self.problems)


def _step(name: str) -> None:
    """A named point of the protocol: tests raise here to play a crash at that point."""


def compact_results(results_root: str | os.PathLike[str], *,
                    tables: Collection[str] | None = None, skip_keys: Collection[str] = (),
                    target_rows: int = TARGET_ROWS, min_parts: int = MIN_PARTS) -> CompactStats:
    """Compact every table under ``results_root``; idempotent (a second run merges nothing).

    Args:
        results_root: the study's results folder or URI.
        tables: the tables to compact (default: all).
        skip_keys: keys (trial ids) whose parts stay loose, e.g. trials that will run again on
            ``--resume`` (merging them would only mean rewriting a compacted file later).
        target_rows: rows per compacted file (keys are never split across files).
        min_parts: loose parts a folder needs before it is compacted.

    Returns:
        What was merged; a table that cannot be compacted (a damaged or foreign file) is left
        untouched and named in ``problems``, the others are still compacted.
    """
    start = time.perf_counter()
    fs, root = resolve(results_root)
    stats = CompactStats()
    skip = {safe_name(k) for k in skip_keys}
    for table in tables or TABLES:
        for attempt in range(3):
            try:
                compact_table(fs, f"{root}/{table}", table, stats, skip, target_rows, min_parts)
            except SchemaError as err:
                stats.problems.append(str(err))
            except FileNotFoundError as err:  # a writer replaced a file: look again
                if attempt < 2:
                    continue
                stats.problems.append(f"{root}/{table}: files kept changing during compaction "
                                      f"({err}); run it again")
            break
    stats.seconds = time.perf_counter() - start
    return stats


def compact_table(fs: pafs.FileSystem, table_dir: str, table: str, stats: CompactStats,
                  skip: set[str], target_rows: int, min_parts: int) -> None:
    """Check every file of one table, compact its folders, then record its versions."""
    partitions = list_partitions(fs, table_dir)
    if not partitions:
        return
    versions: dict[str, int] = {}
    counts: dict[str, int] = {}
    for part in partitions.values():  # every file checked before anything is changed
        load_index(fs, part, table)
        versions |= {c.path: c.version for c in part.compacted}
        for info in part.loose.values():
            meta, counts[info.path] = file_meta(fs, info.path, table)
            versions[info.path] = int(meta[VERSION_KEY])
    old = {path for path, v in versions.items() if v < SCHEMA_VERSION}
    for part in partitions.values():
        _remove_tmp(fs, part.path)
        compact_partition(fs, part, table, stats, skip, target_rows, min_parts, counts, old)
    # the versions of the files left (new ones, and those written meanwhile, are this one's)
    left = {versions.get(i.path, SCHEMA_VERSION) for p in list_partitions(fs, table_dir).values()
            for i in (*p.loose.values(), *p.compact_infos)}
    manifest = read_manifest(fs, table_dir)
    if manifest is None or set(manifest["versions"]) != left | {SCHEMA_VERSION}:
        write_manifest(fs, table_dir, table, left | {SCHEMA_VERSION})


def compact_partition(fs: pafs.FileSystem, part: Partition, table: str, stats: CompactStats,
                      skip: set[str], target_rows: int, min_parts: int,
                      counts: dict[str, int], old: Collection[str] = ()) -> None:
    """Merge one folder's loose parts, dirty and small compacted files, if there is enough;
    a folder holding a file of an older schema version (``old``) is always rewritten, so that
    plain pandas, which takes its schema from one file, reads the table after a launch."""
    view = live_rows(part)
    loose = {k: i for k, i in part.loose.items() if k not in skip}
    dirty = [c for c in part.compacted if view[c.path] is not None or c.path in old]
    small = [c for c in part.compacted if c not in dirty and c.n_rows < target_rows // 4]
    upgrade = any(i.path in old for i in loose.values())
    if not (len(loose) >= min_parts or dirty or upgrade or (loose and small)
            or len(small) >= 2):
        return
    merged = [*dirty, *small]
    segments: list[Segment] = [(i.path, 0, counts[i.path], k) for k, i in loose.items()]
    for c in merged:
        ranges = view[c.path]
        segments += [(c.path, a, b, k) for k, a, b in (c.ranges() if ranges is None else ranges)]
    written = rewrite(fs, part, table, segments, {c.path for c in merged}, target_rows)
    for info in loose.values():  # only the file that was read: a rewrite since then stays
        now = fs.get_file_info(info.path)
        if now.size == info.size and now.mtime == info.mtime:
            fs.delete_file(info.path)
            _step("retired")
    for c in merged:
        retire(fs, c.path)  # a writer's excision may have replaced it meanwhile
        _step("retired")
    stats.partitions += 1
    stats.parts_merged += len(loose)
    stats.files_merged += len(merged)
    stats.files_written += len(written)
    stats.rows += sum(b - a for _, a, b, _ in segments)


def rewrite(fs: pafs.FileSystem, part: Partition, table: str, segments: list[Segment],
            merged: set[str], target_rows: int, extra_tombs: dict[str, int] | None = None
            ) -> list[str]:
    """Write ``segments`` as new compacted files (``target_rows`` each, keys whole), published
    one by one; returns their paths. Nothing is deleted here."""
    if not part.has_marker:
        fs.open_output_stream(f"{part.path}/{MARKER}").close()
        part.has_marker = True
        _step("marked")
    seq = part.max_seq() + 1
    tombs = {**tombstones(part, merged), **(extra_tombs or {})}
    groups: list[list[Segment]] = [[]]
    rows = 0
    for seg in segments:  # split at key boundaries once a file is full
        n = seg[2] - seg[1]
        if groups[-1] and rows + n > target_rows:
            groups.append([])
            rows = 0
        groups[-1].append(seg)
        rows += n
    written = []
    for group in groups:
        if group or tombs:
            written.append(_write_file(fs, part.path, table, seq, group, tombs))
    return written


def _write_file(fs: pafs.FileSystem, folder: str, table: str, seq: int,
                segments: list[Segment], tombs: dict[str, int]) -> str:
    stored = table_schema(table, with_partitions=False)
    name = f"compact-{seq:08d}-{uuid.uuid4().hex[:12]}.parquet"
    tmp, path = f"{folder}/.{name}.tmp", f"{folder}/{name}"
    keys: list[tuple[str, int]] = []  # rows as copied, so the index matches the file
    try:
        with fs.open_output_stream(tmp) as sink, pq.ParquetWriter(sink, stored) as writer:
            buffer: list[pa.Table] = []
            for key, piece in _pieces(fs, segments, stored):
                if keys and keys[-1][0] == key:
                    keys[-1] = (key, keys[-1][1] + piece.num_rows)
                else:
                    keys.append((key, piece.num_rows))
                buffer.append(piece)
                if sum(t.num_rows for t in buffer) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(buffer), row_group_size=ROW_GROUP_ROWS)
                    buffer = []
                _step("writing")
            if buffer or not keys:
                writer.write_table(pa.concat_tables(buffer) if buffer else stored.empty_table())
            writer.add_key_value_metadata({INDEX_KEY: index_bytes(seq, keys, tombs)})
        _step("written")
        write_keys(fs, path, keys)  # before it is visible: a published file always has one
        fs.move(tmp, path)
    except BaseException:  # an error, not a kill: leave no hidden file behind
        _delete_quietly(fs, tmp)
        _delete_quietly(fs, keys_path(path))
        raise
    _step("published")
    return path


def _pieces(fs: pafs.FileSystem, segments: list[Segment], stored: pa.Schema
            ) -> Iterator[tuple[str, pa.Table]]:
    """``(key, rows)`` of ``segments`` in order, conformed to the current schema (older
    versions upcast), read batch by batch so memory stays at a row group."""
    by_file: list[tuple[str, list[tuple[int, int, str]]]] = []
    for path, a, b, key in segments:
        if by_file and by_file[-1][0] == path:
            by_file[-1][1].append((a, b, key))
        else:
            by_file.append((path, [(a, b, key)]))
    for path, ranges in by_file:
        with fs.open_input_file(path) as handle:
            offset = 0
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=65_536):
                end = offset + batch.num_rows
                for a, b, key in ranges:
                    lo, hi = max(a, offset), min(b, end)
                    if lo < hi:
                        rows = pa.Table.from_batches([batch.slice(lo - offset, hi - lo)])
                        yield key, conform(rows, stored)
                offset = end


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns, older versions upcast
    (:func:`rotsweep.schema.upcast`: a version-1 file's int16 angles become float32 exactly, a
    version-2 file's renamed and derived columns are filled)."""
    return upcast(table, schema)


def excise(fs: pafs.FileSystem, folder: str, table: str, key: str, *,
           delete: bool = False) -> int:
    """Remove ``key``'s compacted copy from the folder: each compacted file that holds it is
    replaced by one with its other rows (and, with ``delete``, a tombstone). Called by
    ``write_part`` after it wrote a new loose part (which already wins for readers: this keeps
    plain pandas readers exact too) and by ``delete_parts``. Returns the files replaced.

    A compaction may run meanwhile: a file replaced under it is looked up again, and rows that
    only a loose part shadows are kept (the compaction may have merged that part into the file
    and be about to retire it)."""
    for attempt in range(3):
        try:
            return _excise_once(fs, folder, table, key, delete)
        except FileNotFoundError:  # a compaction or another writer replaced a file meanwhile
            if attempt == 2:
                raise
    return 0


def _excise_once(fs: pafs.FileSystem, folder: str, table: str, key: str, delete: bool) -> int:
    part = list_partition(fs, folder)
    load_index(fs, part, table)
    holders = [c for c in part.compacted if any(k == key for k, _ in c.keys)]
    # which copy is newest among compacted files (rules 2 and 3), loose parts left out (rule 1)
    view = live_rows(Partition(part.path, compact_infos=part.compact_infos,
                               compacted=part.compacted, has_marker=part.has_marker))
    seq = part.max_seq() + 1
    for c in holders:
        kept = [r for r in (c.ranges() if view[c.path] is None else view[c.path])
                if r[0] != key]
        rewrite(fs, part, table, [(c.path, a, b, k) for k, a, b in kept], {c.path},
                c.n_rows + 1, {key: seq} if delete else None)
        retire(fs, c.path)
    return len(holders)


def _delete_quietly(fs: pafs.FileSystem, path: str) -> None:
    with contextlib.suppress(FileNotFoundError):  # a concurrent writer got there first
        fs.delete_file(path)


def retire(fs: pafs.FileSystem, path: str) -> None:
    """Delete a compacted file, then its key list (a kill between the two leaves a key list
    without its file, which :func:`_remove_tmp` sweeps later)."""
    _delete_quietly(fs, path)
    _delete_quietly(fs, keys_path(path))


def _remove_tmp(fs: pafs.FileSystem, folder: str) -> None:
    """Hidden files left by a compaction killed before it published them, and key lists whose
    compacted file is gone (old ones only: a writer's excision may be writing one right now)."""
    infos = fs.get_file_info(pafs.FileSelector(folder))
    names = {info.base_name for info in infos}
    for info in infos:
        name = info.base_name
        stale = info.mtime is not None and time.time() - info.mtime.timestamp() > STALE_TMP_S
        tmp = name.startswith(".compact-") and name.endswith(".tmp")
        orphan = (name.startswith("_compact-") and name.endswith(KEYS_SUFFIX)
                  and name[1:-len(KEYS_SUFFIX)] not in names)
        if stale and (tmp or orphan):
            _delete_quietly(fs, info.path)


__all__ = ["CompactStats", "Compacted", "compact_results", "conform", "excise"]
