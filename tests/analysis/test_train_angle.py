"""Known answers of the train-angle test (analysis/train_angle.py): seeds as replicates,
images paired."""

from __future__ import annotations

import numpy as np
import pandas as pd
from result_tables import flat, saliency_frame

from analysis.train_angle import (
    distinct_groupings,
    seeds_needed,
    train_angle_table,
    train_angle_test,
    untestable_note,
)


def test_how_many_seeds_a_design_needs() -> None:
    assert distinct_groupings([3, 3, 3]) == 280  # 9! / (3!^3 · 3!)
    assert distinct_groupings([1, 1, 1]) == 1  # one seed per θ: every relabelling is alike
    assert seeds_needed(3) == 3  # 2 each: 15 groupings, p >= 1/15 = 0.067
    assert seeds_needed(2) == 4  # 3 each: 10 groupings; 4 each: 35
    assert untestable_note([1, 1, 1]) == (
        "3 trials, 1 seed per train angle: at least 3 seeds per angle are needed for p < 0.05")
    assert untestable_note([3, 3, 3]) == ""


def trials(rng: np.random.Generator, effect: float, seeds: int = 3, images: int = 16
           ) -> tuple[np.ndarray, np.ndarray]:
    # each trial's mean over the same images: the images' levels are shared, so they cancel
    image = rng.normal(0.3, 0.2, images)
    theta = np.repeat([0, 45, 90], seeds)
    level = rng.normal(0, 0.01, (len(theta), 1)) + effect * (theta[:, None] == 90)
    values = image[None] + level + rng.normal(0, 0.02, (len(theta), images))
    return values.mean(axis=1), theta


def test_a_train_angle_effect_is_detected_and_none_is_not() -> None:
    rng = np.random.default_rng(0)
    hit = [train_angle_test(*trials(rng, 0.06), n_perm=499, seed=k).p_value for k in range(50)]
    assert np.mean(np.array(hit) < 0.05) >= 0.9
    null = np.array([train_angle_test(*trials(rng, 0.0), n_perm=499, seed=k).p_value
                     for k in range(300)])
    assert np.mean(null < 0.05) <= 0.08
    assert 0.4 < null.mean() < 0.6


def test_one_seed_per_angle_says_why_instead_of_p_1() -> None:
    result = train_angle_test(np.array([0.2, 0.3, 0.25]), [0, 45, 90])
    assert not result.testable and np.isnan(result.p_value)
    assert "at least 3 seeds per angle" in result.note


def study(effect: float) -> pd.DataFrame:
    # 3 θ x 3 seeds on the same 20 images (image SD 0.2 dwarfs the effect: pairing matters);
    # each trial has a level of its own (SD 0.01)
    frames, levels = [], np.random.default_rng(12).normal(0, 0.01, 9)
    for k, theta in enumerate((0, 45, 90)):
        for seed in range(3):
            bump = effect * theta / 90  # a trend: θ means 0.4, 0.4 + effect/2, 0.4 + effect
            frames.append(saliency_frame(flat(0.4 + bump + levels[3 * k + seed]), n_images=20,
                                         image_sd=0.2, noise=0.01, train_angles=(theta,),
                                         trial_id=f"a{theta}_{seed}", seed=seed, rng_seed=7))
    return pd.concat(frames, ignore_index=True)


def test_the_table_tests_and_sizes_the_effect() -> None:
    tests, effects = train_angle_table(study(0.06), ["dice"], n_perm=999, n_boot=500)
    row = tests.iloc[0]
    assert row["dataset"] == "brats" and row["seeds_per_angle"] == "3/3/3"
    assert row["n_images"] == 20 and row["angles"] == "0°; 45°; 90°"
    assert row["p_train_angle"] < 0.01 and row["note"] == ""
    by = effects.set_index("theta")
    assert abs(by.loc["90", "diff"] - 0.06) < 0.015
    assert by.loc["90", "diff_ci_low"] > 0.02  # paired images: image SD 0.2 cancels
    assert by.loc["45", "diff_ci_low"] < 0.03 < by.loc["45", "diff_ci_high"]
    # the same trials without the trend
    tests, _ = train_angle_table(study(0.0), ["dice"], n_perm=999, n_boot=100)
    assert tests.iloc[0]["p_train_angle"] > 0.05


def test_the_table_of_a_three_trial_study_names_the_seeds_it_needs() -> None:
    frame = study(0.05)
    tests, effects = train_angle_table(frame[frame["seed"] == 0], ["dice"], n_boot=100)
    row = tests.iloc[0]
    assert np.isnan(row["p_train_angle"]) and row["seeds_per_angle"] == "1/1/1"
    assert row["note"].startswith("3 trials, 1 seed per train angle: at least 3 seeds")
    assert len(effects) == 3  # the θ means are still reported, with a CI over images


def test_the_effect_interval_covers_with_three_seeds() -> None:
    # 400 null designs (3 θ x 3 seeds, seed SD 0.01, 16 paired images): the t interval of
    # θ2 − θ0 covers 0 about 95 % of the time; the bootstrap of 3 seeds would not
    from analysis.train_angle import _bootstrap_differences, _interval, _pooled_sd

    rng = np.random.default_rng(5)
    covered, boot_covered = [], []
    for _ in range(400):
        image = rng.normal(0.3, 0.2, 16)
        blocks = [image[None] + rng.normal(0, 0.01, (3, 1)) + rng.normal(0, 0.02, (3, 16))
                  for _ in range(3)]
        boot = _bootstrap_differences(blocks, 400, rng)
        diffs = boot - boot[:, :1]
        low, high = _interval(blocks[0], blocks[2], diffs[:, 2], _pooled_sd(blocks), 6)
        covered.append(low < 0 < high)
        q = np.quantile(diffs[:, 2], [0.025, 0.975])
        boot_covered.append(q[0] < 0 < q[1])
    assert 0.92 <= np.mean(covered) <= 0.98
    assert np.mean(boot_covered) < 0.92  # 0.90 here: it under-covers


def test_the_task_description_with_theta_does_not_split_the_trials() -> None:
    # the saliency table's `pretraining` column names the task with its θ
    # ("moco_rotation θ=45°"): it varies with θ and must not be a group of its own
    frame = study(0.06)
    frame = frame.assign(pretraining=[f"moco_rotation θ={a[0]}°" for a in frame["train_angles"]])
    tests, _ = train_angle_table(frame, ["dice"], n_perm=199, n_boot=50)
    assert len(tests) == 1 and tests.iloc[0]["seeds_per_angle"] == "3/3/3"
