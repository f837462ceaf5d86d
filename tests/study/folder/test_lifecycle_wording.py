"""``status``, ``report`` and ``run`` agree (issue 18, items 1, 3, 6): a report of a study
whose tables lack planned rows warns (``--strict``: refuses with status's code), a folder
killed while its launch started is "interrupted, --resume" to ``status`` as to ``run``, and
the tables' MLflow run ids follow a rebuilt store (study/tracking/run_ids.py). Real Parquet files,
no Ray."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rotsweep.compact import compact_results
from rotsweep.tables import read_table, write_part
from study.cli.main import main
from study.folder.book import TrialBook
from study.folder.claim import Holder
from study.folder.status import INTERRUPTED, NOT_A_STUDY, plan_check, status_report
from study.tracking.run_ids import STALE, follow_run_ids

EXPECTED = {"pretext": 1, "saliency": 2}


def tid(i: int) -> str:
    return f"t_{i:05d}"


def study_folder(storage: Path, n: int, done: int) -> None:
    """``n`` planned trials of which the first ``done`` have every row; saliency rows name
    run ``old-<i>``."""
    meta = {"format": 2, "name": "demo", "source": "demo.yaml", "n_trials": n,
            "trial_prefix": "t", "storage": ".", "axes": {"seed": list(range(n))},
            "search": {"algorithm": "grid"}}
    storage.mkdir(parents=True, exist_ok=True)
    (storage / "study.json").write_text(json.dumps(meta))
    book = TrialBook(str(storage))
    (storage / "done").mkdir()
    for i in range(n):
        book.record(tid(i), status="FINISHED" if i < done else "PENDING", axes={"seed": i},
                    expected=EXPECTED)
    for i in range(done):
        (storage / "done" / f"{tid(i)}.json").write_text(json.dumps({"result": {}}))
        key = {"study": "demo", "dataset": "synthetic", "trial_id": tid(i)}
        write_part(storage / "results", "pretext", [{**key, "epoch": 1}], key=tid(i))
        write_part(storage / "results", "saliency",
                   [{**key, "eval_angle": a, "image_id": "i0", "mlflow_run_id": f"old-{i}",
                     "train_angles": [90.0]} for a in (0.0, 90.0)], key=tid(i))
    book.save(ended=True)
    write_part(storage / "results", "trials",  # what the end of the launch writes
               [{"study": "demo", "dataset": "synthetic", "trial_id": tid(i),
                 "status": "FINISHED" if i < done else "PENDING"} for i in range(n)],
               key="trials")


def test_report_warns_and_strict_refuses_an_incomplete_study(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study_folder(tmp_path, 3, done=2)
    line, code = plan_check(tmp_path)  # type: ignore[misc]
    assert code == INTERRUPTED and "not started 1" in line and "finished 2" in line
    assert main(["report", str(tmp_path), "--strict"]) == INTERRUPTED
    err = capsys.readouterr().err
    assert "warning: the tables do not match the study's plan" in err
    assert "--strict" in err and not (tmp_path / "report").exists()
    # complete: no warning (a bare results folder is not checked either)
    study_folder(tmp_path / "all", 2, done=2)
    assert plan_check(tmp_path / "all") is None
    assert plan_check(tmp_path / "all" / "results") is None
    # every row there but the trials table behind them (a launch killed at its end)
    write_part(tmp_path / "all" / "results", "trials",
               [{"study": "demo", "dataset": "synthetic", "trial_id": tid(0),
                 "status": "FINISHED"}], key="trials")
    line, code = plan_check(tmp_path / "all")  # type: ignore[misc]
    assert code == INTERRUPTED and "the trials table is out of date" in line, line


def test_a_folder_killed_while_starting_gets_runs_verdict(tmp_path: Path) -> None:
    """Killed after the claim, before study.json: ``run`` says "continue it with --resume"
    (study/folder/claim.py), so does ``status``, with the interrupted code."""
    tmp_path.mkdir(exist_ok=True)
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                             capture_output=True, text=True, check=True).stdout)
    holder = Holder(os.uname().nodename, pid, None, 0.0, 0.0, "L1")
    (tmp_path / "claim.json").write_bytes(holder.to_bytes())
    text, code = status_report(tmp_path)
    assert code == INTERRUPTED and "killed while starting" in text
    assert "continue with the same command and --resume" in text
    (tmp_path / "claim.json").unlink()
    assert status_report(tmp_path)[1] == NOT_A_STUDY


@pytest.mark.parametrize("compacted", [False, True])
def test_run_ids_in_the_tables_follow_a_rebuilt_store(tmp_path: Path, compacted: bool) -> None:
    study_folder(tmp_path, 3, done=3)
    if compacted:
        compact_results(tmp_path / "results")
    runs = tmp_path / "mlflow_runs"
    runs.mkdir()
    new = {tid(0): "new-0", tid(1): "old-1"}  # trial 1 kept its run; trial 2 has none yet
    for trial_id, run_id in new.items():
        (runs / f"{trial_id}.json").write_text(json.dumps({"run_id": run_id}))
    assert follow_run_ids(str(tmp_path), store_new=False) == 0  # no rebuild, nothing due
    assert follow_run_ids(str(tmp_path), store_new=True) == 1
    rows = read_table(tmp_path / "results", "saliency")
    assert dict(zip(rows.trial_id, rows.mlflow_run_id, strict=True)) == {
        tid(0): "new-0", tid(1): "old-1", tid(2): "old-2"}
    assert len(rows) == 6 and not (runs / STALE).exists()
    assert list(rows[rows.trial_id == tid(0)].train_angles.map(list)) == [[90.0], [90.0]]
    # a rewrite killed half-way is finished by the next launch, store new or not
    (runs / STALE).touch()
    (runs / f"{tid(2)}.json").write_text(json.dumps({"run_id": "new-2"}))
    assert follow_run_ids(str(tmp_path), store_new=False) == 1
    assert set(read_table(tmp_path / "results", "saliency").mlflow_run_id) == {
        "new-0", "old-1", "new-2"}
