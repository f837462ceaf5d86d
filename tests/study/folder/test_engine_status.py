"""``rotsweep status`` and the trial book it reads, on hand-made study folders: the driver's
state from the claim, counts within the plan, storage named relative to the folder (a copied
folder reads its own data), a damaged part, and the exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rotsweep.tables import write_part
from study.cli.main import main
from study.folder.book import TrialBook, tune_status
from study.folder.claim import Claim, Holder
from study.folder.status import (
    DAMAGED,
    FAILED,
    FINISHED,
    INTERRUPTED,
    NOT_A_STUDY,
    RUNNING,
    status_report,
    study_status,
)

PREFIX = "abcde"


def tid(i: int) -> str:
    return f"{PREFIX}_{i:05d}"


def make_study(folder: Path, storage: Path, statuses: dict[int, str] | None = None,
               n_trials: int = 5, storage_ref: str | None = None,
               trials_table: bool = True) -> None:
    """A study of ``n_trials`` planned trials; by default 1 finished, 1 running at epoch 2,
    1 failed, 1 stopped, 1 not started; with the ``trials`` table the launch's end writes
    (unless ``trials_table`` is false: a launch killed before it)."""
    folder.mkdir(parents=True, exist_ok=True)
    storage.mkdir(parents=True, exist_ok=True)
    meta = {"format": 2, "name": "demo", "source": "demo.yaml", "n_trials": n_trials,
            "trial_prefix": PREFIX, "storage": storage_ref or os.path.relpath(storage, folder)}
    (folder / "study.json").write_text(json.dumps(meta))
    if folder != storage:
        (storage / "study.json").write_text(json.dumps({**meta, "storage": "."}))
    book = TrialBook(str(storage))
    book.start_launch("L1")
    statuses = {0: "FINISHED", 1: "RUNNING", 2: "FAILED", 3: "STOPPED"} if statuses is None \
        else statuses
    for i, status in statuses.items():
        extra = {"epoch": 2, "failures": 1} if status == "RUNNING" else {}
        if status == "FAILED":
            extra = {"failures": 2, "error": "Traceback ...\nValueError: loss is nan\n"}
        book.record(tid(i), status=status, axes={"seed": i}, expected=EXPECTED, **extra)
        if status == "FINISHED":
            finish_data(storage, tid(i))
    book.save(ended=True)
    if trials_table:
        write_part(storage / "results", "trials",
                   [{"study": "demo", "dataset": "synthetic", "trial_id": tid(i), "status": st}
                    for i, st in statuses.items()], key="trials")


#: the rows each hand-made trial must write (study/folder/completeness.py ``expected_rows``)
EXPECTED = {"pretext": 2, "saliency": 3}


def finish_data(storage: Path, trial_id: str) -> None:
    """What a finished trial leaves in storage: its done record, 2 pretext and 3 saliency
    rows."""
    (storage / "done").mkdir(exist_ok=True)
    (storage / "done" / f"{trial_id}.json").write_text(json.dumps({"result": {"wall_s": 1.5}}))
    key = {"study": "demo", "dataset": "synthetic", "trial_id": trial_id}
    write_part(storage / "results", "pretext", [{**key, "epoch": e} for e in (1, 2)],
               key=trial_id)
    write_part(storage / "results", "saliency",
               [{**key, "eval_angle": a, "image_id": "i0"} for a in (0.0, 90.0, 180.0)],
               key=trial_id)


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_running_study_is_the_one_whose_claim_is_live(tmp_path: Path) -> None:
    make_study(tmp_path / "out", tmp_path / "shared")
    with Claim(str(tmp_path / "shared")) as claim:
        claim.acquire(resume=False)
        text, code = status_report(tmp_path / "out")
    lines = text.splitlines()
    assert code == RUNNING
    assert lines[0].startswith(f"study 'demo' (demo.yaml): 5 trials planned; running (pid "
                               f"{os.getpid()}")
    assert "finished 1, failed 1, running 1, stopped early 1, not started 1" in lines[1]
    assert f"  RUNNING {tid(1)} (seed=1) epoch 2, 1 failure(s) so far" in text
    assert f"  FAILED {tid(2)} (seed=2) after 2 failure(s): ValueError: loss is nan" in text
    assert "  pretext: 2 rows" in text  # read from the storage, not the study folder


def test_killed_driver_is_interrupted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_study(tmp_path / "out", tmp_path / "out")
    holder = Holder(os.uname().nodename, dead_pid(), None, 0.0, 0.0, "L1")
    (tmp_path / "out" / "claim.json").write_bytes(holder.to_bytes())
    assert main(["status", str(tmp_path / "out")]) == INTERRUPTED
    text = capsys.readouterr().out
    assert "no launch running (killed: pid" in text
    assert "interrupted: continue with the same command and --resume" in text  # as `run` says
    assert "interrupted 1" in text and f"  INTERRUPTED {tid(1)} (seed=1) epoch 2" in text


@pytest.mark.parametrize(("statuses", "code"), [
    ({0: "FINISHED", 1: "STOPPED", 2: "FINISHED"}, FINISHED),
    ({0: "FINISHED", 1: "FAILED", 2: "FINISHED"}, FAILED),
    ({0: "FINISHED", 1: "FINISHED"}, INTERRUPTED),  # one never started, nobody runs it
])
def test_exit_codes_of_an_ended_launch(tmp_path: Path, statuses: dict[int, str],
                                       code: int) -> None:
    make_study(tmp_path / "out", tmp_path / "out", statuses, n_trials=3)
    text, got = status_report(tmp_path / "out")
    assert got == code, text
    assert main(["status", str(tmp_path / "out")]) == code


def test_a_trials_table_behind_the_data_is_interrupted_until_a_resume_rewrites_it(
        tmp_path: Path) -> None:
    # bench/faults.py: the driver killed while it completed the MLflow runs (after every trial
    # ended, before the `trials` table was written) left status 0 over a stale table
    statuses = {0: "FINISHED", 1: "STOPPED", 2: "FINISHED"}
    make_study(tmp_path / "out", tmp_path / "out", statuses, n_trials=3, trials_table=False)
    text, code = status_report(tmp_path / "out")
    assert code == INTERRUPTED, text
    assert "the trials table is out of date for 3 trials" in text and "--resume" in text
    # a table of an earlier launch that still calls a finished trial interrupted
    write_part(tmp_path / "out" / "results", "trials",
               [{"study": "demo", "dataset": "synthetic", "trial_id": tid(i), "status": st}
                for i, st in {**statuses, 2: "INTERRUPTED"}.items()], key="trials")
    text, code = status_report(tmp_path / "out")
    assert code == INTERRUPTED and "out of date for 1 trials" in text, text
    # what the end of the resumed launch writes: the table agrees, status is finished
    write_part(tmp_path / "out" / "results", "trials",
               [{"study": "demo", "dataset": "synthetic", "trial_id": tid(i), "status": st}
                for i, st in statuses.items()], key="trials")
    text, code = status_report(tmp_path / "out")
    assert code == FINISHED and "out of date" not in text, text


def test_not_a_study_is_one_line_and_exit_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    for folder in (tmp_path / "nothing", tmp_path):
        assert main(["status", str(folder)]) == NOT_A_STUDY
        out = capsys.readouterr().out.strip()
        assert len(out.splitlines()) == 1 and "not a rotsweep study folder" in out


def test_counts_never_exceed_the_plan(tmp_path: Path) -> None:
    """A book holding trials of another plan (a study merged in by an older rotsweep)."""
    make_study(tmp_path, tmp_path, {0: "FINISHED", 1: "FINISHED", 2: "FINISHED"}, n_trials=3)
    book = TrialBook.load(str(tmp_path))
    for i in range(9):
        book.record(f"other_{i}", status="FINISHED")
    book.save(ended=True)
    text, code = status_report(tmp_path)
    assert "finished 3," in text and "not started 0" in text and code == FINISHED
    assert "(9 records of trials outside the plan not counted)" in text


def test_a_copied_folder_reports_its_own_data(tmp_path: Path) -> None:
    make_study(tmp_path / "a", tmp_path / "a", {0: "FINISHED"}, n_trials=2,
               storage_ref=str(tmp_path / "a"))  # an absolute path, as older folders have
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    book = TrialBook.load(str(tmp_path / "b"))
    book.record(tid(1), status="FINISHED", expected=EXPECTED)
    book.save(ended=True)
    # the book alone does not make a trial finished: its data does
    assert "finished 1," in study_status(tmp_path / "b")
    finish_data(tmp_path / "b", tid(1))
    assert "finished 2," in study_status(tmp_path / "b")
    assert "finished 1," in study_status(tmp_path / "a")
    # a storage beside the study folder, named relative to it, moved together with it
    make_study(tmp_path / "c" / "out", tmp_path / "c" / "shared", {0: "FINISHED"}, n_trials=1)
    shutil.move(tmp_path / "c", tmp_path / "moved")
    text, code = status_report(tmp_path / "moved" / "out")
    assert code == FINISHED and "pretext: 2 rows" in text


def test_a_damaged_part_is_one_line_naming_it(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    make_study(tmp_path, tmp_path, {0: "FINISHED"}, n_trials=1)
    (part,) = (tmp_path / "results" / "pretext").rglob("part-*.parquet")
    part.write_bytes(part.read_bytes()[:40])  # truncated, as by a full disk
    assert main(["status", str(tmp_path)]) == DAMAGED
    out = capsys.readouterr()
    errors = [ln for ln in out.out.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and part.name in errors[0], out.out
    assert "Traceback" not in out.out + out.err


def test_book_round_trip_and_counts(tmp_path: Path) -> None:
    make_study(tmp_path, tmp_path)
    book = TrialBook.load(str(tmp_path))
    assert book.counts() == {"FINISHED": 1, "RUNNING": 1, "FAILED": 1, "STOPPED": 1}
    assert book.trials[tid(1)].epoch == 2 and book.launches == 1
    assert book.driver["pid"] == os.getpid() and book.driver["launch"] == "L1"


@pytest.mark.parametrize(("status", "last", "expected"), [
    ("TERMINATED", {"dice_mean": 0.3, "done": True}, "FINISHED"),
    ("TERMINATED", {"epoch": 2, "loss": 1.0, "done": True}, "STOPPED"),
    ("ERROR", {"epoch": 1}, "FAILED"),
    ("RUNNING", {"epoch": 1}, "INTERRUPTED"),
    ("PENDING", None, "INTERRUPTED"),
])
def test_tune_status(status: str, last: dict | None, expected: str) -> None:
    assert tune_status(status, last) == expected


@pytest.mark.slow  # a real MLflow store: its schema migrations take ~10 s here
def test_a_copied_folder_opens_its_own_artifacts_in_mlflow(tmp_path: Path) -> None:
    """``status`` on a copy re-points the copy's MLflow store, so a plain ``mlflow ui`` on it
    shows the copy's artifacts (the original may be gone)."""
    from mlflow.tracking import MlflowClient

    old, new = tmp_path / "old", tmp_path / "new"
    make_study(old, old, {0: "FINISHED"}, n_trials=1)
    client = MlflowClient(f"sqlite:///{old / 'mlflow.db'}")
    exp = client.create_experiment("demo", artifact_location=str(old / "mlartifacts" / "demo"))
    run = client.create_run(exp)
    (tmp_path / "curve.txt").write_text("dice")
    client.log_artifact(run.info.run_id, str(tmp_path / "curve.txt"))
    client.set_terminated(run.info.run_id)
    shutil.copytree(old, new)
    shutil.rmtree(old)

    text, code = status_report(new)
    assert code == FINISHED and "MLflow: artifact locations re-pointed" in text, text
    moved = MlflowClient(f"sqlite:///{new / 'mlflow.db'}")
    assert moved.get_experiment(exp).artifact_location == str(new / "mlartifacts" / "demo")
    assert moved.get_run(run.info.run_id).info.artifact_uri.startswith(str(new))
    assert [a.path for a in moved.list_artifacts(run.info.run_id)] == ["curve.txt"]
    assert "re-pointed" not in status_report(new)[0]  # once only
    assert not old.exists()


def test_axis_values_read_as_written_in_progress_and_status() -> None:
    from study.folder.book import axes_text

    axes = {"data": {"name": "kvasir_seg", "root": "kvasir_seg", "params": {"mask_inset": True}},
            "pretext.params.angles": [90.0], "seed": 1,
            "model.backbone+saliency.threshold": ["six_layer", 8e-4],
            "control": {"name": "synthetic", "params": {"kind": "noise"}, "label": "noise"}}
    assert axes_text(axes) == ("data=kvasir_seg, pretext.params.angles=[90], seed=1, "
                               "model.backbone+saliency.threshold=[six_layer, 0.0008], "
                               "control=noise")
