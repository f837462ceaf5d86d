"""A study folder from a notebook: ``import rotsweep; s = rotsweep.open_study("runs/smoke")``.

:func:`open_study` returns a :class:`Study`: its tables as pandas DataFrames with tidy,
hashable columns (``train_angles`` a tuple of floats, ``()`` for a task without angles; angles
as floats in degrees), its trial configs as dicts, and the report's figures as functions that
return a matplotlib Figure. Nothing is read until asked for; each table is read once. No torch,
no Ray: the API opens a study on any machine that has its folder. docs/notebook.md has the
examples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from matplotlib.figure import Figure

from analysis import figures
from analysis.folder import StudyFolder, check_filters, locate
from analysis.per_angle import per_angle_figure, per_angle_table
from analysis.report import Analysis, analyse, make_report
from analysis.results import Results, table_filters
from rotsweep.schema import TABLES, columns
from rotsweep.storage import exists, join, read_bytes
from rotsweep.tables import read_arrow

__all__ = ["Study", "open_study", "tidy"]


def _angle_tuples(lists: pa.ChunkedArray) -> np.ndarray:
    # list<float> → one tuple per row, built once per distinct angle set (a table of 10 M rows
    # holds a few dozen sets)
    labels = pc.fill_null(pc.binary_join(pc.cast(lists, pa.list_(pa.string())), "/"), "")
    codes, uniques = pd.factorize(labels.to_pandas())
    sets = np.empty(len(uniques), dtype=object)
    for k, label in enumerate(uniques):
        sets[k] = tuple(float(a) for a in label.split("/")) if label else ()
    return sets[codes]


def tidy(table: pa.Table) -> pd.DataFrame:
    """An Arrow result table as a tidy DataFrame: ``train_angles`` as tuples of floats (they
    can be grouped on: a list or an ndarray cannot), angle columns as float degrees."""
    frame = table.drop_columns([c for c in ("train_angles",) if c in table.column_names]) \
        .to_pandas()
    if "train_angles" in table.column_names:
        at = table.column_names.index("train_angles")
        frame.insert(at, "train_angles", _angle_tuples(table.column("train_angles")))
    for col in ("eval_angle", "angle", "orientation"):
        if col in frame:
            frame[col] = frame[col].astype(np.float64)
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

    def table(self, name: str) -> pd.DataFrame:
        """A result table (:data:`rotsweep.schema.TABLES`) as a tidy DataFrame; an empty one
        with the table's columns when the folder does not hold it.

        Raises:
            KeyError: ``name`` is not a table of the schema.
        """
        if name not in TABLES:
            raise KeyError(f"no table {name!r}; expected one of {list(TABLES)}")
        if name not in self._tables:
            if name in self._located.tables:
                arrow = read_arrow(self._located.results, name,
                                   filters=table_filters(name, **self.filters))
                self._tables[name] = tidy(arrow)
            else:
                self._tables[name] = pd.DataFrame(columns=columns(name))
        return self._tables[name]

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
        such as ``"0/90"``)."""
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
        return frame[frame["metric"] == metric] if metric is not None else frame

    def plot_curves(self, metric: str = "dice", polar: bool = False, by: str = "condition",
                    n_boot: int = 1000) -> Figure:
        """The report's "<metric> vs. angle" figure: one panel per dataset, CI bands,
        untrained baselines dashed.

        Raises:
            ValueError: no dataset has a value of ``metric`` (the message lists those that do).
        """
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
        r = self.results()
        if r.saliency is None:
            raise ValueError(f"{self.name}: no saliency table")
        return per_angle_figure(per_angle_table(r.saliency, r.hog_svm), r.hog_svm)

    def plot_hog(self) -> Figure:
        """HoG-SVM accuracy of "rotated by θ or not" per dataset."""
        fig = figures.hog_figure(self.hog_svm) if len(self.hog_svm) else None
        if fig is None:
            raise ValueError(f"{self.name}: no hog_svm table")
        return fig

    def plot_orientation(self, metric: str = "dice") -> Figure:
        """Gradient-orientation histograms, S(θ), HoG-SVM accuracy and the networks' mean
        ``metric`` (its own axis)."""
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
        written = make_report(self._located.folder, out=out, **self.filters, **kwargs)
        return written[-1]


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
