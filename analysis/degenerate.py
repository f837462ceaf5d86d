"""Degenerate saliency points: marked in the table, left out of every test and summary.

A target's map can be degenerate by construction at some evaluation angle: ``pair_similarity``
compares the rotated view with the unrotated reference, so at 0° it compares an image with
itself, the cosine sits at its maximum and its input gradient vanishes (issue 11: plain-gradient
maximum 1.4e-9 at 0° against 8e-4 at 30°; Kvasir gradient AUC 0.498 at 0°). Such rows carry
``degenerate = true`` in the ``saliency`` table (schema v2). The analysis keeps the rows but
blanks their metrics, so every curve, CI, test and table skips them while the angle stays on
the grid (a gap the periodicity and correlation tests know how to carry).

Tables written before the column existed (or rows where it is null) get the same rule the
trainer applies (``trainables.saliency.degenerate_at``, repeated here because ``analysis``
does not import the trainers): target ``pair_similarity`` at 0° (mod 360).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.curves import METRICS

DEGENERATE_COLUMN = "degenerate"
# target -> evaluation angles (degrees, mod 360) at which its map is degenerate by construction
DEGENERATE_AT = {"pair_similarity": (0.0,)}


def _by_rule(saliency: pd.DataFrame) -> np.ndarray:
    out = np.zeros(len(saliency), dtype=bool)
    if "target" not in saliency or "eval_angle" not in saliency:
        return out
    target = saliency["target"].astype(str).to_numpy()
    angle = saliency["eval_angle"].to_numpy(dtype=np.float64) % 360.0
    for name, angles in DEGENERATE_AT.items():
        for a in angles:
            near = np.abs((angle - a + 180.0) % 360.0 - 180.0) < 1e-3
            out |= (target == name) & near
    return out


def degenerate_rows(saliency: pd.DataFrame) -> np.ndarray:
    """``(R,)`` bool: the rows whose map is degenerate by construction.

    The ``degenerate`` column where it holds a value; the rule of the module docstring where
    it is null or absent (tables written before schema v2).
    """
    rule = _by_rule(saliency)
    if DEGENERATE_COLUMN not in saliency:
        return rule
    marked = saliency[DEGENERATE_COLUMN].astype("boolean")
    return marked.fillna(pd.Series(rule, index=saliency.index)).to_numpy(dtype=bool)


def mask_degenerate(saliency: pd.DataFrame, metrics: tuple[str, ...] = METRICS
                    ) -> tuple[pd.DataFrame, int]:
    """The ``saliency`` table with the metrics of degenerate rows set to NaN, and their count.

    Returns:
        ``(frame, n_degenerate)``; ``frame`` is ``saliency`` itself when nothing is degenerate,
        else a copy.
    """
    bad = degenerate_rows(saliency)
    n = int(bad.sum())
    if n == 0:
        return saliency, 0
    out = saliency.copy()
    cols = [m for m in metrics if m in out]
    out.loc[bad, cols] = np.nan
    return out, n


def degenerate_note(n_degenerate: int, saliency: pd.DataFrame | None = None) -> str:
    """One sentence for the report: how many rows were left out and which points they are."""
    if n_degenerate == 0:
        return "No saliency row is degenerate by construction."
    where = ""
    if saliency is not None and len(saliency):
        bad = degenerate_rows(saliency)
        pairs = sorted({f"{t} at {a:g}°" for t, a in zip(
            saliency.loc[bad, "target"].astype(str),
            saliency.loc[bad, "eval_angle"].astype(float) % 360.0, strict=True)})
        where = f" ({', '.join(pairs)})" if pairs else ""
    return (f"{n_degenerate} saliency rows are degenerate by construction{where}: their maps "
            "measure nothing about the network, so they are left out of every curve, test and "
            "summary (their angle is a gap in the curve).")
