"""Curve labels name what differs (analysis/labels.py): curves are numbered only when two of
one dataset would read alike, never because another dataset has the same θ."""

from __future__ import annotations

import pandas as pd

from analysis.labels import curve_labels


def test_one_curve_per_dataset_and_theta_is_not_numbered() -> None:
    meta = pd.DataFrame({"dataset": ["brats", "kvasir_seg", "brats"],
                         "train_angles": ["0", "0", "90"], "trial_id": ["t1", "t2", "t3"]})
    assert list(curve_labels(meta)) == ["θ = 0°", "θ = 0°", "θ = 90°"]


def test_two_trials_alike_within_a_dataset_are_numbered() -> None:
    meta = pd.DataFrame({"dataset": ["brats", "brats", "kvasir_seg"],
                         "train_angles": ["0", "0", "0"], "trial_id": ["t1", "t2", "t3"]})
    assert list(curve_labels(meta)) == ["θ = 0° (curve 1)", "θ = 0° (curve 2)", "θ = 0°"]
