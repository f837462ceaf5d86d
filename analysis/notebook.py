"""A study folder from a notebook: ``import rotsweep; s = rotsweep.open_study("runs/smoke")``.

:func:`open_study` returns a :class:`Study`: its tables as pandas DataFrames with tidy,
hashable columns (``train_angles`` a tuple of floats, ``()`` for a task without angles; angles
as floats in degrees), its trial configs as dicts, and the report's figures as functions that
return a matplotlib Figure. Nothing is read until asked for; each table is read once, and
``Study.table(name, columns=..., filters=...)`` reads only the columns and rows asked for (a
pyarrow dataset scan with projection and filters pushed down: rotsweep/tables.py). No torch, no
Ray, and no matplotlib until a figure is asked for: the API opens a study on any machine that
has its folder. docs/notebook.md has the examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis.folder import StudyFolder, check_filters, locate
from analysis.results import Results, table_filters
from rotsweep.schema import TABLES, angle_set_texts
from rotsweep.schema import columns as columns_of
from rotsweep.storage import exists, join, read_bytes
from rotsweep.tables import read_arrow, to_pandas
from rotsweep.vocabulary import angle_set_text, parse_angle_set

if TYPE_CHECKING:  # the report's modules import matplotlib: only when a figure is asked for
    from matplotlib.figure import Figure

    from analysis.report import Analysis

__all__ = ["Study", "open_study", "tidy"]
#: pyarrow filters: ``[(column, op, value), ...]`` (all hold) or a list of such lists (any)
Filters = list[tuple[str, str, Any]] | list[list[tuple[str, str, Any]]]


def _angle_tuples(lists: pa.ChunkedArray) -> np.ndarray:
    # list<float> → one canonical tuple per row (rotsweep/vocabulary.py), built once per
    # distinct angle set (a table of 10 M rows holds a few dozen sets)
    codes, uniques = pd.factorize(angle_set_texts(lists).to_pandas())
    sets = np.empty(len(uniques), dtype=object)
    for k, label in enumerate(uniques):
        sets[k] = parse_angle_set(label)
    return sets[codes]


def tidy(table: pa.Table) -> pd.DataFrame:
    """An Arrow result table as a tidy DataFrame with the column names and dtypes plain
    ``pd.read_parquet`` gives (partitions ``category``, angles float32: rotsweep/tables.py's
    :func:`~rotsweep.tables.to_pandas`), and ``train_angles`` as tuples of floats (they can be
    grouped on: a list or an ndarray cannot) beside their text ``train_angle_set``."""
    frame = to_pandas(table.drop_columns(
        [c for c in ("train_angles",) if c in table.column_names]))
    if "train_angles" in table.column_names:
        at = table.column_names.index("train_angles")
        frame.insert(at, "train_angles", _angle_tuples(table.column("train_angles")))
    return frame


class Study:
    """One study folder, opened read-only (see :func:`open_study`).

    Attributes:
        folder: where the study's tables were found.
        name: the study's name (``study.json``; else the folder's name).
        info: ``study.json`` (axes, source file, number of trials), ``{}`` when absent.
        filters: ``study``, ``datasets``, ``trial_ids`` applied to every table.
    """

    def __init__(self, located: StudyFolder, filters: dict[str, Any]) -> None:
        self._located = located
        self.folder = Path(located.folder) if "://" not in located.folder else located.folder
        self.info = located.info
        self.name = str(located.info.get("name") or Path(str(located.folder)).name)
        self.filters = filters
        self._tables: dict[str, pd.DataFrame] = {}
        self._analysis: dict[tuple[int, int, int], Analysis] = {}

    def __repr__(self) -> str:
        return (f"Study({self.name!r}, folder={str(self.folder)!r}, "
                f"tables={list(self._located.tables)})")

    @property
    def tables(self) -> list[str]:
        """The tables the folder holds."""
        return list(self._located.tables)

    def table(self, name: str, columns: Sequence[str] | None = None,
              filters: Filters | None = None) -> pd.DataFrame:
        """A result table (:data:`rotsweep.schema.TABLES`) as a tidy DataFrame; an empty one
        with the table's (or the asked) columns when the folder does not hold it.

        Args:
            name: the table.
            columns: read only these columns, in this order (default: all); the others'
                bytes are not read.
            filters: read only the rows that pass, in pyarrow's form, e.g.
                ``[("eval_angle", "<", 90), ("network", "==", "pretrained")]``; pushed down to the
                files (whole files and row groups are skipped), and combined with the study's
                own filters (:func:`open_study`).

        The whole table is read once and kept; a pruned read is read once per distinct
        ``columns``/``filters`` (or taken from the whole table when already read). The dtypes
        are those of the whole table's columns.

        Raises:
            KeyError: ``name`` is not a table of the schema, or a column or filter names no
                column of it (the message names it).
        """
        if name not in TABLES:
            raise KeyError(f"no table {name!r}; expected one of {list(TABLES)}")
        wanted = None if columns is None else list(columns)
        if wanted is None and not filters:
            key = name
        else:
            key = json.dumps([name, wanted, filters], default=str)
            if name in self._tables and not filters:
                _check_columns(name, wanted or [])
                return self._tables[name][wanted]
        if key not in self._tables:
            if name in self._located.tables:
                arrow = read_arrow(self._located.results, name, columns=wanted,
                                   filters=merge_filters(table_filters(name, **self.filters),
                                                         filters))
                frame = tidy(arrow)
                self._tables[key] = frame if wanted is None else frame[wanted]
            else:
                _check_columns(name, wanted or [])
                self._tables[key] = pd.DataFrame(columns=wanted or columns_of(name))
        return self._tables[key]

    saliency = property(lambda self: self.table("saliency"),
                        doc="One row per (trial, network, evaluation angle, image).")
    hog_svm = property(lambda self: self.table("hog_svm"),
                       doc="One row per (dataset, angle): HoG-SVM accuracy.")
    probe = property(lambda self: self.table("probe"),
                     doc="One row per (trial, downstream set, probe, block, metric).")
    pretext = property(lambda self: self.table("pretext"),
                       doc="One row per (trial, epoch) of pre-training.")
    trials = property(lambda self: self.table("trials"),
                      doc="One row per trial: status, error, config as JSON.")
    orientation = property(lambda self: self.table("orientation"),
                           doc="One row per (dataset, orientation bin).")

    @cached_property
    def configs(self) -> dict[str, dict[str, Any]]:
        """``trial_id → trial config`` (the ``trials`` table's ``config_json``, else the
        trial's ``artifacts/<trial>/trial_config.json``)."""
        out: dict[str, dict[str, Any]] = {}
        trials = self.trials
        for trial_id, text in zip(trials["trial_id"], trials["config_json"], strict=True):
            if isinstance(text, str):
                out[str(trial_id)] = json.loads(text)
        for trial_id in sorted(set(self.saliency["trial_id"].astype(str)) - set(out)):
            path = join(self._located.artifacts, trial_id, "trial_config.json")
            if exists(path):
                out[trial_id] = json.loads(read_bytes(path))
        return out

    def config(self, trial_id: str) -> dict[str, Any]:
        """One trial's config. Raises KeyError naming the known trials."""
        if trial_id not in self.configs:
            raise KeyError(f"no config for trial {trial_id!r}; known: {sorted(self.configs)}")
        return self.configs[trial_id]

    def results(self) -> Results:
        """The tables in the form the report's functions take (``train_angles`` as labels
        such as ``"0,90"``)."""
        from analysis.curves import angle_label

        out = Results(root=self._located.results)
        for name in self.tables:
            frame = self.table(name)
            if len(frame) and "train_angles" in frame:
                frame = frame.assign(train_angles=frame["train_angles"].map(angle_label))
            setattr(out, name, frame if len(frame) else None)
        return out

    def analysis(self, n_boot: int = 1000, n_perm: int = 999, seed: int = 0) -> Analysis:
        """Every derived table of the report (:func:`analysis.report.analyse`), computed once
        per setting: ``.curves``, ``.condition_curves``, ``.periodicity``, ``.table_i``, …"""
        from analysis.report import analyse

        key = (n_boot, n_perm, seed)
        if key not in self._analysis:
            self._analysis[key] = analyse(self.results(), n_boot=n_boot, n_perm=n_perm,
                                          seed=seed)
        return self._analysis[key]

    def curves(self, metric: str | None = None, by: str = "condition", n_boot: int = 1000
               ) -> pd.DataFrame:
        """Mean and 95 % bootstrap CI per evaluation angle, one curve per condition (seeds
        pooled) or per ``by="trial"``; only ``metric``'s rows when given."""
        a = self.analysis(n_boot=n_boot)
        frame = a.condition_curves if by == "condition" else a.curves
        frame = frame[frame["metric"] == metric] if metric is not None else frame
        return with_angle_sets(frame)

    def plot_curves(self, metric: str = "dice", polar: bool = False, by: str = "condition",
                    n_boot: int = 1000) -> Figure:
        """The report's "<metric> vs. angle" figure: one panel per dataset, CI bands,
        untrained baselines dashed.

        Raises:
            ValueError: no dataset has a value of ``metric`` (the message lists those that do).
        """
        from analysis import figures

        a = self.analysis(n_boot=n_boot)
        fig = figures.curve_figure(a.condition_curves if by == "condition" else a.curves,
                                   metric, polar=polar, differences=a.differences)
        if fig is None:
            known = sorted(set(a.condition_curves.get("metric", pd.Series(dtype=str))))
            raise ValueError(f"{self.name}: no values of metric {metric!r}; metrics with "
                             f"values: {known}")
        return fig

    def plot_per_angle(self) -> Figure:
        """Mean Dice per evaluation angle per trial, HoG-SVM accuracy below."""
        from analysis.per_angle import per_angle_figure, per_angle_table

        r = self.results()
        if r.saliency is None:
            raise ValueError(f"{self.name}: no saliency table")
        return per_angle_figure(per_angle_table(r.saliency, r.hog_svm), r.hog_svm)

    def plot_hog(self) -> Figure:
        """HoG-SVM accuracy of "rotated by θ or not" per dataset."""
        from analysis import figures

        fig = figures.hog_figure(self.hog_svm) if len(self.hog_svm) else None
        if fig is None:
            raise ValueError(f"{self.name}: no hog_svm table")
        return fig

    def plot_orientation(self, metric: str = "dice") -> Figure:
        """Gradient-orientation histograms, S(θ), HoG-SVM accuracy and the networks' mean
        ``metric`` (its own axis)."""
        from analysis import figures

        curves = self.analysis().curves if len(self.saliency) else None
        fig = figures.orientation_figure(self.orientation, self.hog_svm if len(self.hog_svm)
                                         else None, curves, metric=metric) \
            if len(self.orientation) else None
        if fig is None:
            raise ValueError(f"{self.name}: no orientation table")
        return fig

    def report(self, out: str | os.PathLike[str] | None = None, **kwargs: Any) -> Path:
        """Write the report (:func:`analysis.report.make_report`, with this study's filters);
        returns the path of ``report.html``."""
        from analysis.report import make_report

        written = make_report(self._located.folder, out=out, **self.filters, **kwargs)
        return written[-1]


def _check_columns(table: str, wanted: Sequence[str]) -> None:
    unknown = sorted(set(wanted) - set(columns_of(table)))
    if unknown:
        raise KeyError(f"table {table!r} has no column {unknown[0]!r}; expected one of "
                       f"{columns_of(table)}")


def merge_filters(base: list[tuple[str, str, Any]] | None, extra: Filters | None
                  ) -> Filters | None:
    """``base`` (clauses that all hold) and ``extra`` (clauses, or a list of alternatives) as
    one pyarrow filter: every alternative of ``extra`` with every clause of ``base``.

    >>> merge_filters([("study", "==", "s")], [[("seed", "==", 0)], [("seed", "==", 1)]])
    [[('study', '==', 's'), ('seed', '==', 0)], [('study', '==', 's'), ('seed', '==', 1)]]
    """
    if not extra:
        return base
    base = list(base or [])
    if all(isinstance(item, list) for item in extra):
        return [[*base, *alternative] for alternative in extra]  # type: ignore[misc]
    return [*base, *extra]  # type: ignore[list-item]


def with_angle_sets(frame: pd.DataFrame) -> pd.DataFrame:
    """A derived table's ``train_angles`` labels in the tables' two forms: the tuple
    ``train_angles`` and the text ``train_angle_set`` beside it (as :attr:`Study.saliency`
    gives them)."""
    if "train_angles" not in frame or "train_angle_set" in frame:
        return frame
    labels = frame["train_angles"].map(angle_set_text)
    out = frame.assign(train_angles=labels.map(parse_angle_set))
    out.insert(out.columns.get_loc("train_angles") + 1, "train_angle_set", labels)
    return out


def open_study(folder: str | os.PathLike[str], *, study: str | None = None,
               datasets: Sequence[str] | None = None,
               trial_ids: Sequence[str] | None = None) -> Study:
    """Open a study folder (``rotsweep run --out DIR``) for analysis.

    Args:
        folder: the study folder, a results root, or a storage URI.
        study, datasets, trial_ids: read only these rows (pushed down to the files).

    Raises:
        analysis.folder.ReportError: no study in ``folder``, or a filter naming nothing in it
            (the message lists what is known).

    Example:
        >>> import rotsweep
        >>> s = rotsweep.open_study("runs/smoke")            # doctest: +SKIP
        >>> s.saliency.groupby(["train_angles", "eval_angle"])["dice"].mean()  # doctest: +SKIP
    """
    located = locate(folder)
    datasets = list(datasets) if datasets else None
    trial_ids = list(trial_ids) if trial_ids else None
    check_filters(located, study, datasets, trial_ids)
    return Study(located, {"study": study, "datasets": datasets, "trial_ids": trial_ids})
