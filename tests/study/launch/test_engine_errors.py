"""Errors survive Ray: a data or config error raised inside a trial keeps its whole message
across the process boundary and shows whole in the progress line, the closing summary, the
``trials`` table and ``rotsweep status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_support import tiny_study
from ray import cloudpickle

from rotsweep.tables import read_table
from study.config.load import load_study
from study.folder.status import study_status
from study.launch.runner import RunOptions, print_result, run_study
from study.messages import clip, duration, error_message, rate_and_eta
from trainables.config import ConfigError
from trainables.data.problems import DataError, Problem

cloudpickle.register_pickle_by_value(__import__(__name__))

PROBLEMS = [Problem("images/a.png", "unreadable; expected a PNG image"),
            Problem("masks/b.png", "missing; expected the mask of images/b.jpg"),
            Problem("masks/c.png", "2 channels; expected one")]
WHOLE = ("DataError: kvasir_seg: 3 problems reading the dataset | images/a.png: unreadable; "
         "expected a PNG image | masks/b.png: missing; expected the mask of images/b.jpg | "
         "masks/c.png: 2 channels; expected one")

TUNE_TEXT = """Failure # 1 (occurred at 2026-01-01_00-00-00)
ray::ImplicitFunc.train() (pid=12, ip=127.0.0.1, actor_id=ab, repr=rotsweep_trainable)
  File "/x/ray/tune/trainable/trainable.py", line 331, in train
    raise skipped from exception_cause(skipped)
  File "/x/trainables/data/folders.py", line 80, in build_folder_masks
    raise DataError(problems, cfg.name)
trainables.data.problems.DataError: kvasir_seg: 3 problems reading the dataset
  images/a.png: unreadable; expected a PNG image
  masks/b.png: missing; expected the mask of images/b.jpg
  masks/c.png: 2 channels; expected one
"""


def test_the_whole_message_of_the_last_exception_on_one_line() -> None:
    assert error_message(TUNE_TEXT) == WHOLE
    assert error_message("Traceback ...\nValueError: loss is nan\n") == "ValueError: loss is nan"
    assert error_message("ray.exceptions.RayTaskError(KeyError): ray::f()\n  x\n"
                         "KeyError: 'data'") == "KeyError: 'data'"
    assert error_message("no exception here\nlast words") == "last words"
    assert error_message(None) == "error"


def test_clipped_errors_keep_head_and_tail_and_pace_texts() -> None:
    text = "head\n" + "x" * 50_000 + "\nValueError: the end"
    kept = clip(text)
    assert kept.startswith("head") and kept.endswith("ValueError: the end")
    assert "characters cut" in kept and len(kept) < 20_100
    assert rate_and_eta(0, 10.0, 5) == "ETA ?"
    assert rate_and_eta(3, 60.0, 6) == "3.0/min, ETA 2m00s"
    assert [duration(s) for s in (4, 245, 7800, 3 * 86400 + 4 * 3600)] == [
        "4s", "4m05s", "2h10m", "3d04h"]


@pytest.mark.ray
def test_data_and_config_errors_cross_ray_whole(ray_local: Any) -> None:
    @ray_local.remote
    def fails(kind: str) -> None:
        if kind == "data":
            raise DataError(PROBLEMS, "kvasir_seg")
        raise ConfigError(["data.n_eval: 0; expected at least 1", "train.lr: -1; expected > 0"])

    for kind, expected in (("data", WHOLE), ("config", "ConfigError: data.n_eval: 0; expected "
                                                       "at least 1 | train.lr: -1; expected > 0")):
        with pytest.raises(Exception) as err:
            ray_local.get(fails.remote(kind))
        assert error_message(str(err.value)) == expected
        cause = err.value.as_instanceof_cause()
        assert isinstance(cause, DataError if kind == "data" else ConfigError)


def data_error_trial(config: dict[str, Any]) -> None:
    """A trial whose dataset cannot be read."""
    raise DataError(PROBLEMS, "kvasir_seg")


@pytest.mark.slow
@pytest.mark.ray
def test_a_failed_trials_error_shows_whole_everywhere(
        ray_local: Any, tmp_path: Path, tiny: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_study(tmp_path / "s.yaml", tiny, "errors", max_failures=0)
    out = tmp_path / "out"
    result = run_study(load_study(path), RunOptions(out=str(out), trainable=data_error_trial))
    print_result(result)
    printed = capsys.readouterr().out
    assert result.counts == {"FAILED": 1}
    (trial_id,) = result.errors
    assert f"| FAILED {trial_id}: {WHOLE}" in printed  # the progress line
    assert f"\n  FAILED {trial_id}: {WHOLE}\n" in printed  # the closing summary
    error = read_table(out / "results", "trials").error.iloc[0]
    assert all(str(p) in error for p in PROBLEMS)
    assert f"FAILED {trial_id} after 1 failure(s): {WHOLE}" in study_status(out)
