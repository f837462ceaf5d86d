"""The result tables: the contract between ``trainables/`` (writes) and ``analysis/`` (reads).

One row per observation, long format, snake_case columns, angles in integer degrees
(DESIGN.md, "Result tables"). Every table is Hive-partitioned by ``study`` and ``dataset``::

    <results>/<table>/study=<study>/dataset=<dataset>/part-<key>.parquet

so ``pd.read_parquet(results / "saliency", filters=[("dataset", "==", "x")])`` just works. The
partition columns are not stored inside the files (pyarrow adds them back from the path).

This module imports pyarrow only: trainers, the study driver and the analysis all use it.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = 1
VERSION_KEY = b"rotsweep.schema_version"
TABLE_KEY = b"rotsweep.table"
PARTITION_COLUMNS = ("study", "dataset")

_ANGLES = pa.list_(pa.int16())

# Columns of each table, partition columns first. Nullable unless marked otherwise.
_TABLES: dict[str, list[pa.Field]] = {
    "saliency": [
        pa.field("study", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("backbone", pa.string()),
        pa.field("pretext", pa.string()),
        pa.field("train_angles", _ANGLES),
        pa.field("init", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("method", pa.string()),
        pa.field("target", pa.string()),
        pa.field("eval_angle", pa.int16(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("dice", pa.float32()),
        pa.field("iou", pa.float32()),
        pa.field("soft_dice", pa.float32()),
        pa.field("auc", pa.float32()),
        pa.field("mass_in_mask", pa.float32()),
        pa.field("q_bbox", pa.float32()),
        pa.field("threshold_rule", pa.string()),
        pa.field("threshold", pa.float32()),
        pa.field("mlflow_run_id", pa.string()),
    ],
    "hog_svm": [
        pa.field("study", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("angle", pa.int16(), nullable=False),
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
        pa.field("study", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("backbone", pa.string()),
        pa.field("pretext", pa.string()),
        pa.field("train_angles", _ANGLES),
        pa.field("init", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("downstream", pa.string()),
        pa.field("probe", pa.string()),
        pa.field("block", pa.string()),
        pa.field("n_train", pa.int64()),
        pa.field("metric", pa.string()),
        pa.field("value", pa.float64()),
    ],
    # DESIGN.md lists study, trial_id, epoch, loss, pretext_accuracy, lr; dataset is the partition
    # key of every table, and train_angles/pretext/backbone/seed let a reader group epochs by trial.
    "pretext": [
        pa.field("study", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("backbone", pa.string()),
        pa.field("pretext", pa.string()),
        pa.field("train_angles", _ANGLES),
        pa.field("seed", pa.int64()),
        pa.field("epoch", pa.int64(), nullable=False),
        pa.field("loss", pa.float64()),
        pa.field("pretext_accuracy", pa.float64()),
        pa.field("lr", pa.float64()),
    ],
    # One row per trial: its final state, so failed trials are recorded with their error.
    "trials": [
        pa.field("study", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("trial_id", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("config_json", pa.string()),
        pa.field("mlflow_run_id", pa.string()),
        pa.field("wall_s", pa.float64()),
    ],
    # One row per (dataset, orientation bin): the data's magnitude-weighted histogram of
    # gradient orientation mod 180° inside the common field of view (data only, like hog_svm;
    # the direct test of seed 000's "gradient-orientation shortcut"). ``orientation`` is the
    # bin's centre in degrees counter-clockwise from the image's x axis; ``weight`` is the
    # bin's share of gradient magnitude, averaged over images (sums to 1 per dataset).
    "orientation": [
        pa.field("study", pa.string(), nullable=False),
        pa.field("dataset", pa.string(), nullable=False),
        pa.field("orientation", pa.int16(), nullable=False),
        pa.field("weight", pa.float64()),
        pa.field("n_images", pa.int64()),
        pa.field("n_bins", pa.int64()),
        pa.field("image_size", pa.int64()),
        pa.field("crop", pa.string()),
    ],
}

TABLES: tuple[str, ...] = tuple(_TABLES)


def table_schema(name: str, *, with_partitions: bool = True) -> pa.Schema:
    """The Arrow schema of table ``name``, with its version in the metadata.

    Args:
        name: one of :data:`TABLES`.
        with_partitions: include ``study`` and ``dataset`` (as read back); ``False`` gives the
            columns stored inside a part file.

    Raises:
        KeyError: ``name`` is not a table; the message lists the tables.
    """
    if name not in _TABLES:
        raise KeyError(f"unknown table {name!r}; expected one of {sorted(_TABLES)}")
    fields = [
        f for f in _TABLES[name] if with_partitions or f.name not in PARTITION_COLUMNS
    ]
    meta = {VERSION_KEY: str(SCHEMA_VERSION).encode(), TABLE_KEY: name.encode()}
    return pa.schema(fields, metadata=meta)


def columns(name: str) -> list[str]:
    """Column names of table ``name`` in schema order, partition columns included."""
    return [f.name for f in table_schema(name)]
