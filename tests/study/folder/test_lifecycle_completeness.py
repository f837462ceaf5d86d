"""Which trials are complete, from the data (study/folder/completeness.py): the rows a trial's
config implies checked against a real trial's tables, the verdict of each kind of book record and
storage, damaged part files (a compacted one holding several trials among them) named with
their trials, set aside and re-run to exact tables, and what ``--resume`` plans from it. Real
Parquet files, no Ray."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from rotsweep.compact import compact_results
from rotsweep.tables import read_table, write_part
from study.config.load import load_study
from study.folder.book import TrialBook, TrialRecord
from study.folder.completeness import (
    TrialData,
    check_data,
    expected_rows,
    forget_done,
    set_damaged_aside,
    settle,
    trial_states,
    verdict,
)
from study.folder.status import DAMAGED, FINISHED, INTERRUPTED, status_report
from study.launch.plan import pending, plan_ids
from study.launch.runner import plan_from_data
from trainables.spec import build_trial
from trainables.trial import TrialContext, run_trial

EXPECTED = {"pretext": 2, "saliency": 3}


def test_expected_rows_match_a_real_trial(tmp_path: Path, tiny: Any) -> None:
    """The known answer: 4 images × 3 angles × 2 models (the random-init baseline) = 24
    saliency rows, 2 epochs = 2 pretext rows, no probe rows; and the real trial writes exactly
    that."""
    raw = tiny(train={"epochs": 2, "num_threads": 1}, saliency={"random_init_baseline": True})
    cfg = build_trial(raw, {})
    assert expected_rows(cfg) == {"pretext": 2, "saliency": 24}
    ctx = TrialContext("t0", str(tmp_path / "results"), str(tmp_path / "cache"),
                       str(tmp_path / "artifacts"))
    run_trial(cfg, ctx, [].append)
    for table, n in expected_rows(cfg).items():
        assert len(read_table(tmp_path / "results", table)) == n, table
    data = check_data(str(tmp_path), ["t0"], book_with(tmp_path, {"t0": expected_rows(cfg)}))
    assert data.trials["t0"].rows == {"pretext": 2, "saliency": 24}
    assert data.trials["t0"].missing() == ["no done record"]  # the Tune wrapper writes it


def test_expected_rows_arithmetic(tiny: Any) -> None:
    cfg = build_trial(tiny(), {})  # n_eval 4, angles [0, 45, 90], 1 epoch, no baseline
    assert expected_rows(cfg) == {"pretext": 1, "saliency": 12}
    every = build_trial(tiny(data={"n_eval": None}), {})
    assert expected_rows(every)["saliency"] is None  # every image of the split: ≥ 1 row


def book_with(storage: Path, expected: dict[str, dict], status: str = "FINISHED"
              ) -> TrialBook:
    book = TrialBook(str(storage))
    for trial_id, exp in expected.items():
        seed = int("".join(c for c in trial_id if c.isdigit()))
        book.record(trial_id, status=status, axes={"seed": seed}, expected=exp)
    book.save(ended=True)
    return book


def trial_data(storage: Path, trial_id: str, saliency: int = 3) -> None:
    """A finished trial's storage: done record, 2 pretext rows, ``saliency`` saliency rows."""
    (storage / "done").mkdir(parents=True, exist_ok=True)
    (storage / "done" / f"{trial_id}.json").write_text(
        json.dumps({"result": {"dice_mean": 0.5, "wall_s": 2.0, "done": True}}))
    key = {"study": "demo", "dataset": "synthetic", "trial_id": trial_id}
    write_part(storage / "results", "pretext", [{**key, "epoch": e} for e in (1, 2)],
               key=trial_id)
    write_part(storage / "results", "saliency",
               [{**key, "eval_angle": float(a), "image_id": "i0"} for a in range(saliency)],
               key=trial_id)


def trials_table(storage: Path, ids: list[str]) -> None:
    """The ``trials`` table the end of a launch writes once these trials finished."""
    write_part(storage / "results", "trials",
               [{"study": "demo", "dataset": "synthetic", "trial_id": t, "status": "FINISHED"}
                for t in ids], key="trials")


@pytest.mark.parametrize(("status", "done", "rows", "state", "expected"), [
    ("FINISHED", True, {"pretext": 2, "saliency": 3}, False, "FINISHED"),
    ("INTERRUPTED", True, {"pretext": 2, "saliency": 3}, False, "FINISHED"),  # in shutdown
    ("PENDING", True, {"pretext": 2, "saliency": 3}, False, "FINISHED"),
    ("FINISHED", False, {}, False, "NOT_STARTED"),  # Tune's TERMINATED on a trial never run
    (None, False, {}, False, "NOT_STARTED"),
    ("RUNNING", False, {}, False, "INTERRUPTED"),  # killed mid-way: not "not started"
    ("PENDING", False, {"pretext": 1}, True, "INTERRUPTED"),
    ("FINISHED", True, {"pretext": 2}, False, "INCOMPLETE"),  # its saliency file lost
    ("FINISHED", True, {"pretext": 2, "saliency": 4}, False, "INCOMPLETE"),  # doubled rows
    ("FAILED", False, {"pretext": 1}, False, "FAILED"),
    ("STOPPED", False, {"pretext": 1}, False, "STOPPED"),
])
def test_verdict(status: str | None, done: bool, rows: dict[str, int], state: bool,
                 expected: str) -> None:
    rec = TrialRecord("t0", status=status) if status else None
    assert verdict(rec, TrialData("t0", done, state, rows, EXPECTED)) == expected


def test_a_record_without_an_expectation_needs_saliency_rows(tmp_path: Path) -> None:
    trial_data(tmp_path, "t0")
    book = TrialBook(str(tmp_path))
    book.record("t0", status="FINISHED")
    assert check_data(str(tmp_path), ["t0"], book).complete() == {"t0"}
    (tmp_path / "results" / "saliency").rename(tmp_path / "gone")
    assert check_data(str(tmp_path), ["t0"], book).complete() == set()


def make_study_folder(storage: Path, n: int) -> TrialBook:
    meta = {"format": 2, "name": "demo", "source": "demo.yaml", "n_trials": n,
            "trial_prefix": "t", "storage": ".", "axes": {"seed": list(range(n))},
            "search": {"algorithm": "grid"}}
    storage.mkdir(parents=True, exist_ok=True)
    (storage / "study.json").write_text(json.dumps(meta))
    return book_with(storage, {tid(i): EXPECTED for i in range(n)})


def tid(i: int) -> str:
    return f"t_{i:05d}"


def compacted_study(storage: Path, n: int) -> tuple[list[str], TrialBook, Path]:
    """A study of ``n`` finished trials whose parts were compacted: the ids, the book and the
    one compacted ``saliency`` file."""
    ids = [tid(i) for i in range(n)]
    book = make_study_folder(storage, n)
    for t in ids:
        trial_data(storage, t)
    compact_results(storage / "results")
    (compacted,) = (storage / "results" / "saliency").rglob("compact-*.parquet")
    return ids, book, compacted


def test_a_damaged_compacted_file_is_named_set_aside_and_its_trials_rerun(
        tmp_path: Path) -> None:
    """A compacted saliency file replaced by random bytes (issue 18, item 3)."""
    ids, book, compacted = compacted_study(tmp_path, 3)
    trials_table(tmp_path, ids)
    assert status_report(tmp_path)[1] == FINISHED
    compacted.write_bytes(os.urandom(compacted.stat().st_size))

    data = check_data(str(tmp_path), ids, book)
    assert data.complete() == set()
    assert {p.rsplit("/", 1)[-1]: trials for p, (trials, _) in data.damaged.items()} == {
        compacted.name: ids}
    text, code = status_report(tmp_path)
    assert code == DAMAGED, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and compacted.name in errors[0]
    assert all(f"{t} (seed={i})" in errors[0] for i, t in enumerate(ids)), errors[0]
    assert "continue with the same command and --resume" in text

    lines = set_damaged_aside(str(tmp_path), data)
    assert len(lines) == 1 and not compacted.exists()
    assert list(compacted.parent.glob(f"{compacted.name}.damaged-*"))
    data = check_data(str(tmp_path), ids, book)
    assert not data.damaged
    assert set(trial_states(book, data).values()) == {"INCOMPLETE"}
    text, code = status_report(tmp_path)
    assert code == INTERRUPTED and "incomplete 3" in text and "saliency 0/3 rows" in text
    assert sorted(forget_done(str(tmp_path), data)) == ids  # so they run, not replay
    assert not list((tmp_path / "done").iterdir())

    for t in ids:  # what the re-run writes
        trial_data(tmp_path, t)
    assert check_data(str(tmp_path), ids, book).complete() == set(ids)
    assert status_report(tmp_path)[1] == FINISHED
    saliency = read_table(tmp_path / "results", "saliency")
    assert len(saliency) == 9 and not saliency.duplicated(["trial_id", "eval_angle"]).any()


def test_a_damaged_file_without_key_list_still_leaves_its_trials_incomplete(
        tmp_path: Path) -> None:
    ids, book, compacted = compacted_study(tmp_path, 2)
    (compacted.parent / f"_{compacted.name}.keys.json").unlink()  # as an older compaction
    compacted.write_bytes(compacted.read_bytes()[:100])  # truncated
    data = check_data(str(tmp_path), ids, book)
    assert next(iter(data.damaged.values()))[0] == [] and data.complete() == set()
    assert "unknown (no key list)" in status_report(tmp_path)[0]


def test_a_loose_damaged_part_names_its_trial(tmp_path: Path) -> None:
    book = make_study_folder(tmp_path, 2)
    for t in (tid(0), tid(1)):
        trial_data(tmp_path, t)
    part = next((tmp_path / "results" / "pretext").rglob(f"part-{tid(1)}.parquet"))
    part.write_bytes(b"PAR1 not parquet")
    data = check_data(str(tmp_path), [tid(0), tid(1)], book)
    assert [trials for trials, _ in data.damaged.values()] == [[tid(1)]]
    assert data.complete() == {tid(0)}


def test_settle_makes_the_book_agree_with_the_data(tmp_path: Path) -> None:
    book = make_study_folder(tmp_path, 3)
    trial_data(tmp_path, tid(0))
    book.record(tid(0), status="INTERRUPTED")  # finished during a Ctrl-C's shutdown
    book.record(tid(2), status="RUNNING", epoch=1)
    changed = settle(book, check_data(str(tmp_path), plan_ids_of(3), book))
    assert changed == [tid(0), tid(1)]
    assert book.trials[tid(0)].status == "FINISHED"
    assert book.trials[tid(0)].metrics == {"dice_mean": 0.5, "wall_s": 2.0}  # not "done"
    assert book.trials[tid(0)].wall_s == 2.0
    assert book.trials[tid(1)].status == "PENDING"  # marked FINISHED, never ran
    assert book.trials[tid(2)].status == "RUNNING"


def plan_ids_of(n: int) -> list[str]:
    return [tid(i) for i in range(n)]


def grid_study(tmp_path: Path, tiny: Any, n: int) -> Any:
    trial = {k: v for k, v in tiny().items() if k != "study"}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", **trial, "axes": {"seed": list(range(n))}}))
    return load_study(path)


def test_resume_plans_exactly_the_trials_without_complete_data(tmp_path: Path,
                                                               tiny: Any) -> None:
    """The Ctrl-C of issue 18: 2 done, 1 finished during the shutdown (book: INTERRUPTED), 1
    killed mid-way, 2 never started (book: FINISHED, Tune's mark); one done trial's saliency
    part later damaged."""
    study = grid_study(tmp_path, tiny, 6)
    ids = plan_ids(study)
    storage = tmp_path / "out"
    book = TrialBook(str(storage))
    statuses = ["FINISHED", "FINISHED", "INTERRUPTED", "INTERRUPTED", "FINISHED", "FINISHED"]
    for t, status in zip(ids, statuses, strict=True):
        book.record(t, status=status)
    rows = expected_rows(study.trial({"seed": 0}))  # 1 epoch, 12 saliency rows
    for t in ids[:3]:
        write_trial(storage, t, rows)
    write_part(storage / "results", "pretext",  # killed mid-way: no done record yet
               [{"study": "s", "dataset": "synthetic", "trial_id": ids[3], "epoch": 1}],
               key=ids[3])
    damaged = next((storage / "results" / "saliency").rglob(f"part-{ids[1]}.parquet"))
    damaged.write_bytes(b"garbage")
    assert [p.trial_id for p in pending(study, book)] == ids[2:4]  # the book alone: wrong

    said = io.StringIO()
    states = plan_from_data(study, str(storage), book, stream=said)
    assert f"part-{ids[1]}.parquet" in said.getvalue() and f"held {ids[1]}" in said.getvalue()
    assert states == dict(zip(ids, ["FINISHED", "INCOMPLETE", "FINISHED", "INTERRUPTED",
                                    "NOT_STARTED", "NOT_STARTED"], strict=True))
    assert [p.trial_id for p in pending(study, book, states)] == [ids[1], *ids[3:]]
    assert not damaged.exists() and not (storage / "done" / f"{ids[1]}.json").exists()
    assert [book.trials[t].status for t in ids] == [
        "FINISHED", "INTERRUPTED", "FINISHED", "INTERRUPTED", "PENDING", "PENDING"]
    assert book.trials[ids[5]].expected == rows and book.trials[ids[5]].axes == {"seed": 5}


def write_trial(storage: Path, trial_id: str, rows: dict[str, int | None]) -> None:
    (storage / "done").mkdir(parents=True, exist_ok=True)
    (storage / "done" / f"{trial_id}.json").write_text(json.dumps({"result": {"wall_s": 1.0}}))
    key = {"study": "s", "dataset": "synthetic", "trial_id": trial_id}
    write_part(storage / "results", "pretext",
               [{**key, "epoch": e + 1} for e in range(rows["pretext"] or 1)], key=trial_id)
    write_part(storage / "results", "saliency",
               [{**key, "eval_angle": float(a), "image_id": "i"}
                for a in range(rows["saliency"] or 1)], key=trial_id)
