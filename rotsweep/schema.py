"""The result tables: the contract between ``trainables/`` (writes) and ``analysis/`` (reads).

One row per observation, long format, snake_case columns, angles in degrees as float32
(version 2; version 1 stored them as int16). Every table is Hive-partitioned by ``study`` and
``dataset``::

    <results>/<table>/study=<study>/dataset=<dataset>/part-<key>.parquet
    <results>/<table>/study=<study>/dataset=<dataset>/compact-<seq>-<id>.parquet

so ``pd.read_parquet(results / "saliency", filters=[("dataset", "==", "x")])`` just works. The
partition columns are not stored inside the files (pyarrow adds them back from the path).
``docs/tables.md`` describes every column and the version history.

This module imports pyarrow only: trainers, the study driver and the analysis all use it.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 2
# Versions this code reads: older files are upcast to the current schema on read (see
# :func:`table_schema` for what each version changed).
READABLE_VERSIONS = (1, 2)
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
    # (e.g. "moco_rotation θ=90", "jigsaw perms=100"), and the rotation angles where it has any
    return [pa.field("backbone", pa.string()), pa.field("pretext", pa.string()),
            pa.field("pretraining", pa.string()), pa.field("train_angles", _ANGLES)]


# Columns of each table, partition columns first. Nullable unless marked otherwise.
_TABLES: dict[str, list[pa.Field]] = {
    "saliency": [
        *_key(True), *_pretraining(),
        pa.field("init", pa.string()),
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
        pa.field("angle", ANGLE, nullable=False),
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
        *_key(True), *_pretraining(),
        pa.field("init", pa.string()),
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
        *_key(True),
        pa.field("pretraining", pa.string()),
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
    if version == 1:
        fields = [f.with_type(ANGLES_IN_1.get(f.name, f.type)) for f in fields
                  if f.name not in ADDED_IN_2]
    meta = {VERSION_KEY: str(version).encode(), TABLE_KEY: name.encode()}
    return pa.schema(fields, metadata=meta)


def columns(name: str) -> list[str]:
    """Column names of table ``name`` in schema order, partition columns included."""
    return [f.name for f in table_schema(name)]


def required_columns(name: str) -> list[str]:
    """The non-nullable columns of table ``name`` (a row without one is not a row of it)."""
    return [f.name for f in table_schema(name) if not f.nullable]
