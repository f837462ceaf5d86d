"""Spearman's ρ of two curves: equal to scipy's, per shift too; the circular-shift p."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from analysis.correlation import circular_shift_ranks, circular_spearman, pearson_rows

GRID = np.arange(0, 360, 15)


def test_rho_and_naive_p_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=24)
    y = np.round(x + rng.normal(size=24), 0)  # many ties
    c = circular_spearman(GRID, x, y)
    ref = spearmanr(x, y)
    assert c.rho == pytest.approx(ref.statistic, abs=1e-12)
    assert c.p_naive == pytest.approx(ref.pvalue, rel=1e-9)


def test_pearson_rows_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=30), rng.normal(size=(4, 30))
    for row, r in zip(y, pearson_rows(x, y), strict=True):
        assert r == pytest.approx(pearsonr(x, row).statistic, abs=1e-12)


def test_every_shift_is_scipys_rho_with_the_rolled_curve() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=24), rng.normal(size=24)
    from scipy.stats import rankdata

    null = circular_shift_ranks(rankdata(x), rankdata(y))
    for s in range(24):
        assert null[s] == pytest.approx(spearmanr(x, np.roll(y, s)).statistic, abs=1e-12)


def test_angles_are_sorted_before_correlating() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=24), rng.normal(size=24)
    order = rng.permutation(24)
    a, b = circular_spearman(GRID, x, y), circular_spearman(GRID[order], x[order], y[order])
    assert (a.rho, a.p_shift) == pytest.approx((b.rho, b.p_shift))


def test_aligned_curves_have_the_smallest_shift_p_and_shifted_ones_do_not() -> None:
    theta = np.radians(np.arange(0, 360, 5))
    x = np.cos(theta) + 0.5 * np.cos(2 * theta)
    c = circular_spearman(np.arange(0, 360, 5), x, 2 * x)  # (× 2 is exact: ties kept)
    assert c.rho == pytest.approx(1.0) and c.p_shift == pytest.approx(1 / 72)
    # a 4-fold curve matches itself at four shifts: p cannot go below 4/A
    four = np.tile(np.random.default_rng(5).normal(size=18), 4)  # exactly 90°-periodic
    assert circular_spearman(np.arange(0, 360, 5), four, four).p_shift == pytest.approx(4 / 72)


def test_shift_p_is_calibrated_for_independent_autocorrelated_curves() -> None:
    # smooth random curves (autocorrelated): label-permutation p (scipy's, "naive") rejects far
    # too often; the shift p keeps its level.
    rng = np.random.default_rng(4)
    theta = np.radians(np.arange(0, 360, 5))

    def smooth() -> np.ndarray:
        k = np.arange(1, 4)[:, None]
        return (rng.normal(size=(3, 1)) * np.cos(k * theta + rng.uniform(0, 6.3, (3, 1)))).sum(0)

    res = [circular_spearman(np.arange(0, 360, 5), smooth(), smooth()) for _ in range(300)]
    assert np.mean([r.p_shift < 0.05 for r in res]) <= 0.09
    assert np.mean([r.p_naive < 0.05 for r in res]) >= 0.4


def test_partial_grid_constant_curves_and_bad_input() -> None:
    c = circular_spearman(np.array([0, 45, 90, 135]), np.arange(4.0), np.arange(4.0))
    assert c.rho == pytest.approx(1.0) and np.isnan(c.p_shift)
    assert np.isnan(circular_spearman(GRID, np.ones(24), np.arange(24.0)).rho)
    with pytest.raises(ValueError, match="equal-length"):
        circular_spearman(GRID, np.ones(3), np.ones(24))
    with pytest.raises(ValueError, match="NaN"):
        circular_spearman(np.array([0, 45, 90, 135]), np.array([1, np.nan, 2, 3]), np.ones(4))
    assert np.isnan(circular_spearman(GRID, np.full(24, np.nan), np.ones(24)).rho)


def test_a_gap_rides_with_its_curve() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=24), rng.normal(size=24)
    x[0] = np.nan  # e.g. a degenerate 0° point
    c = circular_spearman(GRID, x, y)
    assert c.n_angles == 23
    assert c.rho == pytest.approx(spearmanr(x[1:], y[1:]).statistic)
    rolled = [spearmanr(np.delete(x, 0), np.delete(np.roll(y, s), 0)).statistic
              for s in range(24)]
    assert c.p_shift == pytest.approx(np.mean(np.abs(rolled) >= abs(c.rho) * (1 - 1e-9)))


def test_the_gapped_shift_p_keeps_its_level() -> None:
    rng = np.random.default_rng(9)
    theta = np.radians(GRID)

    def smooth() -> np.ndarray:
        k = np.arange(1, 4)[:, None]
        return (rng.normal(size=(3, 1)) * np.cos(k * theta + rng.uniform(0, 6.3, (3, 1)))).sum(0)

    fixed = 0.7 + 0.2 * np.cos(theta - 1.0)
    fixed[0] = np.nan  # a fixed curve with a point fixed by construction, left out
    p = [circular_spearman(GRID, smooth(), fixed).p_shift for _ in range(300)]
    assert np.mean(np.array(p) < 0.05) <= 0.08
