"""Orientation histograms: k-fold symmetry strengths and self-similarity, known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.orientation import (
    histogram_of,
    orientation_summary,
    self_similarity,
    symmetry_strengths,
)

CENTRES = np.arange(180.0)


def spikes(*at: float, weights: tuple[float, ...] | None = None) -> np.ndarray:
    h = np.zeros(180)
    for a, w in zip(at, weights or (1.0,) * len(at), strict=True):
        h[int(a)] += w
    return h / h.sum()


@pytest.mark.parametrize(("hist", "expected"), [
    (spikes(0), {"strength_2": 1.0, "strength_4": 1.0, "strength_8": 1.0}),  # one axis
    (spikes(0, 90), {"strength_2": 0.0, "strength_4": 1.0, "strength_8": 1.0}),  # rectangles
    (spikes(0, 45, 90, 135), {"strength_2": 0.0, "strength_4": 0.0, "strength_8": 1.0}),
    (np.full(180, 1 / 180), {"strength_2": 0.0, "strength_4": 0.0, "strength_8": 0.0}),
    (spikes(0, 90, weights=(3.0, 1.0)), {"strength_2": 0.5, "strength_4": 1.0, "strength_8": 1.0}),
])
def test_symmetry_strengths_known_answers(hist: np.ndarray, expected: dict[str, float]) -> None:
    assert symmetry_strengths(CENTRES, hist) == pytest.approx(expected, abs=1e-12)


def test_symmetry_strengths_need_even_folds() -> None:
    with pytest.raises(ValueError, match="even"):
        symmetry_strengths(CENTRES, np.ones(180), folds=(3,))


def test_self_similarity_known_answers() -> None:
    rect = spikes(0, 90)
    assert self_similarity(CENTRES, rect, [0, 90, 180, 270, 45]) == pytest.approx(
        [1, 1, 1, 1, 0])
    one_axis = spikes(30)
    assert self_similarity(CENTRES, one_axis, [0, 90, 180, 360]) == pytest.approx([1, 0, 1, 1])
    uniform = np.full(180, 1 / 180)
    assert self_similarity(CENTRES, uniform, [13, 77]) == pytest.approx([1, 1])
    # half the mass moves out of place: a rotation by 90° of 0° (3/4) and 90° (1/4) axes
    assert self_similarity(CENTRES, spikes(0, 90, weights=(3, 1)), [90])[0] == pytest.approx(0.5)


def test_self_similarity_interpolates_coarse_bins() -> None:
    centres = np.arange(0, 180, 10.0)
    h = np.zeros(18)
    h[0] = 1.0
    # a 5° shift moves half of the 0° bin's mass into the 10° bin's place
    assert self_similarity(centres, h, [5])[0] == pytest.approx(0.5)


def test_summary_reads_the_orientation_table() -> None:
    rows = [{"study": "s", "dataset": d, "orientation": k, "weight": w, "n_images": 10,
             "n_bins": 180, "image_size": 64, "crop": "disk"}
            for d, h in (("rect", spikes(0, 90)), ("flat", np.full(180, 1 / 180)))
            for k, w in enumerate(h)]
    table = pd.DataFrame(rows)
    summary = orientation_summary(table).set_index("dataset")
    assert summary.loc["rect", "strength_4"] == pytest.approx(1.0)
    assert summary.loc["rect", "similarity_45"] == pytest.approx(0.0)
    assert summary.loc["rect", "similarity_90"] == pytest.approx(1.0)
    assert summary.loc["flat", "strength_2"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(KeyError, match="no rows for dataset 'kvasir_seg'"):
        histogram_of(table, "kvasir_seg")
