"""Hypotheses (a) and (b) on tables built with a known relation between the curves."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from analysis.curves import curve_table
from analysis.hypotheses import hog_dice_table, orientation_table, train_angle_table

GRID = np.arange(0, 360, 15)


def svm_curve(a: np.ndarray) -> np.ndarray:
    # no rotational symmetry, so only the aligned shift matches
    t = np.radians(a)
    return 0.7 + 0.2 * np.cos(t - np.radians(100)) + 0.08 * np.cos(2 * (t - np.radians(30)))


def hog_table(curve: Callable[[np.ndarray], np.ndarray], dataset: str = "brats"
              ) -> pd.DataFrame:
    return pd.DataFrame({"study": "s", "dataset": dataset, "eval_angle": GRID.astype(np.int16),
                         "accuracy": curve(GRID.astype(float)), "accuracy_std": 0.01})


def orientation_rows(weights: np.ndarray, dataset: str = "brats") -> pd.DataFrame:
    return pd.DataFrame({"study": "s", "dataset": dataset, "orientation": np.arange(180),
                         "weight": weights / weights.sum(), "n_images": 10, "n_bins": 180,
                         "image_size": 64, "crop": "disk"})


def test_a_dice_curve_that_mirrors_the_svm_curve_is_found_negatively_correlated(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    frame = make_saliency(lambda a: 0.9 - 0.5 * svm_curve(a), noise=0.002, n_images=20)
    curves = curve_table(frame, ["dice", "soft_dice"], n_boot=100)
    table = hog_dice_table(curves, hog_table(svm_curve))
    assert sorted(table["metric"]) == ["dice", "soft_dice"]
    row = table[table["metric"] == "dice"].iloc[0]
    mean = curves[curves["metric"] == "dice"].set_index("eval_angle")["mean"]
    # 0° is left out: the HoG-SVM tells an image from itself there (chance by construction)
    assert row["rho"] == pytest.approx(spearmanr(mean.loc[GRID[1:]],
                                                 svm_curve(GRID[1:])).statistic)
    assert row["rho"] < -0.95
    assert row["p_shift"] == pytest.approx(1 / 24)
    assert row["n_angles"] == 23


def test_hog_rows_of_another_dataset_are_not_used(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    curves = curve_table(make_saliency(svm_curve, dataset="lung_mask"), ["dice"], n_boot=50)
    assert hog_dice_table(curves, hog_table(svm_curve, dataset="brats")).empty


def test_orientation_self_similarity_explains_a_svm_curve(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    # gradients along one axis (0°): S(θ) = 1 at 0° and 180°, lowest at 90°/270°; a HoG-SVM
    # that detects exactly what S says, and a Dice curve that follows S (the shortcut story)
    weights = np.exp(-0.5 * (np.minimum(np.arange(180), 180 - np.arange(180)) / 30.0) ** 2)
    ori = orientation_rows(weights)
    from analysis.orientation import self_similarity

    def s_of(a: np.ndarray) -> np.ndarray:
        return self_similarity(np.arange(180.0), weights / weights.sum(), a)

    hog = hog_table(lambda a: 1.0 - 0.5 * s_of(a))
    curves = curve_table(make_saliency(lambda a: 0.3 + 0.2 * s_of(a), noise=0.002,
                                       n_images=10), ["dice"], n_boot=50)
    table = orientation_table(curves, hog, ori, metrics=["dice"])
    svm_row = table[table["metric"] == "hog_svm_accuracy"].iloc[0]
    dice_row = table[table["metric"] == "dice"].iloc[0]
    assert svm_row["rho"] == pytest.approx(-1.0) and svm_row["trial_id"] == ""
    assert dice_row["rho"] > 0.9
    # S of one axis is 180°-periodic and mirror-symmetric, so shifts by 90° (ρ = +1: high
    # where the other is low, mirrored) and 180° match as well as the aligned one: the shift
    # test cannot go below 4/24 for such curves, and says so
    assert svm_row["p_shift"] == pytest.approx(4 / 24)


def test_train_angle_table_uses_one_point_per_trained_angle(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    frames = [make_saliency(lambda a, t=t: np.full_like(a, 0.8 - 0.3 * svm_curve(np.array(
        [float(t)]))[0]), trial_id=f"t{t}", train_angles=[t], n_images=5)
        for t in (0, 45, 90, 135, 180)]
    frames.append(make_saliency(lambda a: np.full_like(a, 0.1), trial_id="multi",
                                train_angles=[0, 90], n_images=5))  # not a single angle
    curves = curve_table(pd.concat(frames), ["dice"], n_boot=50)
    table = train_angle_table(curves, hog_table(svm_curve), None, metrics=["dice"])
    row = table.iloc[0]
    assert len(table) == 1 and row["predictor"] == "hog_svm_accuracy"
    assert row["n_trials"] == 5 and row["angles"] == "0/45/90/135/180"
    assert row["rho"] == pytest.approx(-1.0)
    assert row["p_perm"] == pytest.approx(2 / 120)  # exact: 2 of the 5! pairings are as extreme
    assert row["note"] == ""
    # three trials (a 3-θ study): 2 of 3! pairings tie with ρ = ±1, so p >= 1/3; no p of 1
    three = curves[curves["train_angles"].isin(["0", "45", "90"])]
    row = train_angle_table(three, hog_table(svm_curve), None, metrics=["dice"]).iloc[0]
    assert np.isnan(row["p_perm"])
    assert row["note"] == ("3 trials: the smallest possible p is 0.333; at least 5 train "
                           "angles are needed for p < 0.05")
