"""``bench/checkpoint_size.py`` measures what each ``train.checkpoint_cache`` policy stores, with
a known answer: ``keep`` holds MoCo's key encoder and key head (as many values as the query
encoder and head that ``evaluation`` keeps) plus the queue (K × D) and its pointer."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "checkpoint_size.py"
QUEUE = 1024 * 128  # moco_rotation's default queue_size × proj_dim


@pytest.mark.slow
def test_checkpoint_size_bench_on_a_small_cnn(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_checkpoint_size", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    res = module.main(["--backbone", "small_cnn"])
    assert res["keep_values"] == 2 * res["evaluation_values"] + QUEUE + 1
    for policy in ("evaluation", "keep"):  # float32 values, plus pickled config and history
        floats = 4 * res[f"{policy}_values"]
        assert floats < res[f"{policy}_bytes"] < floats + 50_000
    assert res["none_mb"] == 0.0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == res
