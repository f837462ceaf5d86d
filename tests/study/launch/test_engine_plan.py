"""The study's plan (study/launch/plan.py): stable trial ids, what a launch still has to run,
bounded batches, and an Optuna search rebuilt from the trial book that covers every grid point
exactly ``num_samples`` times across launches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from study.config.load import load_study
from study.folder.book import TrialBook
from study.launch.plan import Planned, PlanSearch, batches, pending, plan_ids, study_search


def study_file(tmp_path: Path, tiny: Any, name: str = "s", **keys: Any) -> Any:
    trial = {k: v for k, v in tiny().items() if k != "study"}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, **trial, **keys}))
    return load_study(path)


def optuna_study(tmp_path: Path, tiny: Any, samples: int = 3) -> Any:
    return study_file(tmp_path, tiny, axes={"seed": [0, 1]}, search={
        "algorithm": "optuna", "num_samples": samples, "metric": "dice_mean",
        "params": {"train.lr": {"kind": "loguniform", "low": 1e-4, "high": 1e-1},
                   "saliency.eval_angles": {"kind": "choice",
                                            "values": [[0, 90], [0, 45, 90]]}}})


def test_ids_are_stable_distinct_and_ordered(tmp_path: Path, tiny: Any) -> None:
    a = study_file(tmp_path, tiny, "a", axes={"seed": [0, 1, 2]})
    again = study_file(tmp_path, tiny, "a", axes={"seed": [0, 1, 2]})
    b = study_file(tmp_path, tiny, "b", axes={"seed": [0, 1, 2]})
    ids = plan_ids(a)
    assert ids == plan_ids(again) and len(set(ids)) == 3 and ids == sorted(ids)
    assert ids[0].endswith("_00000") and not set(ids) & set(plan_ids(b))


def test_a_grid_launch_runs_what_is_not_done(tmp_path: Path, tiny: Any) -> None:
    study = study_file(tmp_path, tiny, axes={"seed": [0, 1, 2, 3, 4]})
    ids = plan_ids(study)
    book = TrialBook(str(tmp_path))
    for tid, status in zip(ids, ["FINISHED", "STOPPED", "FAILED", "RUNNING"], strict=False):
        book.record(tid, status=status)
    todo = pending(study, book)
    # finished and early-stopped trials are done; a failed one is tried again (resume_errored)
    assert [p.trial_id for p in todo] == ids[2:]
    assert [p.axes for p in todo] == [{"seed": 2}, {"seed": 3}, {"seed": 4}]
    assert [len(b) for b in batches(todo, 2)] == [2, 1]


def test_optuna_rebuilt_from_the_book_covers_each_point_exactly(tmp_path: Path,
                                                                tiny: Any) -> None:
    study = optuna_study(tmp_path, tiny, samples=3)
    ids = plan_ids(study)
    first = study_search(study, TrialBook(str(tmp_path)))
    assert first is not None
    # a first launch: four suggestions; two finish, one is stopped, one is interrupted
    book = TrialBook(str(tmp_path))
    outcome = ["FINISHED", "STOPPED", "FINISHED", "INTERRUPTED"]
    for tid, status in zip(ids, outcome, strict=False):
        axes = first.suggest(tid)["axes"]  # type: ignore[index]
        metrics = {"dice_mean": 0.5} if status == "FINISHED" else {}
        book.record(tid, status=status, axes=axes, metrics=metrics)
    todo = pending(study, book)
    assert [p.trial_id for p in todo] == [ids[3], *ids[4:]]
    assert todo[0].axes == book.trials[ids[3]].axes and all(p.axes is None for p in todo[1:])

    # the next launch: Optuna knows the three ended trials; new trials fill the points
    second = study_search(study, book)
    assert second is not None
    states = Counter(t.state for s in second.searchers for t in s._ot_study.trials)
    assert states == {optuna.trial.TrialState.COMPLETE: 2, optuna.trial.TrialState.PRUNED: 1}
    search = PlanSearch(todo, second)
    seeds = Counter(book.trials[tid].axes["seed"] for tid in ids[:3])  # the ended ones
    for _ in todo:
        suggestion = search.suggest("ignored")
        assert isinstance(suggestion, dict)
        assert suggestion["trial_id"] in ids
        seeds[suggestion["axes"]["seed"]] += 1
        assert suggestion["axes"]["saliency.eval_angles"] in ([0, 90], [0, 45, 90])
    assert seeds == {0: 3, 1: 3}
    assert search.suggest("x") == "FINISHED"


def test_every_point_gets_num_samples_in_all(tmp_path: Path, tiny: Any) -> None:
    study = optuna_study(tmp_path, tiny, samples=3)
    ids = plan_ids(study)
    first = study_search(study, TrialBook(str(tmp_path)))
    book = TrialBook(str(tmp_path))
    for tid in ids[:3]:  # three of six, unevenly spread if dealt by position
        book.record(tid, status="FINISHED", axes=first.suggest(tid)["axes"],  # type: ignore
                    metrics={"dice_mean": 0.1})
    search = PlanSearch(pending(study, book), study_search(study, book))
    seeds = Counter(book.trials[t].axes["seed"] for t in ids[:3])
    while isinstance(s := search.suggest("x"), dict):
        seeds[s["axes"]["seed"]] += 1
    assert seeds == {0: 3, 1: 3}


def test_plan_search_limits_concurrency_and_teaches_optuna_reruns(tmp_path: Path,
                                                                  tiny: Any) -> None:
    study = optuna_study(tmp_path, tiny, samples=1)
    ids = plan_ids(study)
    book = TrialBook(str(tmp_path))  # a trial a killed launch left mid-way
    book.record(ids[0], status="INTERRUPTED",
                axes={"seed": 0, "train.lr": 0.01, "saliency.eval_angles": [0, 90]})
    todo = pending(study, book)
    rerun = todo[0]
    assert [p.trial_id for p in todo] == ids and rerun.axes == book.trials[ids[0]].axes
    search = PlanSearch(todo, study_search(study, book), max_concurrent=1)
    assert search.suggest("x") == {"trial_id": ids[0], "axes": dict(rerun.axes)}
    assert search.suggest("y") is None  # one running already
    search.on_trial_complete(ids[0], {"dice_mean": 0.7, "done": True})
    told = [t for s in search.optuna.searchers for t in s._ot_study.trials]  # type: ignore
    assert [(t.state, t.value, t.params["saliency.eval_angles"]) for t in told] == [
        (optuna.trial.TrialState.COMPLETE, 0.7, 0)]  # the position of [0, 90] among choices
    second = search.suggest("z")
    assert isinstance(second, dict) and second["trial_id"] == ids[1]
    assert second["axes"]["seed"] == 1  # the point without a trial yet
    assert search.suggest("w") == "FINISHED"


@pytest.mark.parametrize("size", [1, 3, 256])
def test_batches_cover_everything_once(size: int) -> None:
    items = [Planned(f"t{i}", {}) for i in range(7)]
    cut = batches(items, size)
    assert [p for b in cut for p in b] == items and max(map(len, cut)) <= size
