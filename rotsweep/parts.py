"""The files of a table, and which of their rows are live: the model that reading, writing and
compaction share.

A partition folder (``<table>/study=<s>/dataset=<d>/``) holds *loose parts*, one per key
(``part-<key>.parquet``, written whole by one trial or job and replaced whole by rename), and
*compacted files* (``compact-<seq>-<id>.parquet``), each holding the rows of many keys, in
contiguous runs, with an index in its footer: ``{"seq": n, "keys": [[key, n_rows], ...],
"deleted": {key: seq}}``. Every file is immutable once visible. Which copy of a key's rows is
live follows three rules, so a crash or a race between any two steps never loses or doubles
rows for a reader that applies them (:func:`live_rows`):

1. a loose part wins over every compacted copy of its key (it is always the newer one);
2. among compacted copies, the one in the file with the highest ``(seq, name)`` wins;
3. a key deleted at sequence ``s`` (a tombstone) is dead in every file older than ``s``.

Files whose names start with ``.`` or ``_`` are invisible to pyarrow and pandas: temporary
files, the per-table manifest (``_rotsweep.json``), the per-partition ``_compacted`` marker and
each compacted file's key list (``_compact-<seq>-<id>.parquet.keys.json``, written before the
file is published): the footer index says which keys a file holds, the key list says it again
for a file whose footer was destroyed, so its trials can be named and run again
(:func:`inventory`, study/folder/completeness.py).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rotsweep.schema import READABLE_VERSIONS, TABLE_KEY, VERSION_KEY
from rotsweep.storage import write_atomic

PART_PREFIX = "part-"
COMPACT_PREFIX = "compact-"
SUFFIX = ".parquet"
INDEX_KEY = b"rotsweep.compact"
MANIFEST = "_rotsweep.json"
MARKER = "_compacted"
KEYS_SUFFIX = ".keys.json"
_SAFE = re.compile(r"[^A-Za-z0-9._=-]+")


class SchemaError(ValueError):
    """A Parquet file that is not a rotsweep table of the expected name and version."""


@dataclass(frozen=True)
class Compacted:
    """A compacted file and its footer index.

    Attributes:
        path: the file (inside its filesystem).
        seq: its sequence number in the partition (higher is newer).
        keys: ``(key, n_rows)`` in row order; each key's rows are contiguous.
        deleted: tombstones, ``key -> seq`` at which the key was deleted.
        version: the schema version it was written with.
    """

    path: str
    seq: int
    keys: tuple[tuple[str, int], ...]
    deleted: dict[str, int] = field(default_factory=dict)
    version: int = 0

    @property
    def order(self) -> tuple[int, str]:
        return self.seq, self.path.rsplit("/", 1)[-1]

    @property
    def n_rows(self) -> int:
        return sum(n for _, n in self.keys)

    def ranges(self) -> Iterator[tuple[str, int, int]]:
        """``(key, start, stop)`` row ranges in file order."""
        start = 0
        for key, n in self.keys:
            yield key, start, start + n
            start += n


@dataclass
class Partition:
    """One partition folder: its loose parts by key and its compacted files."""

    path: str
    loose: dict[str, pafs.FileInfo] = field(default_factory=dict)
    compact_infos: list[pafs.FileInfo] = field(default_factory=list)
    compacted: list[Compacted] = field(default_factory=list)
    has_marker: bool = False

    def max_seq(self) -> int:
        return max((c.seq for c in self.compacted), default=0)


def safe_name(value: str) -> str:
    """A path component for ``value``: partition values and part keys must not contain '/'."""
    return _SAFE.sub("_", value)


def key_of(name: str) -> str:
    """The key of a loose file: ``part-<key>.parquet`` → ``<key>``; any other visible Parquet
    file (not written by rotsweep) is a loose file keyed by its whole name."""
    if name.startswith(PART_PREFIX) and name.endswith(SUFFIX):
        return name[len(PART_PREFIX):-len(SUFFIX)]
    return name


def visible(name: str) -> bool:
    """Whether pyarrow and pandas read the file ``name`` as part of the table."""
    return name.endswith(SUFFIX) and not name.startswith((".", "_"))


def list_partitions(fs: pafs.FileSystem, table_dir: str) -> dict[str, Partition]:
    """Every partition folder under ``table_dir`` that holds a visible file or a marker (one
    recursive listing; footers are not read: see :func:`load_index`)."""
    infos = fs.get_file_info(pafs.FileSelector(table_dir, recursive=True, allow_not_found=True))
    parts: dict[str, Partition] = {}
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        parent, name = info.path.rsplit("/", 1)
        if name == MARKER:
            parts.setdefault(parent, Partition(parent)).has_marker = True
        elif visible(name):
            part = parts.setdefault(parent, Partition(parent))
            if name.startswith(COMPACT_PREFIX):
                part.compact_infos.append(info)
            else:
                part.loose[key_of(name)] = info
    return dict(sorted(parts.items()))


def list_partition(fs: pafs.FileSystem, folder: str) -> Partition:
    """One partition folder (footers not read: see :func:`load_index`)."""
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    part = Partition(folder)
    for info in infos:
        name = info.base_name
        if info.type != pafs.FileType.File:
            continue
        if name == MARKER:
            part.has_marker = True
        elif visible(name) and name.startswith(COMPACT_PREFIX):
            part.compact_infos.append(info)
        elif visible(name):
            part.loose[key_of(name)] = info
    return part


def file_meta(fs: pafs.FileSystem, path: str, table: str) -> tuple[dict[bytes, bytes], int]:
    """A rotsweep file's footer metadata and row count, after checking its table and version.

    Raises:
        SchemaError: the file is unreadable, foreign, of another table or of a version this
            code does not read; the message starts with the path.
        FileNotFoundError: the file went away (a compaction retired it).
    """
    try:
        with fs.open_input_file(path) as handle:
            footer = pq.read_metadata(handle)
    except FileNotFoundError:
        raise
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaError(f"{path}: not a readable Parquet file ({err})") from err
    meta = footer.metadata or {}
    version, name = meta.get(VERSION_KEY), meta.get(TABLE_KEY)
    if version is None or name is None:
        raise SchemaError(f"{path}: not a rotsweep table (no {VERSION_KEY.decode()} metadata)")
    if table and name.decode() != table:
        raise SchemaError(f"{path}: holds table {name.decode()!r}, expected {table!r}")
    if int(version) not in READABLE_VERSIONS:
        raise SchemaError(f"{path}: schema version {int(version)}, this rotsweep reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))}")
    return meta, footer.num_rows


def load_index(fs: pafs.FileSystem, part: Partition, table: str) -> Partition:
    """Read the footer index of each compacted file of ``part`` (checked like any file)."""
    part.compacted = [read_compacted(fs, info.path, table) for info in part.compact_infos]
    return part


def read_compacted(fs: pafs.FileSystem, path: str, table: str) -> Compacted:
    """One compacted file's footer index (the file checked like any file).

    Raises:
        SchemaError: the file or its index cannot be read (the message starts with the path).
        FileNotFoundError: the file went away (a compaction retired it).
    """
    meta, _ = file_meta(fs, path, table)
    try:
        index = json.loads(meta[INDEX_KEY])
        return Compacted(
            path, int(index["seq"]), tuple((str(k), int(n)) for k, n in index["keys"]),
            {str(k): int(s) for k, s in index.get("deleted", {}).items()},
            int(meta[VERSION_KEY]))
    except (KeyError, TypeError, ValueError) as err:
        raise SchemaError(f"{path}: a compacted file without a readable key index "
                          f"({err!r})") from err


def live_rows(part: Partition) -> dict[str, list[tuple[str, int, int]] | None]:
    """For each compacted file of ``part``: ``None`` when every row is live (the normal case),
    else the live ``(key, start, stop)`` ranges (possibly none), by the three rules above."""
    newest: dict[str, tuple[int, str]] = {}
    for c in part.compacted:
        for key, _ in c.keys:
            newest[key] = max(newest.get(key, (-1, "")), c.order)
    tombs: dict[str, int] = {}
    for c in part.compacted:
        for key, seq in c.deleted.items():
            tombs[key] = max(tombs.get(key, -1), seq)
    out: dict[str, list[tuple[str, int, int]] | None] = {}
    for c in part.compacted:
        live = [(k, a, b) for k, a, b in c.ranges()
                if k not in part.loose and newest[k] == c.order and tombs.get(k, -1) < c.seq]
        out[c.path] = None if len(live) == len(c.keys) else live
    return out


def tombstones(part: Partition, merged: set[str]) -> dict[str, int]:
    """The tombstones a file replacing the compacted files ``merged`` must carry: those that
    still kill a copy in a compacted file that stays."""
    kept = [(c.seq, {name for name, _ in c.keys}) for c in part.compacted
            if c.path not in merged]
    out: dict[str, int] = {}
    for c in part.compacted:
        for key, seq in c.deleted.items():
            if any(s < seq and key in names for s, names in kept):
                out[key] = max(out.get(key, -1), seq)
    return out


def index_bytes(seq: int, keys: list[tuple[str, int]], deleted: dict[str, int]) -> bytes:
    """The footer index of a compacted file."""
    return json.dumps({"seq": seq, "keys": keys, "deleted": deleted},
                      separators=(",", ":")).encode()


def read_manifest(fs: pafs.FileSystem, table_dir: str) -> dict | None:
    """The table's manifest (``{"table": name, "versions": [...]}``): the schema versions of
    every file in it, so readers need not open each footer. ``None`` when absent or unreadable
    (a table from before manifests: readers then check every file)."""
    try:
        with fs.open_input_stream(f"{table_dir}/{MANIFEST}") as src:
            manifest = json.loads(src.read())
        return manifest if isinstance(manifest.get("versions"), list) else None
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def write_manifest(fs: pafs.FileSystem, table_dir: str, table: str,
                   versions: set[int]) -> None:
    """Record that every file of ``table`` has one of ``versions``."""
    write_atomic(fs, f"{table_dir}/{MANIFEST}",
                 json.dumps({"table": table, "versions": sorted(versions)}).encode())


# -- which keys a table holds, and which files are damaged ------------------------------------
def keys_path(path: str) -> str:
    """The key list of the compacted file ``path``: ``<folder>/_<name>.keys.json`` (hidden)."""
    folder, name = path.rsplit("/", 1)
    return f"{folder}/_{name}{KEYS_SUFFIX}"


def write_keys(fs: pafs.FileSystem, path: str, keys: list[tuple[str, int]]) -> None:
    """Record (atomically) which keys the compacted file ``path`` holds, before it is
    published."""
    write_atomic(fs, keys_path(path), json.dumps([k for k, _ in keys]).encode())


def read_keys(fs: pafs.FileSystem, path: str) -> list[str]:
    """The keys the compacted file ``path`` holds by its key list; ``[]`` when there is none
    (a file compacted by an older rotsweep) or it is unreadable."""
    try:
        with fs.open_input_stream(keys_path(path)) as src:
            keys = json.loads(src.read())
    except (OSError, ValueError):
        return []
    return [str(k) for k in keys] if isinstance(keys, list) else []


@dataclass
class Inventory:
    """What a table holds by its footers, without reading its data.

    Attributes:
        rows: live rows per key over every partition (by the rules of the module docstring;
            an unreadable file's rows are not counted).
        damaged: each file pyarrow cannot read (or not as a rotsweep table), with the keys its
            rows belonged to (a loose part: its key; a compacted file: its key list, ``[]``
            when that is lost too) and the reason.
    """

    rows: dict[str, int] = field(default_factory=dict)
    damaged: dict[str, tuple[list[str], str]] = field(default_factory=dict)


def inventory(fs: pafs.FileSystem, table_dir: str, table: str) -> Inventory:
    """Live rows per key of one table and its damaged files, from the footers (each file's
    footer is read once; its data is not)."""
    for attempt in range(3):
        try:
            return _inventory_once(fs, table_dir, table)
        except FileNotFoundError:  # a compaction retired a file after the listing: list again
            if attempt == 2:
                raise
    return Inventory()  # not reached: the third attempt returns or raises


def _inventory_once(fs: pafs.FileSystem, table_dir: str, table: str) -> Inventory:
    out = Inventory()
    for part in list_partitions(fs, table_dir).values():
        loose: dict[str, pafs.FileInfo] = {}
        counts: dict[str, int] = {}
        for key, info in part.loose.items():
            try:
                counts[key] = file_meta(fs, info.path, table)[1]
                loose[key] = info
            except SchemaError as err:
                out.damaged[info.path] = ([key], str(err))
        part.compacted = []
        for info in part.compact_infos:
            try:
                part.compacted.append(read_compacted(fs, info.path, table))
            except SchemaError as err:
                out.damaged[info.path] = (sorted(read_keys(fs, info.path)), str(err))
        part.loose = loose
        for key, n in counts.items():
            out.rows[key] = out.rows.get(key, 0) + n
        view = live_rows(part)
        for c in part.compacted:
            ranges = view[c.path]
            for key, a, b in (c.ranges() if ranges is None else ranges):
                out.rows[key] = out.rows.get(key, 0) + b - a
    return out


def set_aside(fs: pafs.FileSystem, path: str, stamp: str) -> str:
    """Move the damaged file ``path`` out of the table (``<name>.damaged-<stamp>``: invisible
    to every reader, kept for a look) and drop its key list; returns the new path."""
    target = f"{path}.damaged-{stamp}"
    fs.move(path, target)
    with contextlib.suppress(OSError):
        fs.delete_file(keys_path(path))
    return target
