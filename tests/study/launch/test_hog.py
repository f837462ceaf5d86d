"""The driver's HoG-SVM job: content-addressed, computed once, reused by a second study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import study.launch.hog as hog
from rotsweep.tables import read_table
from trainables import hog_svm
from trainables.spec import parse_trial


def test_key_ignores_workers_but_not_settings(tiny: Any) -> None:
    base = parse_trial(tiny())
    assert hog.hog_key(parse_trial(tiny(hog={"n_jobs": 2}))) == hog.hog_key(base)
    assert hog.hog_key(parse_trial(tiny(hog={"pixels_per_cell": 16}))) != hog.hog_key(base)
    assert hog.hog_key(parse_trial(tiny(saliency={"eval_angles": [0, 90]}))) != \
        hog.hog_key(base)
    # pre-training and evaluation-only settings do not change the data's curve
    assert hog.hog_key(parse_trial(tiny(train={"epochs": 2}, seed=3))) == hog.hog_key(base)


def test_job_is_computed_once_and_reused(tiny: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    job = tiny(saliency={"eval_angles": [0, 45, 90]})
    paths = {"results_root": str(tmp_path / "a"), "cache_root": str(tmp_path / "cache")}
    assert hog.run_hog_job(job, "study_a", paths) == 3
    first = read_table(tmp_path / "a", "hog_svm")
    assert sorted(first["eval_angle"]) == [0, 45, 90] and set(first["study"]) == {"study_a"}

    def fail(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the cached curve was recomputed")

    monkeypatch.setattr(hog_svm, "hog_svm_curve", fail)  # run_hog_job imports it per call
    paths_b = {**paths, "results_root": str(tmp_path / "b")}
    assert hog.run_hog_job(job, "study_b", paths_b) == 3
    second = read_table(tmp_path / "b", "hog_svm")
    cols = ["eval_angle", "accuracy", "best_c", "best_gamma"]
    assert second.sort_values("eval_angle")[cols].reset_index(drop=True).equals(
        first.sort_values("eval_angle")[cols].reset_index(drop=True))

    # rows cached before schema 3 name the angle ``angle``: they are reused, as ``eval_angle``
    cached = next((tmp_path / "cache" / "hog_svm").glob("*.parquet"))
    old = pd.read_parquet(cached).rename(columns={"eval_angle": "angle"})
    old.to_parquet(cached, index=False)
    paths_c = {**paths, "results_root": str(tmp_path / "c")}
    assert hog.run_hog_job(job, "study_c", paths_c) == 3
    third = read_table(tmp_path / "c", "hog_svm")
    assert sorted(third["eval_angle"]) == [0, 45, 90] and "angle" not in third
