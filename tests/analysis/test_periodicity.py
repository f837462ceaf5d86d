"""Periodicity: harmonic amplitudes, the circular-shift permutation test and its calibration,
and the peaks table on saliency tables with known structure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from analysis.peaks import PEAK_COLUMNS, peak_table, peaks_csv_rows
from analysis.periodicity import (
    fold_strengths,
    full_circle_step,
    harmonic_amplitudes,
    periodicity_test,
)

GRID = np.arange(0, 360, 15)


def test_full_circle_grids() -> None:
    assert full_circle_step(GRID) == 15.0
    assert full_circle_step(np.arange(0, 360)) == 1.0
    assert full_circle_step(np.array([90, 0, 270, 180])) == 90.0
    assert full_circle_step(np.array([0, 45, 90])) is None  # a quarter circle
    assert full_circle_step(np.array([0, 15, 30, 60])) is None


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_harmonic_amplitude_is_in_the_curves_units(k: int) -> None:
    theta = np.radians(GRID)
    curve = 0.7 + 0.03 * np.cos(k * theta + 0.4)
    amps = harmonic_amplitudes(curve)
    assert amps[k - 1] == pytest.approx(0.03)
    assert np.delete(amps, k - 1) == pytest.approx(0.0, abs=1e-12)
    strengths = fold_strengths(curve)
    if k in (2, 4, 8):
        assert strengths[f"share_{k}"] == pytest.approx(1.0)


def test_a_90_degree_period_is_four_fold_with_p_below_001(
        make_saliency: Callable[..., pd.DataFrame], curves: dict) -> None:
    # seed 000's protocol: 75 images; the 4-fold swing is 0.1 Dice, per-cell noise sd 0.05
    frame = make_saliency(curves["four_fold"](amplitude=0.05), noise=0.05, n_images=75)
    table = peak_table(frame, metrics=["dice"])
    row = table.iloc[0]
    assert row["dominant_period"] == 90.0
    assert row["maxima"] == "0;90;180;270"
    assert row["minima"] == "45;135;225;315"
    assert row["periodic_p"] < 0.01
    assert row["test"] == "circular_shift"
    assert row["share_4"] > 0.8


def test_a_flat_noisy_curve_is_not_periodic(make_saliency: Callable[..., pd.DataFrame],
                                            curves: dict) -> None:
    frame = make_saliency(curves["flat"](), noise=0.03, n_images=30, rng_seed=5)
    row = peak_table(frame, metrics=["dice"]).iloc[0]
    assert row["periodic_p"] > 0.05


def test_the_shift_test_rejects_at_its_nominal_rate_under_the_null() -> None:
    rng = np.random.default_rng(11)
    p = np.array([periodicity_test(rng.normal(0.5, 0.05, (20, 24)), n_perm=199, seed=i).p_value
                  for i in range(200)])
    assert 0.01 <= np.mean(p < 0.05) <= 0.10
    assert 0.06 <= np.mean(p < 0.10) <= 0.15


def test_smooth_unaligned_image_curves_do_not_fool_the_shift_test() -> None:
    # Each image has a strong 2-fold curve with its own random phase: no angle is special on
    # average. Label permutations of the mean curve call this periodic almost always (the
    # average of smooth curves is smooth); the per-image shifts keep the right rate.
    rng = np.random.default_rng(2)
    theta = np.radians(GRID)

    def images() -> np.ndarray:
        phase = rng.uniform(0, 2 * np.pi, (20, 1))
        return np.cos(2 * theta[None, :] + phase) + rng.normal(0, 0.3, (20, len(GRID)))

    shift = [periodicity_test(images(), n_perm=199, seed=i).p_value for i in range(100)]
    labels = [periodicity_test(images().mean(0, keepdims=True), n_perm=199, seed=i).p_value
              for i in range(100)]
    assert np.mean(np.array(shift) < 0.05) <= 0.12
    assert np.mean(np.array(labels) < 0.05) >= 0.5


def test_periodicity_needs_four_angles() -> None:
    with pytest.raises(ValueError, match=">= 4 angles"):
        periodicity_test(np.ones((3, 3)))


def test_peaks_csv_has_one_row_per_dataset_trial_metric(
        make_saliency: Callable[..., pd.DataFrame], curves: dict) -> None:
    frame = pd.concat([
        make_saliency(curves["four_fold"](), trial_id="a", dataset="brats"),
        make_saliency(curves["four_fold"](phase=45), trial_id="b", dataset="kvasir_seg"),
        make_saliency(curves["flat"](), trial_id="b", dataset="kvasir_seg",
                      init="random_baseline")])
    hog = pd.DataFrame({"dataset": "brats", "angle": GRID,
                        "accuracy": 0.75 - 0.25 * np.cos(np.radians(4 * GRID))})
    table = peak_table(frame, hog, n_perm=199)
    csv = peaks_csv_rows(table)
    assert list(csv.columns) == PEAK_COLUMNS
    assert len(csv) == 2 * 3 + 1  # two trained trials × 3 metrics + one HoG curve
    assert not csv.duplicated(["dataset", "trial_id", "metric"]).any()
    kvasir = csv[(csv["trial_id"] == "b") & (csv["metric"] == "dice")].iloc[0]
    assert kvasir["maxima"] == "45;135;225;315" and kvasir["minima"] == "0;90;180;270"
    svm = csv[csv["metric"] == "hog_svm_accuracy"].iloc[0]
    assert svm["trial_id"] == "" and svm["minima"] == "0;90;180;270"
    assert svm["dominant_period"] == 90.0
    # the baseline's curve is in the full table, flat and not periodic
    base = table[(table["init"] == "random_baseline") & (table["metric"] == "dice")].iloc[0]
    assert base["periodic_p"] > 0.05


def test_a_partial_grid_gets_global_extrema_and_no_test(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    frame = make_saliency(lambda a: a / 100, angles=[0, 45, 90], noise=0.0, image_sd=0.0)
    row = peak_table(frame, metrics=["dice"]).iloc[0]
    assert (row["maxima"], row["minima"]) == ("90", "0")
    assert np.isnan(row["periodic_p"]) and row["test"] == "not a full-circle grid"
