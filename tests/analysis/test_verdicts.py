"""Verdicts on hand-built studies with known answers: a real trained pattern is a finding; the
same pattern on a near-zero metric, or equally in the untrained network, is not; a control with
a pattern flags the metric; degenerate points are left out and counted."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from result_tables import flat, four_fold

from analysis.controls import control_figure, control_kinds, hog_chance_bound, hog_control_rows
from analysis.curves import curve_table
from analysis.degenerate import degenerate_rows, mask_degenerate
from analysis.peaks import peak_table
from analysis.verdicts import holm, study_verdicts

GRID = np.arange(0, 360, 15)


def study(make: Callable[..., pd.DataFrame], *, trained: Callable, baseline: Callable | None,
          control: Callable | None, n_images: int = 20, noise: float = 0.02, seed: int = 0
          ) -> pd.DataFrame:
    parts = [make(trained, trial_id="t1", dataset="brats", n_images=n_images, noise=noise,
                  rng_seed=1 + seed, metrics=("dice",))]
    if baseline is not None:
        parts.append(make(baseline, trial_id="t1", dataset="brats", init="random_baseline",
                          n_images=n_images, noise=noise, rng_seed=2 + seed,
                          metrics=("dice",)))
    if control is not None:
        for init, rng in (("random", 3), ("random_baseline", 4)):
            parts.append(make(control, trial_id="c1", dataset="noise", init=init,
                              n_images=n_images, noise=noise, rng_seed=rng + seed,
                              metrics=("dice",)))
    return pd.concat(parts, ignore_index=True)


def judge(frame: pd.DataFrame, **kw: object) -> pd.Series:
    per = peak_table(frame, metrics=["dice"], n_perm=499)
    curves = curve_table(frame, ["dice"], n_boot=50)
    v = study_verdicts(frame, per, curves, n_perm=499, **kw)
    assert len(v.table) == 1  # the control is judged as a control, not as a finding
    return v.table.iloc[0], v


def test_a_trained_90_degree_pattern_is_a_finding(make_saliency: Callable) -> None:
    frame = study(make_saliency, trained=four_fold(0.03), baseline=flat(0.6), control=flat(0.5))
    row, v = judge(frame)
    assert row["verdict"] == "finding", row["reasons"]
    assert row["period"] == 90.0 and row["p_holm"] < 0.01 and row["baseline"] == "beyond"
    assert row["amplitude"] == pytest.approx(0.03, abs=0.01)
    assert v.broken_metrics == () and bool(v.controls["at_chance"].all())
    assert "**finding**" in v.markdown()


def test_the_same_pattern_on_a_near_zero_metric_is_cautioned(make_saliency: Callable) -> None:
    # issue 11's BraTS Dice of 0.003: significant, and meaningless
    frame = study(make_saliency, trained=four_fold(0.002, level=0.003), baseline=flat(0.003),
                  control=flat(0.003), noise=0.001)
    frame["dice"] = frame["dice"].clip(lower=0)
    row, _ = judge(frame)
    assert row["p_holm"] < 0.05
    assert row["verdict"] == "not a finding" and "near chance" in row["reasons"]


def test_a_pattern_equal_in_the_baseline_is_not_called_trained(make_saliency: Callable) -> None:
    frame = study(make_saliency, trained=four_fold(0.03), baseline=four_fold(0.03),
                  control=flat(0.5))
    row, v = judge(frame)
    assert row["p_holm"] < 0.01 and row["baseline"] == "same"
    assert row["verdict"] == "not a finding" and "random-init" in row["reasons"]
    assert v.baseline_patterns.iloc[0]["p_vs_baseline"] > 0.05


def test_a_control_with_a_pattern_flags_the_metric(make_saliency: Callable) -> None:
    frame = study(make_saliency, trained=four_fold(0.03), baseline=flat(0.6),
                  control=four_fold(0.03, level=0.5))
    row, v = judge(frame)
    assert v.broken_metrics == ("dice",)
    assert row["verdict"] == "not a finding" and "broken" in row["reasons"]
    assert "broken for this study" in " ".join(v.lines())


def test_without_baseline_or_control_a_pattern_is_unconfirmed(make_saliency: Callable) -> None:
    frame = study(make_saliency, trained=four_fold(0.03), baseline=None, control=None)
    row, _ = judge(frame)
    assert row["verdict"] == "unconfirmed"
    assert "no baseline: cannot rule out an untrained-network pattern" in row["reasons"]
    assert "no negative control" in row["reasons"]


def test_no_pattern_is_no_pattern(make_saliency: Callable) -> None:
    frame = study(make_saliency, trained=flat(0.6), baseline=flat(0.6), control=flat(0.5),
                  seed=10)
    row, _ = judge(frame)
    assert row["verdict"] == "no pattern" and row["reasons"] == ""


def test_holm_matches_the_step_down_by_hand() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2])
    # sorted 0.01, 0.03, 0.04, 0.2 with m = 4: 0.04, 0.09, 0.09 (monotone), 0.2
    assert holm(p) == pytest.approx([0.04, 0.09, np.nan, 0.09, 0.2], nan_ok=True)


def test_controls_are_known_from_configs_then_labels() -> None:
    import json

    trials = pd.DataFrame({"dataset": ["noise", "shapes", "kv"], "config_json": [
        json.dumps({"data": {"name": "synthetic", "params": {"kind": "noise"}}}),
        json.dumps({"data": {"name": "synthetic", "params": {"kind": "discs"}}}),
        json.dumps({"data": {"name": "kvasir_seg", "params": {}}})]})
    found = control_kinds(["noise", "shapes", "kv", "discs_64", "brats"], trials)
    assert found == {"noise": "noise", "shapes": "discs", "discs_64": "discs"}
    assert control_kinds(["noise"], trials.assign(config_json=json.dumps(
        {"data": {"name": "image_folder_masks"}}))) == {}


def test_hog_chance_band_and_a_control_above_it() -> None:
    # 0.5 + z(1 - 0.05/24) · 1.4 · 0.5/√128 = 0.5 + 2.865 · 0.0619
    assert hog_chance_bound(64, 24) == pytest.approx(0.677, abs=0.002)
    assert hog_chance_bound(32, 23) == pytest.approx(0.750, abs=0.002)
    hog = pd.DataFrame({"dataset": "noise", "eval_angle": GRID, "n_images": 64,
                        "accuracy": np.where(GRID == 45, 0.95, 0.5)})
    rows = hog_control_rows(hog, {"noise": "noise"})
    assert not rows.iloc[0]["at_chance"] and rows.iloc[0]["at_angle"] == 45
    rows = hog_control_rows(hog.assign(accuracy=0.55), {"noise": "noise"})
    assert rows.iloc[0]["at_chance"]


def test_degenerate_rows_are_marked_or_inferred_and_masked(make_saliency: Callable) -> None:
    frame = make_saliency(four_fold(0.03), n_images=4)  # target pair_similarity
    at_zero = (frame["eval_angle"] == 0).to_numpy()
    assert (degenerate_rows(frame) == at_zero).all()  # no column: the rule
    marked = frame.assign(degenerate=pd.array([None] * len(frame), dtype="boolean"))
    marked.loc[frame["eval_angle"] == 90, "degenerate"] = True
    marked.loc[frame["eval_angle"] == 0, "degenerate"] = False  # explicit beats the rule
    assert (degenerate_rows(marked) == (frame["eval_angle"] == 90).to_numpy()).all()
    masked, n = mask_degenerate(frame)
    assert n == 4 and masked.loc[at_zero, "dice"].isna().all()
    assert masked.loc[~at_zero, "dice"].notna().all() and frame["dice"].notna().all()
    assert mask_degenerate(frame.assign(target="rotation_logit"))[1] == 0


def test_control_figure_has_a_panel_per_dataset_and_condition(make_saliency: Callable) -> None:
    frame = study(make_saliency, trained=four_fold(0.03), baseline=flat(0.6), control=flat(0.5))
    fig = control_figure(curve_table(frame, ["dice"], n_boot=20), "dice", {"noise": "noise"})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(fig.axes) == 1 and labels[0] == "trained"
    assert "random init (untrained)" in labels and "control: noise (noise)" in labels
    assert control_figure(curve_table(frame, ["dice"], n_boot=20), "auc", {}) is None
