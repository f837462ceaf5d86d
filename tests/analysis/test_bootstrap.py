"""Bootstrap CIs: resampling counts against an explicit loop, two-level weights, quantiles,
and coverage of the true mean at about the nominal rate."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.bootstrap import (
    bootstrap_means,
    expanded_alpha,
    mean_ci,
    resample_counts,
    tail_quantiles,
)


def test_bootstrap_means_equal_an_explicit_resampling_loop() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(1, 12, 5))
    values[0, 3, 2] = np.nan  # a missing cell is left out of its mean
    counts = resample_counts(12, 50, np.random.default_rng(7))
    assert (counts.sum(axis=1) == 12).all() and counts.min() >= 0
    reps = bootstrap_means(values, counts)
    for b in range(50):
        idx = np.repeat(np.arange(12), counts[b].astype(int))
        assert np.allclose(reps[b], np.nanmean(values[0, idx], axis=0), atol=1e-6,
                           equal_nan=True)


def test_two_level_bootstrap_weights_seeds_and_images() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(3, 8, 4))
    images, seeds = resample_counts(8, 20, rng), resample_counts(3, 20, rng)
    reps = bootstrap_means(values, images, seeds)
    for b in range(20):
        w = seeds[b][:, None] * images[b][None, :]  # S x N: seed count x image count
        expected = (w[:, :, None] * values).sum((0, 1)) / w.sum()
        assert np.allclose(reps[b], expected, atol=1e-5)
    with pytest.raises(ValueError, match="seed counts"):
        bootstrap_means(values, images)


@pytest.mark.parametrize("alpha", [0.025, 0.0139, 0.3])
def test_tail_quantiles_equal_numpys(alpha: float) -> None:
    reps = np.random.default_rng(3).normal(size=(1000, 7))
    low, high = tail_quantiles(reps, alpha)
    ref = np.quantile(reps, [alpha, 1 - alpha], axis=0)
    assert np.allclose(low, ref[0]) and np.allclose(high, ref[1])


def test_resample_counts_are_multinomial() -> None:
    counts = resample_counts(10, 20000, np.random.default_rng(2))
    assert counts.mean() == pytest.approx(1.0)
    assert counts.var(axis=0).mean() == pytest.approx(0.9, abs=0.02)  # n p (1 - p)


def test_ci_covers_the_true_mean_at_about_the_nominal_rate() -> None:
    # 400 simulated datasets of 30 images (skewed, like Dice): the 95 % CI should cover the
    # true mean 95 % of the time (binomial sd ≈ 1.1 %).
    rng = np.random.default_rng(1)
    true = 2.0 / (2.0 + 5.0)
    hits = 0
    for _ in range(400):
        x = rng.beta(2.0, 5.0, size=(1, 30, 1))
        _, low, high = mean_ci(x, n_boot=1000, rng=rng)
        hits += int(low[0] <= true <= high[0])
    assert 0.92 <= hits / 400 <= 0.98


def test_expanded_percentile_widens_small_samples_only() -> None:
    assert expanded_alpha(0.95, 1) == pytest.approx(0.025)
    assert expanded_alpha(0.95, 10) < expanded_alpha(0.95, 100) < 0.025
    assert expanded_alpha(0.95, 10_000) == pytest.approx(0.025, abs=2e-4)
