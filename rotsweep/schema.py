"""The result tables: the contract between ``trainables/`` (writes) and ``analysis/`` (reads).

One row per observation, long format, snake_case columns, angles in degrees as float32
(version 2 on; version 1 stored them as int16), one name per concept in every table (version 3:
``eval_angle``, ``network``, ``train_angle_set``; see rotsweep/vocabulary.py). Every table is
Hive-partitioned by ``study`` and ``dataset``::

    <results>/<table>/study=<study>/dataset=<dataset>/part-<key>.parquet
    <results>/<table>/study=<study>/dataset=<dataset>/compact-<seq>-<id>.parquet

so ``pd.read_parquet(results / "saliency", filters=[("dataset", "==", "x")])`` just works. The
partition columns are not stored inside the files (pyarrow adds them back from the path).
``docs/tables.md`` describes every column and the version history; :func:`upcast` turns rows of
an older version into rows of this one (readers and compaction call it).

This module imports pyarrow and rotsweep/vocabulary.py only: trainers, the study driver and the
analysis all use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from rotsweep.vocabulary import angle_set_text, network_of, trial_columns

SCHEMA_VERSION = 3
# Versions this code reads: older files are upcast to the current schema on read (see
# :func:`table_schema` for what each version changed).
READABLE_VERSIONS = (1, 2, 3)
VERSION_KEY = b"rotsweep.schema_version"
TABLE_KEY = b"rotsweep.table"
PARTITION_COLUMNS = ("study", "dataset")

# Angles are float32 degrees in [0, 360): 0.1° steps are exact to ~1e-5° (issue 13).
ANGLE = pa.float32()
_ANGLES = pa.list_(ANGLE)


def _key(per_trial: bool) -> list[pa.Field]:
    # the partition columns, and the trial id every per-trial table carries next
    fields = [pa.field("study", pa.string(), nullable=False),
              pa.field("dataset", pa.string(), nullable=False)]
    return [*fields, pa.field("trial_id", pa.string(), nullable=False)] if per_trial else fields


def _pretraining() -> list[pa.Field]:
    # what a trial's encoder was pre-trained with: the task, its defining setting in one string
    # (e.g. "moco_rotation θ=90", "jigsaw perms=100"), and the rotation angles where it has any,
    # as a sorted list and as its canonical text ("0,90"; "" for a task without angles)
    return [pa.field("backbone", pa.string()), pa.field("pretext", pa.string()),
            pa.field("pretraining", pa.string()), pa.field("train_angles", _ANGLES),
            pa.field("train_angle_set", pa.string())]


def _network() -> list[pa.Field]:
    # ``init``: the encoder's starting weights (``model.init``; v2 wrote ``random_baseline`` /
    # ``torchvision_baseline`` for the baselines); ``network``: which network the row measures,
    # "pretrained", "untrained" (the random-init baseline) or "torchvision" (a probe baseline)
    return [pa.field("init", pa.string()), pa.field("network", pa.string())]


# Columns of each table, partition columns first. Nullable unless marked otherwise.
_TABLES: dict[str, list[pa.Field]] = {
    "saliency": [
        *_key(True), *_pretraining(), *_network(),
        pa.field("seed", pa.int64()),
        pa.field("method", pa.string()),
        pa.field("target", pa.string()),
        pa.field("eval_angle", ANGLE, nullable=False),
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("dice", pa.float32()),
        pa.field("iou", pa.float32()),
        pa.field("soft_dice", pa.float32()),
        pa.field("auc", pa.float32()),
        pa.field("mass_in_mask", pa.float32()),
        pa.field("q_bbox", pa.float32()),
        pa.field("threshold_rule", pa.string()),
        pa.field("threshold", pa.float32()),
        # true where the target's map is degenerate by construction (pair_similarity at eval
        # angle 0 compares an image with itself): the row's metrics measure nothing
        pa.field("degenerate", pa.bool_()),
        pa.field("mlflow_run_id", pa.string()),
    ],
    "hog_svm": [
        *_key(False),
        pa.field("eval_angle", ANGLE, nullable=False),
        pa.field("n_images", pa.int64()),
        pa.field("accuracy", pa.float64()),
        pa.field("accuracy_std", pa.float64()),
        pa.field("best_c", pa.float64()),
        pa.field("best_gamma", pa.float64()),
        pa.field("cv_folds", pa.int64()),
        pa.field("pixels_per_cell", pa.int64()),
        pa.field("orientations", pa.int64()),
        pa.field("image_size", pa.int64()),
    ],
    "probe": [
        *_key(True), *_pretraining(), *_network(),
        pa.field("seed", pa.int64()),
        pa.field("downstream", pa.string()),
        pa.field("probe", pa.string()),
        pa.field("block", pa.string()),
        pa.field("n_train", pa.int64()),
        pa.field("metric", pa.string()),
        pa.field("value", pa.float64()),
    ],
    # one row per (trial, epoch); backbone/pretext/train_angles/seed let a reader group epochs
    "pretext": [
        *_key(True), *_pretraining(),
        pa.field("seed", pa.int64()),
        pa.field("epoch", pa.int64(), nullable=False),
        pa.field("loss", pa.float64()),
        pa.field("pretext_accuracy", pa.float64()),
        pa.field("lr", pa.float64()),
    ],
    # one row per trial: its final state, so failed trials are recorded with their error
    "trials": [
        *_key(True), *_pretraining(),
        pa.field("seed", pa.int64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("config_json", pa.string()),
        pa.field("mlflow_run_id", pa.string()),
        pa.field("wall_s", pa.float64()),
    ],
    # one row per (dataset, orientation bin): the data's magnitude-weighted histogram of
    # gradient orientation mod 180° inside the common field of view; ``orientation`` is the
    # bin's centre in degrees counter-clockwise from the image's x axis, ``weight`` its share
    # of gradient magnitude averaged over images (sums to 1 per dataset)
    "orientation": [
        *_key(False),
        pa.field("orientation", ANGLE, nullable=False),
        pa.field("weight", pa.float64()),
        pa.field("n_images", pa.int64()),
        pa.field("n_bins", pa.int64()),
        pa.field("image_size", pa.int64()),
        pa.field("crop", pa.string()),
    ],
}

TABLES: tuple[str, ...] = tuple(_TABLES)

# What version 2 changed (version 1 is version 2 without these): new columns, and the angle
# columns' version-1 types. Reading a version-1 file adds the new columns as nulls and casts
# the angles (exact: every int16 degree is a float32).
ADDED_IN_2 = frozenset({"pretraining", "degenerate"})
ANGLES_IN_1: dict[str, pa.DataType] = {
    "eval_angle": pa.int16(), "angle": pa.int16(), "orientation": pa.int16(),
    "train_angles": pa.list_(pa.int16()),
}
# What version 3 changed (one vocabulary, issue 21): per table, the columns it added (derived
# on read from what a version-2 row holds, :func:`upcast`) and the columns it renamed
# (new name → version-2 name).
ADDED_IN_3: dict[str, frozenset[str]] = {
    "saliency": frozenset({"network", "train_angle_set"}),
    "probe": frozenset({"network", "train_angle_set"}),
    "pretext": frozenset({"train_angle_set"}),
    "trials": frozenset({"backbone", "pretext", "train_angles", "train_angle_set", "seed"}),
}
RENAMED_IN_3: dict[str, dict[str, str]] = {"hog_svm": {"eval_angle": "angle"}}


def table_schema(name: str, *, with_partitions: bool = True,
                 version: int = SCHEMA_VERSION) -> pa.Schema:
    """The Arrow schema of table ``name``, with its version in the metadata.

    Args:
        name: one of :data:`TABLES`.
        with_partitions: include ``study`` and ``dataset`` (as read back); ``False`` gives the
            columns stored inside a part file.
        version: a version from :data:`READABLE_VERSIONS`; older ones describe the files that
            version wrote (tests write real old files with it; readers upcast them).

    Raises:
        KeyError: ``name`` is not a table (the message lists the tables), or ``version`` is not
            one this code knows.
    """
    if name not in _TABLES:
        raise KeyError(f"unknown table {name!r}; expected one of {sorted(_TABLES)}")
    if version not in READABLE_VERSIONS:
        raise KeyError(f"unknown schema version {version}; expected one of {READABLE_VERSIONS}")
    fields = [f for f in _TABLES[name] if with_partitions or f.name not in PARTITION_COLUMNS]
    if version <= 2:
        renamed = RENAMED_IN_3.get(name, {})
        fields = [f.with_name(renamed.get(f.name, f.name)) for f in fields
                  if f.name not in ADDED_IN_3.get(name, ())]
    if version == 1:
        fields = [f.with_type(ANGLES_IN_1.get(f.name, f.type)) for f in fields
                  if f.name not in ADDED_IN_2]
    meta = {VERSION_KEY: str(version).encode(), TABLE_KEY: name.encode()}
    return pa.schema(fields, metadata=meta)


def scan_schema(name: str) -> pa.Schema:
    """The schema a reader scans ``name`` with: the current one plus the old names of renamed
    columns (nullable), so files of every readable version give their values to
    :func:`upcast`."""
    schema = table_schema(name)
    for old in RENAMED_IN_3.get(name, {}).values():
        schema = schema.append(pa.field(old, ANGLE))
    return schema


def sources(name: str, wanted: set[str]) -> set[str]:
    """The stored columns :func:`upcast` needs to give the columns ``wanted`` of table ``name``
    for rows of an older version (``wanted`` included)."""
    out = set(wanted)
    for new, old in RENAMED_IN_3.get(name, {}).items():
        if new in wanted:
            out.add(old)
    added = ADDED_IN_3.get(name, frozenset())
    if "network" in wanted and "network" in added:
        out.add("init")
    if "train_angle_set" in wanted and "train_angle_set" in added:
        out.add("train_angles")
    if name == "trials" and wanted & added:
        out.add("config_json")
    return out


def derived(name: str) -> set[str]:
    """The columns of ``name`` that rows of an older version get from :func:`upcast` (a filter
    on one of them cannot be pushed down to such files)."""
    return set(ADDED_IN_3.get(name, ())) | set(RENAMED_IN_3.get(name, {}))


def upcast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Rows of any readable version as rows of ``schema`` (the current schema of the table its
    metadata names, or a selection of its columns).

    Version 3 from version 2: ``hog_svm.angle`` → ``eval_angle``; ``network`` from ``init``
    (``random_baseline`` → ``untrained``, ``torchvision_baseline`` → ``torchvision``, else
    ``pretrained``); ``train_angle_set`` from ``train_angles``; the ``trials`` table's
    ``backbone, pretext, train_angles, train_angle_set, seed`` from ``config_json``. Version 2
    from version 1: angles cast from int16 (exact), the new columns null. Values a row already
    has are kept; columns ``schema`` lacks are dropped, missing ones become nulls.
    """
    name = (schema.metadata or {}).get(TABLE_KEY, b"").decode()
    for new, old in RENAMED_IN_3.get(name, {}).items():
        if old in table.column_names:
            table = _coalesce(table, new, table.column(old).cast(ANGLE))
    added = ADDED_IN_3.get(name, frozenset())
    if "network" in added and "init" in table.column_names and _has_nulls(table, "network"):
        table = _coalesce(table, "network", _networks(table.column("init")))
    if name == "trials" and "config_json" in table.column_names \
            and any(_has_nulls(table, c) for c in added):  # before train_angles is used below
        table = _from_configs(table, added)
    if "train_angle_set" in added and "train_angles" in table.column_names \
            and _has_nulls(table, "train_angle_set"):
        table = _coalesce(table, "train_angle_set", angle_set_texts(table.column("train_angles")))
    arrays = [table.column(f.name).cast(f.type) if f.name in table.column_names
              else pa.nulls(table.num_rows, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _has_nulls(table: pa.Table, column: str) -> bool:
    return column not in table.column_names or table.column(column).null_count > 0


def _coalesce(table: pa.Table, column: str, values: pa.ChunkedArray | pa.Array) -> pa.Table:
    # the column's own values where it has them, ``values`` elsewhere
    if column in table.column_names:
        values = pc.coalesce(table.column(column), values.cast(table.schema.field(column).type))
        return table.set_column(table.column_names.index(column), column, values)
    return table.append_column(column, values)


def _networks(init: pa.ChunkedArray) -> pa.Array:
    return _per_distinct(pc.fill_null(init, ""), network_of)


def _per_distinct(values: pa.ChunkedArray, spell: Callable[[str], str | None]) -> pa.Array:
    # ``spell`` applied once per distinct value (a table of 10 M rows holds a few dozen)
    encoded = pc.dictionary_encode(values.combine_chunks() if values.num_chunks else
                                   pa.array([], values.type))
    words = pa.array([spell(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return words.take(encoded.indices)


def angle_set_texts(lists: pa.ChunkedArray) -> pa.Array:
    """A ``train_angles`` column as its ``train_angle_set`` texts (``[90, 0]`` → ``"0,90"``, null
    → ``""``: :func:`rotsweep.vocabulary.angle_set_text`), spelled once per distinct set."""
    joined = pc.fill_null(pc.binary_join(pc.cast(lists, pa.list_(pa.string())), ","), "")
    return _per_distinct(joined, angle_set_text)


def _from_configs(table: pa.Table, added: frozenset[str]) -> pa.Table:
    rows = [trial_columns(json.loads(text)) if text else {}
            for text in table.column("config_json").to_pylist()]
    for column in sorted(added):
        kind = _TABLES["trials"][[f.name for f in _TABLES["trials"]].index(column)].type
        values = pa.array([row.get(column) for row in rows], kind)
        table = _coalesce(table, column, values)
    return table


def columns(name: str) -> list[str]:
    """Column names of table ``name`` in schema order, partition columns included."""
    return [f.name for f in table_schema(name)]


def required_columns(name: str) -> list[str]:
    """The non-nullable columns of table ``name`` (a row without one is not a row of it)."""
    return [f.name for f in table_schema(name) if not f.nullable]
