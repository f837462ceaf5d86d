"""``rotsweep status`` and the trial book it reads, on hand-made study folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rotsweep.tables import write_part
from study.book import TrialBook, tune_status
from study.cli import main
from study.status import study_status


def make_study(folder: Path, storage: Path, pid: int, ended: bool = False) -> None:
    """A study of 5 planned trials: 1 finished, 1 running at epoch 2, 1 failed, 1 stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"name": "demo", "source": "demo.yaml", "n_trials": 5, "storage": str(storage)}
    (folder / "study.json").write_text(json.dumps(meta))
    book = TrialBook(str(storage))
    book.start_launch()
    book.driver["pid"] = pid
    book.record("a", status="FINISHED", axes={"seed": 0}, metrics={"dice_mean": 0.5})
    book.record("b", status="RUNNING", axes={"seed": 1}, epoch=2, failures=1)
    book.record("c", status="FAILED", axes={"seed": 2}, failures=2,
                error="Traceback ...\nValueError: loss is nan\n")
    book.record("d", status="STOPPED", axes={"seed": 3}, epoch=1)
    book.save(ended=ended)
    write_part(storage / "results", "pretext",
               [{"study": "demo", "dataset": "synthetic", "trial_id": "a", "epoch": e}
                for e in (1, 2)], key="a")


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_running_study(tmp_path: Path) -> None:
    make_study(tmp_path / "out", tmp_path / "shared", os.getpid())
    text = study_status(tmp_path / "out")
    assert text.splitlines()[0].startswith("study 'demo' (demo.yaml): 5 trials planned; running")
    assert ("finished 1, failed 1, running 1, stopped early 1, not started 1"
            in text.splitlines()[1])
    assert "  RUNNING b (seed=1) epoch 2, 1 failure(s) so far" in text
    assert "  FAILED c (seed=2) after 2 failure(s): ValueError: loss is nan" in text
    assert "  pretext: 2 rows" in text  # read from the storage, not the study folder


def test_interrupted_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_study(tmp_path / "out", tmp_path / "out", dead_pid())
    assert main(["status", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "driver gone" in text and "continue with --resume" in text
    assert "interrupted 1" in text and "  INTERRUPTED b (seed=1) epoch 2" in text


def test_ended_launch_and_not_a_study(tmp_path: Path) -> None:
    make_study(tmp_path / "out", tmp_path / "out", os.getpid(), ended=True)
    assert "last launch ended" in study_status(tmp_path / "out")
    assert "not a rotsweep study folder" in study_status(tmp_path / "nothing")


def test_book_round_trip_and_counts(tmp_path: Path) -> None:
    make_study(tmp_path, tmp_path, 1)
    book = TrialBook.load(str(tmp_path))
    assert book.counts() == {"FINISHED": 1, "RUNNING": 1, "FAILED": 1, "STOPPED": 1}
    assert book.trials["b"].epoch == 2 and book.trials["a"].metrics == {"dice_mean": 0.5}
    assert book.launches == 1 and book.driver["pid"] == 1


@pytest.mark.parametrize(("status", "last", "expected"), [
    ("TERMINATED", {"dice_mean": 0.3, "done": True}, "FINISHED"),
    ("TERMINATED", {"epoch": 2, "loss": 1.0, "done": True}, "STOPPED"),
    ("ERROR", {"epoch": 1}, "FAILED"),
    ("RUNNING", {"epoch": 1}, "INTERRUPTED"),
    ("PENDING", None, "INTERRUPTED"),
])
def test_tune_status(status: str, last: dict | None, expected: str) -> None:
    assert tune_status(status, last) == expected
