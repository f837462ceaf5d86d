"""Hypothesis (c): trained vs. random-init effect sizes against scipy and the formulas."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.stats import permutation_test, ttest_rel, wilcoxon

from analysis.effects import baseline_effects, cohen_dz, hedges_g, paired_effect, sign_flip_p


def test_cohen_dz_is_the_paired_t_over_root_n() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.5, 0.1, 25)
    b = a - 0.03 + rng.normal(0, 0.05, 25)
    t = ttest_rel(a, b).statistic
    assert cohen_dz(a - b) == pytest.approx(t / np.sqrt(25), rel=1e-12)


def test_hedges_g_formula() -> None:
    a, b = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 3.0, 4.0, 5.0, 6.0])
    pooled = np.sqrt((3 * np.var(a, ddof=1) + 4 * np.var(b, ddof=1)) / 7)
    assert hedges_g(a, b) == pytest.approx((2.5 - 4.0) / pooled * (1 - 3 / (4 * 9 - 9)))
    assert np.isnan(hedges_g(np.ones(3), np.ones(3)))


def test_exact_sign_flip_p_matches_scipys_paired_permutation_test() -> None:
    rng = np.random.default_rng(1)
    diff = rng.normal(0.2, 1.0, 12)
    ref = permutation_test((diff,), np.mean, permutation_type="samples", n_resamples=np.inf,
                           alternative="two-sided")
    assert sign_flip_p(diff) == pytest.approx(ref.pvalue, rel=1e-9)


def test_random_sign_flips_for_many_images_are_calibrated() -> None:
    rng = np.random.default_rng(2)
    p = np.array([sign_flip_p(rng.normal(0, 1, 40), n_flips=499, seed=i) for i in range(200)])
    assert 0.01 <= np.mean(p < 0.05) <= 0.10
    assert sign_flip_p(rng.normal(1.0, 1.0, 40)) < 0.001


def test_paired_effect_numbers() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.uniform(0.1, 0.3, 30)
    trained = baseline + 0.1 + rng.normal(0, 0.02, 30)
    out = paired_effect(trained, baseline)
    assert out["diff_mean"] == pytest.approx(np.mean(trained - baseline))
    assert out["diff_ci_low"] < 0.1 < out["diff_ci_high"]
    assert out["cohen_dz"] > 3 and out["p_sign_flip"] < 0.001
    assert out["p_wilcoxon"] == pytest.approx(wilcoxon(trained, baseline).pvalue)


def test_baseline_effects_pair_images_within_each_trial(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    def curve(level: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda a: np.full_like(a, level)

    frame = pd.concat([
        make_saliency(curve(0.5), trial_id="t1", rng_seed=1),
        make_saliency(curve(0.3), trial_id="t1", init="random_baseline", rng_seed=1),
        make_saliency(curve(0.4), trial_id="t2", rng_seed=2),  # no baseline: not in the table
    ])
    table = baseline_effects(frame, ["dice"])
    assert list(table["trial_id"]) == ["t1"]
    row = table.iloc[0]
    # the same images (same image effects, rng_seed=1) under both networks: a paired 0.2
    assert row["diff_mean"] == pytest.approx(0.2, abs=0.01)
    assert row["n_images"] == 30 and row["p_sign_flip"] < 0.001
    assert row["trained_mean"] == pytest.approx(frame[(frame.trial_id == "t1") & (
        frame.init == "random")]["dice"].mean(), rel=1e-6)
    assert baseline_effects(frame[frame.init == "random"]).empty


def test_baseline_pattern_table_tests_the_difference_curves(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    from result_tables import flat, four_fold

    from analysis.effects import baseline_pattern_table

    def pair(trained: Callable, baseline: Callable) -> pd.DataFrame:
        return pd.concat([make_saliency(trained, trial_id="t1", rng_seed=1, n_images=16),
                          make_saliency(baseline, trial_id="t1", rng_seed=2, n_images=16,
                                        init="random_baseline")])

    added = baseline_pattern_table(pair(four_fold(0.03), flat(0.6)), ["dice"], n_perm=499)
    row = added.iloc[0]
    assert row["p_vs_baseline"] < 0.01 and row["diff_period"] == 90.0
    assert row["diff_amplitude"] == pytest.approx(0.03, abs=0.01) and row["n_images"] == 16
    same = baseline_pattern_table(pair(four_fold(0.03), four_fold(0.03)), ["dice"], n_perm=499)
    assert same.iloc[0]["p_vs_baseline"] > 0.05
    assert baseline_pattern_table(make_saliency(four_fold(0.03)), ["dice"]).empty
