"""Per-angle curves: means and CIs per trial or condition (seeds pooled), Arrow means, smoothing on
the circle, extrema (seed 000's three datasets)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from analysis.curves import (
    angle_means,
    circular_distance,
    curve_groups,
    curve_table,
    find_extrema,
    observation_cube,
    smooth_circular,
)


def flat(level: float = 0.5) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: np.full_like(a, level)


def test_curve_means_match_a_plain_groupby(make_saliency: Callable[..., pd.DataFrame]) -> None:
    frame = pd.concat([make_saliency(lambda a: 0.5 + a / 1000, trial_id="a"),
                       make_saliency(lambda a: 0.2 + 0 * a, trial_id="b", train_angles=[0, 45])])
    table = curve_table(frame, ["dice", "auc"], n_boot=200)
    naive = frame.groupby(["trial_id", "eval_angle"])[["dice", "auc"]].mean()
    for row in table.itertuples():
        assert row.mean == pytest.approx(naive.loc[(row.trial_id, row.eval_angle), row.metric],
                                         rel=1e-6)
        assert row.ci_low <= row.mean <= row.ci_high
    assert set(table["train_angles"]) == {"90", "0,45"}
    assert (table["n_images"] == 30).all() and (table["n_seeds"] == 1).all()


def test_arrow_angle_means_match_pandas(make_saliency: Callable[..., pd.DataFrame]) -> None:
    frame = pd.concat([make_saliency(lambda a: a / 360, trial_id="a"),
                       make_saliency(lambda a: 1 - a / 360, trial_id="b")])
    frame.loc[frame.index[:5], "dice"] = np.nan  # skipped, and not counted
    table = pa.Table.from_pandas(frame.drop(columns=["train_angles"]), preserve_index=False)
    means = angle_means(table, ["dice", "auc"])
    ref = frame.groupby(["trial_id", "eval_angle"])[["dice", "auc"]].agg(["mean", "count"])
    got = means.set_index(["trial_id", "eval_angle"])
    assert np.allclose(got["dice"], ref[("dice", "mean")], atol=1e-6)
    assert (got["n_dice"].to_numpy() == ref[("dice", "count")].to_numpy()).all()
    assert got["n_dice"].min() == 29 and got["n_auc"].min() == 30


def test_seeds_that_disagree_widen_the_condition_ci(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    # Three seeds over the same 20 images; in the second study the seeds' levels differ.
    def study(offsets: list[float]) -> pd.DataFrame:
        return pd.concat([make_saliency(lambda a, o=o: 0.5 + o + 0 * a, trial_id=f"t{k}", seed=k,
                                        n_images=20, rng_seed=0)
                          for k, o in enumerate(offsets)])

    same = curve_table(study([0, 0, 0]), ["dice"], by="condition", n_boot=500)
    apart = curve_table(study([-0.1, 0, 0.1]), ["dice"], by="condition", n_boot=500)
    assert (same["n_seeds"] == 3).all() and len(same) == 24
    assert same["trial_id"].iloc[0] == "t0;t1;t2"
    width = lambda t: (t["ci_high"] - t["ci_low"]).mean()  # noqa: E731
    assert width(apart) > 3 * width(same)


def test_conditions_pool_seeds_but_not_other_settings(
        make_saliency: Callable[..., pd.DataFrame]) -> None:
    frame = pd.concat([
        make_saliency(flat(), trial_id="a", seed=0), make_saliency(flat(), trial_id="b", seed=1),
        make_saliency(flat(), trial_id="c", seed=0, train_angles=[45]),
        make_saliency(flat(), trial_id="d", seed=1, train_angles=[45]),
        make_saliency(flat(), trial_id="a", init="random_baseline")])
    meta, rows = curve_groups(frame, "condition")
    assert sorted(meta["trial_id"]) == ["a", "a;b", "c;d"]
    assert sum(len(r) for r in rows) == len(frame)
    # a searched hyper-parameter (from the trials table) splits a and b apart
    meta, _ = curve_groups(frame, "condition", condition_of={"a": "lr=0.1", "b": "lr=0.01",
                                                             "c": "x", "d": "x"})
    assert sorted(meta["trial_id"]) == ["a", "a", "b", "c;d"]
    trial_meta, _ = curve_groups(frame, "trial")
    assert len(trial_meta) == 5  # the baseline is its own curve within trial a


def test_observation_cube_places_every_value() -> None:
    frame = pd.DataFrame({"trial_id": ["s1", "s1", "s2"], "image_id": ["x", "y", "x"],
                          "eval_angle": [90, 0, 0], "dice": [0.1, 0.2, 0.3]})
    values, angles = observation_cube(frame, ["dice"])
    assert values.shape == (2, 2, 2, 1) and list(angles) == [0, 90]
    assert values[0, 0, 1, 0] == pytest.approx(0.1) and values[0, 1, 0, 0] == pytest.approx(0.2)
    assert values[1, 0, 0, 0] == pytest.approx(0.3) and np.isnan(values[1, 1, 0, 0])


def test_smoothing_wraps_around_the_circle() -> None:
    angles = np.arange(0, 360, 5.0)
    spike = np.where(angles == 355, 1.0, 0.0)
    out = smooth_circular(angles, spike, bandwidth=5.0)
    assert out[0] == pytest.approx(out[-2])  # 0° and 350° are both 5° from the spike
    assert out[0] > 0.1 and out[36] < 1e-10
    # a constant curve stays constant; NaN are skipped, not spread
    assert np.allclose(smooth_circular(angles, np.ones_like(angles)), 1.0)
    with_nan = np.where(angles == 90, np.nan, 1.0)
    assert np.allclose(smooth_circular(angles, with_nan), 1.0)


def four_fold_rows(phase: float, shape: str = "cos") -> tuple[np.ndarray, np.ndarray]:
    angles = np.arange(0, 360, 1.0)
    phi = (angles - phase) % 90.0
    if shape == "cos":
        return angles, np.cos(np.radians(4 * (angles - phase)))
    # seed 000's Lung: an asymmetric bump, rising to 66° + k·90°, falling to 90° + k·90°
    return angles, np.where(phi <= 66.0, phi / 66.0, (90.0 - phi) / 24.0)


@pytest.mark.parametrize(("name", "phase", "shape", "maxima", "minima"), [
    ("BraTS", 0.0, "cos", [0, 90, 180, 270], [45, 135, 225, 315]),
    ("Kvasir", 45.0, "cos", [45, 135, 225, 315], [0, 90, 180, 270]),
    ("Lung", 0.0, "bump", [66, 156, 246, 336], [0, 90, 180, 270]),
])
def test_extrema_of_seed_000s_curves(name: str, phase: float, shape: str, maxima: list[int],
                                     minima: list[int]) -> None:
    # Seed 000 reports (on a 0..359 plot, so 0° is left out there): BraTS max 90/180/270,
    # min 45/135/225/315; Lung max 66/156/246/336, min 90/180/270; Kvasir max 45/135/225/315,
    # min 90/180/270. With per-degree noise as in a 75-image mean:
    angles, curve = four_fold_rows(phase, shape)
    noisy = 0.6 + 0.015 * curve + np.random.default_rng(3).normal(0, 0.001, len(angles))
    found_max, found_min = find_extrema(angles, noisy)
    # a symmetric peak stays in place; the Lung's asymmetric one moves ≤ 0.6 σ = 3° (+ noise)
    tol = 1.0 if shape == "cos" else 4.0
    for found, truth in ((found_max, maxima), (found_min, minima)):
        assert len(found) == len(truth), (name, found)
        nearest = circular_distance(np.array(found)[:, None], np.array(truth)[None, :])
        assert nearest.min(axis=0).max() <= tol, (name, found)


def test_extrema_of_a_flat_or_short_curve_are_empty() -> None:
    assert find_extrema(np.arange(0, 360, 15.0), np.full(24, 0.3)) == ([], [])
    assert find_extrema(np.array([0.0, 90.0]), np.array([0.1, 0.2])) == ([], [])
