"""A study folder's tables, loaded once, with filters pushed down to the Parquet files.

A study folder (``rotsweep run --out DIR``) holds ``results/<table>/study=…/dataset=…/`` (per-
trial ``part-*`` files and, after compaction, ``compact-*`` files), ``artifacts/<trial_id>/``
and ``study.json``; a bare results root (the folder holding the table folders, e.g. a
``--storage`` location's ``results``) works as well. Tables that are absent are ``None``.
``train_angles`` comes back as a label (``"0,90"``, ``"22.5"``: the ``train_angle_set``
spelling), not a list.

At scale, read only what an aggregate needs: ``tables=`` and ``columns=`` are pushed down to
the files (a per-angle mean of Dice reads four columns of one table, not every column of six).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from rotsweep.schema import TABLES, angle_set_texts, columns
from rotsweep.tables import read_arrow, table_exists


@dataclass
class Results:
    """The tables of one results root (``None`` where a table has no part files).

    Attributes:
        root: the results root that was read.
        saliency, hog_svm, probe, pretext, trials, orientation: the tables.
    """

    root: str
    saliency: pd.DataFrame | None = None
    hog_svm: pd.DataFrame | None = None
    probe: pd.DataFrame | None = None
    pretext: pd.DataFrame | None = None
    trials: pd.DataFrame | None = None
    orientation: pd.DataFrame | None = None

    def present(self) -> list[str]:
        """Names of the tables that were found."""
        return [t for t in TABLES if getattr(self, t, None) is not None]


def results_root(folder: str | os.PathLike[str]) -> str:
    """``folder/results`` when it exists, else ``folder`` itself (a results root or a URI)."""
    text = os.fspath(folder)
    if "://" in text:
        return text
    inner = Path(text) / "results"
    return str(inner) if inner.is_dir() else text


def table_filters(table: str, study: str | None = None,
                  datasets: Sequence[str] | None = None,
                  trial_ids: Sequence[str] | None = None) -> list[tuple[str, str, Any]] | None:
    """pyarrow filters for ``table``: study and datasets (partitions) always, trial ids where
    the table has a ``trial_id`` column."""
    filters: list[tuple[str, str, Any]] = []
    if study is not None:
        filters.append(("study", "==", study))
    if datasets:
        filters.append(("dataset", "in", list(datasets)))
    if trial_ids and "trial_id" in columns(table):
        filters.append(("trial_id", "in", list(trial_ids)))
    return filters or None


def load_results(folder: str | os.PathLike[str], *, study: str | None = None,
                 datasets: Sequence[str] | None = None,
                 trial_ids: Sequence[str] | None = None,
                 tables: Sequence[str] | None = None,
                 columns: Mapping[str, Sequence[str]] | None = None) -> Results:
    """Read every table present under ``folder`` (see :func:`results_root`).

    Args:
        folder: a study folder, a results root or a URI.
        study, datasets, trial_ids: optional filters, pushed down to the files.
        tables: read only these tables (default: all; the others stay ``None``).
        columns: per table, the columns to read (default: all of them), e.g.
            ``{"saliency": ["dataset", "trial_id", "eval_angle", "dice"]}``.

    Raises:
        KeyError: an unknown table, or a column the table does not have.
        rotsweep.tables.SchemaError: a file is foreign, broken or of another schema version.
    """
    unknown = sorted(set(tables or ()) - set(TABLES)) + sorted(set(columns or {}) - set(TABLES))
    if unknown:
        raise KeyError(f"no table {unknown[0]!r}; expected one of {list(TABLES)}")
    root = results_root(folder)
    out = Results(root=root)
    for table in tables or TABLES:
        if table_exists(root, table):
            wanted = (columns or {}).get(table)
            arrow = read_arrow(root, table,
                               filters=table_filters(table, study, datasets, trial_ids),
                               columns=list(wanted) if wanted is not None else None)
            setattr(out, table, label_lists(arrow).to_pandas() if arrow.num_rows else None)
    return out


def label_lists(table: pa.Table) -> pa.Table:
    """``train_angles`` lists → labels such as ``"0,90"`` or ``"22.5,90"``: the
    ``train_angle_set`` spelling (rotsweep/vocabulary.py; computed in Arrow: 10 M rows of lists
    would otherwise become 10 M Python objects in pandas)."""
    if "train_angles" not in table.column_names:
        return table
    labels = table.column("train_angle_set") if "train_angle_set" in table.column_names \
        else angle_set_texts(table.column("train_angles"))
    return table.set_column(table.column_names.index("train_angles"), "train_angles", labels)


def condition_digests(trials: pd.DataFrame | None) -> dict[str, str] | None:
    """``trial_id → hash of its config without seed and study``, from the ``trials`` table, so
    that seeds of one condition can be pooled without pooling different hyper-parameters."""
    if trials is None or "config_json" not in trials:
        return None
    out = {}
    for trial_id, text in zip(trials["trial_id"], trials["config_json"], strict=True):
        if not isinstance(text, str):
            continue
        config = {k: v for k, v in json.loads(text).items() if k not in ("seed", "study")}
        out[str(trial_id)] = hashlib.sha256(
            json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return out or None


def study_info(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The study's ``study.json`` (name, source, axes), or ``{}`` when there is none."""
    path = Path(os.fspath(folder)) / "study.json"
    if "://" in os.fspath(folder) or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
