"""Small text helpers the report's sections share: p-values, angle lists, long tables."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.curves import BASELINE_INIT
from analysis.document import Document
from analysis.labels import joined_name, with_network

ALPHA = 0.05
MAX_SUMMARY_TRIALS = 12
THRESHOLD_FREE = ("soft_dice", "auc", "mass_in_mask")
MAX_TABLE_ROWS = 40


def p_text(p: float) -> str:
    return "n/a" if p is None or not np.isfinite(p) else f"{p:.3g}"


def degree_list(joined: str) -> str:
    return ", ".join(f"{a}°" for a in str(joined).split(";")) if joined else "-"


def trained(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["init"].astype(str) != BASELINE_INIT] if "init" in frame else frame


def short_rows(frame: pd.DataFrame, step_column: str | None = None) -> tuple[pd.DataFrame, str]:
    # Long tables (360 angles) are thinned in the text; the CSV has every row.
    if len(frame) <= MAX_TABLE_ROWS:
        return frame, ""
    index = frame.index if step_column is None else frame[step_column]
    keep = np.asarray(index) % 15 == 0
    which = "every 15°"
    if keep.sum() == 0 or keep.sum() > MAX_TABLE_ROWS:
        keep, which = np.arange(len(frame)) < MAX_TABLE_ROWS, "the first rows"
    return frame[keep], f" ({which}, {int(keep.sum())} of {len(frame)} rows)"


def named(frame: pd.DataFrame, names: Mapping[str, str] | None) -> pd.DataFrame:
    """``frame`` with its ``trial_id`` column replaced by a ``trial`` column of names (θ, seed:
    :func:`analysis.labels.joined_name`); the report never shows a trial's id (the CSV keeps
    it)."""
    if "trial_id" not in frame.columns or names is None:
        return frame
    out = frame.copy()
    out.insert(out.columns.get_loc("trial_id"), "trial",
               [joined_name(t, names) for t in out["trial_id"]])
    return out.drop(columns="trial_id")


def capped(doc: Document, frame: pd.DataFrame, csv: str, floatfmt: str = ".3g",
           names: Mapping[str, str] | None = None) -> None:
    # A study of hundreds of trials would make the page unreadable: the first rows, and where
    # the rest are.
    doc.table(with_network(named(frame.head(MAX_TABLE_ROWS), names)), floatfmt=floatfmt)
    if len(frame) > MAX_TABLE_ROWS:
        doc.paragraph(f"First {MAX_TABLE_ROWS} of {len(frame)} rows; all in `{csv}`.")
