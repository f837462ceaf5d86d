"""The study's search: validation of ``search``/``resources``, the grid × Optuna searcher, ASHA,
and the metric vocabulary (no Ray cluster needed)."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from ray import tune

from study.config.load import load_study
from study.launch.search import (
    GridOptunaSearch,
    build_scheduler,
    build_searcher,
    build_tune_config,
    param_space_axes,
)
from study.metrics import EPOCH_METRICS, FINAL_METRICS, final_metric_names
from trainables.config import ConfigError
from trainables.train import EpochMetrics
from trainables.trial import summarize


def study_file(tmp_path: Path, tiny: Any, **keys: Any) -> Path:
    """A study file: the tiny trial plus study keys."""
    trial = {k: v for k, v in tiny().items() if k != "study"}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s", **trial, **keys}))
    return path


def problems(tmp_path: Path, tiny: Any, **keys: Any) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_study(study_file(tmp_path, tiny, **keys))
    return err.value.problems


LR = {"train.lr": {"kind": "loguniform", "low": 1e-4, "high": 1e-1}}


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(("keys", "expected"), [
    ({"search": {"metric": "dice"}}, "search.metric: 'dice' is not in a trial's final result"),
    ({"search": {"algorithm": "optuna", "params": LR, "metric": ["dice_mean", "auc_mean"],
                 "mode": ["max"]}}, "search.mode: 1 modes for 2 metrics"),
    ({"search": {"metric": ["dice_mean", "auc_mean"], "mode": ["max", "max"]}},
     "several metrics (multi-objective) need search.algorithm: optuna"),
    ({"search": {"algorithm": "optuna"}}, "optuna needs search.params"),
    ({"search": {"num_samples": 3}}, "put seeds on an axis instead"),
    ({"axes": {"train.lr": [0.1, 0.01]}, "search": {"algorithm": "optuna", "params": LR}},
     "search.params.train.lr: is also an axis"),
    ({"search": {"scheduler": "asha", "scheduler_metric": "dice_mean"}},
     "search.scheduler_metric: 'dice_mean' is not reported every epoch"),
    ({"search": {"scheduler": "asha", "grace_period": 3}, "train": {"epochs": 3}},
     "search.grace_period: 3 epochs; no trial runs more than 3"),
    ({"resources": {"gpu": 1.5}}, "resources.gpu: 1.5; Ray shares a GPU only in fractions"),
    ({"resources": {"cpu": 0}}, "resources.cpu: 0"),
    ({"search": {"algorithm": "optuna", "params": {"train.epochs": {
        "kind": "randint", "low": 1.5, "high": 4}}}}, "randint' needs whole numbers"),
])
def test_bad_search_is_one_clear_error(tmp_path: Path, tiny: Any, keys: dict[str, Any],
                                       expected: str) -> None:
    found = problems(tmp_path, tiny, **keys)
    assert any(expected in p for p in found), found


def test_grace_period_counts_the_longest_trial_of_any_axis(tmp_path: Path, tiny: Any) -> None:
    study = load_study(study_file(tmp_path, tiny, axes={"train.epochs": [2, 6]},
                                  search={"scheduler": "asha", "grace_period": 3}))
    asha = build_scheduler(study)
    assert asha._max_t == 5 and not asha._stop_last_trials  # no rung at the last epoch
    assert [milestone for milestone, _ in asha._brackets[0]._rungs] == [3]  # 3·2 > 5


def test_baseline_metrics_need_the_baseline(tmp_path: Path, tiny: Any) -> None:
    assert any("random_baseline_dice_mean" in p for p in problems(
        tmp_path, tiny, search={"metric": "random_baseline_dice_mean"}))
    path = study_file(tmp_path, tiny, search={"metric": "random_baseline_dice_mean"},
                      saliency={"n_samples": 2, "eval_angles": [0, 90],
                                "random_init_baseline": True})
    assert load_study(path).keys.search.metrics == ("random_baseline_dice_mean",)


# -- the vocabulary is what trials report ----------------------------------------------------------
def test_epoch_metrics_are_the_epoch_record() -> None:
    assert ("epoch", *EPOCH_METRICS) == tuple(f.name for f in dataclasses.fields(EpochMetrics))


def test_final_metrics_are_what_a_trial_summarizes() -> None:
    rows = [{"dice": 0.5, "soft_dice": 0.4, "auc": 0.7, "mass_in_mask": 0.3, "iou": 0.2}]
    history = [{"epoch": 1, "loss": 2.0, "pretext_accuracy": 0.5, "lr": 0.1}]
    assert set(summarize(rows, history)) == set(FINAL_METRICS)
    assert "random_baseline_dice_mean" in final_metric_names(with_baseline=True)


# -- the grid × Optuna searcher ------------------------------------------------------------------
def optuna_study(tmp_path: Path, tiny: Any, samples: int = 3, **search: Any) -> Any:
    return load_study(study_file(
        tmp_path, tiny, axes={"seed": [0, 1], "pretext.params.angles": [[0], [90]]},
        train={"epochs": 3, "batch_size": 16},
        search={"algorithm": "optuna", "num_samples": samples, "metric": "dice_mean",
                "params": {**LR, "pretext.params.temperature": {"kind": "uniform", "low": 0.05,
                                                         "high": 0.5},
                           "saliency.eval_angles": {"kind": "choice",
                                                    "values": [[0, 90], [0, 45, 90]]}},
                **search}))


def test_every_grid_point_gets_num_samples_trials_then_finished(tmp_path: Path,
                                                                tiny: Any) -> None:
    study = optuna_study(tmp_path, tiny, samples=3)
    searcher = build_searcher(study)
    suggestions = [searcher.suggest(f"t{i}") for i in range(12)]
    assert searcher.suggest("t12") == "FINISHED"
    points = Counter((s["axes"]["seed"], tuple(s["axes"]["pretext.params.angles"]))
                     for s in suggestions)
    assert points == {(0, (0,)): 3, (0, (90,)): 3, (1, (0,)): 3, (1, (90,)): 3}
    for s in suggestions:
        axes = s["axes"]
        assert 1e-4 <= axes["train.lr"] <= 1e-1
        assert 0.05 <= axes["pretext.params.temperature"] <= 0.5
        assert axes["saliency.eval_angles"] in ([0, 90], [0, 45, 90])  # list choices decoded
        study.trial(axes)  # every suggestion is a valid trial
    assert study.n_trials() == 12


def test_param_space_and_tune_config(tmp_path: Path, tiny: Any) -> None:
    study = optuna_study(tmp_path, tiny, samples=2, scheduler="asha", grace_period=1)
    assert study.base.train.epochs == 3
    cfg = build_tune_config(study)
    assert cfg.num_samples == 8 and isinstance(cfg.search_alg, GridOptunaSearch)
    assert cfg.metric is None and cfg.reuse_actors
    assert cfg.scheduler._metric == "loss" and cfg.scheduler._mode == "min"
    assert cfg.scheduler._time_attr == "epoch" and not cfg.scheduler._stop_last_trials
    assert param_space_axes(study) == {}
    grid = load_study(study_file(tmp_path, tiny, axes={"seed": [0, 1]}, max_concurrent=2))
    assert param_space_axes(grid) == {"seed": tune.grid_search([0, 1])}
    assert build_tune_config(grid).max_concurrent_trials == 2
    assert build_tune_config(grid).search_alg is None


def test_per_epoch_results_do_not_reach_optuna(tmp_path: Path, tiny: Any) -> None:
    """OptunaSearch would index a per-epoch result by the final metric (KeyError)."""
    searcher = build_searcher(optuna_study(tmp_path, tiny, samples=1))
    searcher.suggest("a")
    searcher.on_trial_result("a", {"epoch": 1, "loss": 2.0, "training_iteration": 1})


def states(searcher: GridOptunaSearch) -> list[optuna.trial.TrialState]:
    return [t.state for s in searcher.searchers for t in s._ot_study.trials]


def test_stopped_and_failed_trials_are_pruned_and_failed_in_optuna(tmp_path: Path,
                                                                    tiny: Any) -> None:
    searcher = build_searcher(optuna_study(tmp_path, tiny, samples=1))
    for tid in "abcd":
        searcher.suggest(tid)
    searcher.on_trial_complete("a", {"dice_mean": 0.4, "done": True})
    searcher.on_trial_complete("b", {"epoch": 1, "loss": 2.0})  # stopped early by ASHA
    searcher.on_trial_complete("c", None, error=True)
    assert sorted(states(searcher), key=str) == sorted(
        [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
         optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING], key=str)


def test_tpe_moves_towards_the_optimum(tmp_path: Path, tiny: Any) -> None:
    """One grid point, sequential trials, lr in [1e-6, 1] log-uniform, dice_mean =
    -(log10 lr + 5)². Uniform sampling is on average 13/6 decades from the optimum
    ((1² + 5²) / 2 / 6); once TPE has results its suggestions are within half of that."""
    path = study_file(tmp_path, tiny, search={"algorithm": "optuna", "num_samples": 40, "params": {
        "train.lr": {"kind": "loguniform", "low": 1e-6, "high": 1.0}}})
    searcher = build_searcher(load_study(path))
    distance = []
    for i in range(40):
        lr = searcher.suggest(f"t{i}")["axes"]["train.lr"]
        distance.append(abs(math.log10(lr) + 5))
        searcher.on_trial_complete(f"t{i}", {"dice_mean": -distance[-1] ** 2})
    assert sum(distance[-10:]) / 10 < 0.5 * 13 / 6


def test_searcher_state_round_trips(tmp_path: Path, tiny: Any) -> None:
    """What Tune saves with the experiment brings the searcher back where it was."""
    study = optuna_study(tmp_path, tiny, samples=3)
    first, second = build_searcher(study), build_searcher(study)
    for i in range(5):
        first.suggest(f"t{i}")
        first.on_trial_complete(f"t{i}", {"dice_mean": 0.1 * i})
    first.suggest("open")
    ckpt = tmp_path / "searcher.pkl"
    first.save(str(ckpt))
    second.restore(str(ckpt))
    assert second.issued == 6 and second.owner == {"open": 1}
    assert [len(s._ot_study.trials) for s in second.searchers] == [2, 2, 1, 1]
    second.on_trial_complete("open", {"dice_mean": 1.0})
    rest = [second.suggest(f"r{i}") for i in range(6)]
    assert all(isinstance(r, dict) for r in rest) and second.suggest("x") == "FINISHED"


def test_multi_objective_search(tmp_path: Path, tiny: Any) -> None:
    study = optuna_study(tmp_path, tiny, samples=2, metric=["dice_mean", "final_loss"],
                         mode=["max", "min"])
    searcher = build_searcher(study)
    assert searcher.metric == ["dice_mean", "final_loss"]
    for i in range(8):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", {"dice_mean": 0.1 * i, "final_loss": 1.0 / (i + 1)})
    ot = searcher.searchers[0]._ot_study
    assert [d.name for d in ot.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert len(ot.best_trials) >= 1 and all(len(t.values) == 2 for t in ot.best_trials)
