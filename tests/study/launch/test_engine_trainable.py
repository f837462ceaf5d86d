"""The Tune trainable's own pieces, without a Tune run: the saved state a retried or resumed
trial continues from, the replay of a finished trial, per-epoch rows, GPU hiding."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from rotsweep.tables import read_table
from trainables.spec import parse_trial
from trainables.train import resolve_device
from trainables.trial import TrialContext, run_trial
from trainables.tune import TrialReporter, hide_gpus_unless_given, load_state, replay


class Crash(RuntimeError):
    """Stands for the process dying after some epoch."""


def reporter(tmp_path: Path, cfg: Any, seen: list[dict[str, Any]], crash_after: int = 0
             ) -> tuple[TrialReporter, TrialContext]:
    ctx = TrialContext("t1", str(tmp_path / "results"), str(tmp_path / "cache"),
                       str(tmp_path / "artifacts"))

    def report(metrics: dict[str, Any]) -> None:
        seen.append(metrics)
        if crash_after and metrics.get("epoch") == crash_after:
            raise Crash

    files = {"done": str(tmp_path / "done" / "t1.json"), "state": str(tmp_path / "state.pt")}
    return TrialReporter(cfg, ctx, files, report), ctx


@pytest.mark.ray
def test_a_trial_resumed_from_its_state_equals_an_uninterrupted_one(
        ray_local: Any, tmp_path: Path, tiny: Any) -> None:
    # a labelled dataset: the per-epoch rows must land in the same part as the final ones
    cfg = parse_trial(tiny(train={"epochs": 3, "batch_size": 16},
                           data={**tiny()["data"], "label": "rects"}))
    whole: list[dict[str, Any]] = []
    rep, ctx = reporter(tmp_path / "whole", cfg, whole)
    run_trial(cfg, ctx, rep.report, save_state=rep.save_state)

    seen: list[dict[str, Any]] = []
    rep, ctx = reporter(tmp_path / "cut", cfg, seen, crash_after=2)
    with pytest.raises(Crash):
        run_trial(cfg, ctx, rep.report, save_state=rep.save_state)
    assert len(read_table(tmp_path / "cut" / "results", "pretext")) == 2  # rows per epoch
    state = load_state(rep.files["state"], cfg)
    assert state is not None and state.epoch == 2
    rep.tune_report = seen.append
    run_trial(cfg, ctx, rep.report, resume=state, save_state=rep.save_state)

    assert [m["epoch"] for m in seen if "epoch" in m] == [1, 2, 3]
    assert [m["loss"] for m in seen if "epoch" in m] == [m["loss"] for m in whole if "epoch" in m]
    assert seen[-1]["dice_mean"] == whole[-1]["dice_mean"]
    assert seen[-1]["device"] == "cpu" and seen[-1]["node_id"]
    assert not Path(rep.files["state"]).exists()  # the finished trial's state is removed
    pretext = read_table(tmp_path / "cut" / "results", "pretext")
    assert sorted(pretext.epoch) == [1, 2, 3] and set(pretext.dataset) == {"rects"}
    assert json.loads(Path(rep.files["done"]).read_text())["result"]["done"] is True


def test_state_and_done_record_of_another_config_are_ignored(tmp_path: Path, tiny: Any) -> None:
    cfg = parse_trial(tiny())
    other = parse_trial(tiny(seed=1))
    done = tmp_path / "done.json"
    from trainables.config import config_hash

    done.write_text(json.dumps({"config_hash": config_hash(cfg), "result": {"dice_mean": 0.5}}))
    seen: list[dict[str, Any]] = []
    assert not replay(str(done), other, seen.append) and seen == []
    assert replay(str(done), cfg, seen.append)
    assert seen == [{"dice_mean": 0.5, "replayed": True}]
    assert load_state(str(tmp_path / "missing.pt"), cfg) is None


def test_a_trial_without_a_gpu_sees_none(monkeypatch: pytest.MonkeyPatch, tiny: Any) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    hide_gpus_unless_given(["0"])
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"  # given a GPU: Ray's setting stands
    hide_gpus_unless_given([])
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert resolve_device(parse_trial(tiny()).train) == torch.device("cpu")
