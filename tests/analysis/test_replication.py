"""Known answers of the replication test (analysis/replication.py): the seed is the unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
from result_tables import four_fold, saliency_frame

from analysis.replication import replication_table, replication_test

GRID = np.radians(np.arange(0, 360, 15))


def smooth(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    # (n, 24) random-phase curves with harmonics 1..6 falling as 1/k
    k = np.arange(1, 7)
    amp = rng.rayleigh(1.0, (n, 6)) * sd / k
    phase = rng.uniform(0, 2 * np.pi, (n, 6))
    return np.einsum("nk,nka->na", amp, np.cos(k[None, :, None] * GRID + phase[:, :, None]))


def study(rng: np.random.Generator, seeds: int = 3, images: int = 20, shared: float = 0.0,
          own: float = 0.0, image_shape: float = 0.03) -> np.ndarray:
    """(S, N, 24): image levels and smooth shapes shared by the seeds, white noise, a 4-fold
    pattern common to the seeds (``shared``) and one per seed in a random phase (``own``)."""
    image = rng.normal(0.3, 0.1, (images, 1)) + smooth(rng, images, image_shape)
    phase = rng.uniform(0, 2 * np.pi, (seeds, 1, 1))
    return (image[None] + shared * np.cos(4 * GRID) + own * np.cos(4 * GRID + phase)
            + rng.normal(0, 0.02, (seeds, images, len(GRID))))


def test_a_pattern_shared_by_the_seeds_replicates() -> None:
    rng = np.random.default_rng(0)
    result = replication_test(study(rng, seeds=4, shared=0.03))
    assert result.p_value < 0.01
    assert result.r_mean > 0.5
    assert result.n_seeds == 4 and result.n_images == 5  # 20 images split four ways
    assert result.n_shifts == 24 ** 3  # every relative shift enumerated


def test_patterns_of_their_own_do_not_replicate() -> None:
    # issue 19: each seed a random-phase 0.02 pattern; the pooled test fires, this one must
    # not: its p is uniform-ish
    rng = np.random.default_rng(1)
    p = np.array([replication_test(study(rng, own=0.03), seed=k).p_value for k in range(200)])
    assert np.mean(p < 0.05) <= 0.09
    assert 0.4 < p.mean() < 0.6
    assert 0.15 < np.mean(p < 0.25) < 0.35


def test_images_shared_by_the_seeds_do_not_make_a_replication() -> None:
    # large image shapes that every seed sees: without the image split the seeds' curves
    # correlate through the images, and shifting seeds rejects most of the time
    rng = np.random.default_rng(2)
    split, whole = [], []
    for k in range(150):
        cube = study(rng, image_shape=0.08)
        split.append(replication_test(cube, seed=k).p_value)
        means = np.repeat(cube.mean(axis=1, keepdims=True), 3, axis=1)  # every seed, all images
        whole.append(replication_test(means, seed=k).p_value)
    assert np.mean(np.array(split) < 0.05) <= 0.1
    assert np.mean(np.array(whole) < 0.05) > 0.3


def test_no_test_without_two_seeds_or_enough_images() -> None:
    rng = np.random.default_rng(3)
    one = replication_test(study(rng, seeds=1))
    assert np.isnan(one.p_value) and "one seed" in one.note
    few = replication_test(study(rng, seeds=3, images=2))
    assert np.isnan(few.p_value) and "2 images for 3 seeds" in few.note


def test_the_table_tests_each_condition_with_seeds() -> None:
    frames = [saliency_frame(four_fold(0.05), trial_id=f"t{s}", seed=s, rng_seed=s, n_images=24)
              for s in range(3)]
    frames.append(saliency_frame(four_fold(0.05), trial_id="u0", seed=0, dataset="kvasir_seg"))
    table = replication_table(pd.concat(frames), ["dice"], n_perm=99)
    assert len(table) == 1  # kvasir_seg has one seed: no row
    row = table.iloc[0]
    assert row["dataset"] == "brats" and row["n_seeds"] == 3 and row["n_images_per_seed"] == 8
    assert row["p_replication"] < 0.05 and row["r_mean"] > 0.8
